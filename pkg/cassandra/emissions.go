package cassandra

import (
	"context"
	"fmt"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
)

// EmissionsTable holds an engine's answers, one row per emission
// (migration 0006): the row of a window written last is its answer
// (Supersedes), and the rows of a window in the revision sample are
// every revision it had.
const EmissionsTable = "engine_emissions_by_bucket"

// InsertEmission writes one emission; its arguments are run, job, bucket,
// device, category, window start, emission (the revision, or Unsampled),
// window end, the two sums, the count, the revision, final and the emit
// time.
const InsertEmission = `INSERT INTO engine_emissions_by_bucket (run_id, job_id, bucket, device_id, category, window_start, emission,
window_end, m1_sum, m2_sum, event_count, revision, is_final, emit_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// Unsampled is the emission of the one row of a window out of the revision
// sample, which each emission rewrites.
const Unsampled = -1

const selectEmissions = `SELECT device_id, category, window_start, emission, window_end, m1_sum, m2_sum, event_count,
revision, is_final, emit_time, WRITETIME(emit_time) FROM engine_emissions_by_bucket WHERE run_id = ? AND job_id = ? AND bucket = ?`

// Emission is a row of engine_emissions_by_bucket: one answer of an engine
// for a window. Times are ms since the epoch; WindowEnd is 0 when the
// writer did not record it.
type Emission struct {
	DeviceID, Category     string
	WindowStart, WindowEnd int64
	M1                     int64
	M2                     float64
	Count                  int64
	Revision               int
	Final                  bool
	EmitTime               int64
	// Sampled: the window is in the revision sample, this row is one of
	// its revisions (its emission is its revision).
	Sampled bool
	// Written is the row's write time (µs): the batch's timestamp, the
	// micro-batch's write version (job.Task.WriteVersion) or the driver's
	// clock.
	Written int64
}

// Supersedes reports whether e, and not o, is the answer of their window:
// e was written after o, or at the same time with a higher revision. This
// is what an upsert of one row per window keeps (the last write wins),
// with a tie broken by the revision (the records aggregated) instead of by
// the cells' values; so a micro-batch's write version fences the rows of
// a stale task here too.
func (e *Emission) Supersedes(o *Emission) bool {
	if e.Written != o.Written {
		return e.Written > o.Written
	}
	return e.Revision > o.Revision
}

// ReadEmissions calls fn with every row of a job's emissions, bucket by
// bucket; fn must copy what it keeps of e.
func ReadEmissions(ctx context.Context, s *gocql.Session, runID, jobID string, pageSize int, fn func(e *Emission)) error {
	var e Emission
	var start, end, emit time.Time
	var emission int
	for bucket := range ResultBuckets {
		iter := s.Query(selectEmissions, runID, jobID, bucket).PageSize(pageSize).IterContext(ctx)
		for iter.Scan(&e.DeviceID, &e.Category, &start, &emission, &end, &e.M1, &e.M2, &e.Count,
			&e.Revision, &e.Final, &emit, &e.Written) {
			e.WindowStart, e.EmitTime, e.Sampled = start.UnixMilli(), emit.UnixMilli(), emission != Unsampled
			e.WindowEnd = 0
			if !end.IsZero() {
				e.WindowEnd = end.UnixMilli()
			}
			fn(&e)
		}
		if err := iter.Close(); err != nil {
			return fmt.Errorf("read %s of job %s run %s bucket %d: %w", EmissionsTable, jobID, runID, bucket, err)
		}
	}
	return nil
}

// WindowKey names a window of a device and category.
type WindowKey struct {
	DeviceID, Category string
	WindowStart        int64
}

// KeepAnswer keeps e as its window's answer in answers if it supersedes
// the one kept so far.
func KeepAnswer(answers map[WindowKey]Emission, e *Emission) {
	k := WindowKey{e.DeviceID, e.Category, e.WindowStart}
	if cur, ok := answers[k]; !ok || e.Supersedes(&cur) {
		answers[k] = *e
	}
}

// Answers reads the answer of every window of a job (the row that
// supersedes the window's others), by window.
func Answers(ctx context.Context, s *gocql.Session, runID, jobID string) (map[WindowKey]Emission, error) {
	out := map[WindowKey]Emission{}
	err := ReadEmissions(ctx, s, runID, jobID, 5000, func(e *Emission) { KeepAnswer(out, e) })
	return out, err
}
