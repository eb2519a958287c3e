package core

import (
	"bytes"
	"strings"

	"github.com/libp2p/go-libp2p/core/crypto"
	"google.golang.org/protobuf/proto"

	"registryp2p/interop/go/pb"
)

// Owner-approved resources: grants, revocations and the write policy (INTEROP-CONTRACT.md,
// "Owner-approved resources"; the same rules as registry_p2p/core/grants.py).

// NewGrant builds a grant (revoked: a revocation) of resourceID for grantee, signed by the owner.
func NewGrant(owner crypto.PrivKey, resourceID, grantee []byte, servicePrefix string, issuedAtMs, expiresAtMs uint64, revoked bool) (*pb.Grant, error) {
	body, err := proto.Marshal(&pb.GrantBody{
		ResourceId: resourceID, Grantee: grantee, ServicePrefix: servicePrefix,
		IssuedAtMs: issuedAtMs, ExpiresAtMs: expiresAtMs, Revoked: revoked,
	})
	if err != nil {
		return nil, err
	}
	sig, err := Sign(owner, DomainGrant, body)
	if err != nil {
		return nil, err
	}
	return &pb.Grant{Body: body, Signature: sig, OwnerPublicKey: PublicKeyField(owner)}, nil
}

// NewOwnerApprovedResource signs a resource whose write policy is owner-approved.
func NewOwnerApprovedResource(key crypto.PrivKey, label string, createdAtMs uint64) (*pb.Resource, []byte, error) {
	res, rid, err := NewResource(key, label, createdAtMs)
	if err != nil {
		return nil, nil, err
	}
	var body pb.ResourceBody
	if err := proto.Unmarshal(res.Body, &body); err != nil {
		return nil, nil, err
	}
	body.WritePolicy = pb.WritePolicy_WRITE_POLICY_OWNER_APPROVED
	if res.Body, err = proto.Marshal(&body); err != nil {
		return nil, nil, err
	}
	if res.Signature, err = Sign(key, DomainResource, res.Body); err != nil {
		return nil, nil, err
	}
	return res, rid, nil
}

func decodeGrant(e *pb.Entry, g *pb.Grant) (*EntryInfo, error) {
	if g == nil {
		g = &pb.Grant{}
	}
	var b pb.GrantBody
	if err := proto.Unmarshal(g.Body, &b); err != nil {
		return nil, fail(pb.Status_MALFORMED, "grant body does not decode: %v", err)
	}
	if err := checkText(b.ServicePrefix, MaxServiceID, "service prefix"); err != nil {
		return nil, err
	}
	if err := checkRID(b.ResourceId); err != nil {
		return nil, err
	}
	if err := checkPeer(b.Grantee, "grantee"); err != nil {
		return nil, err
	}
	if err := checkCanonical(g, nil, "grant"); err != nil {
		return nil, err
	}
	return &EntryInfo{
		Grant: true, Revoked: b.Revoked, ServicePrefix: b.ServicePrefix, GrantExpiresMs: b.ExpiresAtMs,
		ResourceID: b.ResourceId, Issuer: b.Grantee, IssuedAtMs: b.IssuedAtMs, IssuerSig: g.Signature, Raw: e,
	}, nil
}

// validateGrant checks a decoded grant against its resource, in the Python core's order.
func validateGrant(info *EntryInfo, g *pb.Grant, res *ResourceInfo, nowMs uint64) error {
	if !bytes.Equal(info.ResourceID, res.ID) {
		return fail(pb.Status_INVALID_SIGNATURE, "grant is signed for another resource")
	}
	if bytes.Equal(info.Issuer, res.Owner) {
		return fail(pb.Status_MALFORMED, "the owner needs no grant to write in its own resource")
	}
	if err := checkFuture(info.IssuedAtMs, nowMs, "grant issued_at_ms"); err != nil {
		return err
	}
	if info.GrantExpiresMs != 0 && info.GrantExpiresMs <= nowMs {
		return fail(pb.Status_EXPIRED, "grant expired")
	}
	if info.GrantExpiresMs != 0 && info.GrantExpiresMs <= info.IssuedAtMs {
		return fail(pb.Status_MALFORMED, "grant expires before it is issued")
	}
	if err := checkKeyField(res.Owner, g.OwnerPublicKey, true, "owner_public_key"); err != nil {
		return err
	}
	return verify(res.Owner, g.OwnerPublicKey, DomainGrant, g.Body, g.Signature)
}

// GrantAllows: grant (the issuer's winning grant entry, or nil) lets it write serviceID at nowMs.
func GrantAllows(grant *EntryInfo, serviceID string, nowMs uint64) bool {
	if grant == nil || !grant.Grant || grant.Revoked {
		return false
	}
	if grant.GrantExpiresMs != 0 && grant.GrantExpiresMs <= nowMs {
		return false
	}
	return strings.HasPrefix(serviceID, grant.ServicePrefix)
}

// Authorized reports whether res's write policy lets record or tombstone e stand, given the
// winning grant entry of its issuer (nil when none).
func Authorized(res *ResourceInfo, e *EntryInfo, grant *EntryInfo, nowMs uint64) bool {
	if e.Grant || res == nil || !res.OwnerApproved || bytes.Equal(e.Issuer, res.Owner) {
		return true
	}
	if e.Tombstone {
		return grant != nil
	}
	return GrantAllows(grant, e.ServiceID, nowMs)
}

// FilterAuthorized drops from merged entries what res's policy refuses, judged by the grants among them.
func FilterAuthorized(res *ResourceInfo, m Merge, nowMs uint64) Merge {
	if res == nil || !res.OwnerApproved {
		return m
	}
	grants := map[string]*EntryInfo{}
	for _, e := range m {
		if e.Grant {
			grants[string(e.Issuer)] = e
		}
	}
	out := Merge{}
	for id, e := range m {
		if Authorized(res, e, grants[string(e.Issuer)], nowMs) {
			out[id] = e
		}
	}
	return out
}
