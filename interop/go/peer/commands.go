package peer

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"

	corepeer "github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"registryp2p/interop/go/core"
	"registryp2p/interop/go/rendezvous"
)

// Command is one line of the JSON protocol on stdin.
type Command struct {
	ID          json.RawMessage `json:"id,omitempty"`
	Cmd         string          `json:"cmd"`
	Addr        string          `json:"addr,omitempty"`
	ResourceID  string          `json:"resource_id,omitempty"`
	Count       int             `json:"count,omitempty"`
	Key         string          `json:"key,omitempty"`
	ValueHex    string          `json:"value_hex,omitempty"`
	Label       string          `json:"label,omitempty"`
	Ack         *int            `json:"ack,omitempty"`
	ServiceID   string          `json:"service_id,omitempty"`
	ValueBase64 string          `json:"value_base64,omitempty"`
	TTLs        uint32          `json:"ttl_s,omitempty"`
	DataHex     string          `json:"data_hex,omitempty"`
	// create_resource: "open" (default) or "owner-approved"; grant: the grantee and its scope.
	Policy        string `json:"policy,omitempty"`
	Grantee       string `json:"grantee,omitempty"`
	ServicePrefix string `json:"service_prefix,omitempty"`
	ExpiresInMs   uint64 `json:"expires_in_ms,omitempty"`
	Revoked       bool   `json:"revoked,omitempty"`
	Namespace     string `json:"ns,omitempty"`
	Limit         int64  `json:"limit,omitempty"`
	CookieB64     string `json:"cookie_base64,omitempty"`
	TTL           int64  `json:"ttl,omitempty"`
	// Encoding: rv_register's envelope, "spec" (default) or "legacy" (rust-libp2p 0.18's).
	Encoding string `json:"encoding,omitempty"`
	// All: resolve also returns records their host reports critical.
	All bool `json:"all,omitempty"`
}

// Server reads commands from an io.Reader and writes replies and events as JSON lines.
type Server struct {
	n   *Node
	out io.Writer
	mu  sync.Mutex
}

// NewServer binds a node to an output stream; watch events go there too.
func NewServer(n *Node, out io.Writer) *Server {
	s := &Server{n: n, out: out}
	n.events = func(ev map[string]any) { s.emit(ev) }
	return s
}

func (s *Server) emit(v map[string]any) {
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(map[string]any{"event": "error", "error": err.Error()})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, _ = s.out.Write(append(b, '\n'))
}

// Ready prints the ready line.
func (s *Server) Ready() {
	s.emit(map[string]any{"event": "ready", "peer_id": s.n.ID().String(), "addrs": s.n.Addrs()})
}

// Serve handles commands until EOF or quit. Each command runs in its own goroutine, so a
// slow network operation never blocks the others; replies carry the command's id.
func (s *Server) Serve(ctx context.Context, in io.Reader) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64*1024), 4<<20)
	var wg sync.WaitGroup
	defer wg.Wait()
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 {
			continue
		}
		var c Command
		if err := json.Unmarshal(line, &c); err != nil {
			s.emit(map[string]any{"id": nil, "ok": false, "error": "bad json: " + err.Error()})
			continue
		}
		if c.Cmd == "quit" {
			wg.Wait()
			s.reply(c, map[string]any{}, nil)
			return nil
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := s.Handle(ctx, c)
			s.reply(c, res, err)
		}()
	}
	return sc.Err()
}

func (s *Server) reply(c Command, res map[string]any, err error) {
	out := map[string]any{"id": c.ID}
	if c.ID == nil {
		out["id"] = nil
	}
	if err != nil {
		out["ok"] = false
		out["error"] = err.Error()
	} else {
		for k, v := range res {
			out[k] = v
		}
		out["ok"] = true
	}
	s.emit(out)
}

func ackOf(c Command) int {
	if c.Ack == nil {
		return 1
	}
	return *c.Ack
}

func writeReply(w *WriteResult) map[string]any {
	return map[string]any{"acks": w.Acks, "errors": w.Errors, "success": w.Success}
}

// Handle runs one command.
func (s *Server) Handle(ctx context.Context, c Command) (map[string]any, error) {
	n := s.n
	rid := func() ([]byte, error) {
		if c.ResourceID == "" {
			return nil, errors.New("resource_id is required")
		}
		return core.DecodeID(c.ResourceID)
	}
	switch c.Cmd {
	case "rv_register", "rv_unregister", "rv_discover":
		return s.rendezvous(ctx, c)

	case "info":
		return map[string]any{"peer_id": n.ID().String(), "addrs": n.Addrs(),
			"routing_table": n.DHT.RoutingTable().Size(), "connected": len(n.Host.Network().Peers())}, nil

	case "connect":
		ai, err := parseP2PAddr(c.Addr)
		if err != nil {
			return nil, err
		}
		if err := n.Connect(ctx, *ai); err != nil {
			return nil, err
		}
		return map[string]any{"peer_id": ai.ID.String()}, nil

	case "closest_peers":
		id, err := rid()
		if err != nil {
			return nil, err
		}
		peers, err := n.ClosestPeers(ctx, id)
		if err != nil && len(peers) == 0 {
			return nil, err
		}
		if c.Count > 0 && len(peers) > c.Count {
			peers = peers[:c.Count]
		}
		out := make([]string, 0, len(peers))
		for _, p := range peers {
			out = append(out, p.String())
		}
		return map[string]any{"peers": out}, nil

	case "dht_get":
		if _, err := core.ParseDHTKey(c.Key); err != nil {
			return nil, err
		}
		val, err := n.GetValue(ctx, c.Key)
		if err != nil || val == nil {
			if err != nil {
				n.logf("dht_get %s: %v", c.Key, err)
			}
			return map[string]any{"found": false}, nil
		}
		// GetValue only returns values the validator accepted; decode them for the reply.
		info, err := core.ParseResource(val, core.NowMs())
		if err != nil {
			return nil, fmt.Errorf("validator passed a value that does not parse: %w", err)
		}
		return map[string]any{
			"found": true, "value_hex": hex.EncodeToString(val), "label": info.Label,
			"owner": core.PeerString(info.Owner), "created_at_ms": info.CreatedAtMs,
		}, nil

	case "dht_put":
		val, err := hex.DecodeString(c.ValueHex)
		if err != nil {
			return nil, fmt.Errorf("value_hex: %w", err)
		}
		if err := n.PutValue(ctx, c.Key, val); err != nil {
			return nil, err
		}
		return map[string]any{}, nil

	case "validate_resource":
		val, err := hex.DecodeString(c.ValueHex)
		if err != nil {
			return nil, fmt.Errorf("value_hex: %w", err)
		}
		if err := (core.DHTValidator{}).Validate(c.Key, val); err != nil {
			return map[string]any{"valid": false, "error": err.Error()}, nil
		}
		return map[string]any{"valid": true, "error": nil}, nil

	case "create_resource":
		if c.Policy != "" && c.Policy != "open" && c.Policy != "owner-approved" {
			return nil, fmt.Errorf("unknown policy %q", c.Policy)
		}
		id, w, err := n.CreateResource(ctx, c.Label, ackOf(c), c.Policy == "owner-approved")
		if err != nil {
			return nil, err
		}
		out := writeReply(w)
		out["resource_id"] = id
		out["dht_stored"] = w.DHTErr == ""
		if w.DHTErr != "" {
			out["dht_error"] = w.DHTErr
		}
		return out, nil

	case "get_resource":
		id, err := rid()
		if err != nil {
			return nil, err
		}
		r, err := n.GetResource(ctx, id)
		if err != nil {
			return nil, err
		}
		if r == nil {
			return map[string]any{"resource": nil}, nil
		}
		policy := "open"
		if r.OwnerApproved {
			policy = "owner-approved"
		}
		return map[string]any{"resource": map[string]any{
			"resource_id": core.EncodeID(r.ID), "label": r.Label, "owner": core.PeerString(r.Owner),
			"created_at_ms": r.CreatedAtMs, "policy": policy,
		}}, nil

	case "grant":
		id, err := rid()
		if err != nil {
			return nil, err
		}
		grantee, err := corepeer.Decode(c.Grantee)
		if err != nil {
			return nil, fmt.Errorf("grantee: %w", err)
		}
		w, err := n.Grant(ctx, id, []byte(grantee), c.ServicePrefix, c.ExpiresInMs, c.Revoked, ackOf(c))
		if err != nil {
			return nil, err
		}
		return writeReply(w), nil

	case "register":
		id, err := rid()
		if err != nil {
			return nil, err
		}
		val, err := base64.StdEncoding.DecodeString(c.ValueBase64)
		if err != nil {
			return nil, fmt.Errorf("value_base64: %w", err)
		}
		if c.ServiceID == "" {
			return nil, errors.New("service_id is required")
		}
		w, err := n.Register(ctx, id, c.ServiceID, val, c.TTLs, ackOf(c))
		if err != nil {
			return nil, err
		}
		return writeReply(w), nil

	case "unregister":
		id, err := rid()
		if err != nil {
			return nil, err
		}
		w, err := n.Unregister(ctx, id, c.ServiceID, ackOf(c))
		if err != nil {
			return nil, err
		}
		return writeReply(w), nil

	case "resolve":
		id, err := rid()
		if err != nil {
			return nil, err
		}
		recs, answers, err := n.Resolve(ctx, id, ackOf(c), c.All)
		if err != nil {
			return nil, err
		}
		out := make([]map[string]any, 0, len(recs))
		for _, r := range recs {
			addrs := make([]string, 0, len(r.Addrs))
			for _, a := range r.Addrs {
				if m, err := ma.NewMultiaddrBytes(a); err == nil {
					addrs = append(addrs, m.String())
				}
			}
			out = append(out, map[string]any{
				"issuer": core.PeerString(r.Issuer), "host": core.PeerString(r.Host),
				"service_id": r.ServiceID, "value_base64": base64.StdEncoding.EncodeToString(r.Value),
				"issued_at_ms": r.IssuedAtMs, "expires_at_ms": r.ExpiresAtMs(), "addrs": addrs,
				"health": healthName(r),
			})
		}
		return map[string]any{"records": out, "answers": answers}, nil

	case "watch":
		id, err := rid()
		if err != nil {
			return nil, err
		}
		if err := n.Watch(ctx, id); err != nil {
			return nil, err
		}
		return map[string]any{"topic": core.Topic(id)}, nil

	case "publish_raw":
		id, err := rid()
		if err != nil {
			return nil, err
		}
		data, err := hex.DecodeString(c.DataHex)
		if err != nil {
			return nil, fmt.Errorf("data_hex: %w", err)
		}
		if err := n.PublishRaw(ctx, id, data); err != nil {
			return nil, err
		}
		return map[string]any{}, nil
	}
	return nil, fmt.Errorf("unknown command %q", c.Cmd)
}

// rendezvous runs the /rendezvous/1.0.0 client commands against the point named by addr
// (a /p2p/ multiaddr): rv_register {ns, ttl, encoding}, rv_unregister {ns}, rv_discover {ns, limit, cookie_base64}.
func (s *Server) rendezvous(ctx context.Context, c Command) (map[string]any, error) {
	ai, err := parseP2PAddr(c.Addr)
	if err != nil {
		return nil, err
	}
	if err := s.n.Host.Connect(ctx, *ai); err != nil {
		return nil, err
	}
	client := rendezvous.New(s.n.Host)
	switch c.Cmd {
	case "rv_register":
		if c.Encoding != "" && c.Encoding != "spec" && c.Encoding != "legacy" {
			return nil, fmt.Errorf("encoding must be spec or legacy, not %q", c.Encoding)
		}
		ttl, err := client.Register(ctx, ai.ID, c.Namespace, c.TTL, c.Encoding == "legacy")
		if err != nil {
			return nil, err
		}
		return map[string]any{"ttl": ttl}, nil
	case "rv_unregister":
		return map[string]any{}, client.Unregister(ctx, ai.ID, c.Namespace)
	}
	cookie, err := base64.StdEncoding.DecodeString(c.CookieB64)
	if err != nil {
		return nil, fmt.Errorf("cookie_base64: %w", err)
	}
	regs, next, err := client.Discover(ctx, ai.ID, c.Namespace, c.Limit, cookie)
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, 0, len(regs))
	for _, r := range regs {
		out = append(out, map[string]any{"ns": r.Namespace, "peer_id": r.Peer.String(), "addrs": r.Addrs,
			"envelope_base64": base64.StdEncoding.EncodeToString(r.Envelope), "ttl": r.TTL})
	}
	return map[string]any{"registrations": out, "cookie_base64": base64.StdEncoding.EncodeToString(next)}, nil
}
