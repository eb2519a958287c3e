package core

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

func batchOf(raws ...[]byte) []byte {
	var out []byte
	for _, r := range raws {
		out = protowire.AppendTag(out, 15, protowire.BytesType)
		out = protowire.AppendBytes(out, r)
	}
	return out
}

func TestGossipEntriesSplitsBatches(t *testing.T) {
	a, b := []byte{0x0a, 0x01, 0x00}, []byte{0x12, 0x00}
	got, err := GossipEntries(batchOf(a, b))
	if err != nil || len(got) != 2 || !bytes.Equal(got[0], a) || !bytes.Equal(got[1], b) {
		t.Fatalf("batch: %v %v", got, err)
	}
	single, err := GossipEntries(a)
	if err != nil || len(single) != 1 || !bytes.Equal(single[0], a) {
		t.Fatalf("single: %v %v", single, err)
	}
	if batchOf(a)[0] != BatchTag {
		t.Fatal("a batch must begin with BatchTag")
	}
}

func TestGossipEntriesRefusesBadBatches(t *testing.T) {
	if _, err := GossipEntries([]byte{BatchTag}); err == nil {
		t.Fatal("truncated batch accepted")
	}
	many := make([][]byte, MaxBatchEntries+1)
	for i := range many {
		many[i] = []byte{0x0a}
	}
	if _, err := GossipEntries(batchOf(many...)); err == nil {
		t.Fatal("oversized batch accepted")
	}
}
