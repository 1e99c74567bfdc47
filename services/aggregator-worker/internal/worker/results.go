package worker

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

// Write upserts every result and returns the first error, after every write
// it started has ended.
func (w *CassandraWriter) Write(ctx context.Context, runID, jobID string, results []engine.Result) error {
	errc := make(chan error, 2*len(results))
	started := 0
	exec := func(stmt string, args ...any) {
		select {
		case w.slots <- struct{}{}:
		case <-ctx.Done():
			errc <- ctx.Err()
			started++
			return
		}
		started++
		go func() {
			defer func() { <-w.slots }()
			errc <- w.session.Query(stmt, args...).Idempotent(true).ExecContext(ctx)
		}()
	}
	for i := range results {
		r := &results[i]
		start, end, emit := time.UnixMilli(r.Window.Start), time.UnixMilli(r.Window.End), time.UnixMilli(r.EmitTime)
		exec(upsertResult, runID, jobID, r.DeviceID, r.Category, start, end,
			r.SumMeasure1, r.SumMeasure2, r.Count, int(r.Revision), r.Final, emit)
		exec(insertRevision, runID, jobID, r.DeviceID, r.Category, start, int(r.Revision),
			r.SumMeasure1, r.SumMeasure2, r.Count, emit)
	}
	var first error
	for range started {
		if err := <-errc; err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		return fmt.Errorf("write %d results of job %s: %w", len(results), jobID, first)
	}
	return nil
}
