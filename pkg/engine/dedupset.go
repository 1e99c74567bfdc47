package engine

// dedupSet maps 128-bit message-id hashes to the offset of the copy that was
// counted. It is an open-addressing table with linear probing and
// backward-shift deletion (no tombstones, so churn never degrades it): the
// keys are already uniformly random, so a slot is found from key.a directly
// instead of hashing the key again as a Go map would, which is most of the
// cost of dedup at millions of events per second.
type dedupSet struct {
	slots []dedupSlot
	mask  uint64
	n     int
}

type dedupSlot struct {
	key dedupKey // the zero key marks a free slot: keys never are zero
	off int64
}

const minDedupSlots = 1024

func (s *dedupSet) get(k dedupKey) (int64, bool) {
	if s.n == 0 {
		return 0, false
	}
	for i := k.a & s.mask; ; i = (i + 1) & s.mask {
		sl := &s.slots[i]
		if sl.key == k {
			return sl.off, true
		}
		if sl.key == (dedupKey{}) {
			return 0, false
		}
	}
}

// put inserts k, which must not be present.
func (s *dedupSet) put(k dedupKey, off int64) {
	if (s.n+1)*4 > len(s.slots)*3 {
		s.grow()
	}
	i := k.a & s.mask
	for s.slots[i].key != (dedupKey{}) {
		i = (i + 1) & s.mask
	}
	s.slots[i] = dedupSlot{key: k, off: off}
	s.n++
}

func (s *dedupSet) delete(k dedupKey) {
	if s.n == 0 {
		return
	}
	i := k.a & s.mask
	for s.slots[i].key != k {
		if s.slots[i].key == (dedupKey{}) {
			return
		}
		i = (i + 1) & s.mask
	}
	// Shift later entries of the probe run back so lookups need no
	// tombstones: an entry moves into the hole unless its home slot lies
	// cyclically after the hole.
	for j := i; ; {
		j = (j + 1) & s.mask
		sl := s.slots[j]
		if sl.key == (dedupKey{}) {
			break
		}
		home := sl.key.a & s.mask
		if (j-home)&s.mask >= (j-i)&s.mask {
			s.slots[i] = sl
			i = j
		}
	}
	s.slots[i] = dedupSlot{}
	s.n--
}

func (s *dedupSet) clear() {
	if s.n > 0 {
		clear(s.slots)
		s.n = 0
	}
}

func (s *dedupSet) len() int { return s.n }

func (s *dedupSet) grow() {
	old := s.slots
	size := max(minDedupSlots, 2*len(old))
	s.slots = make([]dedupSlot, size)
	s.mask = uint64(size - 1)
	s.n = 0
	for _, sl := range old {
		if sl.key != (dedupKey{}) {
			s.put(sl.key, sl.off)
		}
	}
}
