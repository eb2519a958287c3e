package rendezvous

import (
	"testing"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/record"
	recordpb "github.com/libp2p/go-libp2p/core/record/pb"
	"google.golang.org/protobuf/proto"
)

// Both encodings this client signs open as the same peer record of the host, each under its own
// domain and payload type; a legacy envelope does not pass as a spec one.
func TestSignedRecordInBothEncodings(t *testing.T) {
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	c := New(h)
	for _, legacy := range []bool{false, true} {
		data, err := c.SignedRecord(legacy)
		if err != nil {
			t.Fatal(err)
		}
		pr, err := OpenEnvelope(data)
		if err != nil {
			t.Fatalf("legacy=%v: %v", legacy, err)
		}
		if pr.PeerID != h.ID() || len(pr.Addrs) == 0 {
			t.Fatalf("legacy=%v: peer record %v", legacy, pr)
		}
		env := &recordpb.Envelope{}
		if err := proto.Unmarshal(data, env); err != nil {
			t.Fatal(err)
		}
		if got := string(env.PayloadType) == legacyPayloadType; got != legacy {
			t.Fatalf("legacy=%v: payload type %q", legacy, env.PayloadType)
		}
		_, _, specErr := record.ConsumeEnvelope(data, "libp2p-peer-record")
		if (specErr == nil) == legacy {
			t.Fatalf("legacy=%v: opened as a spec envelope: %v", legacy, specErr)
		}
	}
}
