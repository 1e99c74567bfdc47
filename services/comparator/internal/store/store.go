// Package store reads what the comparator compares from Cassandra: the run,
// its truth and raw events, the jobs and their results. Prepared statements
// with bound values only; driver errors are wrapped with what was being read.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/boontadata/boontadata/pkg/job"
	"github.com/boontadata/boontadata/pkg/job/jobstore"

	"github.com/boontadata/boontadata/services/comparator/internal/compare"
)

// ErrRunNotFound is returned for a run id that the runs table does not hold.
var ErrRunNotFound = errors.New("no such run")

// ErrJobNotFound is returned for a job id that the jobs table does not hold.
var ErrJobNotFound = job.ErrNotFound

const (
	selectRun = `SELECT run_id, started_at, ended_at, input_ended_at, devices, window_ms, resend_horizon_ms, flags, counts, status
FROM runs WHERE run_id = ?`
	selectDevices = `SELECT device_id FROM run_devices WHERE run_id = ?`
	selectTruth   = `SELECT device_id, category, window_start, window_end, m1_sum, m2_sum, event_count
FROM %s WHERE run_id = ? AND device_id = ?`
	selectRaw = `SELECT device_id, send_seq, message_id, device_time, send_time, category, measure1, measure2, pattern
FROM raw_events WHERE run_id = ? AND device_id = ?`
	selectResults = `SELECT device_id, category, window_start, window_end, m1_sum, m2_sum, event_count, revision, is_final, emit_time
FROM engine_results WHERE run_id = ? AND job_id = ? AND device_id = ?`
	selectRevisions = `SELECT device_id, category, window_start, revision, m1_sum, m2_sum, event_count, emit_time
FROM engine_result_revisions WHERE run_id = ? AND job_id = ? AND device_id = ?`
	selectAnyResult = `SELECT device_id FROM engine_results WHERE run_id = ? AND job_id = ? AND device_id = ? LIMIT 1`
	selectDecisions = `SELECT device_id, category, message_id, kafka_partition, kafka_offset, decision, reason, record_time, device_time,
window_start, window_end, watermark, original_offset, measure1, measure2, emit_time
FROM engine_decisions WHERE run_id = ? AND job_id = ? AND device_id = ?`
	pageSize = 5000
)

// Store reads from a keyspace-bound session.
type Store struct {
	s    *gocql.Session
	jobs *jobstore.Store
}

// New returns a store over a session bound to the platform's keyspace.
func New(s *gocql.Session) *Store { return &Store{s: s, jobs: jobstore.New(s)} }

// LoadRun reads the run, its devices, truth and raw events, or returns
// ErrRunNotFound.
func (st *Store) LoadRun(ctx context.Context, runID string) (compare.RunData, error) {
	var rd compare.RunData
	r := &rd.Run
	var started, ended, inputEnded time.Time
	var devices *int
	var windowMs, horizon *int64
	var status *string
	err := st.s.Query(selectRun, runID).ScanContext(ctx, &r.ID, &started, &ended, &inputEnded, &devices, &windowMs, &horizon, &r.Flags, &r.Counts, &status)
	if errors.Is(err, gocql.ErrNotFound) {
		return rd, fmt.Errorf("%w: %s", ErrRunNotFound, runID)
	}
	if err != nil {
		return rd, fmt.Errorf("read run %s: %w", runID, err)
	}
	r.Started, r.Ended, r.InputEnded = started, ended, inputEnded
	if devices != nil {
		r.Devices = *devices
	}
	if windowMs != nil {
		r.WindowMs = *windowMs
	}
	if horizon != nil {
		r.ResendHorizonMs = *horizon
	}
	if status != nil {
		r.Status = *status
	}
	iter := st.s.Query(selectDevices, runID).PageSize(pageSize).IterContext(ctx)
	var dev string
	for iter.Scan(&dev) {
		rd.DeviceIDs = append(rd.DeviceIDs, dev)
	}
	if err := iter.Close(); err != nil {
		return rd, fmt.Errorf("read devices of run %s: %w", runID, err)
	}
	for _, d := range rd.DeviceIDs {
		if rd.TruthByDevice, err = st.truth(ctx, "truth_by_device_time", runID, d, rd.TruthByDevice); err != nil {
			return rd, err
		}
		if rd.TruthBySend, err = st.truth(ctx, "truth_by_send_time", runID, d, rd.TruthBySend); err != nil {
			return rd, err
		}
		if rd.Raw, err = st.raw(ctx, runID, d, rd.Raw); err != nil {
			return rd, err
		}
	}
	return rd, nil
}

func (st *Store) truth(ctx context.Context, table, runID, device string, out []compare.TruthRow) ([]compare.TruthRow, error) {
	iter := st.s.Query(fmt.Sprintf(selectTruth, table), runID, device).PageSize(pageSize).IterContext(ctx)
	var t compare.TruthRow
	var start, end time.Time
	for iter.Scan(&t.DeviceID, &t.Category, &start, &end, &t.M1, &t.M2, &t.Count) {
		t.WindowStart, t.WindowEnd = start.UnixMilli(), end.UnixMilli()
		out = append(out, t)
	}
	if err := iter.Close(); err != nil {
		return out, fmt.Errorf("read %s of run %s device %s: %w", table, runID, device, err)
	}
	return out, nil
}

func (st *Store) raw(ctx context.Context, runID, device string, out []compare.RawEvent) ([]compare.RawEvent, error) {
	iter := st.s.Query(selectRaw, runID, device).PageSize(pageSize).IterContext(ctx)
	var e compare.RawEvent
	var dt, sent time.Time
	for iter.Scan(&e.DeviceID, &e.SendSeq, &e.MessageID, &dt, &sent, &e.Category, &e.M1, &e.M2, &e.Pattern) {
		e.DeviceTime, e.SendTime = dt.UnixMilli(), sent.UnixMilli()
		out = append(out, e)
	}
	if err := iter.Close(); err != nil {
		return out, fmt.Errorf("read raw_events of run %s device %s: %w", runID, device, err)
	}
	return out, nil
}

// Jobs returns every job of the jobs table (a small table, read whole).
func (st *Store) Jobs(ctx context.Context) ([]compare.Job, error) {
	specs, err := st.jobs.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]compare.Job, len(specs))
	for i, s := range specs {
		out[i] = toJob(s)
	}
	return out, nil
}

// Job returns one job, or an error wrapping ErrJobNotFound.
func (st *Store) Job(ctx context.Context, id string) (compare.Job, error) {
	s, err := st.jobs.Get(ctx, id)
	if err != nil {
		return compare.Job{}, err
	}
	return toJob(s), nil
}

func toJob(s job.Spec) compare.Job {
	j := compare.Job{ID: s.ID, RunID: s.RunID, Preset: s.Preset, State: s.State,
		EngineName: s.EngineUnderTest(), DecisionLog: s.EngineUnderTest() == job.Boontadata}
	j.Engine, j.SpecErr = s.Engine()
	return j
}

// HasResults reports whether the job wrote any result for the run.
func (st *Store) HasResults(ctx context.Context, runID, jobID string, devices []string) (bool, error) {
	var dev string
	for _, d := range devices {
		err := st.s.Query(selectAnyResult, runID, jobID, d).ScanContext(ctx, &dev)
		if errors.Is(err, gocql.ErrNotFound) {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("read results of job %s run %s: %w", jobID, runID, err)
		}
		return true, nil
	}
	return false, nil
}

// LoadResults reads the job's latest results and every revision, for the
// run's devices.
func (st *Store) LoadResults(ctx context.Context, runID, jobID string, devices []string) ([]compare.Result, []compare.Revision, error) {
	var results []compare.Result
	var revisions []compare.Revision
	for _, d := range devices {
		iter := st.s.Query(selectResults, runID, jobID, d).PageSize(pageSize).IterContext(ctx)
		var r compare.Result
		var start, end, emit time.Time
		for iter.Scan(&r.DeviceID, &r.Category, &start, &end, &r.M1, &r.M2, &r.Count, &r.Revision, &r.Final, &emit) {
			r.WindowStart, r.EmitTime = start.UnixMilli(), emit.UnixMilli()
			r.WindowEnd = 0
			if !end.IsZero() {
				r.WindowEnd = end.UnixMilli()
			}
			results = append(results, r)
		}
		if err := iter.Close(); err != nil {
			return nil, nil, fmt.Errorf("read engine_results of job %s run %s device %s: %w", jobID, runID, d, err)
		}
		iter = st.s.Query(selectRevisions, runID, jobID, d).PageSize(pageSize).IterContext(ctx)
		var v compare.Revision
		for iter.Scan(&v.DeviceID, &v.Category, &start, &v.Revision, &v.M1, &v.M2, &v.Count, &emit) {
			v.WindowStart, v.EmitTime = start.UnixMilli(), emit.UnixMilli()
			revisions = append(revisions, v)
		}
		if err := iter.Close(); err != nil {
			return nil, nil, fmt.Errorf("read engine_result_revisions of job %s run %s device %s: %w", jobID, runID, d, err)
		}
	}
	return results, revisions, nil
}

// LoadDecisions reads the job's decision log for the run's devices.
func (st *Store) LoadDecisions(ctx context.Context, runID, jobID string, devices []string) ([]compare.Decision, error) {
	var out []compare.Decision
	for _, dev := range devices {
		iter := st.s.Query(selectDecisions, runID, jobID, dev).PageSize(pageSize).IterContext(ctx)
		var d compare.Decision
		var part int
		for iter.Scan(&d.DeviceID, &d.Category, &d.MessageID, &part, &d.Offset, &d.Kind, &d.Reason, &d.Time, &d.DeviceTime,
			&d.WindowStart, &d.WindowEnd, &d.Watermark, &d.OriginalOffset, &d.M1, &d.M2, &d.EmitTime) {
			d.Partition = int32(part)
			out = append(out, d)
		}
		if err := iter.Close(); err != nil {
			return nil, fmt.Errorf("read engine_decisions of job %s run %s device %s: %w", jobID, runID, dev, err)
		}
	}
	return out, nil
}
