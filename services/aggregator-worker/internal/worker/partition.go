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
	"github.com/boontadata/boontadata/pkg/event"
	"github.com/boontadata/boontadata/pkg/job"
	"github.com/boontadata/boontadata/pkg/kafka"
	"github.com/boontadata/boontadata/pkg/logging"
	"github.com/boontadata/boontadata/pkg/retry"
)

// AnyRun is the run id under which a job without a run id stores results.
const AnyRun = "any"

// DeadLetter sends a record that cannot be processed to the dead-letter topic
// and returns once Kafka has it, so that committing past it loses nothing.
type DeadLetter interface {
	Send(msg *sarama.ProducerMessage) error
}

// Marker is the part of a consumer group session a partition needs: offsets
// are marked here and committed by the session's committer.
type Marker interface {
	MarkOffset(topic string, partition int32, offset int64, metadata string)
	ResetOffset(topic string, partition int32, offset int64, metadata string)
}

type resultKey struct {
	device, category string
	start            int64
}

// partition runs one engine over one claimed partition, on one goroutine.
type partition struct {
	spec      job.Spec
	espec     engine.Spec
	runID     string
	topic     string
	id        int32
	eng       *engine.Engine
	writer    ResultWriter
	dlq       DeadLetter
	deadTopic string
	log       *zap.Logger
	now       func() time.Time

	recs      []engine.Record
	pending   map[resultKey]engine.Result
	batch     []engine.Result
	decisions []Decision

	// Watermark sharing (ScopeMin, ScopeGlobal): marks go through the hub.
	hub        *hub
	partitions int
	lastActive int64 // processing time of the last record of the job's run, or the claim

	nextOffset int64 // after the last record handled (-1: none yet)
	marked     int64

	mu   sync.Mutex
	snap job.PartitionProgress
}

func newPartition(spec job.Spec, espec engine.Spec, topic string, id int32, deps partitionDeps) (*partition, error) {
	p := &partition{
		spec: spec, espec: espec, topic: topic, id: id,
		writer: deps.writer, dlq: deps.dlq, deadTopic: deps.deadTopic, now: deps.now,
		log:        deps.log.With(zap.Int32(logging.KeyPartition, id)),
		pending:    make(map[resultKey]engine.Result),
		nextOffset: -1, marked: -1,
		runID: spec.RunID,
		hub:   deps.hub, partitions: deps.partitions, lastActive: deps.now().UnixMilli(),
	}
	if p.runID == "" {
		p.runID = AnyRun
	}
	eng, err := engine.New(espec, id, p)
	if err != nil {
		return nil, err
	}
	p.eng = eng
	p.snap.Partition = id
	return p, nil
}

type partitionDeps struct {
	writer    ResultWriter
	dlq       DeadLetter
	deadTopic string
	log       *zap.Logger
	now       func() time.Time
	// hub shares watermarks between workers; partitions is the number of
	// partitions of the events topic, which a shared watermark spans.
	hub        *hub
	partitions int
}

// Result implements engine.Sink: the latest emission of each window waits in
// pending until the next write.
func (p *partition) Result(r *engine.Result) {
	p.pending[resultKey{r.DeviceID, r.Category, r.Window.Start}] = *r
}

// Decision implements engine.Sink: decisions wait for the next write, with
// the results, in the decision log (engine_decisions). They are counted by
// the engine's Stats and reported with the progress.
func (p *partition) Decision(d *engine.Decision) {
	p.decisions = append(p.decisions, DecisionOf(d))
}

// restore prepares the engine to rebuild its state from the committed offset.
func (p *partition) restore(cp engine.Checkpoint) error {
	return p.eng.Restore(cp)
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
		p.nextOffset = msg.Offset + 1
		if kafka.Control(msg.Headers) != nil {
			// Not an event. The end of the job's run ends this partition's
			// input: the records before it go first.
			if run, ok := kafka.EndOfRun(msg.Headers); ok && p.spec.RunID != "" && run == p.spec.RunID {
				p.eng.ProcessBatch(p.recs)
				p.recs = p.recs[:0]
				p.eng.EndInput(now.UnixMilli())
				p.log.Debug("end of run", zap.Int64(logging.KeyOffset, msg.Offset))
			}
			continue
		}
		if p.spec.RunID != "" {
			if run := kafka.Header(msg.Headers, kafka.HeaderRunID); string(run) != p.spec.RunID {
				others++
				continue
			}
		}
		p.recs = append(p.recs, engine.Record{Partition: msg.Partition, Offset: msg.Offset, ProcessingTime: now.UnixMilli()})
		rec := &p.recs[len(p.recs)-1]
		if err := event.ParseView(msg.Value, &rec.Event); err != nil {
			p.recs = p.recs[:len(p.recs)-1]
			p.eng.ProcessBatch(p.recs) // the records before it go first
			p.recs = p.recs[:0]
			if err := p.poison(ctx, msg, err); err != nil {
				return msg.Offset, err
			}
			continue
		}
		ingest, ok := kafka.HeaderInt64(msg.Headers, kafka.HeaderIngestTime)
		if !ok {
			ingest = msg.Timestamp.UnixMilli()
		}
		rec.IngestionTime = ingest
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

func (p *partition) poison(ctx context.Context, msg *sarama.ConsumerMessage, perr error) error {
	field := ""
	var pe *event.ParseError
	if errors.As(perr, &pe) {
		field = pe.Field
	}
	dead := kafka.DeadLetter(p.deadTopic, msg, perr, field, "aggregator-worker/"+p.spec.ID, p.now().UnixMilli())
	what := fmt.Sprintf("dead-letter poison record %s/%d@%d", msg.Topic, msg.Partition, msg.Offset)
	if err := retry.Default().Do(ctx, p.log, what, func() error { return p.dlq.Send(dead) }); err != nil {
		return err
	}
	p.log.Warn("poison record sent to the dead-letter topic", zap.Error(perr),
		zap.Int64(logging.KeyOffset, msg.Offset), zap.String("deadletter_topic", p.deadTopic))
	p.mu.Lock()
	p.snap.Poison++
	p.mu.Unlock()
	return nil
}

// tick advances processing time and makes what the engine emitted durable.
// With a watermark shared between partitions (ScopeMin, ScopeGlobal), it
// first publishes this partition's mark and takes the combined watermark,
// as Flink's periodic watermark emission does on its timer.
func (p *partition) tick(ctx context.Context, m Marker) error {
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
	return p.flush(ctx, m)
}

// shared reports whether the watermark spans the partitions.
func (p *partition) shared() bool {
	return p.hub != nil && p.espec.Time != engine.ProcessingTime &&
		(p.espec.Scope == engine.ScopeMin || p.espec.Scope == engine.ScopeGlobal)
}

// flush writes the pending results, retrying with backoff while ctx lasts,
// then marks the offset the partition may commit. It never marks past a
// result that is not written: on error nothing is marked.
func (p *partition) flush(ctx context.Context, m Marker) error {
	if len(p.decisions) > 0 {
		err := retry.Default().Do(ctx, p.log, "write the decision log", func() error {
			return p.writer.WriteDecisions(ctx, p.runID, p.spec.ID, p.decisions)
		})
		if err != nil {
			return fmt.Errorf("offset not committed: %w", err)
		}
		clear(p.decisions)
		p.decisions = p.decisions[:0]
	}
	if len(p.pending) > 0 {
		p.batch = p.batch[:0]
		for _, r := range p.pending {
			p.batch = append(p.batch, r)
		}
		err := retry.Default().Do(ctx, p.log, "write results", func() error {
			return p.writer.Write(ctx, p.runID, p.spec.ID, p.batch)
		})
		if err != nil {
			return fmt.Errorf("offset not committed: %w", err)
		}
		clear(p.pending)
		p.mu.Lock()
		p.snap.ResultsWritten += int64(len(p.batch))
		p.mu.Unlock()
	}
	p.mark(m)
	return nil
}

// mark sets the offset to commit: for exactly-once effect the first offset
// the open state still needs, with the engine checkpoint as metadata; for
// at-least-once the offset after the last record handled.
func (p *partition) mark(m Marker) {
	if p.nextOffset < 0 {
		return
	}
	off, meta := p.nextOffset, ""
	if p.espec.Delivery == engine.ExactlyOnce {
		if needed, ok := p.eng.MinOffsetNeeded(); ok {
			off = min(off, needed)
		}
		b, err := json.Marshal(p.eng.Checkpoint())
		if err == nil {
			meta = string(b)
		}
	}
	// MarkOffset only moves forward and ResetOffset only backward; both
	// together set exactly this offset and metadata.
	m.MarkOffset(p.topic, p.id, off, meta)
	m.ResetOffset(p.topic, p.id, off, meta)
	p.marked = off
	p.mu.Lock()
	p.snap.CommittedOffset = off
	p.mu.Unlock()
}

// progress returns a snapshot for the progress report; it may run on
// another goroutine than the partition's.
func (p *partition) progress() job.PartitionProgress {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.snap
}

// updateProgress refreshes the engine's figures in the snapshot, on the
// partition's goroutine.
func (p *partition) updateProgress(highWatermark int64) {
	st := p.eng.Stats()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.snap.NextOffset = p.nextOffset
	p.snap.HighWatermark = highWatermark
	if p.nextOffset >= 0 {
		p.snap.Lag = max(0, highWatermark-p.nextOffset)
	} else {
		p.snap.Lag = highWatermark
	}
	p.snap.Watermark = max(0, st.Watermark) // none yet: below zero
	p.snap.Records = st.Records
	p.snap.Accepted = st.Accepted
	p.snap.Late = st.Late
	p.snap.Duplicates = st.Duplicates
	p.snap.Placed = st.Placed
	p.snap.Ended = p.eng.Ended() && st.OpenWindows == 0 && len(p.pending) == 0
	p.snap.ResultsEmitted = st.Results
	p.snap.OpenWindows = st.OpenWindows
	p.snap.OpenStates = st.OpenStates
	p.snap.DedupEntries = st.DedupEntries
}
