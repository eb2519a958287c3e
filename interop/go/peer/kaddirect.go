package peer

import (
	"bufio"
	"context"
	"sync"
	"time"

	dhtpb "github.com/libp2p/go-libp2p-kad-dht/pb"
	record "github.com/libp2p/go-libp2p-record"
	"github.com/libp2p/go-libp2p/core/host"
	corepeer "github.com/libp2p/go-libp2p/core/peer"

	"registryp2p/interop/go/core"
)

// Direct Kademlia value requests to connected peers.
//
// go-libp2p-kad-dht finds the peers for PUT_VALUE/GET_VALUE with a FIND_NODE lookup on the
// record key itself. "/registry/<b58>" is 53-54 bytes, and py-libp2p 0.8.1 refuses FIND_NODE
// keys that are not multihashes and longer than 50 bytes (it resets the stream), so in a
// Python network the lookup finds nobody and the value stays local. As a fallback the peer
// also sends plain PUT_VALUE / GET_VALUE to the connected Kademlia peers closest to the key.

type kadSender struct{ h host.Host }

func (k kadSender) open(ctx context.Context, p corepeer.ID) (func(*dhtpb.Message, *dhtpb.Message) error, func(), error) {
	s, err := k.h.NewStream(ctx, p, KadProtocol)
	if err != nil {
		return nil, nil, err
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(10 * time.Second)
	}
	_ = s.SetDeadline(deadline)
	do := func(req, resp *dhtpb.Message) error {
		if err := WriteFrame(s, req); err != nil {
			return err
		}
		if resp == nil {
			return nil
		}
		return ReadFrame(bufio.NewReader(s), resp)
	}
	return do, func() { _ = s.Close() }, nil
}

func (k kadSender) SendRequest(ctx context.Context, p corepeer.ID, m *dhtpb.Message) (*dhtpb.Message, error) {
	do, done, err := k.open(ctx, p)
	if err != nil {
		return nil, err
	}
	defer done()
	var resp dhtpb.Message
	if err := do(m, &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}

func (k kadSender) SendMessage(ctx context.Context, p corepeer.ID, m *dhtpb.Message) error {
	do, done, err := k.open(ctx, p)
	if err != nil {
		return err
	}
	defer done()
	return do(m, nil)
}

// kadPeers are the connected peers that speak Kademlia, closest to key first, at most K.
func (n *Node) kadPeers(key string) []corepeer.ID {
	var out []corepeer.ID
	for _, p := range n.Host.Network().Peers() {
		if got, err := n.Host.Peerstore().SupportsProtocols(p, KadProtocol); err == nil && len(got) > 0 {
			out = append(out, p)
		}
	}
	sortByDistance(out, []byte(key))
	if len(out) > n.cfg.K {
		out = out[:n.cfg.K]
	}
	return out
}

// directPut sends PUT_VALUE to the closest connected Kademlia peers; it returns how many stored it.
func (n *Node) directPut(ctx context.Context, key string, value []byte) int {
	pm, err := dhtpb.NewProtocolMessenger(kadSender{n.Host})
	if err != nil {
		return 0
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.Timeout)
	defer cancel()
	rec := record.MakePutRecord(key, value)
	var wg sync.WaitGroup
	var mu sync.Mutex
	stored := 0
	for _, p := range n.kadPeers(key) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := pm.PutValue(ctx, p, rec); err != nil {
				n.logf("direct PUT_VALUE to %s: %v", p, err)
				return
			}
			mu.Lock()
			stored++
			mu.Unlock()
		}()
	}
	wg.Wait()
	return stored
}

// directGet asks the closest connected Kademlia peers with GET_VALUE and returns the values
// that pass the registry validator.
func (n *Node) directGet(ctx context.Context, key string) [][]byte {
	pm, err := dhtpb.NewProtocolMessenger(kadSender{n.Host})
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.Timeout)
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var vals [][]byte
	for _, p := range n.kadPeers(key) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec, _, err := pm.GetValue(ctx, p, key)
			if err != nil || rec == nil {
				return
			}
			if err := (core.DHTValidator{}).Validate(key, rec.GetValue()); err != nil {
				n.logf("GET_VALUE from %s: dropping invalid value: %v", p, err)
				return
			}
			mu.Lock()
			vals = append(vals, rec.GetValue())
			mu.Unlock()
		}()
	}
	wg.Wait()
	return vals
}

// PutValue stores a validated value through the DHT and directly at the closest connected peers.
func (n *Node) PutValue(ctx context.Context, key string, value []byte) error {
	dctx, cancel := context.WithTimeout(ctx, n.cfg.Timeout)
	defer cancel()
	n.ReseedRoutingTable()
	if err := n.DHT.PutValue(dctx, key, value); err != nil {
		return err // includes the local validator's refusal
	}
	stored := n.directPut(ctx, key, value)
	n.logf("PUT_VALUE %s: stored directly at %d connected peers", key, stored)
	return nil
}

// GetValue returns the best valid value from a DHT lookup and from direct GET_VALUE requests.
func (n *Node) GetValue(ctx context.Context, key string) ([]byte, error) {
	dctx, cancel := context.WithTimeout(ctx, n.cfg.Timeout)
	defer cancel()
	n.ReseedRoutingTable()
	var vals [][]byte
	if v, err := n.DHT.GetValue(dctx, key); err == nil && v != nil {
		vals = append(vals, v)
	} else if err != nil {
		n.logf("dht GetValue %s: %v", key, err)
	}
	vals = append(vals, n.directGet(ctx, key)...)
	if len(vals) == 0 {
		return nil, nil
	}
	i, err := (core.DHTValidator{}).Select(key, vals)
	if err != nil {
		return nil, err
	}
	return vals[i], nil
}
