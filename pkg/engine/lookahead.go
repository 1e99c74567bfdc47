package engine

import (
	"unsafe"

	"github.com/boontadata/boontadata/pkg/engine/internal/hashkey"
	"github.com/boontadata/boontadata/pkg/engine/internal/prefetch"
)

// lookAheadBatch is how many records ProcessBatch looks ahead: the size of
// a look-ahead batch.
const lookAheadBatch = 16

// ProcessBatch processes rs in order, exactly as calling Process on each
// would. With large state it is much faster: while it processes one
// look-ahead batch of records, the dedup and aggregate slots of the next
// one are already on their way into the CPU cache, so that the cache misses
// of a large state overlap with work instead of each stalling its record.
func (e *Engine) ProcessBatch(rs []Record) {
	var a, b lookahead
	cur, next := &a, &b
	e.prepare(rs, cur)
	cur.prefetchAll()
	for len(rs) > 0 {
		n := cur.n
		e.prepare(rs[n:], next)
		e.prefetchStates(cur)
		for i := range n {
			// One record's lines at a time: a burst of prefetches would
			// wait for the CPU's few outstanding-miss buffers.
			if i < next.n && next.cnt[i] > 0 {
				prefetch.Lines(&next.addrs[i][0], next.cnt[i])
			}
			e.process(&rs[i], &cur.keys[i])
		}
		rs, cur, next = rs[n:], next, cur
	}
}

// lookahead is one look-ahead batch: the keys of up to lookAheadBatch
// records and the cache lines their lookups will read.
type lookahead struct {
	n       int
	keys    [lookAheadBatch]hashkey.Keys
	windows [lookAheadBatch]*openWindow // the record's newest window, if it is open
	addrs   [lookAheadBatch][4]uintptr
	cnt     [lookAheadBatch]int
}

// prepare hashes the first records of rs and finds the cache lines of their
// dedup entry (tags and first slot) and of the index slot of their aggregate.
func (e *Engine) prepare(rs []Record, la *lookahead) {
	la.n = min(len(rs), lookAheadBatch)
	dedup := (e.spec.Dedup == DedupWithinBatch || e.spec.Dedup == DedupUntilWatermark) && e.dedup.Used() > 0
	for i := range la.n {
		r, k := &rs[i], &la.keys[i]
		e.keys(r, k)
		m := 0
		if dedup {
			m = e.dedup.Lines(k.ID, la.addrs[i][:], m)
		}
		ow, _ := e.findWindow(e.asg.Last(e.recordTime(r)).Start)
		if ow != nil && ow.index.Len() > 0 {
			la.addrs[i][m] = ow.index.Line(k.DevCat)
			m++
		}
		la.windows[i], la.cnt[i] = ow, m
	}
}

func (la *lookahead) prefetchAll() {
	for i := range la.n {
		if la.cnt[i] > 0 {
			prefetch.Lines(&la.addrs[i][0], la.cnt[i])
		}
	}
}

// prefetchStates prefetches the aggregates of older windows that the
// records of la will update, now that the index slots that locate them are
// in cache; the newest window's are in cache already. A window closed since
// prepare only makes a prefetch useless.
func (e *Engine) prefetchStates(la *lookahead) {
	if len(e.windows) == 0 {
		return // then no record of la has an open window
	}
	var addrs [lookAheadBatch]uintptr
	m := 0
	newest := e.windows[len(e.windows)-1]
	for i := range la.n {
		ow := la.windows[i]
		if ow == nil || ow == newest {
			continue
		}
		if idx, ok := ow.index.Find(la.keys[i].DevCat); ok && int(idx) < len(ow.aggs) {
			addrs[m] = uintptr(unsafe.Pointer(&ow.aggs[idx]))
			m++
		}
	}
	if m > 0 {
		prefetch.Lines(&addrs[0], m)
	}
}
