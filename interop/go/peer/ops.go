package peer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	corepeer "github.com/libp2p/go-libp2p/core/peer"

	"registryp2p/interop/go/core"
	"registryp2p/interop/go/pb"
)

// WriteResult is the outcome of a write fanned out to the replica set.
type WriteResult struct {
	Acks    int               `json:"acks"`
	Errors  map[string]string `json:"errors"`
	Success bool              `json:"success"`
	DHTErr  string            `json:"dht_error,omitempty"` // create_resource: the DHT PUT_VALUE failure, if any
}

// issuedNow returns a strictly increasing wall-clock timestamp for this node's writes.
func (n *Node) issuedNow() uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	t := core.NowMs()
	if t <= n.lastIssued {
		t = n.lastIssued + 1
	}
	n.lastIssued = t
	return t
}

func (n *Node) remember(r *core.ResourceInfo) {
	n.mu.Lock()
	defer n.mu.Unlock()
	id := core.EncodeID(r.ID)
	if cur, ok := n.resources[id]; !ok || r.CreatedAtMs > cur.CreatedAtMs {
		n.resources[id] = r
	}
}

func (n *Node) cached(rid []byte) *core.ResourceInfo {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.resources[core.EncodeID(rid)]
}

// fanOut calls fn on every peer in parallel. It returns when all answered, when ctx ends,
// or a short grace after `enough` calls succeeded. Unanswered peers are reported as timeouts.
func (n *Node) fanOut(ctx context.Context, peers []corepeer.ID, enough int,
	fn func(context.Context, corepeer.ID) error) (okCount int, errs map[string]string) {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.Timeout)
	defer cancel()
	type res struct {
		p   corepeer.ID
		err error
	}
	ch := make(chan res, len(peers))
	for _, p := range peers {
		go func() { ch <- res{p, fn(ctx, p)} }()
	}
	errs = map[string]string{}
	pending := map[corepeer.ID]bool{}
	for _, p := range peers {
		pending[p] = true
	}
	var grace <-chan time.Time
	for len(pending) > 0 {
		select {
		case r := <-ch:
			delete(pending, r.p)
			if r.err != nil {
				n.logf("request to %s failed: %v", r.p, r.err)
				errs[r.p.String()] = errText(r.err)
			} else {
				okCount++
				if okCount >= enough && grace == nil {
					grace = time.After(300 * time.Millisecond)
				}
			}
			continue
		case <-ctx.Done():
		case <-grace:
		}
		break
	}
	for p := range pending {
		errs[p.String()] = "timeout"
	}
	return okCount, errs
}

// CreateResource signs a resource, stores it in the DHT and sends PutResource to the replica set.
// ownerApproved makes a resource whose records only the owner and its grantees may write.
func (n *Node) CreateResource(ctx context.Context, label string, ack int, ownerApproved bool) (string, *WriteResult, error) {
	if len(label) > core.MaxLabel {
		return "", nil, fmt.Errorf("label is longer than %d bytes", core.MaxLabel)
	}
	newResource := core.NewResource
	if ownerApproved {
		newResource = core.NewOwnerApprovedResource
	}
	res, rid, err := newResource(n.key, label, n.issuedNow())
	if err != nil {
		return "", nil, err
	}
	info, err := core.ValidateResource(res, core.NowMs())
	if err != nil {
		return "", nil, err
	}
	n.remember(info)
	raw, err := marshal(res)
	if err != nil {
		return "", nil, err
	}
	dhtErr := ""
	if err := n.PutValue(ctx, core.DHTKey(rid), raw); err != nil {
		n.logf("dht put %s: %v", core.DHTKey(rid), err)
		dhtErr = err.Error()
	}
	replicas, err := n.ReplicaSet(ctx, rid)
	if err != nil {
		return "", nil, err
	}
	acks, errs := n.fanOut(ctx, replicas, ack, func(ctx context.Context, p corepeer.ID) error {
		resp, err := n.rpc.Call(ctx, p, &pb.Message{Body: &pb.Message_PutResource{PutResource: &pb.PutResourceRequest{Resource: res}}})
		if err != nil {
			return err
		}
		return resultErr(resp.GetPutResourceResponse().GetResult())
	})
	return core.EncodeID(rid), &WriteResult{Acks: acks, Errors: errs, Success: acks >= ack, DHTErr: dhtErr}, nil
}

func resultErr(r *pb.Result) error {
	if r == nil || r.Status == pb.Status_OK {
		return nil
	}
	return &RemoteError{Status: r.Status, Text: r.Text}
}

// GetResource fetches a resource fresh from the replica set and the DHT and returns the
// newest verified copy (nil when nobody has it).
func (n *Node) GetResource(ctx context.Context, rid []byte) (*core.ResourceInfo, error) {
	var mu sync.Mutex
	var best *core.ResourceInfo
	offer := func(r *pb.Resource) {
		info, err := core.ValidateResource(r, core.NowMs())
		if err != nil {
			n.logf("dropping resource copy: %v", err)
			return
		}
		if !bytes.Equal(info.ID, rid) {
			n.logf("dropping resource copy: id mismatch")
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if best == nil || info.CreatedAtMs > best.CreatedAtMs {
			best = info
		}
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		raw, err := n.GetValue(ctx, core.DHTKey(rid))
		if err != nil || raw == nil {
			return
		}
		var r pb.Resource
		if unmarshal(raw, &r) == nil {
			offer(&r)
		}
	}()
	replicas, err := n.ReplicaSet(ctx, rid)
	if err == nil {
		n.fanOut(ctx, replicas, len(replicas), func(ctx context.Context, p corepeer.ID) error {
			resp, err := n.rpc.Call(ctx, p, &pb.Message{Body: &pb.Message_GetResource{GetResource: &pb.GetResourceRequest{ResourceId: rid}}})
			if err != nil {
				return err
			}
			gr := resp.GetGetResourceResponse()
			if err := resultErr(gr.GetResult()); err != nil {
				return err
			}
			if gr.GetResource() != nil {
				offer(gr.GetResource())
			}
			return nil
		})
	}
	wg.Wait()
	if best != nil {
		n.remember(best)
	}
	return best, nil
}

// resourceFor returns a verified copy of the resource to send along with writes.
func (n *Node) resourceFor(ctx context.Context, rid []byte) *pb.Resource {
	if r := n.cached(rid); r != nil {
		return r.Raw
	}
	if r, _ := n.GetResource(ctx, rid); r != nil {
		return r.Raw
	}
	return nil
}

// writeEntry sends one entry to the replica set (with the resource when known) and
// publishes it on the topic if this node has joined it.
func (n *Node) writeEntry(ctx context.Context, rid []byte, entry *pb.Entry, ack int) (*WriteResult, error) {
	res := n.resourceFor(ctx, rid)
	replicas, err := n.ReplicaSet(ctx, rid)
	if err != nil {
		return nil, err
	}
	raw, err := marshal(entry)
	if err != nil {
		return nil, err
	}
	req := &pb.PutEntriesRequest{ResourceId: rid, Entries: [][]byte{raw}, Resource: res}
	acks, errs := n.fanOut(ctx, replicas, ack, func(ctx context.Context, p corepeer.ID) error {
		resp, err := n.rpc.Call(ctx, p, &pb.Message{Body: &pb.Message_PutEntries{PutEntries: req}})
		if err != nil {
			return err
		}
		pr := resp.GetPutEntriesResponse()
		if err := resultErr(pr.GetResult()); err != nil {
			return err
		}
		if len(pr.GetResults()) != 1 {
			return errors.New("MALFORMED answer: wrong number of results")
		}
		return resultErr(pr.GetResults()[0])
	})
	if t := n.joined(rid); t != nil {
		// The same signed bytes the replicas publish, so the message ids coincide.
		pctx, cancel := context.WithTimeout(ctx, n.cfg.Timeout)
		if err := t.Publish(pctx, raw); err != nil {
			n.logf("publish: %v", err)
		}
		cancel()
	}
	return &WriteResult{Acks: acks, Errors: errs, Success: acks >= ack}, nil
}

// Register writes a self-hosted record (issuer = host = this node, addrs = own addrs).
func (n *Node) Register(ctx context.Context, rid []byte, serviceID string, value []byte, ttl uint32, ack int) (*WriteResult, error) {
	if ttl == 0 {
		ttl = core.DefaultTTL
	}
	now := n.issuedNow()
	rec, err := core.NewRecord(n.key, n.key, core.RecordParams{
		ResourceID: rid, ServiceID: serviceID, Value: value, IssuedAtMs: now, TTLs: ttl,
		HostSignedMs: now, Addrs: n.binaryAddrs(),
	})
	if err != nil {
		return nil, err
	}
	entry := &pb.Entry{Kind: &pb.Entry_Record{Record: rec}}
	if _, err := core.ValidateEntry(entry, core.NowMs(), rid); err != nil {
		return nil, err
	}
	return n.writeEntry(ctx, rid, entry, ack)
}

// Grant writes, as the resource's owner, a grant for grantee (revoked: a revocation);
// expiresInMs 0 = no expiry.
func (n *Node) Grant(ctx context.Context, rid, grantee []byte, servicePrefix string, expiresInMs uint64, revoked bool, ack int) (*WriteResult, error) {
	raw := n.resourceFor(ctx, rid)
	if raw == nil {
		return nil, errors.New("UNKNOWN_RESOURCE: resource not found")
	}
	res, err := core.ValidateResource(raw, core.NowMs())
	if err != nil {
		return nil, err
	}
	now := n.issuedNow()
	var expires uint64
	if expiresInMs != 0 {
		expires = now + expiresInMs
	}
	g, err := core.NewGrant(n.key, rid, grantee, servicePrefix, now, expires, revoked)
	if err != nil {
		return nil, err
	}
	entry := &pb.Entry{Kind: &pb.Entry_Grant{Grant: g}}
	if _, err := core.ValidateEntryWith(entry, core.NowMs(), rid, res); err != nil {
		return nil, err
	}
	return n.writeEntry(ctx, rid, entry, ack)
}

// Unregister writes a signed tombstone for this node's self-hosted record.
func (n *Node) Unregister(ctx context.Context, rid []byte, serviceID string, ack int) (*WriteResult, error) {
	t, err := core.NewTombstone(n.key, rid, []byte(n.ID()), serviceID, n.issuedNow())
	if err != nil {
		return nil, err
	}
	entry := &pb.Entry{Kind: &pb.Entry_Tombstone{Tombstone: t}}
	if _, err := core.ValidateEntry(entry, core.NowMs(), rid); err != nil {
		return nil, err
	}
	return n.writeEntry(ctx, rid, entry, ack)
}

// fetchEntries pages through GetEntries on one replica and verifies every entry.
// The replica's copy of the resource (from the first page) is returned too, verified; grants
// are checked against it.
func (n *Node) fetchEntries(ctx context.Context, p corepeer.ID, rid []byte) ([]*core.EntryInfo, *core.ResourceInfo, error) {
	var out []*core.EntryInfo
	var res *core.ResourceInfo
	var cursor []byte
	for page := 0; page < 10000; page++ {
		resp, err := n.rpc.Call(ctx, p, &pb.Message{Body: &pb.Message_GetEntries{GetEntries: &pb.GetEntriesRequest{
			ResourceId: rid, Cursor: cursor, IncludeTombstones: true,
		}}})
		if err != nil {
			return out, res, err
		}
		gr := resp.GetGetEntriesResponse()
		if gr == nil {
			return out, res, errors.New("MALFORMED answer")
		}
		if r := gr.GetResult(); r != nil && r.Status == pb.Status_UNKNOWN_RESOURCE {
			return out, res, nil // an answer: this replica has nothing
		}
		if err := resultErr(gr.GetResult()); err != nil {
			return out, res, err
		}
		now := core.NowMs()
		if res == nil && gr.GetResource() != nil {
			if info, err := core.ValidateResource(gr.GetResource(), now); err == nil && bytes.Equal(info.ID, rid) {
				res = info
			} else {
				n.logf("dropping resource copy from %s: %v", p, err)
			}
		}
		for _, e := range gr.GetEntries() {
			info, err := core.ParseEntryWith(e, now, rid, res)
			if err != nil {
				if core.StatusOf(err) != pb.Status_EXPIRED {
					n.logf("dropping entry from %s: %v", p, err)
				}
				continue
			}
			out = append(out, info)
		}
		if len(gr.GetNextCursor()) == 0 {
			return out, res, nil
		}
		if bytes.Equal(gr.GetNextCursor(), cursor) {
			return out, res, errors.New("cursor did not advance")
		}
		cursor = gr.GetNextCursor()
	}
	return out, res, errors.New("too many pages")
}

// Resolve gathers entries from the replica set, merges them by precedence and returns the
// live records, newest issued_at first: only those whose host reports them passing unless
// includeCritical (as the Python resolve).
func (n *Node) Resolve(ctx context.Context, rid []byte, ack int, includeCritical bool) ([]*core.EntryInfo, int, error) {
	replicas, err := n.ReplicaSet(ctx, rid)
	if err != nil {
		return nil, 0, err
	}
	var mu sync.Mutex
	merged := core.Merge{}
	var newest *core.ResourceInfo
	answers, errs := n.fanOut(ctx, replicas, ack, func(ctx context.Context, p corepeer.ID) error {
		got, res, err := n.fetchEntries(ctx, p, rid)
		mu.Lock()
		defer mu.Unlock()
		for _, e := range got {
			merged.Add(e)
		}
		if res != nil && (newest == nil || res.CreatedAtMs > newest.CreatedAtMs) {
			newest = res
		}
		return err
	})
	for p, e := range errs {
		n.logf("resolve: %s: %s", p, e)
	}
	mu.Lock()
	defer mu.Unlock()
	now := core.NowMs()
	var out []*core.EntryInfo
	// The newest copy's write policy decides which records stand, judged by the merged grants.
	for _, e := range core.FilterAuthorized(newest, merged, now) {
		if !e.Tombstone && !e.Grant && now < e.ExpiresAtMs() && (includeCritical || e.Passing()) {
			out = append(out, e)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].IssuedAtMs != out[j].IssuedAtMs {
			return out[i].IssuedAtMs > out[j].IssuedAtMs
		}
		return out[i].Identity() < out[j].Identity()
	})
	return out, answers, nil
}
