// Package store reads what the comparator compares from Cassandra: the run,
// its truth and raw events, the jobs and their results. Prepared statements
// with bound values only; driver errors are wrapped with what was being read.
package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/boontadata/boontadata/pkg/cassandra"
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
	// The job's rows, from a table of layout (%[1]s: the table's suffix,
	// %[2]s: the partition key's last column).
	// The answers upserted, one row per window, with their write time to
	// weigh them against a job's emissions.
	selectResults = `SELECT device_id, category, window_start, window_end, m1_sum, m2_sum, event_count, revision, is_final, emit_time,
WRITETIME(emit_time) FROM engine_results%[1]s WHERE run_id = ? AND job_id = ? AND %[2]s = ?`
	selectRevisions = `SELECT device_id, category, window_start, revision, m1_sum, m2_sum, event_count, emit_time
FROM engine_result_revisions%[1]s WHERE run_id = ? AND job_id = ? AND %[2]s = ?`
	// %[3]s: the table of the layout's answers.
	selectAnyResult = `SELECT device_id FROM %[3]s WHERE run_id = ? AND job_id = ? AND %[2]s = ? LIMIT 1`
	selectDecisions = `SELECT device_id, category, message_id, kafka_partition, kafka_offset, decision, reason, record_time, device_time,
window_start, window_end, watermark, original_offset, measure1, measure2, emit_time
FROM engine_decisions%[1]s WHERE run_id = ? AND job_id = ? AND %[2]s = ?`
	// Whether the tables of one partition per device hold any row at all.
	selectAnyByDevice = `SELECT device_id FROM engine_results LIMIT 1`
	// Whether engine_results_by_bucket holds any row at all: written by
	// workers before migration 0006 only.
	selectAnyByBucket = `SELECT device_id FROM engine_results_by_bucket LIMIT 1`
	pageSize          = 5000
)

// Store reads from a keyspace-bound session.
type Store struct {
	s    *gocql.Session
	jobs *jobstore.Store

	mu sync.Mutex
	// found: the layout of each (run, job) found with results, which a
	// job keeps once it has written.
	found map[[2]string]layout
}

// New returns a store over a session bound to the platform's keyspace.
func New(s *gocql.Session) *Store {
	return &Store{s: s, jobs: jobstore.New(s), found: make(map[[2]string]layout)}
}

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
	if e, err := job.EngineNamed(j.EngineName); err == nil {
		j.ReportsLate = e.ReportsLate
	}
	j.Engine, j.SpecErr = s.Engine()
	return j
}

// layout is where a job's results, revisions and decision log are: the
// *_by_bucket tables, read once per bucket, with results and revisions in
// engine_emissions_by_bucket (migration 0006, what the workers write) and,
// for what workers before it wrote, in engine_results_by_bucket and
// engine_result_revisions_by_bucket (0005), both read (LoadResults); or
// the tables of one partition per device of jobs written before those, read
// once per device of the run.
type layout struct {
	suffix, column string
	keys           []any
	emissions      bool
}

func byEmissions() layout {
	l := byBucket()
	l.emissions = true
	return l
}

func byBucket() layout {
	keys := make([]any, cassandra.ResultBuckets)
	for i := range keys {
		keys[i] = i
	}
	return layout{suffix: "_by_bucket", column: "bucket", keys: keys}
}

func byDevice(devices []string) layout {
	keys := make([]any, len(devices))
	for i, d := range devices {
		keys[i] = d
	}
	return layout{column: "device_id", keys: keys}
}

func (l layout) query(stmt string) string { return fmt.Sprintf(stmt, l.suffix, l.column, l.answers()) }

// answers is the table of the layout's answers.
func (l layout) answers() string {
	if l.emissions {
		return cassandra.EmissionsTable
	}
	return "engine_results" + l.suffix
}

// layoutOf returns the layout of the job's rows, and whether it has any
// result. A job without rows in engine_emissions_by_bucket is looked for in
// engine_results_by_bucket, then in the tables of one partition per device,
// unless those are empty.
func (st *Store) layoutOf(ctx context.Context, runID, jobID string, devices []string) (layout, bool, error) {
	key := [2]string{runID, jobID}
	st.mu.Lock()
	l, ok := st.found[key]
	st.mu.Unlock()
	if ok {
		return l, true, nil
	}
	l, found, err := st.lookUpLayout(ctx, runID, jobID, devices)
	if found {
		st.mu.Lock()
		st.found[key] = l
		st.mu.Unlock()
	}
	return l, found, err
}

// lookUpLayout is layoutOf without the memo: it reads where the job's
// rows are.
func (st *Store) lookUpLayout(ctx context.Context, runID, jobID string, devices []string) (layout, bool, error) {
	emissions := byEmissions()
	found, err := st.anyResult(ctx, runID, jobID, emissions)
	if found || err != nil {
		return emissions, found, err
	}
	buckets := byBucket()
	if found, err = st.anyResult(ctx, runID, jobID, buckets); found || err != nil {
		return buckets, found, err
	}
	if has, err := st.anyRow(ctx, selectAnyByDevice, "engine_results"); !has || err != nil {
		return emissions, false, err
	}
	old := byDevice(devices)
	if found, err = st.anyResult(ctx, runID, jobID, old); found || err != nil {
		return old, found, err
	}
	return emissions, false, nil
}

// anyRow reports whether stmt, a SELECT of table with LIMIT 1, finds a row.
func (st *Store) anyRow(ctx context.Context, stmt, table string) (bool, error) {
	var dev string
	err := st.s.Query(stmt).ScanContext(ctx, &dev)
	if errors.Is(err, gocql.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read %s: %w", table, err)
	}
	return true, nil
}

func (st *Store) anyResult(ctx context.Context, runID, jobID string, l layout) (bool, error) {
	var dev string
	for _, k := range l.keys {
		err := st.s.Query(l.query(selectAnyResult), runID, jobID, k).ScanContext(ctx, &dev)
		if errors.Is(err, gocql.ErrNotFound) {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("read %s of job %s run %s: %w", l.answers(), jobID, runID, err)
		}
		return true, nil
	}
	return false, nil
}

// HasResults reports whether the job wrote any result for the run.
func (st *Store) HasResults(ctx context.Context, runID, jobID string, devices []string) (bool, error) {
	_, found, err := st.layoutOf(ctx, runID, jobID, devices)
	return found, err
}

// LoadResults reads the job's answers and every revision recorded, for the
// run's devices (rows of other devices are left out). A window's answer is
// its row that supersedes the others (written last: Emission.Supersedes),
// of engine_emissions_by_bucket (migration 0006, what the workers write;
// the rows of the windows in the revision sample are their revisions) and
// of engine_results_by_bucket, where workers before 0006 upserted answers
// (their revisions in engine_result_revisions_by_bucket). A job written
// across a rolling upgrade has rows in both; the latter are read when that
// table holds any row. A job written before migration 0005 is read from
// the tables of one partition per device.
func (st *Store) LoadResults(ctx context.Context, runID, jobID string, devices []string) ([]compare.Result, []compare.Revision, error) {
	l, _, err := st.layoutOf(ctx, runID, jobID, devices)
	if err != nil {
		return nil, nil, err
	}
	ofRun := set(devices)
	answers := map[cassandra.WindowKey]cassandra.Emission{}
	var revisions []compare.Revision
	if l.suffix == "_by_bucket" {
		err = cassandra.ReadEmissions(ctx, st.s, runID, jobID, pageSize, func(e *cassandra.Emission) {
			if !ofRun[e.DeviceID] {
				return
			}
			cassandra.KeepAnswer(answers, e)
			if e.Sampled {
				revisions = append(revisions, compare.Revision{Key: compare.Key{DeviceID: e.DeviceID, Category: e.Category,
					WindowStart: e.WindowStart}, Revision: e.Revision, Agg: compare.Agg{M1: e.M1, M2: e.M2, Count: e.Count}, EmitTime: e.EmitTime})
			}
		})
		if err != nil {
			return nil, nil, err
		}
		upserted, err := st.anyRow(ctx, selectAnyByBucket, "engine_results_by_bucket")
		if err != nil {
			return nil, nil, err
		}
		if !upserted {
			return sortedAnswers(answers), revisions, nil
		}
		l = byBucket()
	}
	if revisions, err = st.loadUpserted(ctx, l, runID, jobID, ofRun, answers, revisions); err != nil {
		return nil, nil, err
	}
	return sortedAnswers(answers), revisions, nil
}

// loadUpserted adds the job's rows of engine_results in layout l, one per
// window, to answers where they supersede what is there, and its rows of
// engine_result_revisions to revisions (a revision recorded in both tables
// once, at its earlier emission).
func (st *Store) loadUpserted(ctx context.Context, l layout, runID, jobID string, ofRun map[string]bool,
	answers map[cassandra.WindowKey]cassandra.Emission, revisions []compare.Revision) ([]compare.Revision, error) {
	type revisionKey struct {
		compare.Key
		revision int
	}
	seen := make(map[revisionKey]int, len(revisions))
	for i, v := range revisions {
		seen[revisionKey{v.Key, v.Revision}] = i
	}
	var e cassandra.Emission
	var v compare.Revision
	var start, end, emit time.Time
	for _, k := range l.keys {
		iter := st.s.Query(l.query(selectResults), runID, jobID, k).PageSize(pageSize).IterContext(ctx)
		for iter.Scan(&e.DeviceID, &e.Category, &start, &end, &e.M1, &e.M2, &e.Count, &e.Revision, &e.Final, &emit, &e.Written) {
			if !ofRun[e.DeviceID] {
				continue
			}
			e.WindowStart, e.EmitTime, e.WindowEnd = start.UnixMilli(), emit.UnixMilli(), 0
			if !end.IsZero() {
				e.WindowEnd = end.UnixMilli()
			}
			cassandra.KeepAnswer(answers, &e)
		}
		if err := iter.Close(); err != nil {
			return nil, fmt.Errorf("read engine_results%s of job %s run %s %s %v: %w", l.suffix, jobID, runID, l.column, k, err)
		}
		iter = st.s.Query(l.query(selectRevisions), runID, jobID, k).PageSize(pageSize).IterContext(ctx)
		for iter.Scan(&v.DeviceID, &v.Category, &start, &v.Revision, &v.M1, &v.M2, &v.Count, &emit) {
			if !ofRun[v.DeviceID] {
				continue
			}
			v.WindowStart, v.EmitTime = start.UnixMilli(), emit.UnixMilli()
			if i, ok := seen[revisionKey{v.Key, v.Revision}]; ok {
				revisions[i].EmitTime = min(revisions[i].EmitTime, v.EmitTime)
				continue
			}
			seen[revisionKey{v.Key, v.Revision}] = len(revisions)
			revisions = append(revisions, v)
		}
		if err := iter.Close(); err != nil {
			return nil, fmt.Errorf("read engine_result_revisions%s of job %s run %s %s %v: %w", l.suffix, jobID, runID, l.column, k, err)
		}
	}
	return revisions, nil
}

// sortedAnswers returns the answers as results, by device, category and
// window.
func sortedAnswers(answers map[cassandra.WindowKey]cassandra.Emission) []compare.Result {
	results := make([]compare.Result, 0, len(answers))
	for k, e := range answers {
		results = append(results, compare.Result{Key: compare.Key(k), WindowEnd: e.WindowEnd,
			Agg: compare.Agg{M1: e.M1, M2: e.M2, Count: e.Count}, Revision: e.Revision, Final: e.Final, EmitTime: e.EmitTime})
	}
	slices.SortFunc(results, func(a, b compare.Result) int {
		return cmp.Or(cmp.Compare(a.DeviceID, b.DeviceID), cmp.Compare(a.Category, b.Category), cmp.Compare(a.WindowStart, b.WindowStart))
	})
	return results
}

// LoadDecisions reads the job's decision log for the run's devices.
func (st *Store) LoadDecisions(ctx context.Context, runID, jobID string, devices []string) ([]compare.Decision, error) {
	l, _, err := st.layoutOf(ctx, runID, jobID, devices)
	if err != nil {
		return nil, err
	}
	ofRun := set(devices)
	var out []compare.Decision
	for _, k := range l.keys {
		iter := st.s.Query(l.query(selectDecisions), runID, jobID, k).PageSize(pageSize).IterContext(ctx)
		var d compare.Decision
		var part int
		for iter.Scan(&d.DeviceID, &d.Category, &d.MessageID, &part, &d.Offset, &d.Kind, &d.Reason, &d.Time, &d.DeviceTime,
			&d.WindowStart, &d.WindowEnd, &d.Watermark, &d.OriginalOffset, &d.M1, &d.M2, &d.EmitTime) {
			if !ofRun[d.DeviceID] {
				continue
			}
			d.Partition = int32(part)
			out = append(out, d)
		}
		if err := iter.Close(); err != nil {
			return nil, fmt.Errorf("read engine_decisions%s of job %s run %s %s %v: %w", l.suffix, jobID, runID, l.column, k, err)
		}
	}
	return out, nil
}

func set(devices []string) map[string]bool {
	m := make(map[string]bool, len(devices))
	for _, d := range devices {
		m[d] = true
	}
	return m
}
