package core

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/mr-tron/base58"
	"google.golang.org/protobuf/proto"

	"registryp2p/interop/go/pb"
)

// vectorsDir is tests/vectors of the repository, found relative to this file
// (interop/go/core -> ../../../tests/vectors), or $REGISTRY_VECTORS_DIR.
func vectorsDir(t *testing.T) string {
	if d := os.Getenv("REGISTRY_VECTORS_DIR"); d != "" {
		return d
	}
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test file")
	}
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "tests", "vectors")
}

func load(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(vectorsDir(t), name))
	if err != nil {
		t.Fatalf("read vectors: %v", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// Every vector file must be checked here, so a new one cannot be silently ignored.
func TestAllVectorFilesKnown(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(vectorsDir(t), "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no vector files in %s (%v)", vectorsDir(t), err)
	}
	known := map[string]bool{"keys.json": true, "resource_ids.json": true, "signatures.json": true,
		"entries.json": true, "precedence.json": true, "grants.json": true}
	for _, f := range files {
		if !known[filepath.Base(f)] {
			t.Errorf("vector file %s is not checked by the Go tests", filepath.Base(f))
		}
	}
}

type keyVector struct {
	Name, Type, PrivateKey, PublicKey, PeerID, PeerIDBytes string
}

func (k *keyVector) UnmarshalJSON(b []byte) error {
	var raw struct {
		Name        string `json:"name"`
		Type        string `json:"type"`
		PrivateKey  string `json:"private_key"`
		PublicKey   string `json:"public_key"`
		PeerID      string `json:"peer_id"`
		PeerIDBytes string `json:"peer_id_bytes"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*k = keyVector{raw.Name, raw.Type, raw.PrivateKey, raw.PublicKey, raw.PeerID, raw.PeerIDBytes}
	return nil
}

func loadKeys(t *testing.T) map[string]crypto.PrivKey {
	var keys []keyVector
	load(t, "keys.json", &keys)
	out := map[string]crypto.PrivKey{}
	for _, k := range keys {
		sk, err := UnmarshalPrivateKey(unhex(t, k.PrivateKey))
		if err != nil {
			t.Fatalf("key %s: %v", k.Name, err)
		}
		out[k.Name] = sk
	}
	return out
}

func TestKeys(t *testing.T) {
	var keys []keyVector
	load(t, "keys.json", &keys)
	for _, k := range keys {
		t.Run(k.Name, func(t *testing.T) {
			sk, err := UnmarshalPrivateKey(unhex(t, k.PrivateKey))
			if err != nil {
				t.Fatal(err)
			}
			wantType, known := map[string]int{"ed25519": crypto.Ed25519, "secp256k1": crypto.Secp256k1}[k.Type]
			if !known || int(sk.Type()) != wantType {
				t.Errorf("type %v, want %s", sk.Type(), k.Type)
			}
			pub, err := crypto.MarshalPublicKey(sk.GetPublic())
			if err != nil {
				t.Fatal(err)
			}
			if hex.EncodeToString(pub) != k.PublicKey {
				t.Errorf("public key %x, want %s", pub, k.PublicKey)
			}
			id, err := peer.IDFromPrivateKey(sk)
			if err != nil {
				t.Fatal(err)
			}
			if id.String() != k.PeerID {
				t.Errorf("peer id %s, want %s", id, k.PeerID)
			}
			if hex.EncodeToString([]byte(id)) != k.PeerIDBytes {
				t.Errorf("peer id bytes %x, want %s", []byte(id), k.PeerIDBytes)
			}
		})
	}
}

func TestResourceIDs(t *testing.T) {
	var cases []struct {
		Label      string `json:"label"`
		Owner      string `json:"owner"`
		OwnerBytes string `json:"owner_bytes"`
		ResourceID string `json:"resource_id"`
		B58        string `json:"resource_id_b58"`
	}
	load(t, "resource_ids.json", &cases)
	if len(cases) == 0 {
		t.Fatal("no cases")
	}
	for _, c := range cases {
		owner := unhex(t, c.OwnerBytes)
		id, err := peer.Decode(c.Owner)
		if err != nil || !bytes.Equal([]byte(id), owner) {
			t.Errorf("owner %s does not decode to owner_bytes (%v)", c.Owner, err)
		}
		rid := ResourceID(c.Label, owner)
		if hex.EncodeToString(rid) != c.ResourceID {
			t.Errorf("resource_id(%q, %s) = %x, want %s", c.Label, c.Owner, rid, c.ResourceID)
		}
		if EncodeID(rid) != c.B58 {
			t.Errorf("b58 %s, want %s", EncodeID(rid), c.B58)
		}
		back, err := DecodeID(c.B58)
		if err != nil || !bytes.Equal(back, rid) {
			t.Errorf("DecodeID(%s) = %x, %v", c.B58, back, err)
		}
		if base58.Encode(owner) != c.Owner {
			t.Errorf("owner b58 mismatch")
		}
	}
}

func TestSignatures(t *testing.T) {
	keys := loadKeys(t)
	var cases []struct {
		Name         string `json:"name"`
		Domain       string `json:"domain"`
		Key          string `json:"key"`
		Body         string `json:"body"`
		SigningBytes string `json:"signing_bytes"`
		Signature    string `json:"signature"`
		Valid        bool   `json:"valid"`
	}
	load(t, "signatures.json", &cases)
	if len(cases) == 0 {
		t.Fatal("no cases")
	}
	valid, invalid := 0, 0
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			sk, ok := keys[c.Key]
			if !ok {
				t.Fatalf("unknown key %s", c.Key)
			}
			body, sig := unhex(t, c.Body), unhex(t, c.Signature)
			sb := SigningBytes(c.Domain, body)
			if hex.EncodeToString(sb) != c.SigningBytes {
				t.Errorf("signing bytes %x, want %s", sb, c.SigningBytes)
			}
			signer, _ := peer.IDFromPrivateKey(sk)
			err := Verify([]byte(signer), nil, c.Domain, body, sig)
			if (err == nil) != c.Valid {
				t.Errorf("verify = %v, want valid=%v", err, c.Valid)
			}
			if c.Valid {
				valid++
				mine, err := Sign(sk, c.Domain, body)
				if err != nil {
					t.Fatal(err)
				}
				// ed25519 is deterministic; secp256k1 (RFC 6979 in both libraries) too.
				if !bytes.Equal(mine, sig) {
					if sk.Type() == crypto.Ed25519 {
						t.Errorf("ed25519 signature %x, want %s", mine, c.Signature)
					} else {
						t.Logf("secp256k1 signature differs from the vector (allowed): %x", mine)
					}
				}
				if err := Verify([]byte(signer), nil, c.Domain, body, mine); err != nil {
					t.Errorf("own signature does not verify: %v", err)
				}
			} else {
				invalid++
			}
		})
	}
	if valid == 0 || invalid == 0 {
		t.Errorf("expected both valid (%d) and invalid (%d) cases", valid, invalid)
	}
}

func TestEntries(t *testing.T) {
	var cases []struct {
		Name       string `json:"name"`
		Kind       string `json:"kind"`
		Bytes      string `json:"bytes"`
		NowMs      uint64 `json:"now_ms"`
		Status     string `json:"status"`
		ResourceID string `json:"resource_id"`
		Health     string `json:"health"`
	}
	load(t, "entries.json", &cases)
	if len(cases) == 0 {
		t.Fatal("no cases")
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			raw := unhex(t, c.Bytes)
			want, ok := pb.Status_value[c.Status]
			if !ok {
				t.Fatalf("unknown status %s", c.Status)
			}
			var err error
			switch c.Kind {
			case "resource":
				var info *ResourceInfo
				info, err = ParseResource(raw, c.NowMs)
				if err == nil {
					// The DHT validator must agree under the resource's own key.
					if verr := (DHTValidator{Now: func() uint64 { return c.NowMs }}).Validate(DHTKey(info.ID), raw); verr != nil {
						t.Errorf("DHT validator refused a valid resource: %v", verr)
					}
				}
			case "entry":
				var rid []byte
				if c.ResourceID != "" {
					rid = unhex(t, c.ResourceID)
				}
				var info *EntryInfo
				info, err = ParseEntry(raw, c.NowMs, rid)
				if err == nil && c.Health != "" {
					want := map[string]pb.HealthStatus{
						"passing": pb.HealthStatus_HEALTH_PASSING, "critical": pb.HealthStatus_HEALTH_CRITICAL,
					}[c.Health]
					if info.Health != want {
						t.Errorf("health %s, want %s", info.Health, c.Health)
					}
				}
			default:
				t.Fatalf("unknown kind %s", c.Kind)
			}
			if got := StatusOf(err); int32(got) != want {
				t.Errorf("status %s (%v), want %s", got, err, c.Status)
			}
		})
	}
}

func TestPrecedence(t *testing.T) {
	var cases []struct {
		Name   string `json:"name"`
		A      string `json:"a"`
		B      string `json:"b"`
		Winner string `json:"winner"`
	}
	load(t, "precedence.json", &cases)
	if len(cases) == 0 {
		t.Fatal("no cases")
	}
	decode := func(t *testing.T, s string) *EntryInfo {
		var e pb.Entry
		if err := proto.Unmarshal(unhex(t, s), &e); err != nil {
			t.Fatal(err)
		}
		info, err := DecodeEntry(&e)
		if err != nil {
			t.Fatal(err)
		}
		return info
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			a, b := decode(t, c.A), decode(t, c.B)
			if a.Identity() != b.Identity() {
				t.Fatalf("a and b have different identities")
			}
			got := "equal"
			if x := Compare(a, b); x > 0 {
				got = "a"
			} else if x < 0 {
				got = "b"
			}
			if got != c.Winner {
				t.Errorf("winner %s, want %s", got, c.Winner)
			}
			if y := Compare(b, a); (y > 0) != (got == "b") || (y == 0) != (got == "equal") {
				t.Errorf("Compare is not antisymmetric")
			}
			// Merge is order independent.
			m1, m2 := Merge{}, Merge{}
			m1.Add(a)
			m1.Add(b)
			m2.Add(b)
			m2.Add(a)
			if Compare(m1[a.Identity()], m2[a.Identity()]) != 0 {
				t.Errorf("merge depends on order")
			}
		})
	}
}

// grants.json: owner-approved resources (see INTEROP-CONTRACT.md, "Test vectors").
type grantVector struct {
	Name         string  `json:"name"`
	Kind         string  `json:"kind"`
	Domain       string  `json:"domain"`
	Key          string  `json:"key"`
	Body         string  `json:"body"`
	SigningBytes string  `json:"signing_bytes"`
	Signature    string  `json:"signature"`
	Valid        bool    `json:"valid"`
	Resource     string  `json:"resource"`
	Bytes        string  `json:"bytes"`
	NowMs        uint64  `json:"now_ms"`
	Status       string  `json:"status"`
	Record       string  `json:"record"`
	Grant        *string `json:"grant"`
	Authorized   bool    `json:"authorized"`
	A            string  `json:"a"`
	B            string  `json:"b"`
	Winner       string  `json:"winner"`
}

func decodeVectorEntry(t *testing.T, s string) *EntryInfo {
	t.Helper()
	var e pb.Entry
	if err := proto.Unmarshal(unhex(t, s), &e); err != nil {
		t.Fatal(err)
	}
	info, err := DecodeEntry(&e)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func TestGrants(t *testing.T) {
	keys := loadKeys(t)
	var cases []grantVector
	load(t, "grants.json", &cases)
	seen := map[string]int{}
	for _, c := range cases {
		seen[c.Kind]++
		t.Run(c.Name, func(t *testing.T) {
			switch c.Kind {
			case "signature":
				signer, _ := peer.IDFromPrivateKey(keys[c.Key])
				body := unhex(t, c.Body)
				if hex.EncodeToString(SigningBytes(c.Domain, body)) != c.SigningBytes {
					t.Errorf("signing bytes differ")
				}
				err := Verify([]byte(signer), nil, c.Domain, body, unhex(t, c.Signature))
				if (err == nil) != c.Valid {
					t.Errorf("verify = %v, want valid=%v", err, c.Valid)
				}
				if c.Valid {
					mine, err := Sign(keys[c.Key], c.Domain, body)
					if err != nil || !bytes.Equal(mine, unhex(t, c.Signature)) {
						t.Errorf("own grant signature %x differs (%v)", mine, err)
					}
				}
			case "resource", "grant":
				var err error
				if c.Kind == "resource" {
					_, err = ParseResource(unhex(t, c.Bytes), c.NowMs)
				} else {
					res, rerr := ParseResource(unhex(t, c.Resource), c.NowMs)
					if rerr != nil {
						t.Fatalf("resource: %v", rerr)
					}
					var info *EntryInfo
					info, err = ParseEntryWith(unhex(t, c.Bytes), c.NowMs, res.ID, res)
					if err == nil && !info.Grant {
						t.Fatalf("not a grant")
					}
				}
				if got := StatusOf(err); got.String() != c.Status {
					t.Errorf("status %s (%v), want %s", got, err, c.Status)
				}
			case "authorize":
				res, err := ParseResource(unhex(t, c.Resource), c.NowMs)
				if err != nil {
					t.Fatalf("resource: %v", err)
				}
				rec := decodeVectorEntry(t, c.Record)
				var grant *EntryInfo
				if c.Grant != nil {
					grant = decodeVectorEntry(t, *c.Grant)
				}
				if got := Authorized(res, rec, grant, c.NowMs); got != c.Authorized {
					t.Errorf("authorized = %v, want %v", got, c.Authorized)
				}
			case "precedence":
				a, b := decodeVectorEntry(t, c.A), decodeVectorEntry(t, c.B)
				if a.Identity() != b.Identity() {
					t.Fatalf("a and b have different identities")
				}
				got := "equal"
				if x := Compare(a, b); x > 0 {
					got = "a"
				} else if x < 0 {
					got = "b"
				}
				if got != c.Winner {
					t.Errorf("winner %s, want %s", got, c.Winner)
				}
			default:
				t.Fatalf("unknown kind %s", c.Kind)
			}
		})
	}
	for _, kind := range []string{"signature", "resource", "grant", "authorize", "precedence"} {
		if seen[kind] == 0 {
			t.Errorf("no %s cases", kind)
		}
	}
}

// A grant made here verifies and authorizes like the Python one.
func TestNewGrantRoundTrip(t *testing.T) {
	keys := loadKeys(t)
	owner, other := keys["alice"], keys["bob"]
	res, rid, err := NewOwnerApprovedResource(owner, "fleet", 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := proto.Marshal(res)
	info, err := ParseResource(raw, 1_000_000)
	if err != nil || !info.OwnerApproved {
		t.Fatalf("owner-approved resource: %v", err)
	}
	grantee, _ := peer.IDFromPrivateKey(other)
	g, err := NewGrant(owner, rid, []byte(grantee), "web/", 1_000_000, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	graw, _ := proto.Marshal(&pb.Entry{Kind: &pb.Entry_Grant{Grant: g}})
	gi, err := ParseEntryWith(graw, 1_000_000, rid, info)
	if err != nil {
		t.Fatal(err)
	}
	rec, _ := NewRecord(other, other, RecordParams{ResourceID: rid, ServiceID: "web/1", IssuedAtMs: 1_000_000, TTLs: 60, HostSignedMs: 1_000_000})
	ri, err := ValidateEntry(&pb.Entry{Kind: &pb.Entry_Record{Record: rec}}, 1_000_000, rid)
	if err != nil {
		t.Fatal(err)
	}
	if !Authorized(info, ri, gi, 1_000_000) || Authorized(info, ri, nil, 1_000_000) {
		t.Errorf("authorization disagrees with the grant")
	}
	forged, _ := NewGrant(other, rid, []byte(grantee), "", 1_000_000, 0, false)
	fraw, _ := proto.Marshal(&pb.Entry{Kind: &pb.Entry_Grant{Grant: forged}})
	if _, err := ParseEntryWith(fraw, 1_000_000, rid, info); StatusOf(err) != pb.Status_INVALID_SIGNATURE {
		t.Errorf("a grant signed by a non-owner: %v", err)
	}
}
