package core

import (
	"bytes"
	"crypto/sha256"
	"fmt"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-varint"
	"google.golang.org/protobuf/proto"

	"registryp2p/interop/go/pb"
)

// StatusError is a validation failure with the wire status it maps to.
type StatusError struct {
	Status pb.Status
	Text   string
}

func (e *StatusError) Error() string { return e.Status.String() + ": " + e.Text }

func fail(s pb.Status, format string, args ...any) *StatusError {
	return &StatusError{Status: s, Text: fmt.Sprintf(format, args...)}
}

// StatusOf returns the wire status of a validation error (OK for nil).
func StatusOf(err error) pb.Status {
	if err == nil {
		return pb.Status_OK
	}
	if se, ok := err.(*StatusError); ok {
		return se.Status
	}
	return pb.Status_INTERNAL
}

// ResourceInfo is a verified, decoded resource.
type ResourceInfo struct {
	ID          []byte
	Label       string
	Owner       []byte
	CreatedAtMs uint64
	// OwnerApproved: records only from the owner and the issuers it grants (write_policy 1).
	OwnerApproved bool
	Raw           *pb.Resource
}

// EntryInfo is a verified, decoded record, tombstone or grant. A grant (Grant true) has the
// grantee as Issuer, an empty Host and ServiceID (no record has an empty host, so identities
// never collide), its signature in IssuerSig and Revoked set for a revocation.
type EntryInfo struct {
	Grant          bool
	Revoked        bool
	ServicePrefix  string
	GrantExpiresMs uint64 // 0 = never
	Tombstone      bool
	ResourceID     []byte
	Issuer         []byte
	Host           []byte
	ServiceID      string
	Value          []byte
	IssuedAtMs     uint64
	TTLs           uint32
	HostSignedMs   uint64
	Addrs          [][]byte
	IssuerSig      []byte
	HostSig        []byte // tombstones: empty
	// Health is the host-signed status of the service (HostBody.health); absent = passing.
	Health pb.HealthStatus
	Raw    *pb.Entry

	issuerBodySha []byte
}

// Passing is true for a record whose host reports it passing (and for every tombstone).
func (e *EntryInfo) Passing() bool { return e.Health == pb.HealthStatus_HEALTH_PASSING }

// SelfHosted is true when issuer == host: such a record carries only the host signature.
func (e *EntryInfo) SelfHosted() bool { return !e.Tombstone && bytes.Equal(e.Issuer, e.Host) }

// Identity is the (resource_id, issuer, host, service_id) key, length-prefixed so it is unambiguous.
func (e *EntryInfo) Identity() string {
	var b bytes.Buffer
	for _, part := range [][]byte{e.ResourceID, e.Issuer, e.Host, []byte(e.ServiceID)} {
		b.Write(varint.ToUvarint(uint64(len(part))))
		b.Write(part)
	}
	return b.String()
}

// ExpiresAtMs is host_signed_at + ttl for records, issued_at + the longest TTL for tombstones,
// and for grants their expiry (the largest uint64 when they have none).
func (e *EntryInfo) ExpiresAtMs() uint64 {
	if e.Grant {
		if e.GrantExpiresMs == 0 {
			return ^uint64(0)
		}
		return e.GrantExpiresMs
	}
	if e.Tombstone {
		return e.IssuedAtMs + TombstoneKeepS*1000
	}
	return e.HostSignedMs + uint64(e.TTLs)*1000
}

// PublicKeyField returns the PublicKey protobuf to carry next to a signature, or nil when
// the key is inlined in the peer id (ed25519, secp256k1).
func PublicKeyField(key crypto.PrivKey) []byte {
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil
	}
	if _, err := id.ExtractPublicKey(); err == nil {
		return nil
	}
	b, _ := crypto.MarshalPublicKey(key.GetPublic())
	return b
}

func issuerKeyField(k crypto.PrivKey, needed bool) []byte {
	if !needed {
		return nil
	}
	return PublicKeyField(k)
}

// ---------------------------------------------------------------- construction

// NewResource signs a resource; it returns the Resource and its id.
func NewResource(key crypto.PrivKey, label string, createdAtMs uint64) (*pb.Resource, []byte, error) {
	owner, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	body, err := proto.Marshal(&pb.ResourceBody{Label: label, Owner: []byte(owner), CreatedAtMs: createdAtMs})
	if err != nil {
		return nil, nil, err
	}
	sig, err := Sign(key, DomainResource, body)
	if err != nil {
		return nil, nil, err
	}
	return &pb.Resource{Body: body, Signature: sig, OwnerPublicKey: PublicKeyField(key)},
		ResourceID(label, []byte(owner)), nil
}

// RecordParams are the fields of a new record.
type RecordParams struct {
	ResourceID   []byte
	ServiceID    string
	Value        []byte
	IssuedAtMs   uint64
	TTLs         uint32
	HostSignedMs uint64
	Addrs        [][]byte
}

// NewRecord builds a record signed by issuer and countersigned by host (the same key for
// a self-hosted record).
func NewRecord(issuer, host crypto.PrivKey, p RecordParams) (*pb.Record, error) {
	iid, err := peer.IDFromPrivateKey(issuer)
	if err != nil {
		return nil, err
	}
	hid, err := peer.IDFromPrivateKey(host)
	if err != nil {
		return nil, err
	}
	ib, err := proto.Marshal(&pb.RecordBody{
		ResourceId: p.ResourceID, Issuer: []byte(iid), Host: []byte(hid), ServiceId: p.ServiceID,
		Value: p.Value, IssuedAtMs: p.IssuedAtMs, TtlS: p.TTLs,
	})
	if err != nil {
		return nil, err
	}
	// A self-hosted record carries no issuer signature: the host signature covers the issuer
	// body through its digest (a self-hosted record with one is MALFORMED).
	var isig []byte
	if iid != hid {
		if isig, err = Sign(issuer, DomainRecord, ib); err != nil {
			return nil, err
		}
	}
	digest := sha256.Sum256(ib)
	hb, err := proto.Marshal(&pb.HostBody{IssuerBodySha256: digest[:], HostSignedAtMs: p.HostSignedMs, Addrs: p.Addrs})
	if err != nil {
		return nil, err
	}
	hsig, err := Sign(host, DomainHost, hb)
	if err != nil {
		return nil, err
	}
	return &pb.Record{
		IssuerBody: ib, IssuerSignature: isig, HostBody: hb, HostSignature: hsig,
		IssuerPublicKey: issuerKeyField(issuer, iid != hid), HostPublicKey: PublicKeyField(host),
	}, nil
}

// NewTombstone builds a tombstone signed by the issuer.
func NewTombstone(issuer crypto.PrivKey, resourceID, host []byte, serviceID string, issuedAtMs uint64) (*pb.Tombstone, error) {
	iid, err := peer.IDFromPrivateKey(issuer)
	if err != nil {
		return nil, err
	}
	body, err := proto.Marshal(&pb.TombstoneBody{
		ResourceId: resourceID, Issuer: []byte(iid), Host: host, ServiceId: serviceID, IssuedAtMs: issuedAtMs,
	})
	if err != nil {
		return nil, err
	}
	sig, err := Sign(issuer, DomainTombstone, body)
	if err != nil {
		return nil, err
	}
	return &pb.Tombstone{Body: body, Signature: sig, IssuerPublicKey: PublicKeyField(issuer)}, nil
}

// ---------------------------------------------------------------- validation

func checkPeer(b []byte, what string) error {
	if _, err := peer.IDFromBytes(b); err != nil {
		return fail(pb.Status_MALFORMED, "%s is not a peer id", what)
	}
	return nil
}

func checkFuture(ts uint64, nowMs uint64, what string) error {
	if ts > nowMs+MaxSkewMs {
		return fail(pb.Status_FROM_FUTURE, "%s %d is more than 60 s ahead of %d", what, ts, nowMs)
	}
	return nil
}

// ParseResource decodes and validates serialized Resource bytes.
func ParseResource(raw []byte, nowMs uint64) (*ResourceInfo, error) {
	if len(raw) > MaxResourceBytes {
		return nil, fail(pb.Status_TOO_LARGE, "resource is over %d bytes", MaxResourceBytes)
	}
	var r pb.Resource
	if err := proto.Unmarshal(raw, &r); err != nil {
		return nil, fail(pb.Status_MALFORMED, "resource does not decode: %v", err)
	}
	if err := checkCanonical(&r, raw, "resource"); err != nil {
		return nil, err
	}
	return ValidateResource(&r, nowMs)
}

// ValidateResource decodes the carried body, checks its fields, then verifies the owner's
// signature over exactly the carried bytes (the order of checks follows the Python core).
func ValidateResource(r *pb.Resource, nowMs uint64) (*ResourceInfo, error) {
	if r == nil {
		return nil, fail(pb.Status_MALFORMED, "no resource")
	}
	var body pb.ResourceBody
	if err := proto.Unmarshal(r.Body, &body); err != nil {
		return nil, fail(pb.Status_MALFORMED, "resource body does not decode: %v", err)
	}
	if len(body.Label) > MaxLabel {
		return nil, fail(pb.Status_TOO_LARGE, "label is %d bytes (max %d)", len(body.Label), MaxLabel)
	}
	if body.Label == "" {
		return nil, fail(pb.Status_MALFORMED, "resource label is empty")
	}
	if err := checkPeer(body.Owner, "owner"); err != nil {
		return nil, err
	}
	if err := checkKeyField(body.Owner, r.OwnerPublicKey, true, "owner_public_key"); err != nil {
		return nil, err
	}
	if body.WritePolicy != pb.WritePolicy_WRITE_POLICY_OPEN && body.WritePolicy != pb.WritePolicy_WRITE_POLICY_OWNER_APPROVED {
		return nil, fail(pb.Status_MALFORMED, "unknown write policy %d", body.WritePolicy)
	}
	if err := checkCanonical(r, nil, "resource"); err != nil {
		return nil, err
	}
	if proto.Size(r) > MaxResourceBytes {
		return nil, fail(pb.Status_TOO_LARGE, "resource is over %d bytes", MaxResourceBytes)
	}
	if err := checkFuture(body.CreatedAtMs, nowMs, "created_at_ms"); err != nil {
		return nil, err
	}
	if err := verify(body.Owner, r.OwnerPublicKey, DomainResource, r.Body, r.Signature); err != nil {
		return nil, err
	}
	return &ResourceInfo{
		ID: ResourceID(body.Label, body.Owner), Label: body.Label, Owner: body.Owner,
		CreatedAtMs: body.CreatedAtMs, OwnerApproved: body.WritePolicy == pb.WritePolicy_WRITE_POLICY_OWNER_APPROVED,
		Raw: r,
	}, nil
}

// verify maps every signature failure (missing, unusable key, mismatch) to INVALID_SIGNATURE.
func verify(signer, pubKey []byte, domain string, body, sig []byte) error {
	if len(sig) == 0 {
		return fail(pb.Status_INVALID_SIGNATURE, "missing %s signature", domainName(domain))
	}
	if err := Verify(signer, pubKey, domain, body, sig); err != nil {
		return fail(pb.Status_INVALID_SIGNATURE, "bad %s signature: %v", domainName(domain), err)
	}
	return nil
}

func domainName(d string) string {
	switch d {
	case DomainResource:
		return "resource"
	case DomainRecord:
		return "record"
	case DomainHost:
		return "host"
	case DomainTombstone:
		return "tombstone"
	case DomainGrant:
		return "grant"
	}
	return d
}

// ParseEntry decodes and validates serialized Entry bytes. expectedRID, when not nil, is
// the resource the entry must belong to (a mismatch is a forgery: INVALID_SIGNATURE).
func ParseEntry(raw []byte, nowMs uint64, expectedRID []byte) (*EntryInfo, error) {
	return ParseEntryWith(raw, nowMs, expectedRID, nil)
}

// ParseEntryWith is ParseEntry with the resource a grant is checked against (its owner signs it).
func ParseEntryWith(raw []byte, nowMs uint64, expectedRID []byte, res *ResourceInfo) (*EntryInfo, error) {
	if len(raw) > MaxFrame {
		return nil, fail(pb.Status_TOO_LARGE, "entry is over %d bytes", MaxFrame)
	}
	var e pb.Entry
	if err := proto.Unmarshal(raw, &e); err != nil {
		return nil, fail(pb.Status_MALFORMED, "entry does not decode: %v", err)
	}
	if _, err := DecodeEntry(&e); err != nil {
		return nil, err
	}
	if err := checkCanonical(&e, raw, "entry"); err != nil {
		return nil, err
	}
	return ValidateEntryWith(&e, nowMs, expectedRID, res)
}

// DecodeEntry decodes an entry and checks its static limits, without signatures or time.
func DecodeEntry(e *pb.Entry) (*EntryInfo, error) {
	if e == nil {
		return nil, fail(pb.Status_MALFORMED, "empty entry")
	}
	switch k := e.Kind.(type) {
	case *pb.Entry_Record:
		return decodeRecord(e, k.Record)
	case *pb.Entry_Tombstone:
		return decodeTombstone(e, k.Tombstone)
	case *pb.Entry_Grant:
		return decodeGrant(e, k.Grant)
	}
	return nil, fail(pb.Status_MALFORMED, "entry is neither a record, a tombstone nor a grant")
}

// ValidateEntry decodes a record or tombstone, then checks its resource, time limits and
// signatures at nowMs (the order of checks follows the Python core).
func ValidateEntry(e *pb.Entry, nowMs uint64, expectedRID []byte) (*EntryInfo, error) {
	return ValidateEntryWith(e, nowMs, expectedRID, nil)
}

// ValidateEntryWith is ValidateEntry with the resource a grant is checked against.
func ValidateEntryWith(e *pb.Entry, nowMs uint64, expectedRID []byte, res *ResourceInfo) (*EntryInfo, error) {
	info, err := DecodeEntry(e)
	if err != nil {
		return nil, err
	}
	if expectedRID != nil && !bytes.Equal(info.ResourceID, expectedRID) {
		return nil, fail(pb.Status_INVALID_SIGNATURE, "entry is signed for another resource")
	}
	if info.Grant {
		if res == nil {
			return nil, fail(pb.Status_UNKNOWN_RESOURCE, "a grant is checked against its resource, which is unknown")
		}
		return info, validateGrant(info, e.GetGrant(), res, nowMs)
	}
	if info.Tombstone {
		t := e.GetTombstone()
		if err := checkFuture(info.IssuedAtMs, nowMs, "tombstone issued_at_ms"); err != nil {
			return nil, err
		}
		if info.ExpiresAtMs() <= nowMs {
			return nil, fail(pb.Status_EXPIRED, "tombstone is past its lifetime")
		}
		if err := verify(info.Issuer, t.IssuerPublicKey, DomainTombstone, t.Body, t.Signature); err != nil {
			return nil, err
		}
		return info, nil
	}
	r := e.GetRecord()
	if err := checkFuture(info.IssuedAtMs, nowMs, "record issued_at_ms"); err != nil {
		return nil, err
	}
	if err := checkFuture(info.HostSignedMs, nowMs, "record host_signed_at_ms"); err != nil {
		return nil, err
	}
	if info.ExpiresAtMs() <= nowMs {
		return nil, fail(pb.Status_EXPIRED, "record expired at %d", info.ExpiresAtMs())
	}
	digest := sha256.Sum256(r.IssuerBody)
	if !bytes.Equal(info.issuerBodySha, digest[:]) {
		return nil, fail(pb.Status_INVALID_SIGNATURE, "host signature does not cover this issuer body")
	}
	if err := verify(info.Host, r.HostPublicKey, DomainHost, r.HostBody, r.HostSignature); err != nil {
		return nil, err
	}
	if !info.SelfHosted() {
		if err := verify(info.Issuer, r.IssuerPublicKey, DomainRecord, r.IssuerBody, r.IssuerSignature); err != nil {
			return nil, err
		}
	}
	return info, nil
}

func checkText(s string, limit int, what string) error {
	if len(s) > limit {
		return fail(pb.Status_TOO_LARGE, "%s is over %d bytes", what, limit)
	}
	return nil
}

func checkRID(b []byte) error {
	if len(b) != sha256.Size {
		return fail(pb.Status_MALFORMED, "resource id is %d bytes, not 32", len(b))
	}
	return nil
}

func decodeRecord(e *pb.Entry, r *pb.Record) (*EntryInfo, error) {
	if r == nil {
		r = &pb.Record{}
	}
	var ib pb.RecordBody
	if err := proto.Unmarshal(r.IssuerBody, &ib); err != nil {
		return nil, fail(pb.Status_MALFORMED, "record issuer body does not decode: %v", err)
	}
	var hb pb.HostBody
	if err := proto.Unmarshal(r.HostBody, &hb); err != nil {
		return nil, fail(pb.Status_MALFORMED, "record host body does not decode: %v", err)
	}
	if len(ib.Value) > MaxValue {
		return nil, fail(pb.Status_TOO_LARGE, "value is over %d bytes", MaxValue)
	}
	if err := checkText(ib.ServiceId, MaxServiceID, "service id"); err != nil {
		return nil, err
	}
	if len(hb.Addrs) > MaxAddrs {
		return nil, fail(pb.Status_TOO_LARGE, "more than %d addrs", MaxAddrs)
	}
	for _, a := range hb.Addrs {
		if len(a) > MaxAddrBytes {
			return nil, fail(pb.Status_TOO_LARGE, "an addr is over %d bytes", MaxAddrBytes)
		}
	}
	if ib.TtlS > MaxTTL {
		return nil, fail(pb.Status_TOO_LARGE, "ttl %d s is over the maximum %d s", ib.TtlS, MaxTTL)
	}
	if ib.TtlS < MinTTL {
		return nil, fail(pb.Status_MALFORMED, "ttl %d s is under the minimum %d s", ib.TtlS, MinTTL)
	}
	if err := checkPeer(ib.Issuer, "issuer"); err != nil {
		return nil, err
	}
	if err := checkPeer(ib.Host, "host"); err != nil {
		return nil, err
	}
	if bytes.Equal(ib.Issuer, ib.Host) && len(r.IssuerSignature) > 0 {
		return nil, fail(pb.Status_MALFORMED, "a self-hosted record carries no issuer signature (the host signature covers it)")
	}
	if err := checkKeyField(ib.Host, r.HostPublicKey, true, "host_public_key"); err != nil {
		return nil, err
	}
	selfHosted := bytes.Equal(ib.Issuer, ib.Host)
	if err := checkKeyField(ib.Issuer, r.IssuerPublicKey, !selfHosted, "issuer_public_key"); err != nil {
		return nil, err
	}
	if err := checkCanonical(r, nil, "record"); err != nil {
		return nil, err
	}
	if _, known := pb.HealthStatus_name[int32(hb.Health)]; !known {
		return nil, fail(pb.Status_MALFORMED, "health status %d is not one of the protocol's", hb.Health)
	}
	// The host body is signed, but one content still has one encoding (no unknown fields, health
	// PASSING left out), as in Python and Rust.
	if err := checkCanonical(&hb, r.HostBody, "record host body"); err != nil {
		return nil, err
	}
	if err := checkRID(ib.ResourceId); err != nil {
		return nil, err
	}
	return &EntryInfo{
		ResourceID: ib.ResourceId, Issuer: ib.Issuer, Host: ib.Host, ServiceID: ib.ServiceId,
		Value: ib.Value, IssuedAtMs: ib.IssuedAtMs, TTLs: ib.TtlS, HostSignedMs: hb.HostSignedAtMs,
		Addrs: hb.Addrs, IssuerSig: r.IssuerSignature, HostSig: r.HostSignature, Health: hb.Health, Raw: e,
		issuerBodySha: hb.IssuerBodySha256,
	}, nil
}

func decodeTombstone(e *pb.Entry, t *pb.Tombstone) (*EntryInfo, error) {
	if t == nil {
		t = &pb.Tombstone{}
	}
	var b pb.TombstoneBody
	if err := proto.Unmarshal(t.Body, &b); err != nil {
		return nil, fail(pb.Status_MALFORMED, "tombstone body does not decode: %v", err)
	}
	if err := checkText(b.ServiceId, MaxServiceID, "service id"); err != nil {
		return nil, err
	}
	if err := checkRID(b.ResourceId); err != nil {
		return nil, err
	}
	if err := checkPeer(b.Issuer, "issuer"); err != nil {
		return nil, err
	}
	if err := checkPeer(b.Host, "host"); err != nil {
		return nil, err
	}
	if err := checkKeyField(b.Issuer, t.IssuerPublicKey, true, "issuer_public_key"); err != nil {
		return nil, err
	}
	if err := checkCanonical(t, nil, "tombstone"); err != nil {
		return nil, err
	}
	return &EntryInfo{
		Tombstone: true, ResourceID: b.ResourceId, Issuer: b.Issuer, Host: b.Host, ServiceID: b.ServiceId,
		IssuedAtMs: b.IssuedAtMs, IssuerSig: t.Signature, Raw: e,
	}, nil
}

// ---------------------------------------------------------------- precedence

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Compare orders two entries of the same identity by the contract's precedence tuple:
// record (issued_at, 0, host_signed_at, host_signature, issuer_signature),
// tombstone (issued_at, 1, 0, signature, ""). It returns >0 when a wins, <0 when b wins.
func Compare(a, b *EntryInfo) int {
	type tuple struct {
		issued, kind, hostSigned uint64
		s1, s2                   []byte
	}
	key := func(e *EntryInfo) tuple {
		if e.Grant {
			var revoked uint64
			if e.Revoked {
				revoked = 1
			}
			return tuple{e.IssuedAtMs, revoked, 0, e.IssuerSig, nil}
		}
		if e.Tombstone {
			return tuple{e.IssuedAtMs, 1, 0, e.IssuerSig, nil}
		}
		return tuple{e.IssuedAtMs, 0, e.HostSignedMs, e.HostSig, e.IssuerSig}
	}
	ka, kb := key(a), key(b)
	if c := cmpU64(ka.issued, kb.issued); c != 0 {
		return c
	}
	if c := cmpU64(ka.kind, kb.kind); c != 0 {
		return c
	}
	if c := cmpU64(ka.hostSigned, kb.hostSigned); c != 0 {
		return c
	}
	if c := bytes.Compare(ka.s1, kb.s1); c != 0 {
		return c
	}
	if c := bytes.Compare(ka.s2, kb.s2); c != 0 {
		return c
	}
	// Equal keys: the encoded entries decide, so the order is total (as in the Python core).
	return bytes.Compare(encodeEntry(a.Raw), encodeEntry(b.Raw))
}

func encodeEntry(e *pb.Entry) []byte {
	if e == nil {
		return nil
	}
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(e)
	return b
}

// Merge keeps, per identity, the entry that wins by precedence.
type Merge map[string]*EntryInfo

// Add offers an entry; it reports whether the entry is now the winner of its identity
// (false for a loser or an exact duplicate).
func (m Merge) Add(e *EntryInfo) bool {
	id := e.Identity()
	cur, ok := m[id]
	if ok && Compare(e, cur) <= 0 {
		return false
	}
	m[id] = e
	return true
}
