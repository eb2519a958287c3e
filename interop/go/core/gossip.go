package core

import (
	"google.golang.org/protobuf/encoding/protowire"

	"registryp2p/interop/go/pb"
)

// BatchTag is the first byte of a serialized EntryBatch (field 15, length-delimited); no
// serialized Entry begins with it (records are field 1, tombstones field 2).
const BatchTag = 0x7A

// MaxBatchEntries bounds the entries of one EntryBatch gossip payload.
const MaxBatchEntries = 256

// GossipEntries returns the serialized entries a gossip payload carries: the payload itself
// for a lone Entry, each `entries` item of an EntryBatch otherwise. Decoded by hand with
// protowire so the generated code needs no new message type.
func GossipEntries(data []byte) ([][]byte, error) {
	if len(data) == 0 || data[0] != BatchTag {
		return [][]byte{data}, nil
	}
	var out [][]byte
	for len(data) > 0 {
		num, typ, n := protowire.ConsumeTag(data)
		if n < 0 {
			return nil, fail(pb.Status_MALFORMED, "entry batch does not decode: %v", protowire.ParseError(n))
		}
		data = data[n:]
		if num == 15 && typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(data)
			if m < 0 {
				return nil, fail(pb.Status_MALFORMED, "entry batch does not decode: %v", protowire.ParseError(m))
			}
			out = append(out, v)
			data = data[m:]
			if len(out) > MaxBatchEntries {
				return nil, fail(pb.Status_TOO_LARGE, "entry batch over %d entries", MaxBatchEntries)
			}
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, data)
		if m < 0 {
			return nil, fail(pb.Status_MALFORMED, "entry batch does not decode: %v", protowire.ParseError(m))
		}
		data = data[m:]
	}
	if len(out) == 0 {
		return nil, fail(pb.Status_MALFORMED, "empty entry batch")
	}
	return out, nil
}

// ParseGossip validates every entry of a gossip payload. An entry that expired in transit is
// skipped; any other invalid entry fails the whole payload.
func ParseGossip(data []byte, nowMs uint64, expectedRID []byte) ([]*EntryInfo, error) {
	raws, err := GossipEntries(data)
	if err != nil {
		return nil, err
	}
	infos := make([]*EntryInfo, 0, len(raws))
	for _, raw := range raws {
		info, err := ParseEntry(raw, nowMs, expectedRID)
		if err != nil {
			if StatusOf(err) == pb.Status_EXPIRED && len(raws) > 1 {
				continue
			}
			// A grant cannot be judged without its resource (its owner signs it): not a forgery.
			if StatusOf(err) == pb.Status_UNKNOWN_RESOURCE {
				continue
			}
			return nil, err
		}
		infos = append(infos, info)
	}
	return infos, nil
}
