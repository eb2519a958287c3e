// Package core holds the pure rules of registry-p2p: ids, signing, validation and
// precedence. It does no I/O; time is always a parameter.
package core

import (
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/mr-tron/base58"
	"github.com/multiformats/go-varint"
)

// Protocol-wide constants (see protocols/INTEROP-CONTRACT.md).
const (
	ProtocolID     = "/registry/1.0.0"
	DHTNamespace   = "reg"
	DHTKeyPrefix   = "/reg/"
	TopicPrefix    = "/registry/1.0.0/"
	resourceIDTag  = "registry-p2p/resource/v1"
	MaxFrame       = 1 << 20
	MaxValue       = 4096
	MaxLabel       = 255
	MaxServiceID   = 128
	MinTTL         = 60
	MaxTTL         = 259200
	DefaultTTL     = 86400
	MaxSkewMs      = 60_000
	TombstoneKeepS = MaxTTL
	MaxAddrs       = 16
	MaxAddrBytes   = 256
	// MaxResourceBytes bounds an encoded Resource (label, owner, signature, optional key).
	MaxResourceBytes = 4096
)

// ResourceID computes sha256("registry-p2p/resource/v1" || uvarint(len label) || label ||
// uvarint(len owner) || owner), owner being the binary peer id.
func ResourceID(label string, owner []byte) []byte {
	h := sha256.New()
	h.Write([]byte(resourceIDTag))
	h.Write(varint.ToUvarint(uint64(len(label))))
	h.Write([]byte(label))
	h.Write(varint.ToUvarint(uint64(len(owner))))
	h.Write(owner)
	return h.Sum(nil)
}

// EncodeID is the base58btc text form of a resource id.
func EncodeID(id []byte) string { return base58.Encode(id) }

// DecodeID parses a base58btc resource id and checks its length.
func DecodeID(s string) ([]byte, error) {
	b, err := base58.Decode(s)
	if err != nil {
		return nil, fmt.Errorf("bad base58 resource id: %w", err)
	}
	if len(b) != sha256.Size {
		return nil, fmt.Errorf("resource id must be 32 bytes, got %d", len(b))
	}
	return b, nil
}

// DHTKey is the DHT value key of a resource: "/reg/<b58>", at most 49 bytes. (Not
// "/registry/<b58>": py-libp2p 0.8.1 refuses FIND_NODE for keys over 50 bytes that are not
// multihashes, so lookups for that 53-54 byte key never left a Python node.)
func DHTKey(id []byte) string { return DHTKeyPrefix + EncodeID(id) }

// Topic is the gossipsub topic of a resource.
func Topic(id []byte) string { return TopicPrefix + EncodeID(id) }

// ParseDHTKey returns the resource id from "/reg/<b58>".
func ParseDHTKey(key string) ([]byte, error) {
	if len(key) <= len(DHTKeyPrefix) || key[:len(DHTKeyPrefix)] != DHTKeyPrefix {
		return nil, errors.New("key is not in the /reg/ namespace")
	}
	return DecodeID(key[len(DHTKeyPrefix):])
}

// PeerString renders binary peer id bytes as base58 (or hex when they do not parse).
func PeerString(b []byte) string {
	if id, err := peer.IDFromBytes(b); err == nil {
		return id.String()
	}
	return fmt.Sprintf("invalid:%x", b)
}
