package core

import (
	"bytes"

	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"registryp2p/interop/go/pb"
)

// One accepted encoding per signed content (INTEROP-CONTRACT "Canonical encoding"): the
// envelopes are not signed, so a relay could otherwise add fields or bytes to a signed entry
// and make a bigger copy that wins precedence ties.

// hasUnknown reports unknown fields in m or in any message it holds.
func hasUnknown(m protoreflect.Message) bool {
	if len(m.GetUnknown()) > 0 {
		return true
	}
	found := false
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Kind() == protoreflect.MessageKind && !fd.IsList() && !fd.IsMap() {
			found = hasUnknown(v.Message())
		}
		return !found
	})
	return found
}

// checkCanonical refuses a message with unknown fields and, when raw is given, bytes other than
// the message's own encoding (fields repeated or out of order).
func checkCanonical(m proto.Message, raw []byte, what string) error {
	if hasUnknown(m.ProtoReflect()) {
		return fail(pb.Status_MALFORMED, "%s has fields outside the protocol", what)
	}
	if raw != nil {
		again, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
		if err != nil || !bytes.Equal(again, raw) {
			return fail(pb.Status_MALFORMED, "%s is not in its canonical encoding", what)
		}
	}
	return nil
}

// checkKeyField allows a public key field only where a signature check needs it: the signer's
// peer id does not inline its key (and, for an issuer key, the record is remote-hosted).
func checkKeyField(signer, key []byte, checked bool, what string) error {
	if len(key) == 0 {
		return nil
	}
	if !checked {
		return fail(pb.Status_MALFORMED, "%s is set, but no signature of its signer is checked", what)
	}
	if id, err := peer.IDFromBytes(signer); err == nil {
		if _, err := id.ExtractPublicKey(); err == nil {
			return fail(pb.Status_MALFORMED, "%s must be empty: the signer's peer id inlines its key", what)
		}
	}
	return nil
}
