package core

import (
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Signing domains.
const (
	DomainResource  = "registry-p2p/resource/v1:"
	DomainRecord    = "registry-p2p/record/v1:"
	DomainHost      = "registry-p2p/host/v1:"
	DomainTombstone = "registry-p2p/tombstone/v1:"
	DomainGrant     = "registry-p2p/grant/v1:"
)

// SigningBytes is domain || body.
func SigningBytes(domain string, body []byte) []byte {
	out := make([]byte, 0, len(domain)+len(body))
	out = append(out, domain...)
	return append(out, body...)
}

// Sign signs domain || body with libp2p's conventions for the key type.
func Sign(key crypto.PrivKey, domain string, body []byte) ([]byte, error) {
	return key.Sign(SigningBytes(domain, body))
}

// SignerKey finds the public key of signer (binary peer id): inlined in the id, or given
// as a libp2p PublicKey protobuf whose derived peer id must equal the signer.
func SignerKey(signer []byte, pubKeyProto []byte) (crypto.PubKey, error) {
	id, err := peer.IDFromBytes(signer)
	if err != nil {
		return nil, fmt.Errorf("bad signer peer id: %w", err)
	}
	if pk, err := id.ExtractPublicKey(); err == nil {
		return pk, nil
	}
	if len(pubKeyProto) == 0 {
		return nil, errors.New("signer public key is not in its peer id and was not supplied")
	}
	pk, err := crypto.UnmarshalPublicKey(pubKeyProto)
	if err != nil {
		return nil, fmt.Errorf("bad public key: %w", err)
	}
	if !id.MatchesPublicKey(pk) {
		return nil, errors.New("public key does not match signer peer id")
	}
	return pk, nil
}

// Verify checks sig over domain || body with the signer's key.
func Verify(signer []byte, pubKeyProto []byte, domain string, body, sig []byte) error {
	pk, err := SignerKey(signer, pubKeyProto)
	if err != nil {
		return err
	}
	ok, err := pk.Verify(SigningBytes(domain, body), sig)
	if err != nil {
		return fmt.Errorf("signature check failed: %w", err)
	}
	if !ok {
		return errors.New("invalid signature")
	}
	return nil
}
