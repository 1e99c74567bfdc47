package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"go.uber.org/zap"

	"github.com/boontadata/boontadata/pkg/engine"
	"github.com/boontadata/boontadata/pkg/job"
	"github.com/boontadata/boontadata/pkg/logging"
	"github.com/boontadata/boontadata/pkg/retry"
	"github.com/boontadata/boontadata/services/aggregator-worker/internal/stream"
)

// Marker is the part of a consumer group session a partition needs: offsets
// are marked here and committed by the session's committer.
type Marker interface {
	MarkOffset(topic string, partition int32, offset int64, metadata string)
	ResetOffset(topic string, partition int32, offset int64, metadata string)
}

// partition runs one engine over one claimed partition, on one goroutine.
type partition struct {
	spec   job.Spec
	espec  engine.Spec
	topic  string
	id     int32
	eng    *engine.Engine
	out    *stream.Buffer
	writer stream.ResultWriter
	poison stream.Poisoner
	retry  retry.Policy
	log    *zap.Logger
	now    func() time.Time

	recs []engine.Record
	// ended is set when handle passed the run's end-of-run marker: the
	// runner ticks at once instead of at the next tick.
	ended bool

	// One write at a time, apart from the partition's goroutine, which
	// reads and processes on: taken holds what is being written (or failed
	// to be, to be written again first), takenAt the offset and metadata
	// to mark once it is written. done receives the write's outcome; due
	// is set when a write was asked for while one was in flight.
	taken    stream.Taken
	takenAt  markPoint
	held     bool // taken holds results or decisions not written yet
	inflight bool
	done     chan writeDone
	cancel   context.CancelFunc
	due      bool

	// Watermark sharing (ScopeMin, ScopeGlobal): marks go through the hub.
	hub        *Hub
	partitions int
	lastActive int64 // processing time of the last record of the job's run, or the claim

	nextOffset int64 // after the last record handled (-1: none yet)
	// start is the offset the claim reads from (-1: unknown): until a
	// record comes, the lag is counted from it.
	start int64

	// Hand-over from the partition's previous owners: carried is what they
	// counted below carried.Next, which the commit metadata brought.
	// Records below it are replayed (to rebuild the open state) but not
	// counted again; base is the engine's count when the replay ended.
	carried   tally
	replaying bool
	base      engine.Stats

	// watch notices a freeze of the worker after claimed; then the
	// partition is fenced and writes nothing more.
	watch   *freezeWatch
	claimed time.Time
	fenced  bool

	mu   sync.Mutex
	snap job.PartitionProgress
}

func newPartition(spec job.Spec, espec engine.Spec, topic string, id int32, deps partitionDeps) (*partition, error) {
	log := deps.log.With(zap.Int32(logging.KeyPartition, id))
	p := &partition{
		spec: spec, espec: espec, topic: topic, id: id, out: stream.NewBuffer(),
		writer: deps.writer, now: deps.now, log: log, retry: deps.retry,
		poison: stream.Poisoner{DLQ: deps.dlq, DeadTopic: deps.deadTopic, RejectedBy: "aggregator-worker/" + spec.ID,
			Retry: deps.retry, Log: log, Now: deps.now},
		nextOffset: -1, start: -1,
		hub: deps.hub, partitions: deps.partitions, lastActive: deps.now().UnixMilli(),
		watch: deps.watch, claimed: deps.now(), done: make(chan writeDone, 1),
	}
	eng, err := engine.New(espec, id, p.out)
	if err != nil {
		return nil, err
	}
	p.eng = eng
	p.snap.Partition = id
	return p, nil
}

type partitionDeps struct {
	writer    stream.ResultWriter
	dlq       stream.DeadLetter
	deadTopic string
	retry     retry.Policy
	log       *zap.Logger
	now       func() time.Time
	// hub shares watermarks between workers; partitions is the number of
	// partitions of the events topic, which a shared watermark spans.
	hub        *Hub
	partitions int
	// watch notices that the worker stood still (nil: never).
	watch *freezeWatch
}

// restore prepares the engine to rebuild its state from the committed offset.
func (p *partition) restore(m commitMeta) error {
	if m.Tally != nil {
		p.carried = *m.Tally
		p.replaying = true
		p.mu.Lock()
		p.snap.Poison, p.snap.OtherRuns, p.snap.ResultsWritten = p.carried.Poison, p.carried.OtherRuns, p.carried.Written
		p.mu.Unlock()
	}
	if m.Checkpoint == nil {
		return nil // at-least-once delivery: no engine state to restore
	}
	return p.eng.Restore(*m.Checkpoint)
}

// begin sets where the claim reads from and takes the first snapshot of the
// progress, before any report can name the partition.
func (p *partition) begin(start, highWatermark int64) {
	p.start = start
	p.updateProgress(highWatermark)
}

// endReplay notes that the records from here on were not counted by a
// previous owner; the records before go to the engine first.
func (p *partition) endReplay() {
	p.eng.ProcessBatch(p.recs)
	p.recs = p.recs[:0]
	p.replaying = false
	p.base = p.eng.Stats()
}

// handle processes the records of msgs, in offset order, handing the valid
// ones to the engine in batches. Only a failure to dead-letter a poison
// record is an error: that record must not be committed past, and the
// offset returned is its own.
func (p *partition) handle(ctx context.Context, msgs []*sarama.ConsumerMessage) (int64, error) {
	now := p.now()
	p.recs = p.recs[:0]
	others := 0
	for _, msg := range msgs {
		if p.replaying && msg.Offset >= p.carried.Next {
			p.endReplay()
		}
		// A record a previous owner handled: replayed, not counted again.
		replayed := p.replaying
		p.nextOffset = msg.Offset + 1
		p.recs = append(p.recs, engine.Record{})
		kind, err := stream.Decode(msg, p.spec.RunID, now.UnixMilli(), &p.recs[len(p.recs)-1])
		if kind == stream.Event {
			continue
		}
		p.recs = p.recs[:len(p.recs)-1]
		switch kind {
		case stream.OtherRun:
			if !replayed {
				others++
			}
		case stream.EndOfRun:
			// The end of the job's run ends this partition's input: the
			// records before it go first.
			p.eng.ProcessBatch(p.recs)
			p.recs = p.recs[:0]
			p.eng.EndInput(now.UnixMilli())
			p.ended = true
			p.log.Debug("end of run", zap.Int64(logging.KeyOffset, msg.Offset))
		case stream.Poison:
			p.eng.ProcessBatch(p.recs) // the records before it go first
			p.recs = p.recs[:0]
			if replayed {
				continue // the previous owner dead-lettered it before it marked past it
			}
			if err := p.poison.Send(ctx, msg, err); err != nil {
				return msg.Offset, err
			}
			p.mu.Lock()
			p.snap.Poison++
			p.mu.Unlock()
		}
	}
	if len(p.recs) > 0 {
		p.lastActive = now.UnixMilli()
	}
	p.eng.ProcessBatch(p.recs)
	clear(p.recs) // drop the references into the messages
	p.mu.Lock()
	p.snap.OtherRuns += int64(others)
	if len(msgs) > others {
		p.snap.LastRecordTime = now
	}
	p.mu.Unlock()
	return 0, nil
}

// advance moves processing time to now, and the watermark. With a
// watermark shared between partitions (ScopeMin, ScopeGlobal), it first
// publishes this partition's mark and takes the combined watermark, as
// Flink's periodic watermark emission does on its timer.
func (p *partition) advance() {
	now := p.now().UnixMilli()
	if p.shared() {
		mark := p.eng.Mark()
		mark.Partition = p.id
		idle := p.espec.IdleTimeout.Milliseconds()
		mark.Idle = idle > 0 && !mark.Ended && now-p.lastActive >= idle
		p.hub.report(p.spec.ID, mark)
		p.eng.SetWatermark(p.hub.combined(p.spec.ID, p.espec.Scope, p.eng.Watermark(), p.partitions))
	}
	p.eng.Advance(now)
}

// shared reports whether the watermark spans the partitions.
func (p *partition) shared() bool {
	return p.hub != nil && p.espec.Time != engine.ProcessingTime &&
		(p.espec.Scope == engine.ScopeMin || p.espec.Scope == engine.ScopeGlobal)
}

// flush writes the pending results, retrying with backoff while ctx lasts,
// then marks the offset the partition may commit. It never marks past a
// result that is not written: on error nothing is marked, and nothing is
// dropped.
func (p *partition) flush(ctx context.Context, m Marker) error {
	p.due = false
	for {
		if err := p.await(ctx, m); err != nil {
			if !errors.Is(err, errWriteStopped) || ctx.Err() != nil {
				return err
			}
			// The write in flight stopped with the context it started
			// with (the session's, which ended): write it again with ctx.
		}
		if err := p.startWrite(ctx, m); err != nil {
			return err
		}
		if !p.inflight {
			return nil // nothing was left to write: marked
		}
	}
}

// write starts writing what waits, or, with a write in flight, notes that
// the next one is due as soon as it ends (written asks for it).
func (p *partition) write(ctx context.Context, m Marker) error {
	if p.inflight {
		p.due = true
		return nil
	}
	return p.startWrite(ctx, m)
}

// writeNow waits for the write in flight, if any, then starts writing
// what waits.
func (p *partition) writeNow(ctx context.Context, m Marker) error {
	if err := p.await(ctx, m); err != nil {
		return err
	}
	p.due = false
	return p.startWrite(ctx, m)
}

// written completes the write in flight with its outcome, then starts the
// write that became due meanwhile.
func (p *partition) written(ctx context.Context, d writeDone, m Marker) error {
	if err := p.complete(d, m); err != nil {
		return err
	}
	if p.due {
		p.due = false
		return p.startWrite(ctx, m)
	}
	return nil
}

// writeDone is the outcome of a write: results written, or the error and
// whether the write's context had ended.
type writeDone struct {
	n       int
	err     error
	stopped bool
}

// errWriteStopped is returned when a write failed because its context ended.
var errWriteStopped = errors.New("write stopped")

// markPoint is an offset to mark and its commit metadata.
type markPoint struct {
	offset int64
	meta   string
	ok     bool // false: nothing handled, nothing to mark
}

// startWrite takes what the engine emitted and writes it on its own
// goroutine, retrying while ctx lasts; the partition marks its offset when
// the write is done (written, await). A write that failed is written again
// first. With nothing to write, the offset is marked at once. A write must
// not be in flight.
func (p *partition) startWrite(ctx context.Context, m Marker) error {
	if froze, gap := p.watch.frozeSince(p.claimed); froze || p.fenced {
		if !p.fenced {
			p.fenced = true
			p.log.Warn("worker stood still past its consumer group session: this partition writes nothing more",
				zap.Duration("stood_still", gap), zap.Int("results_dropped", p.out.Results()+p.taken.Results()))
		}
		return ErrFenced
	}
	if !p.held {
		p.out.Take(&p.taken)
		p.takenAt = p.markPoint(p.taken.Results())
		if p.taken.Empty() {
			p.mark(m, p.takenAt)
			return nil
		}
		p.held = true
	}
	wctx, cancel := context.WithCancel(ctx)
	p.inflight, p.cancel = true, cancel
	go func() {
		n, err := p.taken.Write(wctx, p.writer, p.spec.RunID, p.spec.ID, p.retry, p.log)
		p.done <- writeDone{n: n, err: err, stopped: err != nil && wctx.Err() != nil}
	}()
	return nil
}

// await waits for the write in flight, if any, and completes it. When ctx
// ends first, the write is stopped; what it did not write stays held.
func (p *partition) await(ctx context.Context, m Marker) error {
	if !p.inflight {
		return nil
	}
	select {
	case d := <-p.done:
		return p.complete(d, m)
	case <-ctx.Done():
		p.cancel()
		if err := p.complete(<-p.done, m); err != nil {
			return err
		}
		return ctx.Err()
	}
}

// complete takes the outcome of the write in flight: on success the
// partition marks the offset taken with it.
func (p *partition) complete(d writeDone, m Marker) error {
	p.inflight = false
	p.cancel()
	if d.stopped {
		return fmt.Errorf("offset not committed: %w: %w", errWriteStopped, d.err)
	}
	if d.err != nil {
		return fmt.Errorf("offset not committed: %w", d.err)
	}
	p.held = false
	p.mu.Lock()
	p.snap.ResultsWritten += int64(d.n)
	p.snap.LastWriteTime = p.now()
	p.mu.Unlock()
	p.mark(m, p.takenAt)
	return nil
}

// markPoint is the offset to commit once what the engine emitted so far
// (written of it taken to be written) is written: for exactly-once effect
// the first offset the open state still needs, with the engine checkpoint
// in the metadata; for at-least-once the offset after the last record
// handled. The metadata also carries the partition's tally, for its next
// owner.
func (p *partition) markPoint(written int) markPoint {
	if p.nextOffset < 0 {
		return markPoint{} // nothing handled: the commit found at the claim stays
	}
	off := p.nextOffset
	var cm commitMeta
	if p.espec.Delivery == engine.ExactlyOnce {
		if needed, ok := p.eng.MinOffsetNeeded(); ok {
			off = min(off, needed)
		}
		cp := p.eng.Checkpoint()
		cm.Checkpoint = &cp
	}
	st := p.eng.Stats()
	p.mu.Lock()
	t := p.tallyLocked(&st)
	p.mu.Unlock()
	t.Written += int64(written)
	cm.Tally = &t
	meta := ""
	if b, err := json.Marshal(cm); err == nil {
		meta = string(b)
	}
	return markPoint{offset: off, meta: meta, ok: true}
}

// mark sets the offset to commit and its metadata.
func (p *partition) mark(m Marker, at markPoint) {
	if !at.ok {
		return
	}
	// MarkOffset only moves forward and ResetOffset only backward; both
	// together set exactly this offset and metadata.
	m.MarkOffset(p.topic, p.id, at.offset, at.meta)
	m.ResetOffset(p.topic, p.id, at.offset, at.meta)
	p.mu.Lock()
	p.snap.CommittedOffset = at.offset
	p.mu.Unlock()
}

// progress returns a snapshot for the progress report; it may run on
// another goroutine than the partition's.
func (p *partition) progress() job.PartitionProgress {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.snap
}

// tallyLocked is what the partition's owners counted so far, this one
// included: the carried tally, plus what the engine counted since the replay
// ended. The caller holds p.mu.
func (p *partition) tallyLocked(st *engine.Stats) tally {
	t := p.carried
	if !p.replaying {
		t.Records += st.Records - p.base.Records
		t.Accepted += st.Accepted - p.base.Accepted
		t.Late += st.Late - p.base.Late
		t.Duplicates += st.Duplicates - p.base.Duplicates
		t.Placed += st.Placed - p.base.Placed
		t.Results += st.Results - p.base.Results
	}
	t.Poison, t.OtherRuns, t.Written = p.snap.Poison, p.snap.OtherRuns, p.snap.ResultsWritten
	t.Ended = t.Ended || p.eng.Ended()
	t.Next = max(t.Next, p.nextOffset)
	return t
}

// updateProgress refreshes the engine's figures in the snapshot, on the
// partition's goroutine. Counts are the partition's, over all its owners.
func (p *partition) updateProgress(highWatermark int64) {
	st := p.eng.Stats()
	p.mu.Lock()
	defer p.mu.Unlock()
	next := p.nextOffset
	if next < 0 {
		next = p.start // nothing read yet: the lag is what the claim has to read
	}
	p.snap.NextOffset = next
	p.snap.HighWatermark = highWatermark
	if next >= 0 {
		p.snap.Lag = max(0, highWatermark-next)
	} else {
		p.snap.Lag = highWatermark
	}
	t := p.tallyLocked(&st)
	p.snap.Watermark = max(0, st.Watermark) // none yet: below zero
	p.snap.Records = t.Records
	p.snap.Accepted = t.Accepted
	p.snap.Late = t.Late
	p.snap.Duplicates = t.Duplicates
	p.snap.Placed = t.Placed
	p.snap.Ended = t.Ended && st.OpenWindows == 0 && p.out.Results() == 0 && !p.held
	p.snap.ResultsEmitted = t.Results
	p.snap.OpenWindows = st.OpenWindows
	p.snap.OpenStates = st.OpenStates
	p.snap.DedupEntries = st.DedupEntries
}
