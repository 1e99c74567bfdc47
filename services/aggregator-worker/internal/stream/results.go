package stream

import (
	"context"
	"fmt"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/boontadata/boontadata/pkg/engine"
)

// ResultWriter makes results durable. Writes are idempotent upserts keyed by
// (run, job, device, category, window), so writing a result twice is harmless:
// that is what makes replay after a crash land once.
type ResultWriter interface {
	Write(ctx context.Context, runID, jobID string, results []engine.Result) error
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

// CassandraWriter writes results to engine_results (the latest answer per
// window) and engine_result_revisions (every revision, for latency), with a
// bounded number of writes in flight shared by every partition of the worker.
type CassandraWriter struct {
	session *gocql.Session
	slots   chan struct{}
}

// NewCassandraWriter returns a writer over a keyspace-bound session.
func NewCassandraWriter(s *gocql.Session, concurrency int) *CassandraWriter {
	return &CassandraWriter{session: s, slots: make(chan struct{}, concurrency)}
}

const (
	upsertResult = `INSERT INTO engine_results (run_id, job_id, device_id, category, window_start, window_end,
m1_sum, m2_sum, event_count, revision, is_final, emit_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	insertRevision = `INSERT INTO engine_result_revisions (run_id, job_id, device_id, category, window_start, revision,
m1_sum, m2_sum, event_count, emit_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
)

const insertDecision = `INSERT INTO engine_decisions (run_id, job_id, device_id, message_id, kafka_partition, kafka_offset,
decision, reason, category, record_time, device_time, window_start, window_end, watermark, original_offset,
measure1, measure2, emit_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// WriteDecisions implements ResultWriter.
func (w *CassandraWriter) WriteDecisions(ctx context.Context, runID, jobID string, ds []Decision) error {
	g := w.group(ctx, len(ds))
	for i := range ds {
		d := &ds[i]
		g.exec(insertDecision, runID, jobID, d.DeviceID, d.MessageID, int(d.Partition), d.Offset,
			d.Kind, d.Reason, d.Category, d.Time, d.DeviceTime, d.WindowStart, d.WindowEnd, d.Watermark,
			d.OriginalOffset, d.Measure1, d.Measure2, d.Emit)
	}
	if err := g.wait(); err != nil {
		return fmt.Errorf("write %d decisions of job %s: %w", len(ds), jobID, err)
	}
	return nil
}

// writes runs statements with at most the writer's concurrency in flight.
type writes struct {
	w       *CassandraWriter
	ctx     context.Context
	errc    chan error
	started int
}

func (w *CassandraWriter) group(ctx context.Context, n int) *writes {
	return &writes{w: w, ctx: ctx, errc: make(chan error, n)}
}

func (g *writes) exec(stmt string, args ...any) {
	g.started++
	select {
	case g.w.slots <- struct{}{}:
	case <-g.ctx.Done():
		g.errc <- g.ctx.Err()
		return
	}
	go func() {
		defer func() { <-g.w.slots }()
		g.errc <- g.w.session.Query(stmt, args...).Idempotent(true).ExecContext(g.ctx)
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

// Write upserts every result and returns the first error, after every write
// it started has ended.
func (w *CassandraWriter) Write(ctx context.Context, runID, jobID string, results []engine.Result) error {
	g := w.group(ctx, 2*len(results))
	exec := g.exec
	for i := range results {
		r := &results[i]
		start, end, emit := time.UnixMilli(r.Window.Start), time.UnixMilli(r.Window.End), time.UnixMilli(r.EmitTime)
		exec(upsertResult, runID, jobID, r.DeviceID, r.Category, start, end,
			r.SumMeasure1, r.SumMeasure2, r.Count, int(r.Revision), r.Final, emit)
		exec(insertRevision, runID, jobID, r.DeviceID, r.Category, start, int(r.Revision),
			r.SumMeasure1, r.SumMeasure2, r.Count, emit)
	}
	if err := g.wait(); err != nil {
		return fmt.Errorf("write %d results of job %s: %w", len(results), jobID, err)
	}
	return nil
}
