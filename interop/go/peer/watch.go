package peer

import (
	"context"
	"encoding/base64"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	corepeer "github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"registryp2p/interop/go/core"
	"registryp2p/interop/go/pb"
)

func marshal(m proto.Message) ([]byte, error)   { return proto.Marshal(m) }
func unmarshal(b []byte, m proto.Message) error { return proto.Unmarshal(b, m) }

func (n *Node) joined(rid []byte) *pubsub.Topic {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.topics[core.Topic(rid)]
}

// checkTopicEntry validates the data of a message on the topic of rid: one Entry, or an
// EntryBatch of several (see core.ParseGossip).
func checkTopicEntry(rid, data []byte) ([]*core.EntryInfo, error) {
	return core.ParseGossip(data, core.NowMs(), rid)
}

// joinTopic registers the topic validator and joins the topic of rid.
func (n *Node) joinTopic(rid []byte) (*pubsub.Topic, error) {
	name := core.Topic(rid)
	n.mu.Lock()
	defer n.mu.Unlock()
	if t, ok := n.topics[name]; ok {
		return t, nil
	}
	self := n.ID()
	err := n.PS.RegisterTopicValidator(name, func(ctx context.Context, from corepeer.ID, m *pubsub.Message) pubsub.ValidationResult {
		if from == self {
			// Local publishes pass, so publish_raw can put tampered bytes on the wire;
			// our own watch loop verifies again before printing.
			return pubsub.ValidationAccept
		}
		if _, err := checkTopicEntry(rid, m.Data); err != nil {
			n.logf("pubsub: rejected message on %s from %s: %v", name, from, err)
			if core.StatusOf(err) == pb.Status_EXPIRED {
				return pubsub.ValidationIgnore
			}
			return pubsub.ValidationReject
		}
		return pubsub.ValidationAccept
	})
	if err != nil {
		return nil, err
	}
	t, err := n.PS.Join(name)
	if err != nil {
		_ = n.PS.UnregisterTopicValidator(name)
		return nil, err
	}
	n.topics[name] = t
	return t, nil
}

// Watch connects to the replica set, subscribes to the topic of rid and emits one event per
// verified entry that becomes the winner of its identity.
func (n *Node) Watch(ctx context.Context, rid []byte) error {
	replicas, err := n.ReplicaSet(ctx, rid)
	if err != nil {
		n.logf("watch: replica set: %v", err)
	}
	t, err := n.joinTopic(rid)
	if err != nil {
		return err
	}
	name := core.Topic(rid)
	n.mu.Lock()
	already := n.watching[name]
	n.watching[name] = true
	n.mu.Unlock()
	if already {
		return nil
	}
	sub, err := t.Subscribe()
	if err != nil {
		return err
	}
	n.logf("watch %s: %d replicas", name, len(replicas))
	go func() {
		defer sub.Cancel()
		state := core.Merge{}
		for {
			m, err := sub.Next(n.ctx)
			if err != nil {
				return
			}
			infos, err := checkTopicEntry(rid, m.Data)
			if err != nil {
				n.logf("watch: dropping message from %s: %v", m.ReceivedFrom, err)
				continue
			}
			for _, info := range infos {
				if info.Grant {
					continue // grants change no service; the replicas drop what a revocation withdraws
				}
				prev := state[info.Identity()]
				if state.Add(info) {
					n.events(watchEvent(info, prev))
				}
			}
		}
	}()
	return nil
}

// healthName is "passing" or "critical", as the Python views name HostBody.health.
func healthName(e *core.EntryInfo) string {
	if e.Passing() {
		return "passing"
	}
	return "critical"
}

// watchEvent is the event for e, which superseded prev (nil when none): "critical" for a record
// its host reports critical, "passing" for one that was critical and passes again.
func watchEvent(e *core.EntryInfo, prev *core.EntryInfo) map[string]any {
	ev := map[string]any{
		"event":        "watch",
		"resource_id":  core.EncodeID(e.ResourceID),
		"issuer":       core.PeerString(e.Issuer),
		"host":         core.PeerString(e.Host),
		"service_id":   e.ServiceID,
		"issued_at_ms": e.IssuedAtMs,
	}
	if e.Tombstone {
		ev["kind"] = "unregistered"
		ev["value_base64"] = nil
	} else {
		switch {
		case !e.Passing():
			ev["kind"] = "critical"
		case prev != nil && !prev.Tombstone && !prev.Passing():
			ev["kind"] = "passing"
		default:
			ev["kind"] = "registered"
		}
		ev["health"] = healthName(e)
		ev["value_base64"] = base64.StdEncoding.EncodeToString(e.Value)
	}
	return ev
}

// PublishRaw publishes bytes on the topic of rid as they are.
func (n *Node) PublishRaw(ctx context.Context, rid, data []byte) error {
	t, err := n.joinTopic(rid)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.Timeout)
	defer cancel()
	return t.Publish(ctx, data)
}
