package master

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/IBM/sarama"
	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"go.uber.org/zap"

	"github.com/boontadata/boontadata/pkg/engine"
	"github.com/boontadata/boontadata/pkg/job"
	"github.com/boontadata/boontadata/pkg/job/jobkafka"
	"github.com/boontadata/boontadata/pkg/logging"
	"github.com/boontadata/boontadata/pkg/retry"
	"github.com/boontadata/boontadata/services/aggregator-master/internal/api"
)

// Batch is one planned micro-batch: the offset range [start, end) of every
// events partition, and its trigger instant.
type Batch struct {
	JobID  string
	ID     int64
	Time   int64 // ms, a multiple of the trigger interval
	Ranges map[int32][2]int64
	// Watermark is the watermark the batch runs under when the driver
	// combines it over the partitions (scopes min and global), ms.
	Watermark   int64
	State       string
	PlannedAt   time.Time
	CompletedAt time.Time
}

// BatchStore persists the plans (write-ahead) and reads the acks.
type BatchStore interface {
	// Latest returns up to n batches of the job, newest first.
	Latest(ctx context.Context, jobID string, n int) ([]Batch, error)
	Save(ctx context.Context, b Batch) error
	Acks(ctx context.Context, jobID string, batchID int64) (map[int32]job.TaskAck, error)
}

// Offsets tells the partitions of the events topic and their offsets.
type Offsets interface {
	Partitions() ([]int32, error)
	// Offset returns sarama.OffsetNewest or OffsetOldest of a partition.
	Offset(partition int32, which int64) (int64, error)
}

// TaskSender hands tasks to the workers.
type TaskSender interface {
	Send(tasks []job.Task) error
}

// MicroBatchDeps are what the micro-batch driver runs on; nil fields leave
// micro-batch jobs refused.
type MicroBatchDeps struct {
	Batches BatchStore
	Offsets Offsets
	Tasks   TaskSender
	// TaskTimeout re-issues tasks not acknowledged within it.
	TaskTimeout time.Duration
}

func (d MicroBatchDeps) enabled() bool { return d.Batches != nil && d.Offsets != nil && d.Tasks != nil }

// driver plans and tracks the batches of one micro-batch job.
type driver struct {
	spec     job.Spec
	espec    engine.Spec
	interval int64
	deps     MicroBatchDeps
	clock    Clock
	retry    retry.Policy
	log      *zap.Logger

	loaded   bool
	firstDue int64 // the trigger of the first batch
	prev     *Batch
	cur      *Batch
	sentAt   time.Time
	tries    map[int32]int

	// The watermark of the next batch, combined from the partitions' marks
	// of the acks (Spark's driver: max event time of the earlier batches −
	// delay), and when each partition last read records of the run (for
	// idleness in the min scope).
	wm         int64
	marks      map[int32]engine.PartitionMark
	lastActive map[int32]int64
	// final: every partition ended; the next batch runs at once and closes
	// every window, as Spark runs a last batch once a bounded input is read.
	final, done bool
	// onDone is called once the last batch completed.
	onDone func(jobID, reason string)
	// onBatch is called with the figures of every batch that completed.
	onBatch func(jobID string, b api.Batch)
}

func newDriver(s job.Spec, deps MicroBatchDeps, clock Clock, log *zap.Logger) (*driver, error) {
	es, err := s.Engine()
	if err != nil {
		return nil, err
	}
	if es.Trigger != engine.MicroBatch {
		return nil, fmt.Errorf("job %s is not micro-batch", s.ID)
	}
	if deps.TaskTimeout <= 0 {
		deps.TaskTimeout = 30 * time.Second
	}
	return &driver{spec: s, espec: es, interval: es.TriggerInterval.Milliseconds(), deps: deps, clock: clock,
		log: log.With(zap.String(logging.KeyJobID, s.ID)), tries: map[int32]int{},
		wm: math.MinInt64, marks: map[int32]engine.PartitionMark{}, lastActive: map[int32]int64{}}, nil
}

// pollInterval is how often the acks of the batch in flight are read.
const pollInterval = 100 * time.Millisecond

// run steps the driver until ctx ends; a failed step (Cassandra or Kafka
// away) is retried with d.retry.
func (d *driver) run(ctx context.Context) {
	for {
		var wait time.Duration
		err := d.retry.Do(ctx, d.log, "micro-batch driver step", func() (err error) {
			wait, err = d.step(ctx)
			return err
		})
		if err != nil || !sleep(ctx, wait) {
			return // ctx ended
		}
	}
}

// step does what is due now and returns how long to wait before the next.
func (d *driver) step(ctx context.Context) (time.Duration, error) {
	if !d.loaded {
		last, err := d.deps.Batches.Latest(ctx, d.spec.ID, 2)
		if err != nil {
			return 0, err
		}
		if len(last) > 0 {
			b := last[0]
			d.wm = b.Watermark
			if b.State == job.BatchCompleted {
				d.prev = &b
				if err := d.combine(ctx, &b); err != nil {
					return 0, err
				}
			} else {
				// A restarted master re-runs the batch it planned last:
				// its results are idempotent upserts, they land once.
				d.cur = &b
				if len(last) > 1 {
					d.prev = &last[1]
				}
				d.log.Info("resuming an incomplete micro-batch", zap.Int64("batch_id", b.ID))
			}
		}
		d.loaded = true
		ms := d.clock.Now().UnixMilli()
		d.firstDue = (ms/d.interval + 1) * d.interval
	}
	now := d.clock.Now()
	if d.cur != nil {
		return d.track(ctx, now)
	}
	return d.plan(ctx, now)
}

func (d *driver) track(ctx context.Context, now time.Time) (time.Duration, error) {
	b := d.cur
	acks, err := d.deps.Batches.Acks(ctx, d.spec.ID, b.ID)
	if err != nil {
		return 0, err
	}
	var missing []int32
	for p := range b.Ranges {
		if _, ok := acks[p]; !ok {
			missing = append(missing, p)
		}
	}
	if len(missing) == 0 {
		b.State, b.CompletedAt = job.BatchCompleted, now.UTC().Truncate(time.Millisecond)
		if err := d.deps.Batches.Save(ctx, *b); err != nil {
			return 0, err
		}
		if d.onBatch != nil {
			// The batch before tells when this one was due.
			pair := []Batch{*b}
			if d.prev != nil {
				pair = append(pair, *d.prev)
			}
			d.onBatch(d.spec.ID, BatchInfo(pair, d.interval)[0])
		}
		d.prev, d.cur = b, nil
		clear(d.tries)
		d.log.Debug("micro-batch completed", zap.Int64("batch_id", b.ID), zap.Duration("took", b.CompletedAt.Sub(b.PlannedAt)))
		d.update(b, acks)
		return 0, nil
	}
	if d.sentAt.IsZero() || now.Sub(d.sentAt) >= d.deps.TaskTimeout {
		if !d.sentAt.IsZero() {
			d.log.Warn("micro-batch tasks timed out; re-issuing them", zap.Int64("batch_id", b.ID), zap.Int32s("partitions", missing))
		}
		if err := d.send(b, missing); err != nil {
			return 0, err
		}
		d.sentAt = now
	}
	return pollInterval, nil
}

func (d *driver) send(b *Batch, parts []int32) error {
	var prevTime int64
	if d.prev != nil {
		prevTime = d.prev.Time
	}
	tasks := make([]job.Task, 0, len(parts))
	for _, p := range parts {
		r := b.Ranges[p]
		t := job.Task{JobID: d.spec.ID, Spec: d.spec, BatchID: b.ID, BatchTime: b.Time, PrevBatchTime: prevTime,
			Partition: p, Start: r[0], End: r[1], Attempt: d.tries[p]}
		if d.shared() {
			wm := b.Watermark
			t.Watermark = &wm
		}
		tasks = append(tasks, t)
		d.tries[p]++
	}
	return d.deps.Tasks.Send(tasks)
}

// shared reports whether the driver combines the batch watermark.
func (d *driver) shared() bool {
	return d.espec.Time != engine.ProcessingTime && (d.espec.Scope == engine.ScopeMin || d.espec.Scope == engine.ScopeGlobal)
}

// combine reads the acks of a completed batch and updates the marks and the
// next batch's watermark from them (after a restart of the master).
func (d *driver) combine(ctx context.Context, b *Batch) error {
	acks, err := d.deps.Batches.Acks(ctx, d.spec.ID, b.ID)
	if err != nil {
		return err
	}
	d.update(b, acks)
	return nil
}

// update takes the marks of a completed batch's acks and combines the next
// batch's watermark over every partition of the batch. Once every partition
// ended, the next batch is the last: planned at once, with the final
// watermark.
func (d *driver) update(b *Batch, acks map[int32]job.TaskAck) {
	for p, a := range acks {
		d.marks[p] = engine.PartitionMark{Partition: p, Watermark: a.PartitionWatermark, Ended: a.Ended}
		if _, ok := d.lastActive[p]; !ok || a.RunRecords > 0 {
			d.lastActive[p] = b.Time
		}
	}
	ended := len(b.Ranges) > 0
	marks := make([]engine.PartitionMark, 0, len(b.Ranges))
	idle := d.espec.IdleTimeout.Milliseconds()
	for p := range b.Ranges {
		m, ok := d.marks[p]
		if !ok {
			m = engine.PartitionMark{Partition: p, Watermark: math.MinInt64}
		}
		m.Idle = idle > 0 && b.Time-d.lastActive[p] >= idle
		ended = ended && m.Ended
		marks = append(marks, m)
	}
	if d.shared() {
		d.wm = engine.Combine(d.espec.Scope, d.wm, marks)
	}
	switch {
	case d.final:
		// The last batch ran: every window of every partition is closed.
		d.done = true
		d.log.Info("micro-batch job read the end of its run: every window is final", zap.Int64("batch_id", b.ID))
		if d.onDone != nil {
			d.onDone(d.spec.ID, fmt.Sprintf("run %s ended on its %d partitions; the last batch (%d) closed every window", d.spec.RunID, len(b.Ranges), b.ID))
		}
	case ended && d.spec.RunID != "":
		d.final = true
	}
}

func (d *driver) plan(ctx context.Context, now time.Time) (time.Duration, error) {
	if d.done {
		return time.Minute, nil
	}
	ms := now.UnixMilli()
	due := d.firstDue
	if d.prev != nil {
		due = d.prev.Time + d.interval
	}
	if d.final {
		due = ms // the last batch of a run that ended does not wait for its trigger
	}
	if ms < due {
		return time.Duration(due-ms) * time.Millisecond, nil
	}
	parts, err := d.deps.Offsets.Partitions()
	if err != nil {
		return 0, err
	}
	b := Batch{JobID: d.spec.ID, ID: 1, Time: ms / d.interval * d.interval, Ranges: map[int32][2]int64{},
		Watermark: d.wm, State: job.BatchPlanned, PlannedAt: now.UTC().Truncate(time.Millisecond)}
	if d.final && d.prev != nil && b.Time <= d.prev.Time {
		b.Time = d.prev.Time + 1 // batch times grow, even for the last batch run at once
	}
	if d.prev != nil {
		b.ID = d.prev.ID + 1
	}
	for _, p := range parts {
		end, err := d.deps.Offsets.Offset(p, sarama.OffsetNewest)
		if err != nil {
			return 0, err
		}
		r, ok := [2]int64{}, false
		if d.prev != nil {
			r, ok = d.prev.Ranges[p]
		}
		start := r[1]
		if !ok {
			which := sarama.OffsetOldest
			if d.spec.StartOffsets == job.StartLatest {
				which = sarama.OffsetNewest
			}
			if start, err = d.deps.Offsets.Offset(p, which); err != nil {
				return 0, err
			}
		}
		b.Ranges[p] = [2]int64{start, max(start, end)}
	}
	// Write-ahead: the plan is durable before any task is handed out.
	if err := d.deps.Batches.Save(ctx, b); err != nil {
		return 0, err
	}
	d.cur = &b
	if b.Time > due && !d.final {
		d.log.Warn("micro-batch started late: the batch before took longer than the trigger interval; this one takes everything pending",
			zap.Int64("batch_id", b.ID), zap.Duration("scheduling_delay", time.Duration(ms-due)*time.Millisecond))
	}
	if err := d.send(&b, parts); err != nil {
		d.sentAt = time.Time{} // the next step sends again
		return 0, err
	}
	d.sentAt = now
	return pollInterval, nil
}

// BatchInfo turns stored batches (newest first) into the API's figures.
func BatchInfo(bs []Batch, interval int64) []api.Batch {
	out := make([]api.Batch, 0, len(bs))
	for i, b := range bs {
		a := api.Batch{BatchID: b.ID, BatchTime: time.UnixMilli(b.Time).UTC(), State: b.State, PlannedAt: b.PlannedAt,
			CompletedAt: b.CompletedAt, Partitions: len(b.Ranges)}
		for _, r := range b.Ranges {
			a.InputRows += r[1] - r[0]
		}
		if !b.CompletedAt.IsZero() {
			a.ProcessingMs = b.CompletedAt.Sub(b.PlannedAt).Milliseconds()
		}
		due := b.Time
		if i+1 < len(bs) && bs[i+1].ID == b.ID-1 {
			due = bs[i+1].Time + interval
		}
		a.SchedulingDelayMs = max(0, b.PlannedAt.UnixMilli()-due)
		if !b.CompletedAt.IsZero() {
			a.TotalDelayMs = a.SchedulingDelayMs + a.ProcessingMs
		}
		a.Late = b.Time > due
		out = append(out, a)
	}
	return out
}

// drivers runs one driver per running micro-batch job.
type drivers struct {
	deps  MicroBatchDeps
	clock Clock
	retry retry.Policy
	log   *zap.Logger
	// done is called when a job's last batch completed (its run ended).
	done func(jobID, reason string)
	// batch is called with the figures of every completed batch.
	batch func(jobID string, b api.Batch)

	mu      sync.Mutex
	running map[string]context.CancelFunc
	wg      sync.WaitGroup
}

// reconcile starts the drivers of running micro-batch jobs and stops those
// of cancelled ones.
func (ds *drivers) reconcile(ctx context.Context, specs []job.Spec) {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	for _, s := range specs {
		es, err := s.Engine()
		if err != nil || es.Trigger != engine.MicroBatch || s.EngineUnderTest() != job.Boontadata {
			continue
		}
		cancel, on := ds.running[s.ID]
		switch {
		case s.State == job.StateRunning && !on:
			d, err := newDriver(s, ds.deps, ds.clock, ds.log)
			if err != nil {
				ds.log.Error("cannot drive micro-batch job", zap.String(logging.KeyJobID, s.ID), zap.Error(err))
				continue
			}
			d.onDone, d.retry = ds.done, ds.retry
			d.onBatch = ds.batch
			dctx, cancel := context.WithCancel(ctx)
			ds.running[s.ID] = cancel
			ds.wg.Add(1)
			go func() {
				defer ds.wg.Done()
				ds.log.Info("micro-batch driver started", zap.String(logging.KeyJobID, s.ID))
				d.run(dctx)
			}()
		case s.State != job.StateRunning && on:
			cancel()
			delete(ds.running, s.ID)
		}
	}
}

func (ds *drivers) run(ctx context.Context, list func() []job.Spec) {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		ds.reconcile(ctx, list())
		select {
		case <-ctx.Done():
			ds.wg.Wait()
			return
		case <-t.C:
		}
	}
}

// CassandraBatches stores plans in microbatches and reads acks from
// microbatch_tasks.
type CassandraBatches struct{ Session *gocql.Session }

// Latest implements BatchStore.
func (c CassandraBatches) Latest(ctx context.Context, jobID string, n int) ([]Batch, error) {
	iter := c.Session.Query(`SELECT batch_id, batch_time, ranges, state, planned_at, completed_at, watermark_ms FROM microbatches WHERE job_id = ? LIMIT ?`,
		jobID, n).IterContext(ctx)
	var out []Batch
	for {
		b := Batch{JobID: jobID}
		var bt time.Time
		var ranges map[int][]int64
		var wm *int64
		if !iter.Scan(&b.ID, &bt, &ranges, &b.State, &b.PlannedAt, &b.CompletedAt, &wm) {
			break
		}
		b.Watermark = math.MinInt64
		if wm != nil {
			b.Watermark = *wm
		}
		b.Time = bt.UnixMilli()
		b.Ranges = make(map[int32][2]int64, len(ranges))
		for p, r := range ranges {
			if len(r) == 2 {
				b.Ranges[int32(p)] = [2]int64{r[0], r[1]}
			}
		}
		out = append(out, b)
	}
	if err := iter.Close(); err != nil {
		return nil, fmt.Errorf("read micro-batches of %s: %w", jobID, err)
	}
	return out, nil
}

// Save implements BatchStore.
func (c CassandraBatches) Save(ctx context.Context, b Batch) error {
	ranges := make(map[int][]int64, len(b.Ranges))
	for p, r := range b.Ranges {
		ranges[int(p)] = []int64{r[0], r[1]}
	}
	var completed any
	if !b.CompletedAt.IsZero() {
		completed = b.CompletedAt
	}
	err := c.Session.Query(`INSERT INTO microbatches (job_id, batch_id, batch_time, ranges, state, planned_at, completed_at, watermark_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		b.JobID, b.ID, time.UnixMilli(b.Time), ranges, b.State, b.PlannedAt, completed, b.Watermark).Idempotent(true).ExecContext(ctx)
	if err != nil {
		return fmt.Errorf("save micro-batch %s/%d: %w", b.JobID, b.ID, err)
	}
	return nil
}

// Acks implements BatchStore.
func (c CassandraBatches) Acks(ctx context.Context, jobID string, batchID int64) (map[int32]job.TaskAck, error) {
	iter := c.Session.Query(`SELECT partition, worker_id, attempt, input_rows, processing_ms, partition_watermark_ms, ended, run_records
FROM microbatch_tasks WHERE job_id = ? AND batch_id = ?`, jobID, batchID).IterContext(ctx)
	out := map[int32]job.TaskAck{}
	var a job.TaskAck
	var p int
	var pwm, runRecords *int64
	var ended *bool
	for iter.Scan(&p, &a.WorkerID, &a.Attempt, &a.InputRows, &a.ProcessingMs, &pwm, &ended, &runRecords) {
		a.JobID, a.BatchID, a.Partition = jobID, batchID, int32(p)
		a.PartitionWatermark, a.Ended, a.RunRecords = math.MinInt64, false, 0
		if pwm != nil {
			a.PartitionWatermark = *pwm
		}
		if ended != nil {
			a.Ended = *ended
		}
		if runRecords != nil {
			a.RunRecords = *runRecords
		}
		out[a.Partition] = a
	}
	if err := iter.Close(); err != nil {
		return nil, fmt.Errorf("read acks of %s/%d: %w", jobID, batchID, err)
	}
	return out, nil
}

// KafkaOffsets reads the events topic's partitions and offsets.
type KafkaOffsets struct {
	Client sarama.Client
	Topic  string
}

// Partitions implements Offsets.
func (k KafkaOffsets) Partitions() ([]int32, error) {
	ps, err := k.Client.Partitions(k.Topic)
	if err != nil {
		return nil, fmt.Errorf("partitions of %s: %w", k.Topic, err)
	}
	return ps, nil
}

// Offset implements Offsets.
func (k KafkaOffsets) Offset(p int32, which int64) (int64, error) {
	o, err := k.Client.GetOffset(k.Topic, p, which)
	if err != nil {
		return 0, fmt.Errorf("offset of %s/%d: %w", k.Topic, p, err)
	}
	return o, nil
}

// KafkaTasks produces tasks on the tasks topic.
type KafkaTasks struct {
	Producer sarama.SyncProducer
	Topic    string
}

// Send implements TaskSender.
func (k KafkaTasks) Send(tasks []job.Task) error {
	msgs := make([]*sarama.ProducerMessage, 0, len(tasks))
	for _, t := range tasks {
		m, err := jobkafka.TaskMessage(k.Topic, t)
		if err != nil {
			return err
		}
		msgs = append(msgs, m)
	}
	if err := k.Producer.SendMessages(msgs); err != nil {
		return fmt.Errorf("send %d tasks to %s: %w", len(msgs), k.Topic, err)
	}
	return nil
}
