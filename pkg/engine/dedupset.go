package engine

import "math"

// dedupSet maps 128-bit message-id hashes to the offset of the copy that was
// counted, each with an expiry in watermark time. It is an open-addressing
// table with linear probing, tuned for the engine's hot path:
//
//   - keys are already uniformly random, so a slot is found from key.a
//     directly instead of hashing the key again as a Go map would;
//   - expired entries are not deleted one by one (a random memory access
//     each, as costly as the insert): a lookup ignores them, an insert
//     reuses the first one on its probe path, and a rebuild, in place,
//     drops them all when the table is 3/4 full, so memory stays bounded by
//     the live entries.
type dedupSet struct {
	slots []dedupSlot
	mask  uint64
	used  int // occupied slots, expired ones included
}

type dedupSlot struct {
	key    dedupKey // the zero key marks a free slot: keys never are zero
	off    int64
	expiry int64 // the entry is dead once the watermark reaches it
}

// noExpiry is the expiry of entries that leave with clear (batch, window).
const noExpiry = math.MaxInt64

const minDedupSlots = 1024

// get returns the offset of k if it is live under watermark wm.
func (s *dedupSet) get(k dedupKey, wm int64) (int64, bool) {
	if s.used == 0 {
		return 0, false
	}
	for i := k.a & s.mask; ; i = (i + 1) & s.mask {
		sl := &s.slots[i]
		if sl.key == k && sl.expiry > wm {
			return sl.off, true
		}
		if sl.key == (dedupKey{}) {
			return 0, false
		}
	}
}

// put inserts k, which must not be live under wm.
func (s *dedupSet) put(k dedupKey, off, expiry, wm int64) {
	// Rebuild at 3/4 full (dead entries included): fuller, linear probing
	// slows down quickly, as most lookups miss (a new id) and walk the run.
	if (s.used+1)*4 > len(s.slots)*3 {
		s.rebuild(wm)
	}
	i := k.a & s.mask
	for {
		sl := &s.slots[i]
		if sl.key == (dedupKey{}) {
			s.used++
			break
		}
		if sl.expiry <= wm {
			break // reuse a dead entry (possibly an older copy of k)
		}
		i = (i + 1) & s.mask
	}
	s.slots[i] = dedupSlot{key: k, off: off, expiry: expiry}
}

func (s *dedupSet) clear() {
	if s.used > 0 {
		clear(s.slots)
		s.used = 0
	}
}

// rebuild drops the dead entries and resizes the table to about twice the
// live ones (at least minDedupSlots). At a steady number of live entries
// the size does not change and the rebuild happens in place: no allocation,
// no second table.
func (s *dedupSet) rebuild(wm int64) {
	live := 0
	for i := range s.slots {
		if sl := &s.slots[i]; sl.key != (dedupKey{}) && sl.expiry > wm {
			live++
		}
	}
	// Keep the load at most 1/2 after a rebuild, so that dead entries have
	// room to pile up before the next one, with hysteresis: the size only
	// halves below 1/8, so a steady number of live entries keeps one size.
	size := max(minDedupSlots, len(s.slots))
	for size < (live+1)*2 {
		size *= 2
	}
	for size > minDedupSlots && live*8 < size {
		size /= 2
	}
	if size == len(s.slots) {
		s.compact(wm)
		s.used = live
		return
	}
	old := s.slots
	s.slots = make([]dedupSlot, size)
	s.mask, s.used = uint64(size-1), 0
	for i := range old {
		if sl := &old[i]; sl.key != (dedupKey{}) && sl.expiry > wm {
			s.slots[s.home(sl.key)] = *sl
			s.used++
		}
	}
}

// home returns the first free slot on the probe path of k.
func (s *dedupSet) home(k dedupKey) uint64 {
	i := k.a & s.mask
	for s.slots[i].key != (dedupKey{}) {
		i = (i + 1) & s.mask
	}
	return i
}

// compact removes the dead entries in place. Freeing them breaks probe
// runs, so every live entry is then taken out and put back from its home,
// in one cyclic pass that starts at a free slot: an entry only ever moves
// back along its own probe run, and slots already passed only get filled,
// so every entry stays reachable.
func (s *dedupSet) compact(wm int64) {
	start := -1
	for i := range s.slots {
		sl := &s.slots[i]
		if sl.key != (dedupKey{}) && sl.expiry <= wm {
			*sl = dedupSlot{}
		}
		if sl.key == (dedupKey{}) && start < 0 {
			start = i
		}
	}
	if start < 0 {
		return // cannot happen: rebuilds run at 3/4 full
	}
	for n := 1; n < len(s.slots); n++ {
		j := (uint64(start) + uint64(n)) & s.mask
		sl := s.slots[j]
		if sl.key == (dedupKey{}) {
			continue
		}
		s.slots[j] = dedupSlot{}
		s.slots[s.home(sl.key)] = sl
	}
}
