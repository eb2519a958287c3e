package peer

import (
	"context"

	"registryp2p/interop/go/core"
)

// DHT values under /reg/<b58> go through go-libp2p-kad-dht's standard paths.
//
// PUT_VALUE first runs a FIND_NODE lookup on the record key itself. py-libp2p 0.8.1 refuses
// FIND_NODE keys that are not multihashes and longer than 50 bytes; the contract's key
// "/reg/<b58>" is at most 49 bytes, so that lookup works in a Python network. (With the old
// "/registry/<b58>" key, 53-54 bytes, it found nobody, and this peer needed a direct
// PUT_VALUE/GET_VALUE fallback to its connected peers; tests/interop checks the standard path.)

// PutValue validates value, stores it locally and at the closest peers (standard PUT_VALUE).
func (n *Node) PutValue(ctx context.Context, key string, value []byte) error {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.Timeout)
	defer cancel()
	n.ReseedRoutingTable()
	return n.DHT.PutValue(ctx, key, value) // includes the local validator's refusal
}

// GetValue returns the best valid value of a standard GET_VALUE lookup (nil when none).
// go-libp2p-kad-dht runs every received value through the registered validator and
// keeps the one its Select prefers.
func (n *Node) GetValue(ctx context.Context, key string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.Timeout)
	defer cancel()
	n.ReseedRoutingTable()
	v, err := n.DHT.GetValue(ctx, key)
	if err != nil && v == nil {
		n.logf("dht GetValue %s: %v", key, err)
		return nil, nil
	}
	if err := (core.DHTValidator{}).Validate(key, v); err != nil {
		n.logf("dht GetValue %s: dropping invalid value: %v", key, err)
		return nil, nil
	}
	return v, nil
}
