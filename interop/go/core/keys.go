package core

import (
	"crypto/ed25519"

	"github.com/libp2p/go-libp2p/core/crypto"
	cryptopb "github.com/libp2p/go-libp2p/core/crypto/pb"
	"google.golang.org/protobuf/proto"
)

// UnmarshalPrivateKey reads a libp2p PrivateKey protobuf. Besides what go-libp2p accepts,
// it takes an ed25519 key given as its 32-byte seed (py-libp2p serializes ed25519 private
// keys that way), deriving the 64-byte private||public form go-libp2p expects.
func UnmarshalPrivateKey(b []byte) (crypto.PrivKey, error) {
	var m cryptopb.PrivateKey
	if err := proto.Unmarshal(b, &m); err == nil &&
		m.GetType() == cryptopb.KeyType_Ed25519 && len(m.GetData()) == ed25519.SeedSize {
		return crypto.UnmarshalEd25519PrivateKey(ed25519.NewKeyFromSeed(m.GetData()))
	}
	return crypto.UnmarshalPrivateKey(b)
}
