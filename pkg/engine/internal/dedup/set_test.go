package engine

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// get returns the offset of k if it is live under watermark wm: the lookup
// half of insert, for the tests.
func (s *dedupSet) get(k dedupKey, wm int64) (int64, bool) {
	if len(s.slots) == 0 {
		return 0, false
	}
	off, found, _ := s.find(k, wm)
	return off, found
}

// check fails unless the mirrored tags match and every used slot is on the
// probe run of its key: no free slot between its home and itself.
func (s *dedupSet) check(t *testing.T, step int) {
	t.Helper()
	used := 0
	for j := range s.slots {
		if s.tags[j] == 0 {
			continue
		}
		used++
		for i := s.slots[j].a & s.mask; i != uint64(j); i = (i + 1) & s.mask {
			if s.tags[i] == 0 {
				t.Fatalf("step %d: slot %d (home %d) unreachable: slot %d is free", step, j, s.slots[j].a&s.mask, i)
			}
		}
	}
	if used != s.used {
		t.Fatalf("step %d: %d slots used, the set counts %d", step, used, s.used)
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
		s.insert(k, int64(step), wm+1+rng.Int64N(100), wm)
		if len(s.slots) != before || s.used <= usedBefore {
			s.check(t, step)
		}
	}
}

// BenchmarkDedupSet is the dedup table alone in the steady state of
// DedupUntilWatermark: each op looks up a new id (a miss) and inserts it, and
// each id lives for live inserts, so that many are live and as many expired
// ones wait for a rebuild.
func BenchmarkDedupSet(b *testing.B) {
	for _, live := range []int{60_000, 300_000, 3_000_000} {
		b.Run(fmt.Sprintf("live=%d", live), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 1))
			s := dedupSet{unit: 1024} // as in the engine, expiries are multiples of it
			keys := make([]dedupKey, 1<<16)
			step := int64(0)
			run := func(n int) {
				for range n {
					k := keys[step&int64(len(keys)-1)]
					k.a += uint64(step>>16) * 0x9e3779b97f4a7c15 // a new key each time around
					wm := step / 64 * 64
					s.insert(k, step, (step+int64(live)+1023)/1024*1024, wm)
					step++
				}
			}
			for i := range keys {
				keys[i] = dedupKey{a: rng.Uint64(), b: rng.Uint64() | 1}
			}
			run(4 * live)
			b.ResetTimer()
			for b.Loop() {
				run(1)
			}
			if len(s.far) > 0 {
				b.Fatalf("%d entries did not fit a slot", len(s.far))
			}
			b.ReportMetric(float64(s.used), "used")
		})
	}
}

func TestMakeHugeIsZeroedAndSized(t *testing.T) {
	for _, n := range []int{0, 1, 1000, 1 << 20, 3<<20 + 5} {
		s := makeHuge[dedupSlot](n)
		if len(s) != n || cap(s) != n {
			t.Fatalf("makeHuge(%d): len %d cap %d", n, len(s), cap(s))
		}
		for i := range s {
			if s[i] != (dedupSlot{}) {
				t.Fatalf("makeHuge(%d): slot %d not zero", n, i)
			}
		}
	}
}
