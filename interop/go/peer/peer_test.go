package peer

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"log"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	corepeer "github.com/libp2p/go-libp2p/core/peer"

	"registryp2p/interop/go/core"
	"registryp2p/interop/go/pb"
)

// harness drives one in-process node through the JSON command layer.
type harness struct {
	t      *testing.T
	n      *Node
	srv    *Server
	events chan map[string]any
}

type lineWriter struct{ ch chan map[string]any }

func (w lineWriter) Write(b []byte) (int, error) {
	var m map[string]any
	if err := json.Unmarshal(b, &m); err == nil && m["event"] != nil {
		select {
		case w.ch <- m:
		default:
		}
	}
	return len(b), nil
}

func startNode(t *testing.T, ctx context.Context) *harness {
	t.Helper()
	logger := log.New(io.Discard, "", 0)
	if testing.Verbose() {
		logger = log.New(os.Stderr, "node: ", log.Lmicroseconds)
	}
	n, err := New(ctx, Config{Timeout: 5 * time.Second, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	h := &harness{t: t, n: n, events: make(chan map[string]any, 64)}
	h.srv = NewServer(n, lineWriter{h.events})
	for _, a := range n.Addrs() {
		if !strings.HasPrefix(a, "/ip4/127.0.0.1/tcp/") {
			t.Errorf("listens on %s, want 127.0.0.1 only", a)
		}
	}
	return h
}

func (h *harness) do(ctx context.Context, line string) (map[string]any, error) {
	h.t.Helper()
	var c Command
	if err := json.Unmarshal([]byte(line), &c); err != nil {
		h.t.Fatalf("bad command %s: %v", line, err)
	}
	return h.srv.Handle(ctx, c)
}

func (h *harness) must(ctx context.Context, line string) map[string]any {
	h.t.Helper()
	res, err := h.do(ctx, line)
	if err != nil {
		h.t.Fatalf("%s: %v", line, err)
	}
	return res
}

func cmd(kv ...any) string {
	m := map[string]any{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func TestTwoPeersDHT(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a, b := startNode(t, ctx), startNode(t, ctx)
	b.must(ctx, cmd("cmd", "connect", "addr", a.n.Addrs()[0]))
	waitRT(t, a.n, 1)

	// closest_peers: an iterative lookup from B finds A.
	res, rid, err := core.NewResource(a.n.key, "svc", core.NowMs())
	if err != nil {
		t.Fatal(err)
	}
	got := b.must(ctx, cmd("cmd", "closest_peers", "resource_id", core.EncodeID(rid), "count", 5))
	peers := got["peers"].([]string)
	if len(peers) == 0 || peers[0] != a.n.ID().String() {
		t.Fatalf("closest_peers from B = %v, want [%s]", peers, a.n.ID())
	}

	// dht_put on A of a valid resource, plain GET_VALUE from B.
	raw, _ := marshal(res)
	key := core.DHTKey(rid)
	a.must(ctx, cmd("cmd", "dht_put", "key", key, "value_hex", hex.EncodeToString(raw)))
	got = b.must(ctx, cmd("cmd", "dht_get", "key", key))
	if got["found"] != true || got["label"] != "svc" || got["owner"] != a.n.ID().String() {
		t.Fatalf("dht_get from B = %v", got)
	}
	if got["value_hex"] != hex.EncodeToString(raw) {
		t.Fatalf("dht_get returned other bytes")
	}

	// A tampered value: the validator says no, and a put is refused locally.
	tampered := append([]byte(nil), raw...)
	tampered[len(tampered)-1] ^= 0x01 // inside the signature
	got = b.must(ctx, cmd("cmd", "validate_resource", "key", key, "value_hex", hex.EncodeToString(tampered)))
	if got["valid"] != false {
		t.Fatalf("validate_resource accepted a tampered value: %v", got)
	}
	if _, err := b.do(ctx, cmd("cmd", "dht_put", "key", key, "value_hex", hex.EncodeToString(tampered))); err == nil {
		t.Fatal("dht_put of a tampered value succeeded")
	}
	// A valid resource under the wrong key is refused too.
	other := core.DHTKey(core.ResourceID("other", []byte(a.n.ID())))
	if _, err := b.do(ctx, cmd("cmd", "dht_put", "key", other, "value_hex", hex.EncodeToString(raw))); err == nil {
		t.Fatal("dht_put under a foreign key succeeded")
	}
	// A's stored copy is still the good one, and a newer resource replaces it (select).
	newer, _, _ := core.NewResource(a.n.key, "svc", core.NowMs()+5)
	rawNewer, _ := marshal(newer)
	b.must(ctx, cmd("cmd", "dht_put", "key", key, "value_hex", hex.EncodeToString(rawNewer)))
	got = a.must(ctx, cmd("cmd", "dht_get", "key", key))
	if got["value_hex"] != hex.EncodeToString(rawNewer) {
		t.Fatalf("A did not select the newer resource: %v", got)
	}

	// Pushing the tampered value straight into A's datastore through the kad protocol is
	// refused by A's validator: A still serves the newer valid copy.
	if err := b.n.DHT.PutValue(ctx, key, tampered); err == nil {
		t.Fatal("PutValue of a tampered value returned no error")
	}
	got = b.must(ctx, cmd("cmd", "dht_get", "key", key))
	if got["value_hex"] != hex.EncodeToString(rawNewer) {
		t.Fatalf("after tamper attempt dht_get = %v", got)
	}

	// Mallory's DHT accepts anything and pushes a tampered resource to A over the wire
	// (PUT_VALUE) for a key A has never seen: A's validator must refuse to store it and must
	// drop it when Mallory serves it back in GET_VALUE answers.
	mh, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	defer mh.Close()
	mallory, err := dht.New(mh, dht.Mode(dht.ModeServer), dht.ProtocolPrefix("/mallory"),
		dht.V1ProtocolOverride(KadProtocol), dht.NamespacedValidator(core.DHTNamespace, acceptAll{}))
	if err != nil {
		t.Fatal(err)
	}
	defer mallory.Close()
	if err := mh.Connect(ctx, corepeer.AddrInfo{ID: a.n.ID(), Addrs: a.n.Host.Addrs()}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); mallory.RoutingTable().Size() == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("mallory's routing table stays empty")
		}
	}
	fresh, freshID, _ := core.NewResource(a.n.key, "fresh", core.NowMs())
	rawFresh, _ := marshal(fresh)
	rawFresh[len(rawFresh)-1] ^= 0x01
	freshKey := core.DHTKey(freshID)
	pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
	_ = mallory.PutValue(pctx, freshKey, rawFresh) // stores locally, A refuses
	pcancel()
	got = a.must(ctx, cmd("cmd", "dht_get", "key", freshKey))
	if got["found"] != false {
		t.Fatalf("A accepted a tampered value from the network: %v", got)
	}
	// Control: the same path with a valid value does reach A.
	good, goodID, _ := core.NewResource(a.n.key, "fresh-good", core.NowMs())
	rawGood, _ := marshal(good)
	pctx, pcancel = context.WithTimeout(ctx, 5*time.Second)
	if err := mallory.PutValue(pctx, core.DHTKey(goodID), rawGood); err != nil {
		t.Fatal(err)
	}
	pcancel()
	_ = mh.Close() // A must answer from its own datastore
	got = a.must(ctx, cmd("cmd", "dht_get", "key", core.DHTKey(goodID)))
	if got["found"] != true {
		t.Fatalf("a valid value pushed by another peer was not stored by A: %v", got)
	}
}

type acceptAll struct{}

func (acceptAll) Validate(string, []byte) error        { return nil }
func (acceptAll) Select(string, [][]byte) (int, error) { return 0, nil }

// fakeRegistry is a minimal /registry/1.0.0 server (the Python nodes are the real ones),
// applying the core rules, so the client paths can be tested without Python.
type fakeRegistry struct {
	h         host.Host
	mu        sync.Mutex
	resources map[string]*pb.Resource
	state     map[string]core.Merge
	pageSize  int
}

func newFakeRegistry(t *testing.T) *fakeRegistry {
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	f := &fakeRegistry{h: h, resources: map[string]*pb.Resource{}, state: map[string]core.Merge{}, pageSize: 1}
	h.SetStreamHandler(core.ProtocolID, f.handle)
	return f
}

func (f *fakeRegistry) handle(s network.Stream) {
	defer s.Close()
	r := bufio.NewReader(s)
	for {
		_ = s.SetDeadline(time.Now().Add(10 * time.Second))
		var req pb.Message
		if err := ReadFrame(r, &req); err != nil {
			return
		}
		resp := &pb.Message{RequestId: req.RequestId}
		ok := &pb.Result{}
		f.mu.Lock()
		switch b := req.Body.(type) {
		case *pb.Message_PutResource:
			info, err := core.ValidateResource(b.PutResource.Resource, core.NowMs())
			if err == nil {
				f.resources[string(info.ID)] = b.PutResource.Resource
			}
			resp.Body = &pb.Message_PutResourceResponse{PutResourceResponse: &pb.PutResourceResponse{Result: result(err)}}
		case *pb.Message_GetResource:
			gr := &pb.GetResourceResponse{Result: ok, Resource: f.resources[string(b.GetResource.ResourceId)]}
			if gr.Resource == nil {
				gr.Result = &pb.Result{Status: pb.Status_UNKNOWN_RESOURCE}
			}
			resp.Body = &pb.Message_GetResourceResponse{GetResourceResponse: gr}
		case *pb.Message_PutEntries:
			pr := &pb.PutEntriesResponse{Result: ok}
			rid := b.PutEntries.ResourceId
			if b.PutEntries.Resource != nil {
				if info, err := core.ValidateResource(b.PutEntries.Resource, core.NowMs()); err == nil {
					f.resources[string(info.ID)] = b.PutEntries.Resource
				}
			}
			if f.resources[string(rid)] == nil {
				pr.Result = &pb.Result{Status: pb.Status_UNKNOWN_RESOURCE}
			} else {
				m := f.state[string(rid)]
				if m == nil {
					m = core.Merge{}
					f.state[string(rid)] = m
				}
				for _, e := range b.PutEntries.Entries {
					info, err := core.ParseEntry(e, core.NowMs(), rid)
					if err == nil && !m.Add(info) {
						err = &core.StatusError{Status: pb.Status_SUPERSEDED}
					}
					pr.Results = append(pr.Results, result(err))
				}
			}
			resp.Body = &pb.Message_PutEntriesResponse{PutEntriesResponse: pr}
		case *pb.Message_GetEntries:
			m := f.state[string(b.GetEntries.ResourceId)]
			ids := make([]string, 0, len(m))
			for id := range m {
				ids = append(ids, id)
			}
			sort.Strings(ids) // a stable order, so the cursor means something
			var all [][]byte
			for _, id := range ids {
				raw, _ := marshal(m[id].Raw)
				all = append(all, raw)
			}
			start := 0
			if len(b.GetEntries.Cursor) > 0 {
				start = int(b.GetEntries.Cursor[0])
			}
			end := min(start+f.pageSize, len(all))
			gr := &pb.GetEntriesResponse{Result: ok, Entries: all[start:end]}
			if end < len(all) {
				gr.NextCursor = []byte{byte(end)}
			}
			resp.Body = &pb.Message_GetEntriesResponse{GetEntriesResponse: gr}
		default:
			resp.Body = &pb.Message_Error{Error: &pb.Result{Status: pb.Status_MALFORMED}}
		}
		f.mu.Unlock()
		if err := WriteFrame(s, resp); err != nil {
			return
		}
	}
}

func result(err error) *pb.Result {
	if err == nil {
		return &pb.Result{}
	}
	return &pb.Result{Status: core.StatusOf(err), Text: err.Error()}
}

func TestRegistryClientAgainstFakeServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	f := newFakeRegistry(t)
	a, b := startNode(t, ctx), startNode(t, ctx)
	fakeAddr := f.h.Addrs()[0].String() + "/p2p/" + f.h.ID().String()
	a.must(ctx, cmd("cmd", "connect", "addr", fakeAddr))
	b.must(ctx, cmd("cmd", "connect", "addr", fakeAddr))
	b.must(ctx, cmd("cmd", "connect", "addr", a.n.Addrs()[0]))

	got := a.must(ctx, cmd("cmd", "create_resource", "label", "echo", "ack", 1))
	rid := got["resource_id"].(string)
	if got["success"] != true || got["acks"] != 1 {
		t.Fatalf("create_resource = %v", got)
	}
	got = b.must(ctx, cmd("cmd", "get_resource", "resource_id", rid))
	if r, _ := got["resource"].(map[string]any); r == nil || r["label"] != "echo" {
		t.Fatalf("get_resource = %v", got)
	}

	// Both watch; A publishes its writes because it joined the topic.
	a.must(ctx, cmd("cmd", "watch", "resource_id", rid))
	b.must(ctx, cmd("cmd", "watch", "resource_id", rid))
	time.Sleep(1500 * time.Millisecond) // let subscriptions propagate

	value := base64.StdEncoding.EncodeToString([]byte("hello"))
	got = a.must(ctx, cmd("cmd", "register", "resource_id", rid, "service_id", "s1", "value_base64", value, "ttl_s", 3600, "ack", 1))
	if got["success"] != true {
		t.Fatalf("register = %v", got)
	}
	a.must(ctx, cmd("cmd", "register", "resource_id", rid, "service_id", "s2", "value_base64", value, "ack", 1))
	got = b.must(ctx, cmd("cmd", "resolve", "resource_id", rid, "ack", 1))
	recs := got["records"].([]map[string]any)
	if len(recs) != 2 || recs[0]["service_id"] != "s2" || recs[1]["value_base64"] != value {
		t.Fatalf("resolve = %v", got)
	}
	if recs[1]["issuer"] != a.n.ID().String() || recs[1]["host"] != a.n.ID().String() || len(recs[1]["addrs"].([]string)) == 0 {
		t.Fatalf("record fields = %v", recs[1])
	}

	waitEvent := func(kind, service string) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case ev := <-b.events:
				if ev["event"] == "watch" && ev["kind"] == kind && ev["service_id"] == service {
					return
				}
			case <-deadline:
				t.Fatalf("no %s event for %s", kind, service)
			}
		}
	}
	waitEvent("registered", "s1")

	got = a.must(ctx, cmd("cmd", "unregister", "resource_id", rid, "service_id", "s1", "ack", 1))
	if got["success"] != true {
		t.Fatalf("unregister = %v", got)
	}
	waitEvent("unregistered", "s1")
	got = b.must(ctx, cmd("cmd", "resolve", "resource_id", rid, "ack", 1))
	if recs := got["records"].([]map[string]any); len(recs) != 1 || recs[0]["service_id"] != "s2" {
		t.Fatalf("resolve after unregister = %v", got)
	}

	// A tampered entry published raw is rejected by B's topic validator: no event.
	rec, _ := core.NewRecord(a.n.key, a.n.key, core.RecordParams{
		ResourceID: mustID(t, rid), ServiceID: "evil", Value: []byte("x"), IssuedAtMs: core.NowMs(),
		TTLs: 3600, HostSignedMs: core.NowMs(),
	})
	rec.HostSignature[0] ^= 0xff
	bad, _ := marshal(&pb.Entry{Kind: &pb.Entry_Record{Record: rec}})
	a.must(ctx, cmd("cmd", "publish_raw", "resource_id", rid, "data_hex", hex.EncodeToString(bad)))
	// and a good one right after is delivered.
	a.must(ctx, cmd("cmd", "register", "resource_id", rid, "service_id", "s3", "value_base64", value, "ack", 1))
	deadline := time.After(10 * time.Second)
	for done := false; !done; {
		select {
		case ev := <-b.events:
			if ev["service_id"] == "evil" {
				t.Fatalf("tampered entry was delivered: %v", ev)
			}
			if ev["service_id"] == "s3" {
				done = true
				time.Sleep(300 * time.Millisecond)
			}
		case <-deadline:
			t.Fatal("no event for s3")
		}
	}
}

// waitRT waits until n's routing table holds at least size peers (inbound peers are added
// once identify has run on their connection).
func waitRT(t *testing.T, n *Node, size int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); n.DHT.RoutingTable().Size() < size; {
		if time.Now().After(deadline) {
			t.Fatalf("routing table of %s has %d peers, want %d", n.ID(), n.DHT.RoutingTable().Size(), size)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func mustID(t *testing.T, s string) []byte {
	id, err := core.DecodeID(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestJSONLoop drives Serve through pipes: ids are echoed, errors are replies, quit ends it.
func TestJSONLoop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := New(ctx, Config{Timeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	srv := NewServer(n, outW)
	done := make(chan error, 1)
	go func() { srv.Ready(); done <- srv.Serve(ctx, inR) }()
	lines := bufio.NewScanner(outR)
	next := func() map[string]any {
		t.Helper()
		if !lines.Scan() {
			t.Fatal("no output line")
		}
		var m map[string]any
		if err := json.Unmarshal(lines.Bytes(), &m); err != nil {
			t.Fatalf("not JSON: %q", lines.Text())
		}
		return m
	}
	ready := next()
	if ready["event"] != "ready" || ready["peer_id"] != n.ID().String() || len(ready["addrs"].([]any)) == 0 {
		t.Fatalf("ready line = %v", ready)
	}
	send := func(s string) { _, _ = io.WriteString(inW, s+"\n") }
	send(`{"id":7,"cmd":"info"}`)
	if m := next(); m["id"] != float64(7) || m["ok"] != true || m["peer_id"] != n.ID().String() {
		t.Fatalf("info = %v", m)
	}
	send(`{"id":"x","cmd":"nope"}`)
	if m := next(); m["id"] != "x" || m["ok"] != false || m["error"] == "" {
		t.Fatalf("unknown command = %v", m)
	}
	send(`{"id":8,"cmd":"resolve","resource_id":"not-base58-0OIl"}`)
	if m := next(); m["id"] != float64(8) || m["ok"] != false {
		t.Fatalf("bad resource id = %v", m)
	}
	send(`{"id":9,"cmd":"quit"}`)
	if m := next(); m["id"] != float64(9) || m["ok"] != true {
		t.Fatalf("quit = %v", m)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-ctx.Done():
		t.Fatal("Serve did not return after quit")
	}
}
