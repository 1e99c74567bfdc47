package aggindex

import (
	"math/rand/v2"
	"testing"

	"github.com/boontadata/boontadata/pkg/engine/internal/hashkey"
)

// TestIndexAgreesWithAMap fills indexes of several sizes with keys whose
// home slots collide often (long probe runs, wrap-around, growth), checks
// every key and some absent ones against a plain map, and reuses the index
// after Reset, small and large, as an evicted window's index is reused.
func TestIndexAgreesWithAMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	var x Index
	for round, n := range []int{0, 1, 40, 5000, 3, 700, 20_000, 10} {
		want := map[hashkey.Key]int32{}
		for len(want) < n {
			k := hashkey.Key{A: rng.Uint64N(4 * uint64(n+1)), B: rng.Uint64()}
			if _, ok := want[k]; ok {
				continue
			}
			if _, ok := x.Find(k); ok {
				t.Fatalf("round %d: %v found before its insert", round, k)
			}
			want[k] = int32(len(want))
			x.Insert(k, want[k])
		}
		if x.Len() != n {
			t.Fatalf("round %d: Len %d, want %d", round, x.Len(), n)
		}
		for k, idx := range want {
			if got, ok := x.Find(k); !ok || got != idx {
				t.Fatalf("round %d: Find(%v) = %d, %v; want %d", round, k, got, ok, idx)
			}
			// Same A, another B: a different pair of the same home slot.
			other := hashkey.Key{A: k.A, B: k.B ^ 2}
			if _, ok := want[other]; !ok {
				if _, found := x.Find(other); found {
					t.Fatalf("round %d: Find(%v) found an absent key", round, other)
				}
			}
		}
		x.Reset()
		if x.Len() != 0 {
			t.Fatalf("round %d: Len %d after Reset", round, x.Len())
		}
	}
}
