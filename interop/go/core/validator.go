package core

import (
	"bytes"
	"errors"
	"time"
)

// NowMs is the local wall clock in milliseconds.
func NowMs() uint64 { return uint64(time.Now().UnixMilli()) }

// DHTValidator is the `reg` namespace validator (go-libp2p-record's Validator).
// Validate: the key's id equals resource_id(label, owner), the owner's signature is valid,
// created_at_ms is at most 60 s ahead. Select: the highest created_at_ms, first on ties.
type DHTValidator struct {
	Now func() uint64 // nil means NowMs
}

func (v DHTValidator) now() uint64 {
	if v.Now != nil {
		return v.Now()
	}
	return NowMs()
}

// Validate implements record.Validator.
func (v DHTValidator) Validate(key string, value []byte) error {
	id, err := ParseDHTKey(key)
	if err != nil {
		return err
	}
	info, err := ParseResource(value, v.now())
	if err != nil {
		return err
	}
	if !bytes.Equal(info.ID, id) {
		return errors.New("resource id does not match the key")
	}
	return nil
}

// Select implements record.Validator.
func (v DHTValidator) Select(key string, vals [][]byte) (int, error) {
	if len(vals) == 0 {
		return 0, errors.New("no values")
	}
	best, bestAt := -1, uint64(0)
	for i, val := range vals {
		if v.Validate(key, val) != nil {
			continue
		}
		info, err := ParseResource(val, v.now())
		if err != nil {
			continue
		}
		if best < 0 || info.CreatedAtMs > bestAt {
			best, bestAt = i, info.CreatedAtMs
		}
	}
	if best < 0 {
		return 0, errors.New("no valid value")
	}
	return best, nil
}
