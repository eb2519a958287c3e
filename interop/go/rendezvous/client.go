// Package rendezvous is a /rendezvous/1.0.0 client written to libp2p/specs rendezvous r1, on
// go-libp2p's own signed peer records (core/record, core/peer). No Go rendezvous module that
// follows the spec is served by the module proxy (waku-org/go-libp2p-rendezvous is not), so
// this is a spec-exact client of our own; it checks every envelope DISCOVER returns.
package rendezvous

import (
	"context"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	peerpb "github.com/libp2p/go-libp2p/core/peer/pb"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/core/record"
	recordpb "github.com/libp2p/go-libp2p/core/record/pb"
	"github.com/libp2p/go-msgio/pbio"
	"github.com/multiformats/go-varint"
	"google.golang.org/protobuf/proto"

	pb "registryp2p/interop/go/rendezvouspb"
)

// ProtocolID is the spec's protocol id.
const ProtocolID = protocol.ID("/rendezvous/1.0.0")

const maxMessage = 1 << 20

// Registration is one DISCOVER result, its envelope verified.
type Registration struct {
	Namespace string
	Peer      peer.ID
	Addrs     []string
	Envelope  []byte
	TTL       int64
}

// Client speaks to rendezvous points from a host.
type Client struct {
	h host.Host
}

// New returns a client using h's identity (a peer registers only itself).
func New(h host.Host) *Client { return &Client{h: h} }

// SignedRecord is this host's signed peer record envelope, as REGISTER carries it: in the
// spec's encoding, or with legacy in the older one that rust-libp2p's client (0.18) alone reads,
// for a Go peer that must be discoverable by Rust clients.
func (c *Client) SignedRecord(legacy bool) ([]byte, error) {
	rec := peer.PeerRecordFromAddrInfo(peer.AddrInfo{ID: c.h.ID(), Addrs: c.h.Addrs()})
	var sealed record.Record = rec
	if legacy {
		sealed = legacyPeerRecord{rec}
	}
	env, err := record.Seal(sealed, c.h.Peerstore().PrivKey(c.h.ID()))
	if err != nil {
		return nil, err
	}
	return env.Marshal()
}

// legacyPeerRecord is a PeerRecord sealed under rust-libp2p's older domain and payload type
// (the payload, the PeerRecord protobuf, is the same).
type legacyPeerRecord struct{ *peer.PeerRecord }

func (legacyPeerRecord) Domain() string { return legacyDomain }
func (legacyPeerRecord) Codec() []byte  { return []byte(legacyPayloadType) }

func (c *Client) exchange(ctx context.Context, point peer.ID, req *pb.Message, reply bool) (*pb.Message, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	s, err := c.h.NewStream(ctx, point, ProtocolID)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = s.SetDeadline(dl)
	}
	if err := pbio.NewDelimitedWriter(s).WriteMsg(req); err != nil {
		_ = s.Reset()
		return nil, err
	}
	if !reply {
		return nil, s.CloseWrite()
	}
	resp := &pb.Message{}
	if err := pbio.NewDelimitedReader(s, maxMessage).ReadMsg(resp); err != nil {
		_ = s.Reset()
		return nil, err
	}
	return resp, nil
}

// Legacy encoding of peer records that rust-libp2p's rendezvous crate (0.18) signs and reads.
const (
	legacyDomain      = "libp2p-routing-state"
	legacyPayloadType = "/libp2p/routing-state-record"
)

// OpenEnvelope verifies a signed peer record: the spec's encoding through go-libp2p's
// record.ConsumeEnvelope, rust-libp2p's older encoding (another domain and payload type over
// the same PeerRecord protobuf) by the same rule written out here.
func OpenEnvelope(data []byte) (*peer.PeerRecord, error) {
	env := &recordpb.Envelope{}
	if err := proto.Unmarshal(data, env); err != nil {
		return nil, err
	}
	if string(env.PayloadType) != legacyPayloadType {
		_, rec, err := record.ConsumeEnvelope(data, peer.PeerRecordEnvelopeDomain)
		if err != nil {
			return nil, err
		}
		pr, ok := rec.(*peer.PeerRecord)
		if !ok {
			return nil, fmt.Errorf("envelope holds no peer record")
		}
		return pr, nil
	}
	key, err := crypto.PublicKeyFromProto(env.PublicKey)
	if err != nil {
		return nil, err
	}
	var unsigned []byte
	for _, part := range [][]byte{[]byte(legacyDomain), env.PayloadType, env.Payload} {
		unsigned = append(unsigned, varint.ToUvarint(uint64(len(part)))...)
		unsigned = append(unsigned, part...)
	}
	if ok, err := key.Verify(unsigned, env.Signature); err != nil || !ok {
		return nil, fmt.Errorf("bad envelope signature")
	}
	msg := &peerpb.PeerRecord{}
	if err := proto.Unmarshal(env.Payload, msg); err != nil {
		return nil, err
	}
	pr, err := peer.PeerRecordFromProtobuf(msg)
	if err != nil {
		return nil, err
	}
	signer, err := peer.IDFromPublicKey(key)
	if err != nil || signer != pr.PeerID {
		return nil, fmt.Errorf("peer record names another peer than its signer")
	}
	return pr, nil
}

// StatusError is a refusal by the rendezvous point.
type StatusError struct {
	Status pb.Message_ResponseStatus
	Text   string
}

func (e *StatusError) Error() string { return fmt.Sprintf("%s: %s", e.Status, e.Text) }

// Register registers this host in ns (ttl 0: the point's default), its envelope in the older
// encoding with legacy (SignedRecord); the granted TTL.
func (c *Client) Register(ctx context.Context, point peer.ID, ns string, ttl int64, legacy bool) (int64, error) {
	env, err := c.SignedRecord(legacy)
	if err != nil {
		return 0, err
	}
	reg := &pb.Message_Register{Ns: proto.String(ns), SignedPeerRecord: env}
	if ttl > 0 {
		reg.Ttl = proto.Int64(ttl)
	}
	resp, err := c.exchange(ctx, point, &pb.Message{Type: pb.Message_REGISTER.Enum(), Register: reg}, true)
	if err != nil {
		return 0, err
	}
	if resp.GetType() != pb.Message_REGISTER_RESPONSE || resp.RegisterResponse == nil {
		return 0, fmt.Errorf("unexpected reply type %s", resp.GetType())
	}
	r := resp.RegisterResponse
	if r.Status == nil || r.Ttl == nil {
		return 0, fmt.Errorf("register response lacks status or ttl")
	}
	if r.GetStatus() != pb.Message_OK {
		return 0, &StatusError{r.GetStatus(), r.GetStatusText()}
	}
	return r.GetTtl(), nil
}

// Unregister removes this host's registration in ns (the spec defines no reply).
func (c *Client) Unregister(ctx context.Context, point peer.ID, ns string) error {
	msg := &pb.Message{Type: pb.Message_UNREGISTER.Enum(), Unregister: &pb.Message_Unregister{Ns: proto.String(ns)}}
	_, err := c.exchange(ctx, point, msg, false)
	return err
}

// Discover asks for registrations in ns ("" = all) after cookie; the registrations and the next cookie.
func (c *Client) Discover(ctx context.Context, point peer.ID, ns string, limit int64, cookie []byte) ([]Registration, []byte, error) {
	disc := &pb.Message_Discover{Ns: proto.String(ns), Cookie: cookie}
	if limit > 0 {
		disc.Limit = proto.Int64(limit)
	}
	resp, err := c.exchange(ctx, point, &pb.Message{Type: pb.Message_DISCOVER.Enum(), Discover: disc}, true)
	if err != nil {
		return nil, nil, err
	}
	if resp.GetType() != pb.Message_DISCOVER_RESPONSE || resp.DiscoverResponse == nil {
		return nil, nil, fmt.Errorf("unexpected reply type %s", resp.GetType())
	}
	d := resp.DiscoverResponse
	if d.Status == nil {
		return nil, nil, fmt.Errorf("discover response lacks a status")
	}
	if d.GetStatus() != pb.Message_OK {
		return nil, nil, &StatusError{d.GetStatus(), d.GetStatusText()}
	}
	if d.Cookie == nil {
		return nil, nil, fmt.Errorf("discover response lacks a cookie")
	}
	out := make([]Registration, 0, len(d.Registrations))
	for _, r := range d.Registrations {
		pr, err := OpenEnvelope(r.SignedPeerRecord)
		if err != nil {
			return nil, nil, fmt.Errorf("registration with a bad envelope: %w", err)
		}
		if r.Ttl == nil {
			return nil, nil, fmt.Errorf("registration lacks a ttl")
		}
		addrs := make([]string, 0, len(pr.Addrs))
		for _, a := range pr.Addrs {
			addrs = append(addrs, a.String())
		}
		out = append(out, Registration{Namespace: r.GetNs(), Peer: pr.PeerID, Addrs: addrs, Envelope: r.SignedPeerRecord, TTL: r.GetTtl()})
	}
	return out, d.Cookie, nil
}
