package engine

import "unsafe"

// aggIndex finds the aggregates of one window by the hash of their device
// and category. Each window has its own: the index of the newest windows,
// where nearly every record goes, stays in the CPU cache, and evicting a
// window drops its index with one clear instead of one delete per aggregate.
//
// It is an open-addressing table with linear probing, at most half full.
// A slot keeps 96 bits of the 128-bit key: two (device, category) pairs of
// the same window collide with a chance of about n²/2⁹⁷ for n aggregates,
// under seeds random per engine.
type aggIndex struct {
	slots []aggSlot
	mask  uint64
	n     int
}

type aggSlot struct {
	a   uint64
	b   uint32 // never 0 in a used slot: the zero slot is free
	idx int32
}

const minAggSlots = 64

func slotB(k dedupKey) uint32 { return uint32(k.b) | 1 }

// find returns the aggregate of k.
func (x *aggIndex) find(k dedupKey) (int32, bool) {
	if x.n == 0 {
		return 0, false
	}
	b := slotB(k)
	for i := k.a & x.mask; ; i = (i + 1) & x.mask {
		sl := &x.slots[i]
		if sl.a == k.a && sl.b == b {
			return sl.idx, true
		}
		if sl.b == 0 {
			return 0, false
		}
	}
}

// insert adds k, which must not be in the index.
func (x *aggIndex) insert(k dedupKey, idx int32) {
	if (x.n+1)*2 > len(x.slots) {
		x.grow()
	}
	x.slots[x.freeSlot(k.a)] = aggSlot{a: k.a, b: slotB(k), idx: idx}
	x.n++
}

// line returns the address of the home slot of k, for prefetch.
func (x *aggIndex) line(k dedupKey) uintptr {
	return uintptr(unsafe.Pointer(&x.slots[k.a&x.mask]))
}

func (x *aggIndex) grow() {
	old := x.slots
	x.slots = make([]aggSlot, max(minAggSlots, 2*len(old)))
	x.mask = uint64(len(x.slots) - 1)
	for _, sl := range old {
		if sl.b != 0 {
			x.slots[x.freeSlot(sl.a)] = sl
		}
	}
}

// freeSlot returns the first free slot from the home of a key whose a is a.
func (x *aggIndex) freeSlot(a uint64) uint64 {
	i := a & x.mask
	for x.slots[i].b != 0 {
		i = (i + 1) & x.mask
	}
	return i
}

// reset empties the index for reuse by another window. It keeps its table
// unless the window used far less of it than it holds, so that one busy
// window does not pin a large table for good.
func (x *aggIndex) reset() {
	if x.n*8 < len(x.slots) && len(x.slots) > minAggSlots {
		x.slots, x.mask = nil, 0
	} else {
		clear(x.slots)
	}
	x.n = 0
}
