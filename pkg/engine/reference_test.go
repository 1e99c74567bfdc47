package engine

import (
	"math"

	"github.com/boontadata/boontadata/pkg/engine/window"
)

// The reference engine: the rules of docs/engine.md written as plainly as
// possible, with Go maps and slices, one record at a time, so that the
// optimised engine (its tables, batching and prefetch) can be checked
// against it on random inputs (reference_fuzz_test.go). It shares nothing
// with the engine's code but the exported types; in particular it combines
// the partitions' watermarks with its own min and max, not with Combine, so
// that Combine is checked too.
//
// Where docs/engine.md leaves a rule open, the choice made here is written
// down where it is made, marked "Open in the docs".

// refKey is a (device, category) pair.
type refKey struct{ dev, cat string }

// refAgg is the aggregate of one (device, category, window).
type refAgg struct {
	m1    int64
	m2    float64 // inputs are exact in float64: a plain sum is the exact sum
	n     int64
	dirty bool // changed since its last emission (update mode)
}

// refWindow is one open window of a partition.
type refWindow struct {
	aggs map[refKey]*refAgg
	ids  map[string]int64 // DedupWithinWindow: id → offset of the counted copy
}

// refID is an id remembered until the watermark reaches its expiry.
type refID struct{ offset, expiry int64 }

// refEngine is the reference of one partition's Engine.
type refEngine struct {
	spec Spec
	part int32
	sink Sink

	size, slide, lateness, delay, horizon, interval int64

	// wm is the watermark state is evicted with: math.MinInt64 before any,
	// math.MaxInt64 after Flush.
	wm int64
	// lateWM is the watermark records are judged against: wm in
	// continuous mode; in micro-batch mode the watermark of the batch
	// before (Spark's eventTimeWatermarkForLateEvents), while wm is the
	// running batch's (eventTimeWatermarkForEviction).
	lateWM int64
	// maxTime is the highest record time seen, over every record given to
	// Process (counted or not): the partition's own generator.
	maxTime int64
	seen    bool
	ended   bool

	windows  map[window.Window]*refWindow
	batchIDs map[string]int64 // DedupWithinBatch: id → offset
	untilIDs map[string]refID // DedupUntilWatermark

	stats Stats
}

func newRefEngine(spec Spec, part int32, sink Sink) *refEngine {
	return &refEngine{
		spec: spec, part: part, sink: sink,
		size: spec.WindowSize.Milliseconds(), slide: spec.WindowSlide.Milliseconds(),
		lateness: spec.AllowedLateness.Milliseconds(), delay: spec.WatermarkDelay.Milliseconds(),
		horizon: spec.DedupHorizon.Milliseconds(), interval: spec.TriggerInterval.Milliseconds(),
		wm:       math.MinInt64,
		lateWM:   math.MinInt64,
		windows:  map[window.Window]*refWindow{},
		batchIDs: map[string]int64{},
		untilIDs: map[string]refID{},
	}
}

// refFloorDiv is a/b rounded towards minus infinity.
func refFloorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// windowsOf lists the windows [k·slide, k·slide+size) containing t, oldest
// first.
func (e *refEngine) windowsOf(t int64) []window.Window {
	var ws []window.Window
	for s := refFloorDiv(t, e.slide) * e.slide; s+e.size > t; s -= e.slide {
		ws = append([]window.Window{{Start: s, End: s + e.size}}, ws...)
	}
	return ws
}

// newest is the newest window containing t.
func (e *refEngine) newest(t int64) window.Window {
	s := refFloorDiv(t, e.slide) * e.slide
	return window.Window{Start: s, End: s + e.size}
}

// refClosed: the window ended, plus the allowed lateness, at or before wm.
func refClosed(w window.Window, lateness, wm int64) bool { return w.End+lateness <= wm }

// timeOf is the record's time in the spec's time mode; in micro-batch mode
// processing time is the start of the record's batch, the trigger interval
// of processing time that contains the record's processing time (batches are
// cut at multiples of the interval since the epoch).
func (e *refEngine) timeOf(r *Record) int64 {
	switch e.spec.Time {
	case EventTime:
		return r.Event.DeviceTime
	case IngestionTime:
		return r.IngestionTime
	}
	if e.spec.Trigger == MicroBatch {
		return refFloorDiv(r.ProcessingTime, e.interval) * e.interval
	}
	return r.ProcessingTime
}

// raise moves the watermark up, never down; in continuous mode records are
// judged against it at once.
func (e *refEngine) raise(wm int64) {
	e.wm = max(e.wm, wm)
	if e.spec.Trigger == Continuous {
		e.lateWM = e.wm
	}
}

// ownMark is the partition's own max(time) − delay.
func (e *refEngine) ownMark() int64 {
	if !e.seen {
		return math.MinInt64
	}
	return e.maxTime - e.delay
}

// decide emits a decision. Open in the docs: OriginalOffset is only defined
// for duplicates; the others carry -1.
func (e *refEngine) decide(r *Record, kind DecisionKind, reason Reason, t int64, w window.Window, orig int64) {
	switch kind {
	case DuplicateDropped:
		e.stats.Duplicates++
	case LateDropped:
		e.stats.Late++
	case Placed:
		e.stats.Placed++
	}
	e.sink.Decision(&Decision{
		Kind: kind, Reason: reason,
		MessageID: []byte(string(r.Event.MessageID)), DeviceID: []byte(string(r.Event.DeviceID)),
		Category: []byte(string(r.Event.Category)), Partition: e.part, Offset: r.Offset,
		Time: t, DeviceTime: r.Event.DeviceTime, Measure1: r.Event.Measure1, Measure2: r.Event.Measure2,
		Window: w, Watermark: e.lateWM, OriginalOffset: orig, EmitTime: r.ProcessingTime,
	})
}

func (e *refEngine) emit(w window.Window, k refKey, a *refAgg, final bool, now int64) {
	e.stats.Results++
	a.dirty = false
	e.sink.Result(&Result{
		Window: w, DeviceID: k.dev, Category: k.cat, SumMeasure1: a.m1, SumMeasure2: a.m2,
		Count: a.n, Revision: a.n, Final: final, EmitTime: now, Partition: e.part,
	})
}

// evict emits the final result of every aggregate of every window that is
// closed under the current watermark, and drops the window with its ids.
// Open in the docs ("when it closes it is emitted once more with Final"):
// in update mode an aggregate changed since its last emission is emitted
// once, final, not once more unfinal before.
func (e *refEngine) evict(now int64) {
	for w, win := range e.windows {
		if !refClosed(w, e.lateness, e.wm) {
			continue
		}
		for k, a := range win.aggs {
			e.emit(w, k, a, true, now)
		}
		delete(e.windows, w)
	}
	for id, x := range e.untilIDs {
		if x.expiry <= e.wm {
			delete(e.untilIDs, id)
		}
	}
}

// Process counts one record or drops it with a Decision.
func (e *refEngine) Process(r *Record) {
	e.stats.Records++
	t := e.timeOf(r)
	if e.spec.Time == ProcessingTime && e.spec.Trigger == Continuous {
		// The watermark is the processing time: windows it closes are
		// emitted before the record. Open in the docs ("W = processing
		// time (each record and each Advance)"): in micro-batch mode it is
		// the time of the last Advance, fixed during the batch, and
		// math.MinInt64 during the first batch.
		e.raise(t)
		e.evict(r.ProcessingTime)
	}
	e.judge(r, t)
	e.seen = true
	e.maxTime = max(e.maxTime, t)
	if e.spec.Time != ProcessingTime && e.spec.Scope == ScopePartition && e.spec.Trigger == Continuous {
		// Kafka Streams' stream time: moved by every record, after the
		// record was judged; what it closes is emitted at once.
		e.raise(e.ownMark())
		e.evict(r.ProcessingTime)
	}
}

func (e *refEngine) judge(r *Record, t int64) {
	id := string(r.Event.MessageID)
	var open []window.Window
	for _, w := range e.windowsOf(t) {
		if !refClosed(w, e.lateness, e.lateWM) {
			open = append(open, w)
		}
	}
	last := e.newest(t)
	// Open in the docs: the order of the checks. Late is decided first (every
	// window closed, then the record's own time), then duplicates: a record
	// that is both is reported late.
	if len(open) == 0 {
		e.decide(r, LateDropped, ReasonWindowClosed, t, last, -1)
		return
	}
	if e.spec.LateByRecordTime && t <= e.lateWM {
		e.decide(r, LateDropped, ReasonBeforeWatermark, t, last, -1)
		return
	}
	switch e.spec.Dedup {
	case DedupWithinBatch:
		if orig, ok := e.batchIDs[id]; ok {
			e.decide(r, DuplicateDropped, ReasonSeenInBatch, t, last, orig)
			return
		}
	case DedupUntilWatermark:
		// Forgotten once the watermark reaches its expiry: in micro-batch
		// mode the ids expired under a batch's watermark are evicted at its
		// end, which is the watermark the next batch judges with.
		if old, ok := e.untilIDs[id]; ok && old.expiry > e.lateWM {
			e.decide(r, DuplicateDropped, ReasonSeenBeforeWatermark, t, last, old.offset)
			return
		}
	}
	key := refKey{dev: string(r.Event.DeviceID), cat: string(r.Event.Category)}
	var counted []window.Window
	for _, w := range open {
		win := e.windows[w]
		if e.spec.Dedup == DedupWithinWindow && win != nil {
			// Decided per window: a copy counts in the windows its
			// original did not reach.
			if orig, ok := win.ids[id]; ok {
				e.decide(r, DuplicateDropped, ReasonSeenInWindow, t, w, orig)
				continue
			}
		}
		if win == nil {
			win = &refWindow{aggs: map[refKey]*refAgg{}, ids: map[string]int64{}}
			e.windows[w] = win
		}
		if e.spec.Dedup == DedupWithinWindow {
			win.ids[id] = r.Offset
		}
		a := win.aggs[key]
		if a == nil {
			a = &refAgg{}
			win.aggs[key] = a
		}
		a.m1 += r.Event.Measure1
		a.m2 += r.Event.Measure2
		a.n++
		a.dirty = true
		counted = append(counted, w)
		if e.spec.Output == Update && e.spec.EmitPerRecord {
			e.emit(w, key, a, false, r.ProcessingTime)
		}
	}
	if len(counted) == 0 {
		return
	}
	e.stats.Accepted++
	switch e.spec.Dedup {
	case DedupWithinBatch:
		e.batchIDs[id] = r.Offset
	case DedupUntilWatermark:
		// Remembered until the watermark reaches both time + horizon and
		// the close of the record's newest window, rounded up to a whole
		// window slide. Open in the docs: docs/engine.md does not mention
		// the rounding; it only makes an id live longer.
		exp := max(t+e.horizon, last.End+e.lateness)
		exp = -refFloorDiv(-exp, e.slide) * e.slide
		e.untilIDs[id] = refID{offset: r.Offset, expiry: exp}
	}
	if e.spec.Time != EventTime && counted[len(counted)-1] != e.newest(r.Event.DeviceTime) {
		// Placed: counted elsewhere than by device time. Open in the docs
		// for sliding windows, where "counted in another window than its
		// device time's" could mean any window that does not contain the
		// device time: the rule here is that the newest window the record
		// counted in is not the newest window of its device time, and the
		// decision names that window (Decision.Window). So a record whose
		// newest window is its device time's is not placed, even if it also
		// counted in an older window its device time is not in.
		reason := ReasonIngestionTime
		if e.spec.Time == ProcessingTime {
			reason = ReasonProcessingTime
		}
		e.decide(r, Placed, reason, t, counted[len(counted)-1], -1)
	}
}

// Advance is a timer tick or the end of the micro-batch triggered at now.
func (e *refEngine) Advance(now int64) {
	if e.spec.Time == ProcessingTime {
		e.raise(now)
	}
	// Micro-batch: state is evicted with the watermark the batch ran under;
	// the next batch's watermark is computed after (here for the partition
	// scope, by the Local for min and global).
	e.evict(now)
	if e.spec.Output == Update {
		for w, win := range e.windows {
			for k, a := range win.aggs {
				if a.dirty {
					e.emit(w, k, a, false, now)
				}
			}
		}
	}
	if e.spec.Trigger == MicroBatch {
		clear(e.batchIDs)
		e.lateWM = e.wm
		if e.spec.Time != ProcessingTime && e.spec.Scope == ScopePartition {
			e.raise(e.ownMark())
		}
	}
}

// SetWatermark raises the watermark to the combined one (min and global).
func (e *refEngine) SetWatermark(wm int64) {
	if e.spec.Time != ProcessingTime {
		e.raise(wm)
	}
}

// EndInput: processing time and the partition scope close everything at
// once; min and global only mark the partition ended.
func (e *refEngine) EndInput(now int64) {
	e.ended = true
	if e.spec.Time == ProcessingTime || e.spec.Scope == ScopePartition {
		e.Flush(now)
	}
}

// Flush sets the watermark to +∞: every window closes, every id is
// forgotten.
func (e *refEngine) Flush(now int64) {
	e.wm, e.lateWM = math.MaxInt64, math.MaxInt64
	e.evict(now)
	clear(e.batchIDs)
	clear(e.untilIDs)
}

// Stats returns the counters and the open state.
func (e *refEngine) Stats() Stats {
	s := e.stats
	s.OpenWindows = len(e.windows)
	s.OpenStates = 0
	for _, win := range e.windows {
		s.OpenStates += len(win.aggs)
	}
	return s
}

// refLocal is the reference of Local: one refEngine per partition, the
// watermarks combined by scope.
type refLocal struct {
	spec    Spec
	engines []*refEngine
	// last is each partition's last record's processing time, or the time
	// of the first call: idleness counts from the start.
	last     []int64
	started  bool
	combined int64
}

func newRefLocal(spec Spec, partitions int, sink Sink) *refLocal {
	l := &refLocal{spec: spec, last: make([]int64, partitions), combined: math.MinInt64}
	for p := range partitions {
		l.engines = append(l.engines, newRefEngine(spec, int32(p), sink))
	}
	return l
}

func (l *refLocal) start(now int64) {
	if !l.started {
		l.started = true
		for p := range l.last {
			l.last[p] = now
		}
	}
}

func (l *refLocal) Process(r *Record) {
	l.start(r.ProcessingTime)
	l.last[r.Partition] = max(l.last[r.Partition], r.ProcessingTime)
	l.engines[r.Partition].Process(r)
}

func (l *refLocal) EndInput(p int32, now int64) {
	l.start(now)
	l.engines[p].EndInput(now)
}

// Advance: continuous, the combined watermark is given to every partition,
// then each emits what is due; micro-batch, each partition ends its batch,
// then the next batch's watermark is combined.
func (l *refLocal) Advance(now int64) {
	l.start(now)
	micro := l.spec.Trigger == MicroBatch
	if !micro {
		l.combine(now)
	}
	for _, e := range l.engines {
		e.Advance(now)
	}
	if micro {
		l.combine(now)
	}
}

// combine is docs/engine.md's table of scopes: min over the partitions that
// are neither idle nor ended (kept when none is active), max over all of
// them for global, +∞ once every partition ended, never going back.
func (l *refLocal) combine(now int64) {
	if l.spec.Time == ProcessingTime || l.spec.Scope == ScopePartition {
		return
	}
	idle := l.spec.IdleTimeout.Milliseconds()
	allEnded, active := true, false
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	for p, e := range l.engines {
		allEnded = allEnded && e.ended
		hi = max(hi, e.ownMark())
		if !e.ended && !(idle > 0 && now-l.last[p] >= idle) {
			lo, active = min(lo, e.ownMark()), true
		}
	}
	switch {
	case allEnded:
		l.combined = math.MaxInt64
	case l.spec.Scope == ScopeMin && active:
		l.combined = max(l.combined, lo)
	case l.spec.Scope == ScopeGlobal:
		l.combined = max(l.combined, hi)
	}
	for _, e := range l.engines {
		e.SetWatermark(l.combined)
	}
}

func (l *refLocal) Flush(now int64) {
	for _, e := range l.engines {
		e.Flush(now)
	}
}
