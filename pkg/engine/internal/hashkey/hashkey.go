// Package hashkey is the keyed hash by which the engine's tables find a
// record: its message id in a dedup table, its device and category in the
// aggregate index of each open window and in the interners of names.
package hashkey

import (
	"hash/maphash"
	"math/bits"
)

// Key is a 128-bit hash of a message id, or of a device and category:
// storing it instead of the bytes keeps inserts allocation-free and table
// entries small. Seeds are random per engine, so no input can be crafted to
// collide; each table says how many of its bits it keeps.
type Key struct{ A, B uint64 }

// Keys are the hashes a record is looked up by: its message id, and its
// device and category, the key of its aggregate in each window.
type Keys struct {
	ID, DevCat Key
	Dev, Cat   uint64 // the hashes of the device and category alone
}

// Hasher hashes with seeds of its own: one per engine.
type Hasher struct{ seed1, seed2 maphash.Seed }

// NewHasher returns a hasher with new random seeds.
func NewHasher() Hasher {
	return Hasher{seed1: maphash.MakeSeed(), seed2: maphash.MakeSeed()}
}

// ID returns the key of a message id. Its B is never 0, so no key is the
// zero key that marks a free slot.
func (h *Hasher) ID(id []byte) Key {
	return Key{A: maphash.Bytes(h.seed1, id), B: maphash.Bytes(h.seed2, id) | 1}
}

// Record fills k with the keys of a record: ID only if withID (the spec
// deduplicates).
func (h *Hasher) Record(k *Keys, id, dev, cat []byte, withID bool) {
	if withID {
		k.ID = h.ID(id)
	}
	// One seeded 64-bit hash each: two different pairs collide only if a
	// device or category hash does, about n²/2⁶⁵ for n live devices.
	d, c := maphash.Bytes(h.seed1, dev), maphash.Bytes(h.seed2, cat)
	k.Dev, k.Cat = d, c
	k.DevCat = Key{A: d ^ bits.RotateLeft64(c, 31), B: mix64(d+c) ^ c}
}

// mix64 is the finalizer of MurmurHash3: every output bit depends on every
// input bit, so the low bits that pick a slot vary with all of the key.
func mix64(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	return x ^ x>>33
}
