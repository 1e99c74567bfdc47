package comparator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/urfave/cli/v2"
	"go.uber.org/zap"

	"github.com/boontadata/boontadata/pkg/engine"

	"github.com/boontadata/boontadata/services/comparator/internal/compare"
	"github.com/boontadata/boontadata/services/comparator/internal/store"
)

const t0 = int64(1_767_225_600_000)

// fakeSource serves a run by hand.
type fakeSource struct {
	runs    map[string]compare.RunData
	jobs    []compare.Job
	results map[string][]compare.Result
}

func (f *fakeSource) LoadRun(_ context.Context, id string) (compare.RunData, error) {
	r, ok := f.runs[id]
	if !ok {
		return r, fmt.Errorf("%w: %s", store.ErrRunNotFound, id)
	}
	return r, nil
}

func (f *fakeSource) Jobs(context.Context) ([]compare.Job, error) { return f.jobs, nil }

func (f *fakeSource) Job(_ context.Context, id string) (compare.Job, error) {
	for _, j := range f.jobs {
		if j.ID == id {
			return j, nil
		}
	}
	return compare.Job{}, fmt.Errorf("%w: %s", store.ErrJobNotFound, id)
}

func (f *fakeSource) HasResults(_ context.Context, _, jobID string, _ []string) (bool, error) {
	return len(f.results[jobID]) > 0, nil
}

func (f *fakeSource) LoadDecisions(context.Context, string, string, []string) ([]compare.Decision, error) {
	return nil, nil
}

func (f *fakeSource) LoadResults(_ context.Context, _, jobID string, _ []string) ([]compare.Result, []compare.Revision, error) {
	return f.results[jobID], nil, nil
}

func newJob(t testing.TB, id, runID, preset string) compare.Job {
	t.Helper()
	spec, err := engine.Preset(preset)
	require.NoError(t, err)
	return compare.Job{ID: id, RunID: runID, Preset: preset, State: "running", Engine: spec}
}

// source: run r1 with two windows of d1/c1; job "good" right, job "dup"
// counts a re-send, job "idle" has no results, job "other" is of run r2.
func source(t testing.TB) *fakeSource {
	key := func(w int64) compare.Key {
		return compare.Key{DeviceID: "d1", Category: "c1", WindowStart: t0 + w*5000}
	}
	truth := []compare.TruthRow{
		{Key: key(0), WindowEnd: t0 + 5000, Agg: compare.Agg{M1: 10, M2: 1, Count: 1}},
		{Key: key(1), WindowEnd: t0 + 10000, Agg: compare.Agg{M1: 20, M2: 2, Count: 1}},
	}
	raw := []compare.RawEvent{
		{DeviceID: "d1", SendSeq: 0, MessageID: "d1-1", DeviceTime: t0 + 100, SendTime: t0 + 100, Category: "c1", M1: 10, M2: 1, Pattern: "normal"},
		{DeviceID: "d1", SendSeq: 1, MessageID: "d1-2", DeviceTime: t0 + 5100, SendTime: t0 + 5100, Category: "c1", M1: 20, M2: 2, Pattern: "normal"},
		{DeviceID: "d1", SendSeq: 2, MessageID: "d1-1", DeviceTime: t0 + 100, SendTime: t0 + 5200, Category: "c1", M1: 10, M2: 1, Pattern: "resend"},
	}
	res := func(w, m1 int64, m2 float64, n int64) compare.Result {
		return compare.Result{Key: key(w), WindowEnd: t0 + (w+1)*5000, Agg: compare.Agg{M1: m1, M2: m2, Count: n}, Revision: int(n), Final: true, EmitTime: t0 + (w+2)*5000}
	}
	return &fakeSource{
		runs: map[string]compare.RunData{
			"r1":      {Run: compare.Run{ID: "r1", Status: "done", Devices: 1, WindowMs: 5000}, DeviceIDs: []string{"d1"}, TruthByDevice: truth, TruthBySend: truth, Raw: raw},
			"running": {Run: compare.Run{ID: "running", Status: "running", WindowMs: 5000}, DeviceIDs: []string{"d1"}},
			"lonely":  {Run: compare.Run{ID: "lonely", Status: "done", WindowMs: 5000}, DeviceIDs: []string{"d1"}, TruthByDevice: truth},
		},
		jobs: []compare.Job{newJob(t, "good", "r1", "exact"), newJob(t, "dup", "r1", "storm"), newJob(t, "idle", "r1", "flink-event"),
			newJob(t, "other", "r2", "exact"), newJob(t, "any", "", "flink-event")},
		results: map[string][]compare.Result{
			"good": {res(0, 10, 1, 1), res(1, 20, 2, 1)},
			"dup":  {res(0, 20, 2, 2), res(1, 20, 2, 1)},
		},
	}
}

func run(t *testing.T, src Source, mutate func(*Config)) (string, error) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.RunID = "r1"
	if mutate != nil {
		mutate(&cfg)
	}
	require.NoError(t, cfg.Validate())
	var out bytes.Buffer
	err := Run(context.Background(), cfg, Deps{Source: src, Log: zap.NewNop(), Stdout: &out,
		Now: func() time.Time { return time.UnixMilli(t0) }})
	return out.String(), err
}

func TestRunOutcomes(t *testing.T) {
	tests := []struct {
		name     string
		runID    string
		jobs     []string
		max      int
		format   string
		wantErr  string
		wantExit int
		wantOut  []string
	}{
		{name: "every job of the run, then the matrix", max: -1,
			wantOut: []string{"job good", "job dup", "job idle", "0 exceptions out of 2", "1 exceptions out of 2",
				"duplicate counted twice: d1-1", "Side by side: run r1", "Nothing to compare for idle"}},
		{name: "one job", jobs: []string{"dup"}, max: -1, wantOut: []string{"Comparing ingest device and downstream for m1_sum", "Exceptions are:"}},
		{name: "max exceptions exceeded", jobs: []string{"good", "dup"}, max: 0, wantExit: ExitMaxExceptions,
			wantErr: "job dup (storm) has 1 exceptions, more than --max-exceptions 0"},
		{name: "max exceptions respected", jobs: []string{"good", "dup"}, max: 1},
		{name: "unknown run", runID: "nope", max: -1, wantErr: `run "nope" not found in keyspace boontadata`},
		{name: "run without truth yet", runID: "running", max: -1, wantErr: "has no rows in truth_by_device_time; the simulator writes them when the run ends"},
		{name: "run without jobs", runID: "lonely", max: -1, wantErr: "submit one with `aggregator-master submit --preset exact --run-id lonely`"},
		{name: "unknown job", jobs: []string{"zzz"}, max: -1, wantErr: `job "zzz" not found`},
		{name: "job of another run", jobs: []string{"other"}, max: -1, wantErr: "job other consumed run r2, not r1"},
		{name: "job asked for without results", jobs: []string{"idle"}, max: -1,
			wantErr: "job idle (preset flink-event, state running) has no results for run r1 yet", wantOut: []string{"Nothing to compare"}},
		{name: "json", jobs: []string{"dup"}, max: -1, format: FormatJSON, wantOut: []string{`"by_cause"`, `"duplicate_counted": 1`}},
		{name: "csv", jobs: []string{"dup"}, max: -1, format: FormatCSV, wantOut: []string{"run_id,job_id,preset,device_id", "r1,dup,storm,d1,c1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := run(t, source(t), func(c *Config) {
				if tt.runID != "" {
					c.RunID = tt.runID
				}
				c.JobIDs = *cli.NewStringSlice(tt.jobs...)
				c.MaxExceptions = tt.max
				if tt.format != "" {
					c.Format = tt.format
				}
			})
			if tt.wantErr == "" {
				require.NoError(t, err)
			} else {
				require.ErrorContains(t, err, tt.wantErr)
			}
			var exit cli.ExitCoder
			if tt.wantExit != 0 {
				require.True(t, errors.As(err, &exit))
				require.Equal(t, tt.wantExit, exit.ExitCode())
			}
			for _, w := range tt.wantOut {
				require.Contains(t, out, w)
			}
		})
	}
}

func TestRunWritesFilesAndStableJSON(t *testing.T) {
	dir := t.TempDir()
	jsonPath, htmlPath := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.html")
	out, err := run(t, source(t), func(c *Config) {
		c.JobIDs = *cli.NewStringSlice("good,dup")
		c.Format, c.Output, c.HTML = FormatJSON, jsonPath, htmlPath
	})
	require.NoError(t, err)
	require.Empty(t, out)
	b, err := os.ReadFile(jsonPath)
	require.NoError(t, err)
	var doc map[string]any
	require.NoError(t, json.Unmarshal(b, &doc))
	require.Equal(t, "r1", doc["run_id"])
	jobs := doc["jobs"].([]any)
	require.Len(t, jobs, 2)
	dup := jobs[1].(map[string]any)
	for _, field := range []string{"run_id", "job_id", "preset", "windows", "exceptions", "by_cause", "latency_ms", "events", "rows", "not_final", "m2_tolerance"} {
		require.Contains(t, dup, field)
	}
	lat := dup["latency_ms"].(map[string]any)
	for _, field := range []string{"p50", "p95", "p99", "p999", "max", "count"} {
		require.Contains(t, lat, field)
	}
	require.Equal(t, "dup", dup["job_id"])
	require.EqualValues(t, 1, dup["exceptions"])
	h, err := os.ReadFile(htmlPath)
	require.NoError(t, err)
	require.Contains(t, string(h), `<script type="application/json" id="report-data">`)
	page := strings.ReplaceAll(string(h), `"http://www.w3.org/2000/svg"`, "")
	require.False(t, strings.Contains(page, "http:") || strings.Contains(page, "https:") || strings.Contains(page, " src="),
		"self-contained: no network reference but the SVG namespace")
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   error
	}{
		{"ok", func(*Config) {}, nil},
		{"no run", func(c *Config) { c.RunID = "" }, ErrNoRun},
		{"format", func(c *Config) { c.Format = "xml" }, ErrBadFormat},
		{"max", func(c *Config) { c.MaxExceptions = -2 }, ErrBadMax},
		{"tolerance", func(c *Config) { c.M2Tolerance = -1 }, ErrBadTolerance},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			c.RunID = "r1"
			tt.mutate(&c)
			err := c.Validate()
			if tt.want == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tt.want)
		})
	}
}

func TestTextMirrorsTheOriginal(t *testing.T) {
	out, err := run(t, source(t), func(c *Config) { c.JobIDs = *cli.NewStringSlice("dup") })
	require.NoError(t, err)
	lines := strings.Split(out, "\n")
	i := indexOf(lines, "Comparing ingest device and downstream for m1_sum")
	require.Positive(t, i)
	require.Equal(t, "--------------------------------------------------", lines[i+1])
	require.Equal(t, "1 exceptions out of 2", lines[i+2])
	require.Contains(t, out, "showing all lines from aggregated events")
	require.Contains(t, out, "2026-01-01 00:00:05  d1         c1")
}

func indexOf(lines []string, s string) int {
	for i, l := range lines {
		if l == s {
			return i
		}
	}
	return -1
}

func TestRunReportsTheFaultsOfTheTimeline(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "r1.faults.jsonl")
	sample := func(ms int64, lag int) string {
		at := time.UnixMilli(ms).UTC().Format(time.RFC3339Nano)
		return fmt.Sprintf(`{"type":"sample","time_ms":%d,"job":{"spec":{"job_id":"dup","state":"running"},`+
			`"workers":[{"worker_id":"worker-1","received_at":%q,"partitions":[0]}],"partitions":[{"worker_id":"worker-1","partition":0,"lag":%d}]}}`, ms, at, lag)
	}
	lines := []string{`{"type":"run","run_id":"r1","send_started_ms":` + fmt.Sprint(t0) + `}`,
		sample(t0+3000, 2), sample(t0+4000, 30),
		`{"type":"fault","kind":"kill-master","target":"aggregator-master","offset_s":3.5,"at_ms":` + fmt.Sprint(t0+3500) + `,"done_ms":` + fmt.Sprint(t0+4500) + `,"ok":true}`,
		sample(t0+5000, 40), sample(t0+6000, 2), sample(t0+7000, 1)}
	require.NoError(t, os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600))

	out, err := run(t, source(t), func(c *Config) {
		c.JobIDs = *cli.NewStringSlice("dup")
		c.Faults = path
	})
	require.NoError(t, err)
	// Level 2 before; back at 6 s; the duplicate storm counts is its
	// semantics, not the fault's doing.
	require.Regexp(t, `kill-master\s+aggregator-master\s+3\.5\s+\S+ \S+\s+1000\s+dup\s+2\s+40\s+2500\s+1\s+no\n`, out)

	out, err = run(t, source(t), func(c *Config) {
		c.JobIDs = *cli.NewStringSlice("dup")
		c.Faults, c.Format = path, FormatJSON
	})
	require.NoError(t, err)
	var doc struct {
		Faults []struct {
			Kind string `json:"kind"`
			Jobs []struct {
				JobID      string `json:"job_id"`
				RecoveryMs *int64 `json:"recovery_ms"`
			} `json:"jobs"`
		} `json:"faults"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &doc))
	require.Len(t, doc.Faults, 1)
	require.Equal(t, "kill-master", doc.Faults[0].Kind)
	require.NotNil(t, doc.Faults[0].Jobs[0].RecoveryMs)
	require.Equal(t, int64(2500), *doc.Faults[0].Jobs[0].RecoveryMs)

	other := filepath.Join(dir, "r9.faults.jsonl")
	require.NoError(t, os.WriteFile(other, []byte(`{"type":"run","run_id":"r9"}`), 0o600))
	_, err = run(t, source(t), func(c *Config) { c.Faults = other })
	require.ErrorIs(t, err, ErrOtherRun)
	_, err = run(t, source(t), func(c *Config) { c.Faults = filepath.Join(dir, "missing.jsonl") })
	require.ErrorContains(t, err, "--faults")
}
