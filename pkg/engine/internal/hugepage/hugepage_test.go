package hugepage

import "testing"

// slot has the size of the engine's dedup slots, which divides a huge page.
type slot [2]uint64

// odd has a size that does not divide a huge page: no alignment then.
type odd [3]uint64

func TestMakeIsZeroedAndSized(t *testing.T) {
	for _, n := range []int{0, 1, 1000, 1 << 20, 3<<20 + 5} {
		s := Make[slot](n)
		if len(s) != n || cap(s) != n {
			t.Fatalf("Make[slot](%d): len %d cap %d", n, len(s), cap(s))
		}
		checkZeroed(t, s)
		o := Make[odd](n)
		if len(o) != n {
			t.Fatalf("Make[odd](%d): len %d", n, len(o))
		}
		checkZeroed(t, o)
	}
}

func checkZeroed[T comparable](t *testing.T, s []T) {
	t.Helper()
	var zero T
	for i := range s {
		if s[i] != zero {
			t.Fatalf("Make(%d): element %d not zero", len(s), i)
		}
	}
}
