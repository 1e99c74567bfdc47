package stream

import (
	"context"
	"fmt"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/boontadata/boontadata/pkg/cassandra"
	"github.com/boontadata/boontadata/pkg/engine"
)

// ResultWriter makes results durable. Writes are idempotent upserts keyed by
// (run, job, device, category, window), so writing a result twice is harmless:
// that is what makes replay after a crash land once.
type ResultWriter interface {
	// Write upserts results. version, when positive, is the write's
	// Cassandra timestamp (µs): a write never replaces one of a higher
	// version (micro-batch fencing, job.Task.WriteVersion); 0 leaves the
	// timestamp to the driver's clock.
	Write(ctx context.Context, runID, jobID string, results []engine.Result, version int64) error
	// WriteDecisions upserts decision log rows, keyed by the record's
	// Kafka position: writing one twice is harmless.
	WriteDecisions(ctx context.Context, runID, jobID string, ds []Decision) error
}

// Decision is an engine.Decision that owns its strings: a row of the
// decision log.
type Decision struct {
	Kind, Reason                    string
	MessageID, DeviceID, Category   string
	Partition                       int32
	Offset                          int64
	Time, DeviceTime                int64
	WindowStart, WindowEnd          int64
	Watermark, OriginalOffset, Emit int64
	Measure1                        int64
	Measure2                        float64
}

// DecisionOf copies d, whose byte slices are only valid during the sink call.
func DecisionOf(d *engine.Decision) Decision {
	return Decision{
		Kind: d.Kind.String(), Reason: d.Reason.String(),
		MessageID: string(d.MessageID), DeviceID: string(d.DeviceID), Category: string(d.Category),
		Partition: d.Partition, Offset: d.Offset, Time: d.Time, DeviceTime: d.DeviceTime,
		WindowStart: d.Window.Start, WindowEnd: d.Window.End,
		Watermark: d.Watermark, OriginalOffset: d.OriginalOffset, Emit: d.EmitTime,
		Measure1: d.Measure1, Measure2: d.Measure2,
	}
}

// CassandraWriter writes results to engine_emissions_by_bucket, one row per
// emission: the window's answer is its row written last, and the windows in
// the revision sample have a row per revision, for latency (migration 0006,
// cassandra.Emission). It writes the decision log to
// engine_decisions_by_bucket, with a bounded number of writes in flight
// shared by every partition of the worker.
type CassandraWriter struct {
	session *gocql.Session
	slots   chan struct{}
	// sample: every revision of one window in sample has a row of its
	// own (1: every window); the others' emissions rewrite one row.
	sample uint32
	// batchStatements bounds a batch (MaxBatchStatements).
	batchStatements int
}

// NewCassandraWriter returns a writer over a session that records the
// revisions of one window in revisionSample (1 or less: every window; see
// InRevisionSample).
func NewCassandraWriter(s *gocql.Session, concurrency, revisionSample int) *CassandraWriter {
	return &CassandraWriter{session: s, slots: make(chan struct{}, concurrency),
		sample: uint32(max(1, revisionSample)), batchStatements: MaxBatchStatements}
}

// InRevisionSample reports whether the revisions of a window are recorded
// when one window in n is: a hash of the window's key (device, category,
// window start), the same on every worker and at every revision, so a
// sampled window keeps all its revisions and the latency over them is that
// of a uniform sample of windows.
func InRevisionSample(n uint32, deviceID, category string, windowStart int64) bool {
	if n <= 1 {
		return true
	}
	// FNV-1a over device, 0, category, 0, window start (big endian),
	// without allocating: this runs for every result written.
	h := uint32(2166136261)
	mix := func(b byte) { h = (h ^ uint32(b)) * 16777619 }
	for i := range len(deviceID) {
		mix(deviceID[i])
	}
	mix(0)
	for i := range len(category) {
		mix(category[i])
	}
	mix(0)
	for shift := 56; shift >= 0; shift -= 8 {
		mix(byte(windowStart >> shift))
	}
	return h%n == 0
}

const insertDecision = `INSERT INTO engine_decisions_by_bucket (run_id, job_id, bucket, device_id, message_id, kafka_partition,
kafka_offset, decision, reason, category, record_time, device_time, window_start, window_end, watermark, original_offset,
measure1, measure2, emit_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// WriteDecisions implements ResultWriter. Rows go in unlogged batches of
// one bucket each, as results do (Write). A record decided several times
// in one call (a duplicate in several sliding windows) keeps its last
// decision: the rows share a primary key, and statements of one batch
// share a timestamp, which Cassandra would settle cell by cell, by value.
func (w *CassandraWriter) WriteDecisions(ctx context.Context, runID, jobID string, ds []Decision) error {
	b := w.batches(ctx, len(ds), 0)
	for i := range ds {
		d := &ds[i]
		if i+1 < len(ds) && sameRecord(d, &ds[i+1]) {
			continue // decided again just after: the later decision stands
		}
		bucket := cassandra.ResultBucket(d.DeviceID)
		b.add(bucket, gocql.BatchEntry{Stmt: insertDecision, Idempotent: true, Args: decisionArgs(runID, jobID, bucket, d)})
	}
	if err := b.wait(); err != nil {
		return fmt.Errorf("write %d decisions of job %s: %w", len(ds), jobID, err)
	}
	return nil
}

// decisionArgs are the values of insertDecision for d, in bucket.
func decisionArgs(runID, jobID string, bucket int, d *Decision) []any {
	return []any{runID, jobID, bucket, d.DeviceID, d.MessageID, int(d.Partition), d.Offset,
		d.Kind, d.Reason, d.Category, d.Time, d.DeviceTime, d.WindowStart, d.WindowEnd, d.Watermark,
		d.OriginalOffset, d.Measure1, d.Measure2, d.Emit}
}

// sameRecord reports whether two decisions are rows of one primary key.
func sameRecord(a, b *Decision) bool {
	return a.Offset == b.Offset && a.Partition == b.Partition && a.DeviceID == b.DeviceID && a.MessageID == b.MessageID
}

// batcher gathers statements into unlogged batches of one bucket (one
// partition of each table, and so one mutation: Cassandra groups a batch's
// updates by partition key) and at most MaxBatchStatements, and runs each
// batch once it is full (wait runs the rest). The session's policy is
// token-aware: a batch goes to a replica of its partition.
type batcher struct {
	*writes
	open    map[int]*gocql.Batch
	version int64
}

// batches returns a batcher for about n statements; version, when
// positive, is every batch's timestamp (µs).
func (w *CassandraWriter) batches(ctx context.Context, n int, version int64) *batcher {
	return &batcher{writes: w.group(ctx, n), open: make(map[int]*gocql.Batch), version: version}
}

// add puts entries, statements of bucket's partition, in one batch.
func (b *batcher) add(bucket int, entries ...gocql.BatchEntry) {
	cur := b.open[bucket]
	if cur != nil && len(cur.Entries)+len(entries) > b.w.batchStatements {
		b.batch(cur)
		cur = nil
	}
	if cur == nil {
		cur = b.w.session.Batch(gocql.UnloggedBatch)
		if b.version > 0 {
			cur.WithTimestamp(b.version)
		}
		b.open[bucket] = cur
	}
	cur.Entries = append(cur.Entries, entries...)
}

// wait runs the batches still open, then returns the first error once
// every batch started has ended.
func (b *batcher) wait() error {
	for key, cur := range b.open {
		b.batch(cur)
		delete(b.open, key)
	}
	return b.writes.wait()
}

// writes runs statements and batches with at most the writer's concurrency
// in flight.
type writes struct {
	w       *CassandraWriter
	ctx     context.Context
	errc    chan error
	started int
}

func (w *CassandraWriter) group(ctx context.Context, n int) *writes {
	return &writes{w: w, ctx: ctx, errc: make(chan error, n)}
}

// batch runs b, an unlogged batch of idempotent statements.
func (g *writes) batch(b *gocql.Batch) {
	g.run(b.ExecContext)
}

func (g *writes) run(f func(context.Context) error) {
	g.started++
	select {
	case g.w.slots <- struct{}{}:
	case <-g.ctx.Done():
		g.errc <- g.ctx.Err()
		return
	}
	go func() {
		defer func() { <-g.w.slots }()
		g.errc <- f(g.ctx)
	}()
}

// wait returns the first error once every statement started has ended.
func (g *writes) wait() error {
	var first error
	for range g.started {
		if err := <-g.errc; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// MaxBatchStatements bounds an unlogged batch of one partition: 100 rows
// of results or decisions are 10–30 KB, one mutation. Cassandra's
// batch_size_warn_threshold and unlogged_batch_across_partitions_warn_threshold
// apply to batches of several partitions only (BatchStatement.verifyBatchSize
// returns at once for one mutation, verifyBatchType likewise);
// TestIntegrationWriterStaysUnderBatchWarnings checks the server's log.
const MaxBatchStatements = 100

// DefaultWriteConcurrency is the writes in flight per worker by default
// (--write-concurrency): a partition's flush is a few dozen batches, and
// several partitions flush at once. Measured with exact draining 1,000,000
// events (BENCHMARKS.md): 32 in flight 47 s, 128 in flight 40 s.
const DefaultWriteConcurrency = 128

// Write makes every result durable and returns the first error, after every
// write it started has ended. results hold at most one result per window
// (Buffer keeps a window's latest; the results ingester writes several
// answers for one window in turns): the statements of a batch share a
// timestamp, so two rows of one window in a batch would tie on it.
//
// Each result is one row of engine_emissions_by_bucket, keyed by its
// revision when its window is in the revision sample (every revision kept)
// and by cassandra.Unsampled otherwise (the row rewritten). Rows go in
// unlogged batches of one bucket (batcher): one round trip and one
// partition mutation for up to MaxBatchStatements rows of the bucket's
// devices.
func (w *CassandraWriter) Write(ctx context.Context, runID, jobID string, results []engine.Result, version int64) error {
	b := w.batches(ctx, len(results), version)
	for i := range results {
		r := &results[i]
		emission := cassandra.Unsampled
		if InRevisionSample(w.sample, r.DeviceID, r.Category, r.Window.Start) {
			emission = int(r.Revision)
		}
		bucket := cassandra.ResultBucket(r.DeviceID)
		b.add(bucket, gocql.BatchEntry{Stmt: cassandra.InsertEmission, Idempotent: true, Args: []any{runID, jobID, bucket,
			r.DeviceID, r.Category, time.UnixMilli(r.Window.Start), emission, time.UnixMilli(r.Window.End),
			r.SumMeasure1, r.SumMeasure2, r.Count, int(r.Revision), r.Final, time.UnixMilli(r.EmitTime)}})
	}
	if err := b.wait(); err != nil {
		return fmt.Errorf("write %d results of job %s: %w", len(results), jobID, err)
	}
	return nil
}
