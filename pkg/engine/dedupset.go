package engine

import (
	"encoding/binary"
	"math"
	"math/bits"
	"unsafe"
)

// dedupSet maps 128-bit message-id hashes to the offset of the copy that was
// counted, each with an expiry in watermark time. It is an open-addressing
// table with linear probing, tuned for the engine's hot path, where most
// lookups miss (a new id) in a table too large for the CPU caches:
//
//   - keys are already uniformly random, so a slot is found from key.a
//     directly instead of hashing the key again as a Go map would;
//   - beside the slots, a tag array holds one byte per slot: 0 for a free
//     slot, else 7 bits of key.b with the high bit set. A probe reads eight
//     tags at once, so a lookup that misses usually touches one cache line
//     of tags (eight times denser than the slots, and often in cache) and no
//     slot at all; only a tag match reads its slot;
//   - expired entries are not deleted one by one (a random memory access
//     each, as costly as the insert): a lookup ignores them, and a rebuild,
//     in place, drops them all when the table is 3/4 full, so memory stays
//     bounded by the live entries.
type dedupSet struct {
	// tags has len(slots)+groupWidth-1 bytes: its last bytes mirror the
	// first ones, so that the eight tags from any slot are one load.
	tags  []byte
	slots []dedupSlot
	mask  uint64
	used  int // occupied slots, expired ones included
	// hold is the number of rebuilds before the table may shrink; holdLen
	// its length, doubled each time the table must grow back after a
	// shrink, so a number of live entries that rises and falls (the windows
	// of processing time) soon stops reallocating the table.
	hold, holdLen int
	shrunk        bool
}

type dedupSlot struct {
	key    dedupKey // the zero key marks a free slot: keys never are zero
	off    int64
	expiry int64 // the entry is dead once the watermark reaches it
}

// noExpiry is the expiry of entries that leave with clear (batch, window).
const noExpiry = math.MaxInt64

const (
	minDedupSlots = 1024
	groupWidth    = 8 // tags read by one probe step
	lsbs          = 0x0101010101010101
	msbs          = 0x8080808080808080
)

func tagOf(k dedupKey) byte { return byte(k.b>>57) | 0x80 }

// group returns the eight tags from slot i on, first in the low byte.
func (s *dedupSet) group(i uint64) uint64 {
	return binary.LittleEndian.Uint64(s.tags[i : i+groupWidth])
}

// matches returns the bytes of g equal to tag, as their high bits. A byte
// right after a true match can show as a false one (a borrow): harmless, as
// a match is always checked against its slot.
func matches(g uint64, tag byte) uint64 {
	x := g ^ (lsbs * uint64(tag))
	return (x - lsbs) &^ x & msbs
}

// empties returns the free slots of g as high bits: exactly, as tags of used
// slots have their high bit set.
func empties(g uint64) uint64 { return ^g & msbs }

func (s *dedupSet) setTag(i uint64, t byte) {
	s.tags[i] = t
	if i < groupWidth-1 {
		s.tags[uint64(len(s.slots))+i] = t
	}
}

// lines appends to addrs at m the addresses of the tags and the first slot
// of k's probe path, for prefetch, and returns the new m.
func (s *dedupSet) lines(k dedupKey, addrs []uintptr, m int) int {
	i := k.a & s.mask
	addrs[m] = uintptr(unsafe.Pointer(&s.tags[i]))
	addrs[m+1] = uintptr(unsafe.Pointer(&s.slots[i]))
	return m + 2
}

// insert adds k unless it is live under wm, in which case it returns the
// offset it was added with and true. One probe does both the lookup and the
// insert: the first free slot of k's probe run is where a new k goes.
func (s *dedupSet) insert(k dedupKey, off, expiry, wm int64) (int64, bool) {
	// Rebuild at 3/4 full (dead entries included): fuller, linear probing
	// slows down quickly, as most lookups miss (a new id) and walk the run.
	if (s.used+1)*4 > len(s.slots)*3 {
		s.rebuild(wm)
	}
	tag := tagOf(k)
	for i := k.a & s.mask; ; i = (i + groupWidth) & s.mask {
		g := s.group(i)
		free := empties(g)
		m := matches(g, tag)
		if free != 0 {
			m &= free ^ (free - 1)
		}
		for ; m != 0; m &= m - 1 {
			j := (i + uint64(bits.TrailingZeros64(m)/8)) & s.mask
			if sl := &s.slots[j]; sl.key == k && sl.expiry > wm {
				return sl.off, true
			}
		}
		if free != 0 {
			j := (i + uint64(bits.TrailingZeros64(free)/8)) & s.mask
			s.setTag(j, tag)
			s.slots[j] = dedupSlot{key: k, off: off, expiry: expiry}
			s.used++
			return 0, false
		}
	}
}

func (s *dedupSet) clear() {
	if s.used > 0 {
		clear(s.tags)
		clear(s.slots)
		s.used = 0
	}
}

// rebuild drops the dead entries and resizes the table to about twice the
// live ones (at least minDedupSlots). At a steady number of live entries
// the size does not change and the rebuild happens in place, in one pass:
// no allocation, no second table.
func (s *dedupSet) rebuild(wm int64) {
	live := s.sweep(wm)
	// Keep the load at most 1/2 after a rebuild, so that dead entries have
	// room to pile up before the next one, with hysteresis: the size halves
	// only below 1/8 live, and not within hold rebuilds of growing.
	size := max(minDedupSlots, len(s.slots))
	switch {
	case size < (live+1)*2:
		for size < (live+1)*2 {
			size *= 2
		}
		if s.shrunk {
			s.holdLen = min(max(2*s.holdLen, 4), 1<<20)
		}
		s.hold, s.shrunk = s.holdLen, false
	case s.hold > 0:
		s.hold--
	case size > minDedupSlots && live*8 < size:
		for size > minDedupSlots && live*8 < size {
			size /= 2
		}
		s.shrunk = true
	}
	if size == len(s.slots) {
		return
	}
	old := s.slots
	s.slots = makeHuge[dedupSlot](size)
	s.tags = make([]byte, size+groupWidth-1)
	s.mask, s.used = uint64(size-1), 0
	for i := range old {
		if sl := &old[i]; sl.key != (dedupKey{}) {
			j := s.home(sl.key)
			s.setTag(j, tagOf(sl.key))
			s.slots[j] = *sl
			s.used++
		}
	}
}

// sweep frees the entries dead under wm, in place, and returns the number of
// live ones. Freeing a slot breaks the probe runs through it, so the same
// pass moves each live entry that a freed slot now separates from its home
// back to the first free slot from its home. The pass goes round the table
// once from a slot that was free before: no probe run crosses it, so each
// run is walked from its beginning, and when an entry is reached every slot
// before it on its run is final. An entry needs to move only if a slot
// between its home and itself is free: lastFree, the pass position of the
// last free slot, tells without probing.
func (s *dedupSet) sweep(wm int64) int {
	start := -1
	for i, t := range s.tags[:len(s.slots)] {
		if t == 0 {
			start = i
			break
		}
	}
	if start < 0 {
		return s.used // cannot happen: rebuilds run at 3/4 full
	}
	live, lastFree := 0, uint64(0)
	for n := uint64(1); n < uint64(len(s.slots)); n++ {
		j := (uint64(start) + n) & s.mask
		if s.tags[j] == 0 {
			lastFree = n
			continue
		}
		sl := &s.slots[j]
		if sl.expiry <= wm {
			*sl = dedupSlot{}
			s.setTag(j, 0)
			lastFree = n
			continue
		}
		live++
		if (sl.key.a-uint64(start))&s.mask > lastFree {
			continue // no free slot between its home and here
		}
		h := s.home(sl.key)
		s.setTag(h, s.tags[j])
		s.slots[h], *sl = *sl, dedupSlot{}
		s.setTag(j, 0)
		lastFree = n
	}
	s.used = live
	return live
}

// home returns the first free slot on the probe path of k.
func (s *dedupSet) home(k dedupKey) uint64 {
	for i := k.a & s.mask; ; i = (i + groupWidth) & s.mask {
		if free := empties(s.group(i)); free != 0 {
			return (i + uint64(bits.TrailingZeros64(free)/8)) & s.mask
		}
	}
}
