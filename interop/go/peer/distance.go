package peer

import (
	"bytes"
	"crypto/sha256"
	"sort"

	corepeer "github.com/libp2p/go-libp2p/core/peer"
)

// sortByDistance orders peers by XOR distance between sha256(peer id) and sha256(key),
// the Kademlia metric every implementation uses.
func sortByDistance(ps []corepeer.ID, key []byte) {
	target := sha256.Sum256(key)
	dist := func(p corepeer.ID) []byte {
		h := sha256.Sum256([]byte(p))
		for i := range h {
			h[i] ^= target[i]
		}
		return h[:]
	}
	sort.SliceStable(ps, func(i, j int) bool { return bytes.Compare(dist(ps[i]), dist(ps[j])) < 0 })
}
