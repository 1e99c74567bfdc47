package engine

import (
	"math/rand/v2"
	"testing"
)

// check fails unless every slot's tag is right, the mirrored tags match and
// every live entry is found by get.
func (s *dedupSet) check(t *testing.T, wm int64, step int) {
	t.Helper()
	for j, sl := range s.slots {
		if sl.key == (dedupKey{}) {
			if s.tags[j] != 0 {
				t.Fatalf("step %d: free slot %d has tag", step, j)
			}
			continue
		}
		if s.tags[j] != tagOf(sl.key) {
			t.Fatalf("step %d: slot %d tag %x want %x", step, j, s.tags[j], tagOf(sl.key))
		}
		if sl.expiry > wm {
			if off, ok := s.get(sl.key, wm); !ok || off != sl.off {
				t.Fatalf("step %d: slot %d (home %d) unreachable", step, j, sl.key.a&s.mask)
			}
		}
	}
	for i := 0; i < groupWidth-1; i++ {
		if s.tags[len(s.slots)+i] != s.tags[i] {
			t.Fatalf("step %d: mirror %d", step, i)
		}
	}
}

// TestDedupSetRebuildKeepsEveryEntryReachable checks the whole table after
// every rebuild, with keys over the full range: probe runs that wrap around
// the end of the table are the hard case of an in-place rebuild.
func TestDedupSetRebuildKeepsEveryEntryReachable(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	var s dedupSet
	var wm int64
	steps := 200_000
	if raceEnabled {
		steps = 50_000
	}
	for step := range steps {
		if step%100 == 0 {
			wm += 3
		}
		k := dedupKey{a: rng.Uint64(), b: rng.Uint64() | 1}
		before := len(s.slots)
		usedBefore := s.used
		s.put(k, int64(step), wm+1+rng.Int64N(100), wm)
		if len(s.slots) != before || s.used <= usedBefore {
			s.check(t, wm, step)
		}
	}
}
