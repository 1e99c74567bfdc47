package engine

import (
	"fmt"
	"hash/maphash"
	"math"
	"math/bits"
	"slices"
	"unsafe"

	"github.com/boontadata/boontadata/pkg/engine/window"
)

// noTime is the watermark before any record: every window is open.
const noTime = math.MinInt64

// Engine runs one job on one partition. It is not safe for concurrent use:
// the runtime calls it from one goroutine, which is why it needs no locks.
type Engine struct {
	spec      Spec
	sink      Sink
	partition int32
	asg       window.Assigner

	// Spec durations in ms.
	delay, lateness, horizon, interval int64

	wm int64 // watermark: windows ending at or before it are complete
	// lateWm judges records in micro-batch event and ingestion time: the
	// watermark of the batch before (Spark filters late events with the
	// previous batch's watermark and evicts state with the current one's).
	lateWm     int64
	maxTime    int64 // highest record time seen (event and ingestion time)
	seen       bool
	ended      bool // EndInput: no record follows
	nextOffset int64

	devices, categories interner

	// Aggregates live in the window they belong to (group.aggs); open
	// counts them.
	open int
	// groups are the open windows, oldest first.
	groups    []*group
	spareGrps []*group
	lastGroup *group
	dirty     []aggRef // update mode: aggregates changed since their last emission

	// dedup holds the ids of DedupWithinBatch (cleared by Advance) and
	// DedupUntilWatermark (expiring under the watermark; buckets count them
	// by expiry); DedupWithinWindow ids live in their group.
	dedup        dedupSet // key -> offset of the counted copy
	dedupLive    int      // live DedupUntilWatermark entries
	evictedAt    int64    // the watermark of the last eviction: ids expire under it
	buckets      []*bucket
	spareBuckets []*bucket
	lastBucket   *bucket
	batchMin     int64 // lowest offset in this batch's dedup entries
	seed1, seed2 maphash.Seed

	// marks: watermark of each micro-batch still needed by a restart;
	// replay: marks restored from a checkpoint, consumed as records replay.
	marks, replay []BatchMark

	// After Restore, emissions stay muted until the replay passes the
	// checkpoint (see Checkpoint.NextOffset).
	muted, muteAdvance, advanced bool
	muteUntil                    int64

	winBuf []window.Window
	res    Result
	dec    Decision
	stats  Stats
}

// aggState is one (device, category, window) aggregate, kept small: the
// device and category are interned ids and the window is its group's.
type aggState struct {
	dev, cat uint32
	sum1     int64
	sum2     float64
	comp     float64 // compensation of sum2 (TwoSum): see addCompensated
	count    int64
	dirty    bool
}

// aggRef names an aggregate: its window and its position in the window.
type aggRef struct {
	g   *group
	idx int32
}

// group is an open window. Its aggregates are contiguous, in the order they
// were opened: the newest window's stay in the CPU cache, and closing a
// window reads its aggregates in one sequential pass.
type group struct {
	win   window.Window
	aggs  []aggState
	index aggIndex
	// dedup holds the DedupWithinWindow ids of this window only, so closing
	// the window forgets them with one clear instead of one delete each.
	dedup     dedupSet
	minOffset int64
}

// dedupKey is a 128-bit hash of a message id (or of a device and category):
// storing it instead of the id keeps inserts allocation-free and entries
// small. Seeds are random per engine, so no input can be crafted to collide;
// a dedupSet keeps 87 bits of it, so that two of n live ids collide with a
// chance of about n²/2⁸⁸.
type dedupKey struct{ a, b uint64 }

// bucket tracks the DedupUntilWatermark entries that expire together: how
// many are live and the lowest offset among them (for MinOffsetNeeded). The
// entries themselves expire in the dedupSet without being visited.
type bucket struct {
	expiry    int64
	count     int
	minOffset int64
}

// New returns an engine for one partition of a job.
func New(spec Spec, partition int32, sink Sink) (*Engine, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	asg, err := window.Sliding(spec.WindowSize, spec.WindowSlide)
	if err != nil {
		return nil, fmt.Errorf("spec %s: %w", spec.Name, err)
	}
	if sink == nil {
		return nil, fmt.Errorf("spec %s: %w: nil sink", spec.Name, ErrInvalidSpec)
	}
	e := &Engine{
		spec:      spec,
		sink:      sink,
		partition: partition,
		asg:       asg,
		delay:     spec.WatermarkDelay.Milliseconds(),
		lateness:  spec.AllowedLateness.Milliseconds(),
		horizon:   spec.DedupHorizon.Milliseconds(),
		interval:  spec.TriggerInterval.Milliseconds(),
		wm:        noTime,
		lateWm:    noTime,
		evictedAt: noTime,
		maxTime:   noTime,
		batchMin:  math.MaxInt64,
		seed1:     maphash.MakeSeed(),
		seed2:     maphash.MakeSeed(),
		winBuf:    make([]window.Window, 0, asg.MaxWindows()),
	}
	// Expiries are rounded to the slide (roundExpiry): the slots count in it.
	e.dedup.unit = asg.Slide()
	return e, nil
}

// Spec returns the job spec.
func (e *Engine) Spec() Spec { return e.spec }

// Watermark returns the current watermark in ms (math.MinInt64 before any).
func (e *Engine) Watermark() int64 { return e.wm }

// Process counts one record, or drops it with a Decision. Records of a
// partition must come in offset order.
func (e *Engine) Process(r *Record) {
	var k recordKeys
	e.keys(r, &k)
	e.process(r, &k)
}

// recordKeys are the hashes a record is looked up by: its message id, and
// its device and category, the key of its aggregate in each window.
type recordKeys struct {
	id, devCat dedupKey
	dev, cat   uint64 // the hashes of the device and category alone
}

func (e *Engine) keys(r *Record, k *recordKeys) {
	if e.spec.Dedup != DedupNone {
		k.id = e.hash(r.Event.MessageID)
	}
	// One seeded 64-bit hash each: two different pairs collide only if a
	// device or category hash does, about n²/2⁶⁵ for n live devices.
	d, c := maphash.Bytes(e.seed1, r.Event.DeviceID), maphash.Bytes(e.seed2, r.Event.Category)
	k.dev, k.cat = d, c
	k.devCat = dedupKey{a: d ^ bits.RotateLeft64(c, 31), b: mix64(d+c) ^ c}
}

// mix64 is the finalizer of MurmurHash3: every output bit depends on every
// input bit, so the low bits that pick a slot vary with all of the key.
func mix64(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	return x ^ x>>33
}

// batchGroup is how many records ProcessBatch looks ahead.
const batchGroup = 16

// ProcessBatch processes rs in order, exactly as calling Process on each
// would. With large state it is much faster: while it processes a group of
// records, the dedup and aggregate slots of the next group are already on
// their way into the CPU cache, so that the cache misses of a large state
// overlap with work instead of each stalling its record.
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
				prefetch(&next.addrs[i][0], next.cnt[i])
			}
			e.process(&rs[i], &cur.keys[i])
		}
		rs, cur, next = rs[n:], next, cur
	}
}

// lookahead holds the keys of up to batchGroup records and the cache lines
// their lookups will read.
type lookahead struct {
	n      int
	keys   [batchGroup]recordKeys
	groups [batchGroup]*group // the record's newest window, if it is open
	addrs  [batchGroup][4]uintptr
	cnt    [batchGroup]int
}

// prepare hashes the first records of rs and finds the cache lines of their
// dedup entry (tags and first slot) and of the index slot of their aggregate.
func (e *Engine) prepare(rs []Record, la *lookahead) {
	la.n = min(len(rs), batchGroup)
	dedup := (e.spec.Dedup == DedupWithinBatch || e.spec.Dedup == DedupUntilWatermark) && e.dedup.used > 0
	for i := range la.n {
		r, k := &rs[i], &la.keys[i]
		e.keys(r, k)
		m := 0
		if dedup {
			m = e.dedup.lines(k.id, la.addrs[i][:], m)
		}
		g, _ := e.findGroup(e.asg.Last(e.recordTime(r)).Start)
		if g != nil && g.index.n > 0 {
			la.addrs[i][m] = g.index.line(k.devCat)
			m++
		}
		la.groups[i], la.cnt[i] = g, m
	}
}

func (la *lookahead) prefetchAll() {
	for i := range la.n {
		if la.cnt[i] > 0 {
			prefetch(&la.addrs[i][0], la.cnt[i])
		}
	}
}

// prefetchStates prefetches the aggregates of older windows that the
// records of la will update, now that the index slots that locate them are
// in cache; the newest window's are in cache already. A window evicted since
// prepare only makes a prefetch useless.
func (e *Engine) prefetchStates(la *lookahead) {
	if len(e.groups) == 0 {
		return // then no record of la has an open window
	}
	var addrs [batchGroup]uintptr
	m := 0
	newest := e.groups[len(e.groups)-1]
	for i := range la.n {
		g := la.groups[i]
		if g == nil || g == newest {
			continue
		}
		if idx, ok := g.index.find(la.keys[i].devCat); ok && int(idx) < len(g.aggs) {
			addrs[m] = uintptr(unsafe.Pointer(&g.aggs[idx]))
			m++
		}
	}
	if m > 0 {
		prefetch(&addrs[0], m)
	}
}

func (e *Engine) process(r *Record, keys *recordKeys) {
	if e.muted && r.Offset >= e.muteUntil {
		e.endReplay()
	}
	e.stats.Records++
	e.advanced = false
	now := r.ProcessingTime
	e.seen = true
	if r.Offset >= e.nextOffset {
		e.nextOffset = r.Offset + 1
	}
	continuous := e.spec.Trigger == Continuous
	for len(e.replay) > 0 && e.replay[0].FirstOffset <= r.Offset {
		// While replaying, the watermark this batch first ran under; once
		// live, a watermark given since by SetWatermark (the driver's, for
		// the batch now running) is newer than the mark the checkpoint took.
		if e.muted {
			e.wm, e.lateWm = e.replay[0].Watermark, e.replay[0].Late
		} else {
			e.wm, e.lateWm = max(e.wm, e.replay[0].Watermark), max(e.lateWm, e.replay[0].Late)
		}
		e.replay = e.replay[1:]
	}
	if continuous && e.spec.Time == ProcessingTime && now > e.wm {
		e.wm = now
		e.evict(now) // windows that ended before this record are complete
	}

	ts := e.recordTime(r)
	if ts > e.maxTime {
		e.maxTime = ts
	}
	wins := e.asg.Assign(e.winBuf[:0], ts)
	newest := wins[len(wins)-1]
	judge := e.judge()
	if newest.End+e.lateness <= judge || (e.spec.LateByRecordTime && ts <= judge) {
		reason := ReasonWindowClosed
		if newest.End+e.lateness > judge {
			reason = ReasonBeforeWatermark
		}
		e.count(&e.stats.Late)
		e.decide(r, LateDropped, reason, ts, newest, -1)
		e.afterRecord(now, continuous)
		return
	}

	k := keys.id
	switch e.spec.Dedup {
	case DedupWithinBatch, DedupUntilWatermark:
		expiry := int64(noExpiry)
		if e.spec.Dedup == DedupUntilWatermark {
			// Remembered while a copy could still count, and at least
			// DedupHorizon: a function of the record alone, so a restarted
			// engine forgets ids exactly when the first one did.
			expiry = e.roundExpiry(max(ts+e.horizon, newest.End+e.lateness))
		}
		if orig, dup := e.dedup.insert(k, r.Offset, expiry, e.evictedAt); dup {
			reason := ReasonSeenBeforeWatermark
			if e.spec.Dedup == DedupWithinBatch {
				reason = ReasonSeenInBatch
			}
			e.count(&e.stats.Duplicates)
			e.decide(r, DuplicateDropped, reason, ts, newest, orig)
			e.afterRecord(now, continuous)
			return
		}
		if e.spec.Dedup == DedupWithinBatch {
			e.batchMin = min(e.batchMin, r.Offset)
		} else {
			e.remember(expiry, r.Offset)
		}
	}

	accepted := false
	var counted window.Window // the newest window the record counted in
	for _, w := range wins {
		if w.End+e.lateness <= judge {
			continue // a sliding window of this record already closed
		}
		g := e.group(w)
		if e.spec.Dedup == DedupWithinWindow {
			if orig, dup := g.dedup.insert(k, r.Offset, noExpiry, noTime); dup {
				e.count(&e.stats.Duplicates)
				e.decide(r, DuplicateDropped, ReasonSeenInWindow, ts, w, orig)
				continue
			}
		}
		e.aggregate(g, r, now, keys)
		accepted, counted = true, w
	}
	if accepted {
		e.stats.Accepted++
		if e.spec.Time != EventTime {
			// Processing and ingestion time: say where the record went when
			// its device time would have put it elsewhere, so that every
			// difference with the truth can be explained record by record.
			if dw := e.asg.Last(r.Event.DeviceTime); dw.Start != counted.Start {
				reason := ReasonProcessingTime
				if e.spec.Time == IngestionTime {
					reason = ReasonIngestionTime
				}
				e.count(&e.stats.Placed)
				e.decide(r, Placed, reason, ts, counted, -1)
			}
		}
	}
	e.afterRecord(now, continuous)
}

// afterRecord moves a continuous watermark of ScopePartition with the
// record, as Kafka Streams moves a task's stream time. The record itself
// was judged against the watermark before it; a record is never late by
// its own time, so judging it after would decide the same.
func (e *Engine) afterRecord(now int64, continuous bool) {
	if !continuous || e.spec.Time == ProcessingTime || e.spec.Scope != ScopePartition {
		return
	}
	if wm := e.maxTime - e.delay; wm > e.wm {
		e.wm = wm
		e.evict(now)
	}
}

func (e *Engine) recordTime(r *Record) int64 {
	switch e.spec.Time {
	case EventTime:
		return r.Event.DeviceTime
	case IngestionTime:
		return r.IngestionTime
	}
	if e.spec.Trigger == MicroBatch {
		// DStream puts a whole batch in the window of its batch time.
		return floorDiv(r.ProcessingTime, e.interval) * e.interval
	}
	return r.ProcessingTime
}

func (e *Engine) hash(id []byte) dedupKey {
	// b is never 0, so no key is the zero key that marks a free slot.
	return dedupKey{a: maphash.Bytes(e.seed1, id), b: maphash.Bytes(e.seed2, id) | 1}
}

// Advance tells the engine that processing time is now: a timer tick in
// continuous mode, the end of the batch triggered at now in micro-batch mode.
// It emits what became due: final results of closed windows, update-mode
// results of changed windows.
func (e *Engine) Advance(now int64) {
	if e.muted && e.nextOffset >= e.muteUntil && e.stats.Records > 0 {
		if e.muteAdvance {
			// The Advance the checkpoint followed: rebuild, silently.
			e.advance(now)
			e.muted = false
			return
		}
		e.endReplay()
	}
	e.advance(now)
}

func (e *Engine) advance(now int64) {
	e.advanced = true
	switch {
	case e.spec.Trigger == MicroBatch && e.spec.Time != ProcessingTime:
		// Spark evicts with the watermark the batch ran under, then computes
		// the next batch's watermark from the event times seen so far: here
		// for ScopePartition, by the driver (SetWatermark) for the others.
		e.evict(now)
		e.emitDirty(now)
		e.lateWm = e.wm // the next batch judges late records by this batch's
		if e.spec.Scope == ScopePartition {
			if wm := e.partitionWatermark(); wm > e.wm {
				e.wm = wm
			}
		}
		e.markBatch()
	case e.spec.Time == ProcessingTime:
		if now > e.wm {
			e.wm = now
			e.evict(now)
		}
		e.emitDirty(now)
	default:
		// The watermark moved with the records (ScopePartition) or with
		// SetWatermark: close what it passed, emit what changed.
		e.evict(now)
		e.emitDirty(now)
	}
	if e.spec.Dedup == DedupWithinBatch {
		e.dedup.clear()
		e.batchMin = math.MaxInt64
	}
}

// endReplay unmutes a restored engine. Unless the checkpoint followed an
// Advance, the original engine may have had changes not yet emitted in
// update mode: every open aggregate is emitted again at the next Advance,
// with unchanged revisions, so none of them is missed.
func (e *Engine) endReplay() {
	e.muted = false
	if e.muteAdvance || e.spec.Output != Update || e.spec.EmitPerRecord {
		return
	}
	for _, g := range e.groups {
		for i := range g.aggs {
			if st := &g.aggs[i]; !st.dirty {
				st.dirty = true
				e.dirty = append(e.dirty, aggRef{g, int32(i)})
			}
		}
	}
}

// markBatch records the watermark the next batch runs under and forgets the
// marks of batches that no open state needs any more.
func (e *Engine) markBatch() {
	if from, ok := e.MinOffsetNeeded(); ok {
		n := 0
		for n+1 < len(e.marks) && e.marks[n+1].FirstOffset <= from {
			n++
		}
		e.marks = append(e.marks[:0], e.marks[n:]...)
	}
	e.marks = append(e.marks, BatchMark{FirstOffset: e.nextOffset, Watermark: e.wm, Late: e.lateWm})
}

// judge is the watermark records are judged late against: the previous
// batch's in micro-batch event and ingestion time, else the watermark.
func (e *Engine) judge() int64 {
	if e.spec.Trigger == MicroBatch && e.spec.Time != ProcessingTime {
		return e.lateWm
	}
	return e.wm
}

// partitionWatermark is this partition's own watermark: the highest record
// time less the bounded out-of-orderness (Flink's
// BoundedOutOfOrdernessWatermarks, Spark's max(eventTime) − delay). It only
// moves with records: the wall clock never moves an event-time watermark.
func (e *Engine) partitionWatermark() int64 {
	if e.maxTime == noTime {
		return noTime
	}
	return e.maxTime - e.delay
}

// Mark returns this partition's watermark and whether its input ended, for
// the runtime to combine over the partitions (ScopeMin, ScopeGlobal): see
// Combine. The runtime adds the partition and whether it is idle.
func (e *Engine) Mark() PartitionMark {
	return PartitionMark{Watermark: e.partitionWatermark(), Ended: e.ended}
}

// SetWatermark raises the watermark to wm, never lowering it: the runtime's
// combination of the partitions' marks (ScopeMin on each timer tick,
// ScopeGlobal at the start of each micro-batch). In continuous mode records
// processed after it are judged against it; in micro-batch mode it is the
// watermark the batch starting now evicts with, and its records are judged
// against the batch before's. The windows it closes are emitted by the next
// Advance. It does nothing for processing time, whose watermark is the clock.
func (e *Engine) SetWatermark(wm int64) {
	if e.spec.Time == ProcessingTime || wm <= e.wm {
		return
	}
	e.wm = wm
	if e.spec.Trigger == MicroBatch {
		// The batch starting here runs under wm: a restart replays it so.
		if n := len(e.marks); n > 0 && e.marks[n-1].FirstOffset == e.nextOffset {
			e.marks[n-1].Watermark = wm
		} else {
			e.marks = append(e.marks, BatchMark{FirstOffset: e.nextOffset, Watermark: wm, Late: e.lateWm})
		}
	}
}

// EndInput says that no record follows on this partition: the run's
// end-of-run marker arrived (a bounded input ended). For processing time and
// ScopePartition every window closes at once, as Flush. For ScopeMin and
// ScopeGlobal the partition's Mark says it ended; its windows close when the
// combined watermark passes them, which Combine makes math.MaxInt64 once
// every partition ended (Flink's final watermark at the end of a bounded
// input).
func (e *Engine) EndInput(now int64) {
	e.ended = true
	if e.spec.Time == ProcessingTime || e.spec.Scope == ScopePartition {
		e.Flush(now)
	}
}

// Ended reports whether EndInput was called (or restored).
func (e *Engine) Ended() bool { return e.ended }

// Flush closes every window and forgets every id, as the end of a bounded
// input does (Flink's final watermark). Runtimes call it only when the input
// really ended: state lost by Flush is not rebuilt from offsets.
func (e *Engine) Flush(now int64) {
	e.wm = math.MaxInt64
	e.evict(now)
	e.emitDirty(now)
	e.dedup.clear()
	e.batchMin = math.MaxInt64
}

// MinOffsetNeeded returns the smallest offset that contributed to an open
// window or a live dedup entry, or the next offset when nothing is open: a
// restart that replays from it (after Restore) rebuilds the same open state.
// ok is false before the first record.
func (e *Engine) MinOffsetNeeded() (offset int64, ok bool) {
	if !e.seen {
		return 0, false
	}
	m := min(e.nextOffset, e.batchMin)
	for _, g := range e.groups {
		m = min(m, g.minOffset)
	}
	for _, b := range e.buckets {
		m = min(m, b.minOffset)
	}
	return m, true
}

// Checkpoint returns what Restore needs besides the replayed records.
func (e *Engine) Checkpoint() Checkpoint {
	return Checkpoint{
		Watermark: e.wm, LateWatermark: e.lateWm, MaxTime: e.maxTime, Seen: e.seen, Ended: e.ended,
		NextOffset: e.nextOffset, AfterAdvance: e.advanced,
		Batches: slices.Clone(e.marks),
	}
}

// Restore sets the watermark and clocks of a fresh engine from a checkpoint
// taken before a restart, so that records replayed from MinOffsetNeeded are
// judged as late or not as they were the first time.
func (e *Engine) Restore(cp Checkpoint) error {
	if e.stats.Records > 0 {
		return fmt.Errorf("restore checkpoint: %w", ErrStarted)
	}
	e.wm, e.maxTime, e.seen, e.ended = cp.Watermark, cp.MaxTime, cp.Seen, cp.Ended
	e.muted, e.muteUntil, e.muteAdvance = cp.NextOffset > 0, cp.NextOffset, cp.AfterAdvance
	e.replay = slices.Clone(cp.Batches)
	e.marks = slices.Clone(cp.Batches)
	e.lateWm = cp.LateWatermark
	if len(e.replay) > 0 {
		// Until the first replayed record says otherwise, the oldest batch.
		e.wm, e.lateWm = e.replay[0].Watermark, e.replay[0].Late
	}
	return nil
}

// Stats returns counters and the size of the open state.
func (e *Engine) Stats() Stats {
	s := e.stats
	s.OpenStates = e.open
	s.OpenWindows = len(e.groups)
	s.DedupEntries = e.dedupLive
	if e.spec.Dedup == DedupWithinBatch {
		s.DedupEntries = e.dedup.used
	}
	for _, g := range e.groups {
		s.DedupEntries += g.dedup.used
	}
	s.Watermark = e.wm
	return s
}

func (e *Engine) decide(r *Record, kind DecisionKind, reason Reason, ts int64, w window.Window, orig int64) {
	if e.muted {
		return
	}
	// Field by field, every field, as in emit.
	d := &e.dec
	d.Kind, d.Reason = kind, reason
	d.MessageID, d.DeviceID, d.Category = r.Event.MessageID, r.Event.DeviceID, r.Event.Category
	d.Partition, d.Offset, d.Time, d.Window = r.Partition, r.Offset, ts, w
	d.DeviceTime, d.Measure1, d.Measure2 = r.Event.DeviceTime, r.Event.Measure1, r.Event.Measure2
	d.Watermark, d.OriginalOffset, d.EmitTime = e.judge(), orig, r.ProcessingTime
	e.sink.Decision(d)
	d.MessageID, d.DeviceID, d.Category = nil, nil, nil // drop the references into the caller's buffer
}

// count bumps a decision counter unless the decision repeats one made
// before a restart.
func (e *Engine) count(c *int64) {
	if !e.muted {
		*c++
	}
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// findGroup returns the open window starting at start, or nil and the
// position where it belongs in e.groups.
func (e *Engine) findGroup(start int64) (*group, int) {
	if g := e.lastGroup; g != nil && g.win.Start == start {
		return g, 0
	}
	i, found := slices.BinarySearchFunc(e.groups, start, func(g *group, s int64) int {
		switch {
		case g.win.Start < s:
			return -1
		case g.win.Start > s:
			return 1
		}
		return 0
	})
	if found {
		return e.groups[i], i
	}
	return nil, i
}

// reset empties g for reuse by another window, keeping its memory unless the
// window used far less of it than it holds, so that one busy window does not
// pin large arrays for good.
func (g *group) reset() {
	g.dedup.clear()
	g.index.reset()
	if len(g.aggs)*8 < cap(g.aggs) {
		g.aggs = nil
	}
	g.aggs = g.aggs[:0]
}

// group returns the open window w, creating it in start order.
func (e *Engine) group(w window.Window) *group {
	g, i := e.findGroup(w.Start)
	if g != nil {
		e.lastGroup = g
		return g
	}
	if n := len(e.spareGrps); n > 0 {
		g, e.spareGrps = e.spareGrps[n-1], e.spareGrps[:n-1]
	} else {
		g = &group{}
	}
	g.win, g.minOffset = w, math.MaxInt64
	e.groups = slices.Insert(e.groups, i, g)
	e.lastGroup = g
	return g
}

func (e *Engine) aggregate(g *group, r *Record, now int64, keys *recordKeys) {
	idx, ok := g.index.find(keys.devCat)
	if !ok {
		dev := e.devices.acquire(r.Event.DeviceID, keys.dev)
		cat := e.categories.acquire(r.Event.Category, keys.cat)
		idx = int32(len(g.aggs))
		g.aggs = append(g.aggs, aggState{dev: dev, cat: cat})
		g.index.insert(keys.devCat, idx)
		e.open++
	}
	st := &g.aggs[idx]
	st.sum1 += r.Event.Measure1
	st.sum2, st.comp = addCompensated(st.sum2, st.comp, r.Event.Measure2)
	st.count++
	g.minOffset = min(g.minOffset, r.Offset)
	if e.spec.Output != Update {
		return
	}
	if e.spec.EmitPerRecord {
		e.emit(g, st, false, now)
		return
	}
	if !st.dirty {
		st.dirty = true
		e.dirty = append(e.dirty, aggRef{g, idx})
	}
}

// addCompensated adds x to the double-double s+c (Knuth's TwoSum keeps the
// exact rounding error of each addition in c). The rounded s+c is the exact
// sum unless that needs more than about 106 significant bits, so the order
// records arrive in does not change the result in practice, which a plain
// float64 sum would.
func addCompensated(s, c, x float64) (float64, float64) {
	t := s + x
	bp := t - s
	return t, c + ((s - (t - bp)) + (x - bp))
}

func (e *Engine) emit(g *group, st *aggState, final bool, now int64) {
	sum2 := st.sum2 + st.comp
	if math.IsInf(st.sum2, 0) {
		sum2 = st.sum2 // the compensation of an overflowed sum is NaN
	}
	// Field by field, every field: a composite literal would be built on
	// the stack and copied, which costs more than the rest of the emission.
	res := &e.res
	res.Window = g.win
	res.DeviceID, res.Category = e.devices.names[st.dev], e.categories.names[st.cat]
	res.SumMeasure1, res.SumMeasure2, res.Count, res.Revision = st.sum1, sum2, st.count, st.count
	res.Final, res.EmitTime, res.Partition = final, now, e.partition
	st.dirty = false
	if e.muted {
		return
	}
	e.stats.Results++
	e.sink.Result(&e.res)
}

func (e *Engine) emitDirty(now int64) {
	for _, d := range e.dirty {
		// Entries of aggregates that were emitted final and evicted, or
		// emitted twice through a recycled group, are no longer dirty (or
		// no longer there): skipped.
		if int(d.idx) < len(d.g.aggs) {
			if st := &d.g.aggs[d.idx]; st.dirty {
				e.emit(d.g, st, false, now)
			}
		}
	}
	e.dirty = e.dirty[:0]
}

// evict emits and drops the windows the watermark closed for good and
// forgets the dedup entries it passed.
func (e *Engine) evict(now int64) {
	n := 0
	for n < len(e.groups) && e.groups[n].win.End+e.lateness <= e.wm {
		n++
	}
	if n > 0 {
		// Names that were unused since the previous eviction go now; names
		// freed by this one wait a round, as their devices usually send again.
		e.devices.sweep()
		e.categories.sweep()
		for _, g := range e.groups[:n] {
			for i := range g.aggs {
				st := &g.aggs[i]
				e.emit(g, st, true, now)
				e.devices.release(st.dev)
				e.categories.release(st.cat)
			}
			if g == e.lastGroup {
				e.lastGroup = nil
			}
			e.open -= len(g.aggs)
			g.reset()
			e.spareGrps = append(e.spareGrps, g)
		}
		e.groups = append(e.groups[:0], e.groups[n:]...)
	}

	e.evictedAt = e.wm
	n = 0
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
