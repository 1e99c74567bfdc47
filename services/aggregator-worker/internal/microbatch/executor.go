// Package microbatch is the micro-batch runtime of the boontadata engine (the
// presets dstream and structured): workers execute the tasks the master (the
// driver) plans, one partition range of one batch each, with the same engine
// core as the continuous runtime and the replay command.
package microbatch

import (
	"context"
	"errors"
	"fmt"
	"math"
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

// ErrGap: the state checkpointed for a partition does not end where the task
// starts, so the task cannot be run on it.
var ErrGap = errors.New("task does not start where the checkpointed state ends")

// ErrStale: a later batch of the partition already ran; the task is an old
// record of the tasks topic and is skipped.
var ErrStale = errors.New("a later batch already ran")

// Reader fetches exactly the records [start, end) of an events partition, in
// offset order.
type Reader interface {
	Read(ctx context.Context, partition int32, start, end int64, fn func(*sarama.ConsumerMessage) error) error
}

// Store keeps the per-batch state checkpoints and the task acknowledgements.
type Store interface {
	// LoadState returns the latest state of (job, partition) saved by a
	// batch before the given one.
	LoadState(ctx context.Context, jobID string, partition int32, before int64) (State, bool, error)
	SaveState(ctx context.Context, jobID string, partition int32, s State) error
	Ack(ctx context.Context, a job.TaskAck) error
}

// Span is one batch of one partition, as a rebuild replays it.
type Span struct {
	BatchID  int64 `json:"batch_id"`
	Time     int64 `json:"time"`
	PrevTime int64 `json:"prev_time"`
	Start    int64 `json:"start"`
	End      int64 `json:"end"`
	// Watermark is the batch's watermark from the driver, if it gave one.
	Watermark *int64 `json:"watermark_ms,omitempty"`
}

// State is what a partition checkpoints after each batch: the engine's
// checkpoint, and the batches whose records the open state still needs
// (from MinOffset on), so that another worker rebuilds the state by
// replaying them exactly as they ran.
type State struct {
	BatchID    int64             `json:"batch_id"`
	BatchTime  int64             `json:"batch_time"`
	End        int64             `json:"end"`
	MinOffset  int64             `json:"min_offset"`
	Checkpoint engine.Checkpoint `json:"checkpoint"`
	Spans      []Span            `json:"spans,omitempty"`
}

// Executor runs tasks. Tasks of one (job, partition) come one at a time, in
// batch order, from one tasks partition: the engine of the partition stays
// in memory between them (state affinity) and is rebuilt from the latest
// checkpoint when the previous batch ran elsewhere.
type Executor struct {
	WorkerID  string
	Reader    Reader
	Store     Store
	Writer    stream.ResultWriter
	DLQ       stream.DeadLetter
	DeadTopic string
	// Retry paces the retries of writes, checkpoints, acks and
	// dead-letters.
	Retry retry.Policy
	Log   *zap.Logger
	Now   func() time.Time
	// OnDecision, when set, sees every decision (tests compare them with
	// the replay command).
	OnDecision func(t job.Task, d *engine.Decision)

	mu    sync.Mutex
	parts map[string]*pstate
}

// pstate is the engine of one (job, partition) between tasks.
type pstate struct {
	spec  job.Spec
	espec engine.Spec
	eng   *engine.Engine
	batch int64 // last batch run
	start int64 // its range
	next  int64 // end of its range: where the next task must start
	spans []Span
	ack   job.TaskAck
	task  job.Task
	onDec func(job.Task, *engine.Decision)
	out   *stream.Buffer
	used  time.Time
}

func (e *Executor) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

func key(jobID string, partition int32) string { return job.TaskKey(jobID, partition) }

// Run executes one task: results and the checkpoint are durable and the ack
// is written when it returns nil. Running a task twice writes the same rows.
func (e *Executor) Run(ctx context.Context, t job.Task) (job.TaskAck, error) {
	began := e.now()
	e.mu.Lock()
	if e.parts == nil {
		e.parts = map[string]*pstate{}
	}
	p := e.parts[key(t.JobID, t.Partition)]
	e.mu.Unlock()
	log := e.Log.With(zap.String(logging.KeyJobID, t.JobID), zap.Int32(logging.KeyPartition, t.Partition),
		zap.Int64("batch_id", t.BatchID))

	if p != nil && p.batch == t.BatchID && p.start == t.Start && p.next == t.End && p.ack.BatchID == t.BatchID {
		// Already done here (a re-issued task): the results are durable.
		return p.ack, e.ack(ctx, p.ack)
	}
	if p == nil || p.batch != t.BatchID-1 || p.next != t.Start || p.spec.ID != t.Spec.ID {
		var err error
		if p, err = e.rebuild(ctx, t); err != nil {
			return job.TaskAck{}, err
		}
		log.Debug("partition state rebuilt", zap.Int("spans", len(p.spans)))
	}
	e.mu.Lock()
	delete(e.parts, key(t.JobID, t.Partition)) // back once the task succeeded
	e.mu.Unlock()

	before := p.eng.Stats()
	span := Span{BatchID: t.BatchID, Time: t.BatchTime, PrevTime: t.PrevBatchTime, Start: t.Start, End: t.End, Watermark: t.Watermark}
	p.task = t
	rows, runRows, err := e.runSpan(ctx, p, span, t.Start, true, true)
	if err != nil {
		return job.TaskAck{}, err
	}
	results := int64(p.out.Results())
	// A result's emit time is when it is written: the batch's end, when a
	// micro-batch engine's answer becomes visible (its latency).
	// Fenced: a stale attempt of this or an older batch never overwrites
	// what a newer one wrote.
	p.out.Version = t.WriteVersion()
	if _, err := p.out.Write(ctx, e.Writer, p.spec.RunID, t.JobID, e.now().UnixMilli(), e.Retry, e.Log); err != nil {
		return job.TaskAck{}, err
	}
	p.spans = append(p.spans, span)
	minOff, ok := p.eng.MinOffsetNeeded()
	if !ok {
		minOff = t.End
	}
	n := 0
	for n < len(p.spans) && p.spans[n].End <= minOff {
		n++
	}
	p.spans = append(p.spans[:0], p.spans[n:]...)
	st := State{BatchID: t.BatchID, BatchTime: t.BatchTime, End: t.End, MinOffset: minOff,
		Checkpoint: p.eng.Checkpoint(), Spans: p.spans}
	if cp := &st.Checkpoint; !cp.Seen && len(cp.Batches) > 1 {
		// No record yet: every mark is at offset 0 and only the last one
		// would apply to the first record.
		cp.Batches = cp.Batches[len(cp.Batches)-1:]
	}
	if err := e.Retry.Do(ctx, log, "save state checkpoint", func() error { return e.Store.SaveState(ctx, t.JobID, t.Partition, st) }); err != nil {
		return job.TaskAck{}, err
	}
	after := p.eng.Stats()
	mark := p.eng.Mark()
	a := job.TaskAck{JobID: t.JobID, BatchID: t.BatchID, Partition: t.Partition, WorkerID: e.WorkerID, Attempt: t.Attempt,
		InputRows: rows, Results: results, Late: after.Late - before.Late, Duplicates: after.Duplicates - before.Duplicates,
		ProcessingMs: e.now().Sub(began).Milliseconds(), Watermark: max(0, after.Watermark),
		PartitionWatermark: mark.Watermark, Ended: mark.Ended, RunRecords: runRows}
	p.batch, p.start, p.next, p.ack, p.used = t.BatchID, t.Start, t.End, a, e.now()
	if err := e.ack(ctx, a); err != nil {
		return a, err
	}
	e.mu.Lock()
	e.parts[key(t.JobID, t.Partition)] = p
	e.mu.Unlock()
	return a, nil
}

func (e *Executor) ack(ctx context.Context, a job.TaskAck) error {
	return e.Retry.Do(ctx, e.Log, "acknowledge task", func() error { return e.Store.Ack(ctx, a) })
}

// Forget drops the engines not used since before: their tasks moved to
// another worker or their job ended.
func (e *Executor) Forget(before time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for k, p := range e.parts {
		if p.used.Before(before) {
			delete(e.parts, k)
		}
	}
}

// rebuild makes the engine of a partition as it was after the batch before
// t: restore the latest checkpoint, then replay the batches its open state
// needs with the Advance calls they ran with (muted: what they emitted was
// written before).
func (e *Executor) rebuild(ctx context.Context, t job.Task) (*pstate, error) {
	espec, err := t.Spec.Engine()
	if err != nil {
		return nil, err
	}
	if espec.Trigger != engine.MicroBatch {
		return nil, fmt.Errorf("job %s: preset %s is not micro-batch", t.JobID, t.Spec.Preset)
	}
	p := &pstate{spec: t.Spec, espec: espec, out: stream.NewBuffer(), onDec: e.OnDecision, task: t}
	p.out.OnDecision = func(d *engine.Decision) {
		if p.onDec != nil {
			p.onDec(p.task, d)
		}
	}
	if p.eng, err = engine.New(espec, t.Partition, p.out); err != nil {
		return nil, err
	}
	var st State
	var found bool
	err = e.Retry.Do(ctx, e.Log, "load state checkpoint", func() (err error) {
		st, found, err = e.Store.LoadState(ctx, t.JobID, t.Partition, math.MaxInt64)
		return err
	})
	if err != nil {
		return nil, err
	}
	if found && st.BatchID > t.BatchID {
		return nil, fmt.Errorf("%w: job %s partition %d batch %d, state of batch %d", ErrStale, t.JobID, t.Partition, t.BatchID, st.BatchID)
	}
	err = e.Retry.Do(ctx, e.Log, "load state checkpoint", func() (err error) {
		st, found, err = e.Store.LoadState(ctx, t.JobID, t.Partition, t.BatchID)
		return err
	})
	if err != nil {
		return nil, err
	}
	if !found {
		p.batch, p.next = t.BatchID-1, t.Start
		return p, nil
	}
	if st.End != t.Start {
		return nil, fmt.Errorf("%w: job %s partition %d batch %d starts at %d, the state of batch %d ends at %d",
			ErrGap, t.JobID, t.Partition, t.BatchID, t.Start, st.BatchID, st.End)
	}
	if err := p.eng.Restore(st.Checkpoint); err != nil {
		return nil, err
	}
	p.onDec = nil // replayed decisions were made before
	for i, s := range st.Spans {
		if _, _, err := e.runSpan(ctx, p, s, max(s.Start, st.MinOffset), i > 0, false); err != nil {
			return nil, fmt.Errorf("rebuild state of job %s partition %d: %w", t.JobID, t.Partition, err)
		}
	}
	p.out.Reset() // written before the checkpoint
	p.onDec = e.OnDecision
	p.batch, p.start, p.next, p.spans = st.BatchID, st.End, st.End, st.Spans
	return p, nil
}

// maxBatch is the most records handed to the engine at once.
const maxBatch = 256

// runSpan runs one batch of a partition from offset from: the Advance calls
// of the trigger boundaries since the batch before (as the replay command
// makes them), the batch's watermark when the driver gave one, its records at
// processing time batchTime-1, and the Advance that ends it. live
// dead-letters poison records (a rebuild skips them). It returns the number
// of records read, and of records of the job's run.
func (e *Executor) runSpan(ctx context.Context, p *pstate, s Span, from int64, between, live bool) (rows, runRows int64, err error) {
	interval := p.espec.TriggerInterval.Milliseconds()
	if between && s.PrevTime > 0 {
		last := s.Time - 1
		for b := s.PrevTime + interval; b <= last; {
			p.eng.Advance(b)
			b += interval
			if st := p.eng.Stats(); st.OpenWindows == 0 && st.DedupEntries == 0 && b <= last {
				b += (last - b) / interval * interval // empty batches change nothing
			}
		}
	}
	if s.Watermark != nil {
		p.eng.SetWatermark(*s.Watermark)
	}
	// Records go to the engine in batches (ProcessBatch decides as Process
	// would, faster); a poison record waits for those before it.
	recs := make([]engine.Record, 0, maxBatch)
	flush := func() {
		p.eng.ProcessBatch(recs)
		clear(recs) // drop the references into the messages
		recs = recs[:0]
	}
	if from < s.End {
		poison := stream.Poisoner{DLQ: e.DLQ, DeadTopic: e.DeadTopic, RejectedBy: "aggregator-worker/" + p.spec.ID,
			Retry: e.Retry, Log: e.Log, Now: e.now}
		err := e.Reader.Read(ctx, p.task.Partition, from, s.End, func(m *sarama.ConsumerMessage) error {
			rows++
			recs = append(recs, engine.Record{})
			kind, err := stream.Decode(m, p.spec.RunID, s.Time-1, &recs[len(recs)-1])
			if kind != stream.Event {
				recs = recs[:len(recs)-1]
			}
			switch kind {
			case stream.Event:
				runRows++
				if len(recs) == maxBatch {
					flush()
				}
			case stream.EndOfRun:
				// The end of the job's run ends the input.
				flush()
				p.eng.EndInput(s.Time - 1)
			case stream.Poison:
				if !live {
					return nil // dead-lettered when it first ran
				}
				flush()
				return poison.Send(ctx, m, err)
			}
			return nil
		})
		flush()
		if err != nil {
			return rows, runRows, err
		}
	}
	p.eng.Advance(s.Time)
	return rows, runRows, nil
}
