// Package aggindex is the index of one open window's aggregates by the hash
// of their device and category.
package aggindex

import (
	"unsafe"

	"github.com/boontadata/boontadata/pkg/engine/internal/hashkey"
)

// Index finds the aggregates of one window by the hash of their device
// and category. Each window has its own: the index of the newest windows,
// where nearly every record goes, stays in the CPU cache, and evicting a
// window drops its index with one clear instead of one delete per aggregate.
//
// It is an open-addressing table with linear probing, at most half full.
// A slot keeps 96 bits of the 128-bit key: two (device, category) pairs of
// the same window collide with a chance of about n²/2⁹⁷ for n aggregates,
// under seeds random per engine. Its zero value is an empty index.
type Index struct {
	slots []slot
	mask  uint64
	n     int
}

type slot struct {
	a   uint64
	b   uint32 // never 0 in a used slot: the zero slot is free
	idx int32
}

const minSlots = 64

func slotB(k hashkey.Key) uint32 { return uint32(k.B) | 1 }

// Len returns the number of aggregates indexed.
func (x *Index) Len() int { return x.n }

// Find returns the position of k's aggregate in its window.
func (x *Index) Find(k hashkey.Key) (int32, bool) {
	if x.n == 0 {
		return 0, false
	}
	b := slotB(k)
	for i := k.A & x.mask; ; i = (i + 1) & x.mask {
		sl := &x.slots[i]
		if sl.a == k.A && sl.b == b {
			return sl.idx, true
		}
		if sl.b == 0 {
			return 0, false
		}
	}
}

// Insert adds k, whose aggregate is at position idx in its window; k must
// not be in the index.
func (x *Index) Insert(k hashkey.Key, idx int32) {
	if (x.n+1)*2 > len(x.slots) {
		x.grow()
	}
	x.slots[x.freeSlot(k.A)] = slot{a: k.A, b: slotB(k), idx: idx}
	x.n++
}

// Line returns the address of the home slot of k, for prefetch. The index
// must not be empty (Len > 0).
func (x *Index) Line(k hashkey.Key) uintptr {
	return uintptr(unsafe.Pointer(&x.slots[k.A&x.mask]))
}

func (x *Index) grow() {
	old := x.slots
	x.slots = make([]slot, max(minSlots, 2*len(old)))
	x.mask = uint64(len(x.slots) - 1)
	for _, sl := range old {
		if sl.b != 0 {
			x.slots[x.freeSlot(sl.a)] = sl
		}
	}
}

// freeSlot returns the first free slot from the home of a key whose a is a.
func (x *Index) freeSlot(a uint64) uint64 {
	i := a & x.mask
	for x.slots[i].b != 0 {
		i = (i + 1) & x.mask
	}
	return i
}

// Reset empties the index for reuse by another window. It keeps its table
// unless the window used far less of it than it holds, so that one busy
// window does not pin a large table for good.
func (x *Index) Reset() {
	if x.n*8 < len(x.slots) && len(x.slots) > minSlots {
		x.slots, x.mask = nil, 0
	} else {
		clear(x.slots)
	}
	x.n = 0
}
