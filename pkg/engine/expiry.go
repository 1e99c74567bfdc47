package engine

import (
	"math"
	"slices"
)

// bucket tracks the DedupUntilWatermark entries that expire together: how
// many are live and the lowest offset among them (for MinOffsetNeeded). The
// entries themselves expire in the dedup table without being visited.
type bucket struct {
	expiry    int64
	count     int
	minOffset int64
}

// roundExpiry rounds the expiry of a DedupUntilWatermark entry up to the
// window slide, so that few buckets exist.
func (e *Engine) roundExpiry(expiry int64) int64 {
	slide := e.asg.Slide()
	return -floorDiv(-expiry, slide) * slide
}

// remember counts a DedupUntilWatermark entry in the bucket of its rounded
// expiry.
func (e *Engine) remember(expiry, offset int64) {
	b := e.lastBucket
	if b == nil || b.expiry != expiry {
		i, found := slices.BinarySearchFunc(e.buckets, expiry, func(b *bucket, x int64) int {
			switch {
			case b.expiry < x:
				return -1
			case b.expiry > x:
				return 1
			}
			return 0
		})
		if found {
			b = e.buckets[i]
		} else {
			if n := len(e.spareBuckets); n > 0 {
				b, e.spareBuckets = e.spareBuckets[n-1], e.spareBuckets[:n-1]
			} else {
				b = &bucket{}
			}
			b.expiry, b.count, b.minOffset = expiry, 0, math.MaxInt64
			e.buckets = slices.Insert(e.buckets, i, b)
		}
		e.lastBucket = b
	}
	b.count++
	e.dedupLive++
	b.minOffset = min(b.minOffset, offset)
}

// expireIDs forgets the DedupUntilWatermark entries that the watermark
// passed: the dedup table ignores them from now on, and their buckets go.
func (e *Engine) expireIDs() {
	e.evictedAt = e.wm
	n := 0
	for n < len(e.buckets) && e.buckets[n].expiry <= e.wm {
		n++
	}
	if n > 0 {
		for _, b := range e.buckets[:n] {
			e.dedupLive -= b.count
			if b == e.lastBucket {
				e.lastBucket = nil
			}
			e.spareBuckets = append(e.spareBuckets, b)
		}
		e.buckets = append(e.buckets[:0], e.buckets[n:]...)
	}
}
