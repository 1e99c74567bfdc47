package engine

import (
	"fmt"
	"math"
	"slices"

	"github.com/boontadata/boontadata/pkg/engine/internal/dedup"
	"github.com/boontadata/boontadata/pkg/engine/internal/hashkey"
	"github.com/boontadata/boontadata/pkg/engine/internal/intern"
	"github.com/boontadata/boontadata/pkg/engine/window"
)

// This file is the semantics: how a record is judged, counted and emitted,
// and how the watermark moves. The state it works on lives in openwindow.go
// (open windows and their aggregates) and expiry.go (ids remembered until
// the watermark); lookahead.go is ProcessBatch, replay.go the muting of a
// restored engine, and the tables are packages of internal/.

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
	advanced   bool // the last call was an Advance (Checkpoint.AfterAdvance)
	nextOffset int64

	devices, categories intern.Table

	// Aggregates live in the open window they belong to
	// (openWindow.aggs); openAggs counts them.
	openAggs int
	// windows are the open windows, oldest first.
	windows      []*openWindow
	spareWindows []*openWindow
	lastWindow   *openWindow
	dirty        []aggRef // update mode: aggregates changed since their last emission

	// dedup holds the ids of DedupWithinBatch (cleared by Advance) and
	// DedupUntilWatermark (expiring under the watermark; buckets count them
	// by expiry); DedupWithinWindow ids live in their open window.
	dedup        dedup.Set // key -> offset of the counted copy
	dedupLive    int       // live DedupUntilWatermark entries
	evictedAt    int64     // the watermark of the last eviction: ids expire under it
	buckets      []*bucket
	spareBuckets []*bucket
	lastBucket   *bucket
	batchMin     int64 // lowest offset in this batch's dedup entries
	hasher       hashkey.Hasher

	// marks: watermark of each micro-batch still needed by a restart.
	marks []BatchMark
	// replay is the state of a restored engine until it passes its
	// checkpoint: muted emissions, and the marks of the batches replayed.
	replay replay

	winBuf []window.Window
	res    Result
	dec    Decision
	stats  Stats
	// nextEmit is the processing time of the next emission of changed
	// windows (EmitInterval).
	nextEmit int64
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
		hasher:    hashkey.NewHasher(),
		winBuf:    make([]window.Window, 0, asg.MaxWindows()),
	}
	// Expiries are rounded to the slide (roundExpiry): the slots count in it.
	e.dedup.SetUnit(asg.Slide())
	return e, nil
}

// Spec returns the job spec.
func (e *Engine) Spec() Spec { return e.spec }

// Watermark returns the current watermark in ms (math.MinInt64 before any).
func (e *Engine) Watermark() int64 { return e.wm }

// Process counts one record, or drops it with a Decision. Records of a
// partition must come in offset order.
func (e *Engine) Process(r *Record) {
	var k hashkey.Keys
	e.keys(r, &k)
	e.process(r, &k)
}

// keys hashes what r is looked up by: its message id (when the spec
// deduplicates), and its device and category.
func (e *Engine) keys(r *Record, k *hashkey.Keys) {
	e.hasher.Record(k, r.Event.MessageID, r.Event.DeviceID, r.Event.Category, e.spec.Dedup != DedupNone)
}

func (e *Engine) process(r *Record, keys *hashkey.Keys) {
	if e.replay.passed(r.Offset) {
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
	for len(e.replay.batches) > 0 && e.replay.batches[0].FirstOffset <= r.Offset {
		// While replaying, the watermark this batch first ran under; once
		// live, a watermark given since by SetWatermark (the driver's, for
		// the batch now running) is newer than the mark the checkpoint took.
		b := &e.replay.batches[0]
		if e.replay.muted {
			e.wm, e.lateWm = b.Watermark, b.Late
		} else {
			e.wm, e.lateWm = max(e.wm, b.Watermark), max(e.lateWm, b.Late)
		}
		e.replay.batches = e.replay.batches[1:]
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

	k := keys.ID
	switch e.spec.Dedup {
	case DedupWithinBatch, DedupUntilWatermark:
		expiry := int64(dedup.NoExpiry)
		if e.spec.Dedup == DedupUntilWatermark {
			// Remembered while a copy could still count, and at least
			// DedupHorizon: a function of the record alone, so a restarted
			// engine forgets ids exactly when the first one did.
			expiry = e.roundExpiry(max(ts+e.horizon, newest.End+e.lateness))
		}
		if orig, dup := e.dedup.Insert(k, r.Offset, expiry, e.evictedAt); dup {
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
		ow := e.windowFor(w)
		if e.spec.Dedup == DedupWithinWindow {
			if orig, dup := ow.dedup.Insert(k, r.Offset, dedup.NoExpiry, noTime); dup {
				e.count(&e.stats.Duplicates)
				e.decide(r, DuplicateDropped, ReasonSeenInWindow, ts, w, orig)
				continue
			}
		}
		e.aggregate(ow, r, now, keys)
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

// Advance tells the engine that processing time is now: a timer tick in
// continuous mode, the end of the batch triggered at now in micro-batch mode.
// It emits what became due: final results of closed windows, update-mode
// results of changed windows.
func (e *Engine) Advance(now int64) {
	switch e.replay.atAdvance(e.nextOffset, e.stats.Records > 0) {
	case replayRepeatsAdvance:
		// The Advance the checkpoint followed: rebuild, silently.
		e.advance(now)
		e.replay.muted = false
		return
	case replayEnds:
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
		e.emitDue(now)
	default:
		// The watermark moved with the records (ScopePartition) or with
		// SetWatermark: close what it passed, emit what changed.
		e.evict(now)
		e.emitDue(now)
	}
	if e.spec.Dedup == DedupWithinBatch {
		e.dedup.Clear()
		e.batchMin = math.MaxInt64
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
	e.dedup.Clear()
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
	for _, ow := range e.windows {
		m = min(m, ow.minOffset)
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
	e.replay.start(cp)
	e.marks = slices.Clone(cp.Batches)
	e.lateWm = cp.LateWatermark
	if len(e.replay.batches) > 0 {
		// Until the first replayed record says otherwise, the oldest batch.
		e.wm, e.lateWm = e.replay.batches[0].Watermark, e.replay.batches[0].Late
	}
	return nil
}

// Stats returns counters and the size of the open state.
func (e *Engine) Stats() Stats {
	s := e.stats
	s.OpenStates = e.openAggs
	s.OpenWindows = len(e.windows)
	s.DedupEntries = e.dedupLive
	if e.spec.Dedup == DedupWithinBatch {
		s.DedupEntries = e.dedup.Used()
	}
	for _, ow := range e.windows {
		s.DedupEntries += ow.dedup.Used()
	}
	s.Watermark = e.wm
	return s
}

func (e *Engine) decide(r *Record, kind DecisionKind, reason Reason, ts int64, w window.Window, orig int64) {
	if e.replay.muted {
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
	if !e.replay.muted {
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

// aggregate counts r in its aggregate of the open window ow, opening the
// aggregate if needed, and emits it or marks it changed as the output mode
// says.
func (e *Engine) aggregate(ow *openWindow, r *Record, now int64, keys *hashkey.Keys) {
	idx, ok := ow.index.Find(keys.DevCat)
	if !ok {
		dev := e.devices.Acquire(r.Event.DeviceID, keys.Dev)
		cat := e.categories.Acquire(r.Event.Category, keys.Cat)
		idx = int32(len(ow.aggs))
		ow.aggs = append(ow.aggs, aggState{dev: dev, cat: cat})
		ow.index.Insert(keys.DevCat, idx)
		e.openAggs++
	}
	st := &ow.aggs[idx]
	st.sum1 += r.Event.Measure1
	st.sum2, st.comp = addCompensated(st.sum2, st.comp, r.Event.Measure2)
	st.count++
	ow.minOffset = min(ow.minOffset, r.Offset)
	if e.spec.Output != Update {
		return
	}
	if e.spec.EmitPerRecord {
		e.emit(ow, st, false, now)
		return
	}
	if !st.dirty {
		st.dirty = true
		e.dirty = append(e.dirty, aggRef{ow, idx})
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

func (e *Engine) emit(ow *openWindow, st *aggState, final bool, now int64) {
	sum2 := st.sum2 + st.comp
	if math.IsInf(st.sum2, 0) {
		sum2 = st.sum2 // the compensation of an overflowed sum is NaN
	}
	// Field by field, every field: a composite literal would be built on
	// the stack and copied, which costs more than the rest of the emission.
	res := &e.res
	res.Window = ow.win
	res.DeviceID, res.Category = e.devices.Name(st.dev), e.categories.Name(st.cat)
	res.SumMeasure1, res.SumMeasure2, res.Count, res.Revision = st.sum1, sum2, st.count, st.count
	res.Final, res.EmitTime, res.Partition = final, now, e.partition
	st.dirty = false
	if e.replay.muted {
		return
	}
	e.stats.Results++
	e.sink.Result(&e.res)
}

// emitDue emits the changed windows at an Advance, at most once per
// EmitInterval. Until they are emitted, the engine is not "after an
// Advance" for its checkpoint: a restore re-emits every open window.
func (e *Engine) emitDue(now int64) {
	if iv := e.spec.EmitInterval.Milliseconds(); iv > 0 {
		if now < e.nextEmit {
			e.advanced = len(e.dirty) == 0
			return
		}
		e.nextEmit = now + iv
	}
	e.emitDirty(now)
}

func (e *Engine) emitDirty(now int64) {
	for _, d := range e.dirty {
		// Entries of aggregates that were emitted final and evicted, or
		// emitted twice through a recycled open window, are no longer dirty
		// (or no longer there): skipped.
		if int(d.idx) < len(d.ow.aggs) {
			if st := &d.ow.aggs[d.idx]; st.dirty {
				e.emit(d.ow, st, false, now)
			}
		}
	}
	e.dirty = e.dirty[:0]
}

// evict emits and drops the windows the watermark closed for good and
// forgets the dedup entries it passed.
func (e *Engine) evict(now int64) {
	n := 0
	for n < len(e.windows) && e.windows[n].win.End+e.lateness <= e.wm {
		n++
	}
	if n > 0 {
		// Names that were unused since the previous eviction go now; names
		// freed by this one wait a round, as their devices usually send again.
		e.devices.Sweep()
		e.categories.Sweep()
		for _, ow := range e.windows[:n] {
			for i := range ow.aggs {
				st := &ow.aggs[i]
				e.emit(ow, st, true, now)
				e.devices.Release(st.dev)
				e.categories.Release(st.cat)
			}
			e.recycle(ow)
		}
		e.windows = append(e.windows[:0], e.windows[n:]...)
	}
	e.expireIDs()
}
