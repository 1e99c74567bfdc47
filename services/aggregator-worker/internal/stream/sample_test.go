package stream

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"testing"

	"github.com/stretchr/testify/require"
)

// One window in n is sampled, by its key alone: the same answer for every
// revision and on every call, every window with n = 1, and about 1/n of
// many windows otherwise.
func TestInRevisionSample(t *testing.T) {
	const devices, windows = 1000, 20
	for _, n := range []uint32{0, 1} {
		require.True(t, InRevisionSample(n, "dev-1", "cat-1", 5000), "n=%d: every window", n)
	}
	for _, n := range []uint32{2, 8} {
		in := 0
		for d := range devices {
			for w := range windows {
				dev, start := fmt.Sprintf("dev-%d", d), int64(w)*5000
				got := InRevisionSample(n, dev, "cat-1", start)
				require.Equal(t, got, InRevisionSample(n, dev, "cat-1", start), "deterministic")
				if got {
					in++
				}
			}
		}
		want := devices * windows / int(n)
		require.InDelta(t, want, in, float64(want)/10, "n=%d: about one window in n", n)
	}
	// The key has three parts: a different category or window start is
	// another window.
	n := uint32(4)
	same := 0
	for d := range devices {
		dev := fmt.Sprintf("dev-%d", d)
		if InRevisionSample(n, dev, "cat-1", 0) == InRevisionSample(n, dev, "cat-2", 0) &&
			InRevisionSample(n, dev, "cat-1", 0) == InRevisionSample(n, dev, "cat-1", 5000) {
			same++
		}
	}
	require.Less(t, same, devices, "the category and the window start are part of the key")
}

// The hash is FNV-1a of device, 0, category, 0 and the window start (big
// endian), as hash/fnv computes it: a stable choice across versions.
func TestInRevisionSampleIsFNV1a(t *testing.T) {
	for i := range 200 {
		dev, start := fmt.Sprintf("dev-%d", i), int64(i)*5000-7
		h := fnv.New32a()
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], uint64(start))
		_, _ = h.Write(append(append(append(append([]byte(dev), 0), "cat-2"...), 0), b[:]...))
		for _, n := range []uint32{3, 7} {
			require.Equal(t, h.Sum32()%n == 0, InRevisionSample(n, dev, "cat-2", start), "%s %d", dev, start)
		}
	}
}
