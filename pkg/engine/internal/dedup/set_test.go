package dedup

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/boontadata/boontadata/pkg/engine/internal/hashkey"
)

// get returns the offset of k if it is live under watermark wm: the lookup
// half of Insert, for the tests.
func (s *Set) get(k hashkey.Key, wm int64) (int64, bool) {
	if len(s.slots) == 0 {
		return 0, false
	}
	off, found, _ := s.find(k, wm)
	return off, found
}

// check fails unless the mirrored tags match and every used slot is on the
// probe run of its key: no free slot between its home and itself.
func (s *Set) check(t *testing.T, step int) {
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
	for i := 0; i < tagGroupWidth-1; i++ {
		if s.tags[len(s.slots)+i] != s.tags[i] {
			t.Fatalf("step %d: mirror %d", step, i)
		}
	}
}

// TestSetMatchesMap runs random lookups and inserts against a map.
// Few distinct keys force long probe runs, wrap-around and many tag matches;
// "drifting" moves offsets and the watermark so far that the bases of the
// slots must follow, keeps some entries long enough to hold the offset base
// back, and sends some to the far map (an expiry far ahead, or one the unit
// does not divide).
func TestSetMatchesMap(t *testing.T) {
	for _, tc := range []struct {
		name          string
		unit          int64
		offStep, wmUp int64
	}{
		{name: "dense", offStep: 1, wmUp: 10},
		{name: "drifting", unit: 5, offStep: 400_000, wmUp: 20_000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := Set{unit: tc.unit}
			unit := max(tc.unit, 1)
			type entry struct{ off, expiry int64 }
			ref := map[hashkey.Key]entry{}
			rng := rand.New(rand.NewPCG(1, 2))
			ops := 300_000
			if raceEnabled {
				ops = 30_000
			}
			wm := int64(noWatermark)
			for i := range ops {
				if i%1000 == 0 {
					if wm == noWatermark {
						wm = 1_000_000
					}
					wm += tc.wmUp // expire some entries as the watermark moves
					for k, e := range ref {
						if e.expiry <= wm {
							delete(ref, k)
						}
					}
				}
				// The set keeps 87 bits of a key: vary those only.
				k := hashkey.Key{A: rng.Uint64N(2048), B: rng.Uint64N(64)<<57 | rng.Uint64N(4)<<16 | 1}
				e, live := ref[k]
				if off, ok := s.get(k, wm); ok != live || (ok && off != e.off) {
					t.Fatalf("step %d: get(%v) = %d, %v; want %v, %v", i, k, off, ok, e, live)
				}
				add := entry{off: int64(i) * tc.offStep, expiry: wm + (1+rng.Int64N(200))*unit}
				switch {
				case i%97 == 0:
					add.expiry = wm + 1e12 // beyond the span of a slot
				case i%89 == 0 && unit > 1:
					add.expiry++ // not a multiple of the unit
				case i%101 == 0 && unit > 1:
					// Fits, near the end of the span, and lives long
					// enough to hold the offset base back.
					add.expiry = wm + 50_000*unit
				}
				off, ok := s.Insert(k, add.off, add.expiry, wm)
				if ok != live || (ok && off != e.off) {
					t.Fatalf("step %d: Insert(%v) = %d, %v; want %v, %v", i, k, off, ok, e, live)
				}
				if !ok {
					ref[k] = add
				}
			}
			require.Less(t, len(s.slots), 16*len(ref)+4*minSlots, "dead entries are dropped")
			if tc.offStep > 1 {
				require.NotEmpty(t, s.far, "some entries did not fit a slot")
				require.Positive(t, s.offBase, "the offset base moved")
			}
			s.Clear()
			_, ok := s.get(hashkey.Key{A: 1, B: 1}, wm)
			require.False(t, ok)
		})
	}
}

// TestRebuildKeepsEveryEntryReachable checks the whole table after
// every rebuild, with keys over the full range: probe runs that wrap around
// the end of the table are the hard case of an in-place rebuild.
func TestRebuildKeepsEveryEntryReachable(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	var s Set
	var wm int64
	steps := 200_000
	if raceEnabled {
		steps = 50_000
	}
	for step := range steps {
		if step%100 == 0 {
			wm += 3
		}
		k := hashkey.Key{A: rng.Uint64(), B: rng.Uint64() | 1}
		before := len(s.slots)
		usedBefore := s.used
		s.Insert(k, int64(step), wm+1+rng.Int64N(100), wm)
		if len(s.slots) != before || s.used <= usedBefore {
			s.check(t, step)
		}
	}
}

// BenchmarkSet is the dedup table alone in the steady state of
// DedupUntilWatermark: each op looks up a new id (a miss) and inserts it, and
// each id lives for live inserts, so that many are live and as many expired
// ones wait for a rebuild.
func BenchmarkSet(b *testing.B) {
	for _, live := range []int{60_000, 300_000, 3_000_000} {
		b.Run(fmt.Sprintf("live=%d", live), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 1))
			s := Set{unit: 1024} // as in the engine, expiries are multiples of it
			keys := make([]hashkey.Key, 1<<16)
			step := int64(0)
			run := func(n int) {
				for range n {
					k := keys[step&int64(len(keys)-1)]
					k.A += uint64(step>>16) * 0x9e3779b97f4a7c15 // a new key each time around
					wm := step / 64 * 64
					s.Insert(k, step, (step+int64(live)+1023)/1024*1024, wm)
					step++
				}
			}
			for i := range keys {
				keys[i] = hashkey.Key{A: rng.Uint64(), B: rng.Uint64() | 1}
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
