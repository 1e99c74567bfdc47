// Package dedup is the engine's table of remembered message ids: an
// open-addressing hash table of 128-bit id hashes with the offset of the
// copy that was counted and an expiry in watermark time, built for a hot
// path where most lookups miss in a table too large for the CPU caches.
package dedup

import (
	"encoding/binary"
	"math"
	"math/bits"
	"unsafe"

	"github.com/boontadata/boontadata/pkg/engine/internal/hashkey"
	"github.com/boontadata/boontadata/pkg/engine/internal/hugepage"
)

// Set maps 128-bit message-id hashes to the offset of the copy that was
// counted, each with an expiry in watermark time. It is an open-addressing
// table with linear probing, tuned for the engine's hot path, where most
// lookups miss (a new id) in a table too large for the CPU caches:
//
//   - keys are already uniformly random, so a slot is found from key.A
//     directly instead of hashing the key again as a Go map would;
//   - beside the slots, a tag array holds one byte per slot: 0 for a free
//     slot, else 7 bits of key.B with the high bit set. A probe reads a tag
//     group, the eight tags from its slot on, with one load, so a lookup
//     that misses usually touches one cache line of tags (eight times
//     denser than the slots, and often in cache) and no slot at all; only a
//     tag match reads its slot;
//   - expired entries are not deleted one by one (a random memory access
//     each, as costly as the insert): a lookup ignores them, and a rebuild,
//     in place, drops them all when the table is 3/4 full, so memory stays
//     bounded by the live entries;
//   - a slot takes 16 bytes, four to a cache line: 80 bits of the key (the
//     tag holds 7 more), the offset as 32 bits above offBase and the expiry
//     as 16 bits, in units of unit above expBase. An entry that does not fit
//     (an expiry years ahead, offsets billions apart) goes to the far map
//     instead, correct but slower; rebuilds move the bases along, so in a
//     running engine that does not happen.
//
// Its zero value is an empty set whose expiries are in units of 1 (see
// SetUnit). A set keeps 87 bits of a key, so that two of n live ids collide
// with a chance of about n²/2⁸⁸.
type Set struct {
	// tags has len(slots)+tagGroupWidth-1 bytes: its last bytes mirror the
	// first ones, so that the tag group of any slot is one load.
	tags  []byte
	slots []slot
	mask  uint64
	used  int // occupied slots, expired ones included
	// hold is the number of rebuilds before the table may shrink; holdLen
	// its length, doubled each time the table must grow back after a
	// shrink, so a number of live entries that rises and falls (the windows
	// of processing time) soon stops reallocating the table.
	hold, holdLen int
	shrunk        bool

	// unit divides every expiry minus expBase (0 means 1): the engine's
	// expiries are multiples of the window slide (SetUnit).
	unit             int64
	offBase, expBase int64
	based            bool  // the bases are set: some entry was added
	maxOff           int64 // the highest offset added
	retryOff         int64 // drifted offsets wait for maxOff to reach it
	far              map[hashkey.Key]farEntry
}

// slot is one entry; the tag, not the slot, says whether it is used.
type slot struct {
	a   uint64 // key.A
	b   uint16 // bits 16-31 of key.B (the tag has bits 57-63)
	exp uint16 // expiry: expBase + exp*unit, or noExp
	off uint32 // offset - offBase
}

// farEntry is an entry whose offset or expiry does not fit a slot.
type farEntry struct{ off, expiry int64 }

// noExp is the exp of an entry that never expires (NoExpiry).
const noExp = math.MaxUint16

func keyB(k hashkey.Key) uint16 { return uint16(k.B >> 16) }

// NoExpiry is the expiry of entries that leave only with Clear (the ids of
// one micro-batch, or of one window).
const NoExpiry = math.MaxInt64

// noWatermark is the watermark before any: no entry expires under it.
const noWatermark = math.MinInt64

const (
	minSlots      = 1024
	tagGroupWidth = 8 // the tags of a tag group, read by one probe step
	lsbs          = 0x0101010101010101
	msbs          = 0x8080808080808080
	low7          = 0x7f7f7f7f7f7f7f7f
)

func tagOf(k hashkey.Key) byte { return byte(k.B>>57) | 0x80 }

// tagGroup returns the tag group of slot i: the eight tags from slot i on,
// first in the low byte.
func (s *Set) tagGroup(i uint64) uint64 {
	return binary.LittleEndian.Uint64(s.tags[i : i+tagGroupWidth])
}

// matches returns the bytes of the tag group tg equal to tag, as their high
// bits, exactly: a slot keeps only part of its key, and the tag is the rest
// of it.
func matches(tg uint64, tag byte) uint64 {
	x := tg ^ (lsbs * uint64(tag))
	return ^((x & low7) + low7 | x) & msbs
}

// empties returns the free slots of the tag group tg as high bits: exactly,
// as tags of used slots have their high bit set.
func empties(tg uint64) uint64 { return ^tg & msbs }

func (s *Set) setTag(i uint64, t byte) {
	s.tags[i] = t
	if i < tagGroupWidth-1 {
		s.tags[uint64(len(s.slots))+i] = t
	}
}

// SetUnit says that every expiry given to Insert other than NoExpiry is a
// multiple of unit (the engine's are multiples of the window slide): slots
// count expiries in it. Call it before the first Insert.
func (s *Set) SetUnit(unit int64) { s.unit = unit }

// Used returns the number of occupied slots, expired entries included.
func (s *Set) Used() int { return s.used }

// Lines appends to addrs at m the addresses of the tags and the first slot
// of k's probe path, for prefetch, and returns the new m. The set must not
// be empty (Used > 0).
func (s *Set) Lines(k hashkey.Key, addrs []uintptr, m int) int {
	i := k.A & s.mask
	addrs[m] = uintptr(unsafe.Pointer(&s.tags[i]))
	addrs[m+1] = uintptr(unsafe.Pointer(&s.slots[i]))
	return m + 2
}

// Insert adds k, counted at offset off and expiring once the watermark
// reaches expiry, unless k is live under the watermark wm (math.MinInt64
// before any), in which case it returns the offset it was added with and
// true. One probe does both the lookup and the insert: the first free slot
// of k's probe run is where a new k goes.
func (s *Set) Insert(k hashkey.Key, off, expiry, wm int64) (int64, bool) {
	return s.insertOrRebase(k, off, expiry, wm, true)
}

func (s *Set) insertOrRebase(k hashkey.Key, off, expiry, wm int64, mayRebase bool) (int64, bool) {
	// Rebuild at 3/4 full (dead entries included): fuller, linear probing
	// slows down quickly, as most lookups miss (a new id) and walk the run.
	if (s.used+1)*4 > len(s.slots)*3 {
		s.rebuild(wm)
	}
	orig, found, j := s.find(k, wm)
	if found {
		return orig, true
	}
	exp, offd, ok := s.encode(off, expiry, wm)
	switch {
	case !ok && mayRebase && s.drifted(wm):
		// The bases lag behind: a rebuild moves them on.
		s.rebuild(wm)
		return s.insertOrRebase(k, off, expiry, wm, false)
	case ok:
		s.setTag(j, tagOf(k))
		s.slots[j] = slot{a: k.A, b: keyB(k), exp: exp, off: offd}
		s.used++
	default:
		if s.far == nil {
			s.far = make(map[hashkey.Key]farEntry)
		}
		s.far[k] = farEntry{off: off, expiry: expiry}
	}
	return 0, false
}

// find returns the offset of k if it is live under wm, else the first free
// slot of k's probe run, where a new k goes. The table must have slots.
func (s *Set) find(k hashkey.Key, wm int64) (off int64, found bool, free uint64) {
	if len(s.far) > 0 {
		if f, ok := s.far[k]; ok && f.expiry > wm {
			return f.off, true, 0
		}
	}
	tag, b, dead := tagOf(k), keyB(k), s.deadBelow(wm)
	for i := k.A & s.mask; ; i = (i + tagGroupWidth) & s.mask {
		tg := s.tagGroup(i)
		empty := empties(tg)
		// Matches up to the first free slot: the probe run of k ends there.
		m := matches(tg, tag)
		if empty != 0 {
			m &= empty ^ (empty - 1)
		}
		for ; m != 0; m &= m - 1 {
			j := (i + uint64(bits.TrailingZeros64(m)/8)) & s.mask
			if sl := &s.slots[j]; sl.a == k.A && sl.b == b && int(sl.exp) > dead {
				return s.offBase + int64(sl.off), true, 0
			}
		}
		if empty != 0 {
			return 0, false, (i + uint64(bits.TrailingZeros64(empty)/8)) & s.mask
		}
	}
}

// encode returns the exp and off of a slot for an entry, or false if they do
// not fit. The first entry sets the bases.
func (s *Set) encode(off, expiry, wm int64) (uint16, uint32, bool) {
	if s.unit == 0 {
		s.unit = 1
	}
	if !s.based {
		s.based, s.offBase = true, off
		switch {
		case wm != noWatermark:
			s.expBase = wm - mod(wm, s.unit) // entries expire after wm
		case expiry != NoExpiry:
			s.expBase = expiry - mod(expiry, s.unit) - maxExpSpan/4*s.unit
		}
	}
	s.maxOff = max(s.maxOff, off)
	d := off - s.offBase
	if d < 0 || d > math.MaxUint32 {
		return 0, 0, false
	}
	if expiry == NoExpiry {
		return noExp, uint32(d), true
	}
	if expiry < s.expBase || mod(expiry-s.expBase, s.unit) != 0 || (expiry-s.expBase)/s.unit > maxExpSpan {
		return 0, 0, false
	}
	return uint16((expiry - s.expBase) / s.unit), uint32(d), true
}

// maxExpSpan is the highest exp of an entry that expires.
const maxExpSpan = noExp - 1

// deadBelow returns the highest exp that is dead under wm (-1: none).
func (s *Set) deadBelow(wm int64) int {
	unit := max(s.unit, 1)
	switch {
	case wm < s.expBase:
		return -1
	case wm-s.expBase >= maxExpSpan*unit: // no overflow: wm >= expBase
		return maxExpSpan
	}
	return int((wm - s.expBase) / unit)
}

func mod(a, b int64) int64 { return a - floorDiv(a, b)*b }

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// Clear forgets every entry, keeping the table's memory.
func (s *Set) Clear() {
	if s.used > 0 {
		clear(s.tags)
		s.used = 0
	}
	clear(s.far)
	s.based = false
}

// rebuild drops the dead entries and resizes the table to about twice the
// live ones (at least minSlots). At a steady number of live entries
// the size does not change and the rebuild happens in place, in one pass:
// no allocation, no second table.
func (s *Set) rebuild(wm int64) {
	live := s.sweep(wm)
	// Keep the load at most 1/2 after a rebuild, so that dead entries have
	// room to pile up before the next one, with hysteresis: the size halves
	// only below 1/8 live, and not within hold rebuilds of growing.
	size := max(minSlots, len(s.slots))
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
	case size > minSlots && live*8 < size:
		for size > minSlots && live*8 < size {
			size /= 2
		}
		s.shrunk = true
	}
	if size == len(s.slots) {
		return
	}
	old, oldTags := s.slots, s.tags
	s.slots = hugepage.Make[slot](size)
	s.tags = make([]byte, size+tagGroupWidth-1)
	s.mask, s.used = uint64(size-1), 0
	for i := range old {
		if oldTags[i] != 0 {
			j := s.home(old[i].a)
			s.setTag(j, oldTags[i])
			s.slots[j] = old[i]
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
func (s *Set) sweep(wm int64) int {
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
	dead := s.deadBelow(wm)
	live, lastFree, minOff := 0, uint64(0), uint32(math.MaxUint32)
	for n := uint64(1); n < uint64(len(s.slots)); n++ {
		j := (uint64(start) + n) & s.mask
		if s.tags[j] == 0 {
			lastFree = n
			continue
		}
		sl := &s.slots[j]
		if int(sl.exp) <= dead {
			s.setTag(j, 0) // a free slot's content is never read
			lastFree = n
			continue
		}
		live++
		minOff = min(minOff, sl.off)
		if (sl.a-uint64(start))&s.mask > lastFree {
			continue // no free slot between its home and here
		}
		h := s.home(sl.a)
		s.setTag(h, s.tags[j])
		s.slots[h] = *sl
		s.setTag(j, 0)
		lastFree = n
	}
	s.used = live
	if live == 0 && len(s.far) == 0 {
		s.based = false
	}
	for k, f := range s.far {
		if f.expiry <= wm {
			delete(s.far, k)
		}
	}
	s.rebase(wm, dead, minOff)
	return live
}

// drifted reports whether the bases have drifted far enough behind the
// entries for rebase to move them: half the range of offsets, an eighth of
// that of expiries.
func (s *Set) drifted(wm int64) bool {
	return s.maxOff-s.offBase > math.MaxUint32/2 && s.maxOff >= s.retryOff || s.deadBelow(wm) > maxExpSpan/8
}

// rebase moves the bases up to the live entries once they have drifted (see
// drifted), so that new entries keep fitting their slots: offsets grow
// without end, and so does the watermark. An entry that does not fit makes
// the table rebuild early if that helps, so an expiry fits if it is less than
// 7/8 of the range, 57,000 units (window slides), ahead of the watermark, and
// offsets up to 2 billion apart.
func (s *Set) rebase(wm int64, dead int, minOff uint32) {
	offShift := int64(0)
	if s.maxOff-s.offBase > math.MaxUint32/2 {
		offShift = s.maxOff - s.offBase // no entry in the slots
		if s.used > 0 {
			offShift = int64(minOff)
		}
		if s.maxOff-s.offBase-offShift > math.MaxUint32/2 {
			// A live entry holds the base back: until it expires, new
			// entries that do not fit go to the far map, and rebuilds
			// do not try again for a while.
			s.retryOff = s.maxOff + 1<<28
		}
	}
	expShift := 0
	if dead > maxExpSpan/8 && wm != noWatermark {
		expShift = dead + 1 // every live entry has a higher exp
	}
	if offShift == 0 && expShift == 0 {
		return
	}
	for j := range s.slots {
		if s.tags[j] == 0 {
			continue
		}
		sl := &s.slots[j]
		sl.off -= uint32(offShift)
		if sl.exp != noExp {
			sl.exp -= uint16(expShift)
		}
	}
	s.offBase += offShift
	s.expBase += int64(expShift) * max(s.unit, 1)
}

// home returns the first free slot on the probe path of a key whose a is a.
func (s *Set) home(a uint64) uint64 {
	for i := a & s.mask; ; i = (i + tagGroupWidth) & s.mask {
		if free := empties(s.tagGroup(i)); free != 0 {
			return (i + uint64(bits.TrailingZeros64(free)/8)) & s.mask
		}
	}
}
