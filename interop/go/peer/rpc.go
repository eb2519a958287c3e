package peer

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	corepeer "github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-varint"
	"google.golang.org/protobuf/proto"

	"registryp2p/interop/go/core"
	"registryp2p/interop/go/pb"
)

// WriteFrame writes uvarint(len) || msg.
func WriteFrame(w io.Writer, m proto.Message) error {
	b, err := proto.Marshal(m)
	if err != nil {
		return err
	}
	if len(b) > core.MaxFrame {
		return fmt.Errorf("frame of %d bytes exceeds 1 MiB", len(b))
	}
	buf := append(varint.ToUvarint(uint64(len(b))), b...)
	_, err = w.Write(buf)
	return err
}

// ReadFrame reads one uvarint-prefixed Message of at most 1 MiB.
func ReadFrame(r *bufio.Reader, m proto.Message) error {
	n, err := varint.ReadUvarint(r)
	if err != nil {
		return err
	}
	if n > core.MaxFrame {
		return fmt.Errorf("frame of %d bytes exceeds 1 MiB", n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return err
	}
	return proto.Unmarshal(b, m)
}

// rpcClient keeps one persistent /registry/1.0.0 stream per peer; requests to one peer
// are serialized on it, requests to different peers run in parallel.
type rpcClient struct {
	h     host.Host
	mu    sync.Mutex
	conns map[corepeer.ID]*rpcConn
	next  uint64
}

type rpcConn struct {
	mu sync.Mutex
	s  network.Stream
	r  *bufio.Reader
}

func newRPCClient(h host.Host) *rpcClient {
	return &rpcClient{h: h, conns: map[corepeer.ID]*rpcConn{}}
}

func (c *rpcClient) conn(p corepeer.ID) *rpcConn {
	c.mu.Lock()
	defer c.mu.Unlock()
	rc, ok := c.conns[p]
	if !ok {
		rc = &rpcConn{}
		c.conns[p] = rc
	}
	return rc
}

func (c *rpcClient) nextID() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.next++
	return c.next
}

// Call sends req to p and returns the answer with the same request_id. A stale persistent
// stream is replaced once.
func (c *rpcClient) Call(ctx context.Context, p corepeer.ID, req *pb.Message) (*pb.Message, error) {
	req.RequestId = c.nextID()
	rc := c.conn(p)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var lastErr error
	for attempt := 0; attempt < 2; attempt++ {
		fresh := false
		if rc.s == nil {
			s, err := c.h.NewStream(ctx, p, core.ProtocolID)
			if err != nil {
				return nil, fmt.Errorf("open stream: %w", err)
			}
			rc.s, rc.r, fresh = s, bufio.NewReader(s), true
		}
		resp, err := rc.roundTrip(ctx, req)
		if err == nil {
			return resp, nil
		}
		lastErr = err
		_ = rc.s.Reset()
		rc.s, rc.r = nil, nil
		if fresh || ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

func (rc *rpcConn) roundTrip(ctx context.Context, req *pb.Message) (*pb.Message, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(6 * time.Second)
	}
	_ = rc.s.SetDeadline(deadline)
	defer rc.s.SetDeadline(time.Time{})
	stop := context.AfterFunc(ctx, func() { _ = rc.s.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if err := WriteFrame(rc.s, req); err != nil {
		return nil, err
	}
	for {
		var resp pb.Message
		if err := ReadFrame(rc.r, &resp); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, err
		}
		if resp.RequestId != req.RequestId {
			continue // a late answer to an abandoned request
		}
		if e := resp.GetError(); e != nil {
			return nil, &RemoteError{Status: e.Status, Text: e.Text}
		}
		return &resp, nil
	}
}

// RemoteError is an error status answered by a server.
type RemoteError struct {
	Status pb.Status
	Text   string
}

func (e *RemoteError) Error() string {
	if e.Text == "" {
		return e.Status.String()
	}
	return e.Status.String() + ": " + e.Text
}

// errText renders an error for the JSON "errors" map: a status name or "timeout".
func errText(err error) string {
	var re *RemoteError
	if errors.As(err, &re) {
		return re.Status.String()
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || errors.Is(err, os.ErrDeadlineExceeded) {
		return "timeout"
	}
	return err.Error()
}
