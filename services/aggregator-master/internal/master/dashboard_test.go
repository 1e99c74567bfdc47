package master

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/boontadata/boontadata/pkg/job"
	"github.com/boontadata/boontadata/pkg/probe"
	"github.com/boontadata/boontadata/services/aggregator-master/internal/api"
)

// newDashFixture is a fixture whose master drives micro-batch jobs over
// fakes and whose configuration edit changes.
func newDashFixture(tb testing.TB, edit func(*Config)) (*fixture, *fakeBatches) {
	tb.Helper()
	f := &fixture{store: newFakeStore(), pub: &fakePublisher{}, clock: newClock(), checker: &fakeChecker{}}
	batches := newFakeBatches()
	cfg := testConfig()
	if edit != nil {
		edit(&cfg)
	}
	m, err := New(cfg, Deps{Store: f.store, Publisher: f.pub, Clock: f.clock,
		Checkers:   map[string]probe.Checker{"cassandra": f.checker},
		MicroBatch: MicroBatchDeps{Batches: batches, Offsets: &fakeOffsets{}, Tasks: &fakeTasks{store: batches}}})
	require.NoError(tb, err)
	f.m, f.h = m, m.Handler()
	return f, batches
}

// page gets a dashboard page and checks what every page must be: HTML that
// loads nothing from elsewhere.
func page(t *testing.T, f *fixture, path string) string {
	t.Helper()
	rec := f.do(t, "GET", path, "")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	require.Equal(t, "text/html; charset=utf-8", rec.Header().Get("Content-Type"))
	require.Equal(t, pageCSP, rec.Header().Get("Content-Security-Policy"))
	body := rec.Body.String()
	for _, m := range regexp.MustCompile(`(?:src|href)="([^"]*)"`).FindAllStringSubmatch(body, -1) {
		require.True(t, strings.HasPrefix(m[1], "/"), "%s: %s is not the master's own", path, m[0])
	}
	require.NotContains(t, body, "<script>", "no inline script: the CSP allows the master's script file only")
	require.NotContains(t, body, "style=", "no inline style")
	require.Contains(t, body, `<script src="/ui/dashboard.js" defer></script>`)
	require.Contains(t, body, `<noscript><meta http-equiv="refresh" content="5"></noscript>`)
	return body
}

func submit(t *testing.T, f *fixture, body string) {
	t.Helper()
	rec := f.do(t, "POST", "/api/jobs", body)
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
}

func TestDashboardOverview(t *testing.T) {
	f, _ := newDashFixture(t, nil)
	submit(t, f, `{"job_id":"j1","preset":"exact","run_id":"r1"}`)
	submit(t, f, `{"job_id":"j2","preset":"storm"}`)
	submit(t, f, `{"job_id":"sp1","preset":"structured","engine":"spark","run_id":"r1"}`)
	require.Equal(t, http.StatusOK, f.do(t, "POST", "/api/jobs/j2/cancel", "").Code)
	r := report("w1", "j1", part(3, 5, t0.Add(-1500*time.Millisecond).UnixMilli(), 1.5))
	r.Error = "<script>alert(1)</script>"
	f.m.Observe(r)

	body := page(t, f, "/")
	require.Contains(t, body, `<tr data-job="j1" data-state="running">`)
	require.Contains(t, body, `<tr data-job="j2" data-state="cancelled">`)
	require.Contains(t, body, `<a href="/jobs/j1">j1</a>`)
	require.Contains(t, body, `<td>spark</td><td>structured</td>`, "the engine under test")
	require.Contains(t, body, "1.5 s", "watermark delay: now minus the watermark")
	require.Contains(t, body, `data-cancel="j1"`)
	require.NotContains(t, body, `data-cancel="j2"`, "no cancel button on a cancelled job")
	require.Contains(t, body, `id="spark-rate-j1"`)
	require.Contains(t, body, `id="spark-lag-j1"`)
	require.Contains(t, body, "&lt;script&gt;alert(1)&lt;/script&gt;", "escaped")
	require.Contains(t, body, `<a href="/?state=running" data-state="running">running (2)</a>`)
	require.Contains(t, body, `<a href="/?state=cancelled" data-state="cancelled">cancelled (1)</a>`)
	require.NotContains(t, body, `id="cancel-token"`, "no token asked of a master without one")

	running := page(t, f, "/?state=running")
	require.Contains(t, running, `data-job="j1"`)
	require.NotContains(t, running, `data-job="j2"`)
	require.Contains(t, running, `class="here">running (2)</a>`)
	failed := page(t, f, "/?state=failed")
	require.Contains(t, failed, "No failed job.")
	require.Equal(t, http.StatusBadRequest, f.do(t, "GET", "/?state=sleeping", "").Code)
	require.Equal(t, http.StatusNotFound, f.do(t, "GET", "/nothing-here", "").Code)
}

func TestDashboardAsksForTheTokenWhenCancelNeedsIt(t *testing.T) {
	f, _ := newDashFixture(t, func(c *Config) { c.APIToken = "s3cret" })
	body := page(t, f, "/")
	require.Contains(t, body, `data-token-required="true"`)
	require.Contains(t, body, `id="cancel-token"`)
	require.NotContains(t, body, "s3cret")

	// The dialog's request: same origin, JSON, the token typed in.
	submitReq := httptest.NewRequest("POST", "/api/jobs", strings.NewReader(`{"job_id":"j1","preset":"exact"}`))
	submitReq.Host = "127.0.0.1:8090"
	submitReq.Header.Set("Content-Type", "application/json")
	submitReq.Header.Set("Authorization", "Bearer s3cret")
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, submitReq)
	require.Equal(t, http.StatusCreated, rec.Code)
	cancel := func(token string) int {
		req := httptest.NewRequest("POST", "/api/jobs/j1/cancel", nil)
		req.Host = "127.0.0.1:8090"
		req.Header.Set("Origin", "http://127.0.0.1:8090")
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		f.h.ServeHTTP(rec, req)
		return rec.Code
	}
	require.Equal(t, http.StatusUnauthorized, cancel(""))
	require.Equal(t, http.StatusForbidden, cancel("nope"))
	require.Equal(t, http.StatusOK, cancel("s3cret"))
	s, _ := f.m.Jobs().Get("j1")
	require.Equal(t, job.StateCancelled, s.State)
}

func TestDashboardJobPage(t *testing.T) {
	reports := t.TempDir()
	f, _ := newDashFixture(t, func(c *Config) { c.ReportsDir = reports })
	submit(t, f, `{"job_id":"j1","preset":"exact","run_id":"r1"}`)
	r := report("w1", "j1", part(0, 5, t0.UnixMilli(), 1.5), part(1, 6, t0.UnixMilli(), 2))
	r.Error = "write results: <b>timeout</b>"
	f.m.Observe(r)
	f.m.history.Record(f.clock.Now(), f.m.jobs.List(), f.m.tracker.All())

	body := page(t, f, "/jobs/j1")
	require.Contains(t, body, `<main data-job="j1">`)
	require.Contains(t, body, `<span class="badge state running" id="job-state">running</span>`)
	require.Contains(t, body, `data-cancel="j1"`)
	require.Contains(t, body, "event time, window 5s")
	require.Contains(t, body, `<tr data-partition="0">`)
	require.Contains(t, body, `<tr data-partition="1">`)
	require.Contains(t, body, `<tr data-worker="w1">`)
	require.Contains(t, body, `<td>0, 1</td>`, "the worker's partitions")
	require.Contains(t, body, "write results: &lt;b&gt;timeout&lt;/b&gt;", "recent errors, escaped")
	require.Contains(t, body, `data-series="events_per_second"`)
	require.Contains(t, body, `data-series="watermark_delay_ms"`)
	require.Contains(t, body, "2 records sent to <code>boontadata-deadletter</code>", "the dead letters count")
	require.NotContains(t, body, "Micro-batches")
	require.Contains(t, body, "no report of run r1 in "+reports+" yet")

	require.NoError(t, os.WriteFile(filepath.Join(reports, "r1.html"), []byte("<html>report</html>"), 0o644))
	body = page(t, f, "/jobs/j1")
	require.Contains(t, body, `<a href="/reports/r1.html" id="report-link">`)

	require.Equal(t, http.StatusNotFound, f.do(t, "GET", "/jobs/nope", "").Code)
}

func TestDashboardMicroBatchJob(t *testing.T) {
	f, batches := newDashFixture(t, nil)
	submit(t, f, `{"job_id":"s1","preset":"structured","run_id":"r1"}`)
	for i := int64(1); i <= 3; i++ {
		at := t0.Add(time.Duration(i) * 5 * time.Second)
		b := Batch{JobID: "s1", ID: i, Time: at.UnixMilli(), Ranges: map[int32][2]int64{0: {0, 10 * i}, 1: {0, 5}},
			State: job.BatchCompleted, PlannedAt: at.Add(200 * time.Millisecond), CompletedAt: at.Add(time.Second)}
		if i == 3 {
			b.State, b.CompletedAt = job.BatchPlanned, time.Time{}
		}
		require.NoError(t, batches.Save(t.Context(), b))
	}

	body := page(t, f, "/jobs/s1")
	require.Contains(t, body, `data-batches="100"`)
	require.Contains(t, body, `data-batch-field="scheduling_delay_ms"`)
	require.Contains(t, body, `id="microbatch-note"`)
	require.NotContains(t, body, `data-series=`, "no per-record chart: the micro-batch runtime reports per batch")
	require.Contains(t, body, `<tr data-batch="3">`)
	require.Contains(t, body, `<tr data-batch="1"><td class="n">1</td><td>12:00:05.000</td><td>completed</td><td class="n">15</td>`+
		`
<td class="n">200 ms</td><td class="n">800 ms</td>
<td class="n">1.0 s</td>`)

	rec := f.do(t, "GET", "/api/jobs/s1?batches=2", "")
	require.Equal(t, http.StatusOK, rec.Code)
	d := decode[api.JobDetail](t, rec)
	require.Len(t, d.Batches, 2, "?batches= bounds the list")
	require.Equal(t, int64(0), d.Batches[0].TotalDelayMs, "not completed yet")
	require.Equal(t, int64(1000), d.Batches[1].TotalDelayMs)
	for _, bad := range []string{"0", "x", "1001"} {
		require.Equal(t, http.StatusBadRequest, f.do(t, "GET", "/api/jobs/s1?batches="+bad, "").Code)
	}
}

func TestDashboardExternalJob(t *testing.T) {
	f, _ := newDashFixture(t, nil)
	submit(t, f, `{"job_id":"sp1","preset":"structured","engine":"spark","run_id":"r1"}`)
	f.m.Observe(job.WorkerReport{WorkerID: "w1", JobID: "sp1", Time: t0,
		External: &job.ExternalProgress{Lines: 12, Results: 10, BadLines: 1, Late: 3, Started: true, ResultsPartitions: 4, EndedPartitions: []int32{0}}})
	body := page(t, f, "/jobs/sp1")
	require.Contains(t, body, `data-external="true"`)
	require.Contains(t, body, "Results ingestion (engine under test)")
	require.Contains(t, body, `<td class="n">12</td><td class="n">10</td><td class="n">1</td><td class="n">3</td>`)
	require.Contains(t, body, "1 of 4 partitions")
	require.NotContains(t, body, "Micro-batches", "spark runs its own batches")
	require.NotContains(t, body, `data-series="lag"`, "an engine under test reports no lag")
}

func TestDashboardClusterPage(t *testing.T) {
	f, _ := newDashFixture(t, nil)
	submit(t, f, `{"job_id":"j1","preset":"exact"}`)
	submit(t, f, `{"job_id":"j2","preset":"storm"}`)
	f.m.Observe(report("w1", "j1", part(0, 5, 0, 1), part(1, 5, 0, 1)))
	f.m.Observe(report("w1", "j2", part(0, 3, 0, 2)))
	f.m.Observe(report("w2", "j1", part(2, 1, 0, 1)))
	body := page(t, f, "/cluster")
	require.Contains(t, body, `<tr data-worker="w1"><td>w1</td>
<td><a href="/jobs/j1">j1</a>, <a href="/jobs/j2">j2</a></td>
<td class="n">3</td><td class="n">13</td><td class="n">4.0</td>`)
	require.Contains(t, body, `<tr data-worker="w2">`)
	for _, p := range []string{"dstream", "structured", "flink-event", "exact"} {
		require.Contains(t, body, `<tr data-preset="`+p+`">`)
	}
	for _, e := range job.Engines() {
		require.Contains(t, body, `<tr data-engine="`+e.Name+`">`)
	}
	require.Contains(t, body, "<code>boontadata-progress</code>")
}

func TestDashboardHistoryEndpoints(t *testing.T) {
	f, _ := newDashFixture(t, nil)
	submit(t, f, `{"job_id":"j1","preset":"exact"}`)
	f.m.Observe(report("w1", "j1", part(0, 5, 0, 1.5)))
	for range 3 {
		f.m.history.Record(f.clock.Now(), f.m.jobs.List(), f.m.tracker.All())
		f.clock.Add(time.Second)
	}
	rec := f.do(t, "GET", "/api/jobs/j1/history", "")
	require.Equal(t, http.StatusOK, rec.Code)
	h := decode[api.History](t, rec)
	require.Len(t, h.Recent, 3)
	require.Equal(t, 1.5, h.Life[2].EventsPerSecond)

	all := decode[api.Histories](t, f.do(t, "GET", "/api/history", ""))
	require.Len(t, all.Jobs["j1"], 3)
	require.Equal(t, int64(1000), all.IntervalMs)

	submit(t, f, `{"job_id":"j2","preset":"exact"}`)
	empty := decode[api.History](t, f.do(t, "GET", "/api/jobs/j2/history", ""))
	require.Empty(t, empty.Recent)
	require.NotNil(t, empty.Recent, "[] rather than null")
	require.Equal(t, http.StatusNotFound, f.do(t, "GET", "/api/jobs/nope/history", "").Code)
}

func TestDashboardAssets(t *testing.T) {
	f, _ := newDashFixture(t, nil)
	for file, ct := range assetTypes {
		rec := f.do(t, "GET", "/ui/"+file, "")
		require.Equal(t, http.StatusOK, rec.Code)
		require.Equal(t, ct, rec.Header().Get("Content-Type"))
		text := strings.ReplaceAll(rec.Body.String(), `"http://www.w3.org/2000/svg"`, "") // a name, not an address
		require.NotContains(t, text, "http://", "no external request")
		require.NotContains(t, text, "https://")
	}
	require.Equal(t, http.StatusNotFound, f.do(t, "GET", "/ui/layout.html", "").Code, "templates are not served")
	require.Equal(t, http.StatusNotFound, f.do(t, "GET", "/ui/..%2fdashboard.go", "").Code)
}

func TestDashboardServesReports(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "run-1.html"), []byte("<html>the report</html>"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(t.TempDir(), "secret.html"), []byte("secret"), 0o644))
	require.NoError(t, os.Symlink("/etc/passwd", filepath.Join(dir, "link.html")))
	f, _ := newDashFixture(t, func(c *Config) { c.ReportsDir = dir })

	rec := f.do(t, "GET", "/reports/run-1.html", "")
	require.Equal(t, http.StatusOK, rec.Code)
	require.Equal(t, "<html>the report</html>", rec.Body.String())
	require.Equal(t, reportCSP, rec.Header().Get("Content-Security-Policy"))
	for _, bad := range []string{"/reports/nope.html", "/reports/run-1.json", "/reports/..%2fsecret.html", "/reports/link.html", "/reports/.html"} {
		require.Equal(t, http.StatusNotFound, f.do(t, "GET", bad, "").Code, bad)
	}
	g, _ := newDashFixture(t, nil)
	require.Equal(t, http.StatusNotFound, g.do(t, "GET", "/reports/run-1.html", "").Code, "no --reports-dir: nothing served")
}

func TestDashboardMetrics(t *testing.T) {
	f, _ := newDashFixture(t, nil)
	submit(t, f, `{"job_id":"j1","preset":"exact","run_id":"r1"}`)
	submit(t, f, `{"job_id":"sp1","preset":"structured","engine":"spark","run_id":"r1"}`)
	submit(t, f, `{"job_id":"s1","preset":"structured","run_id":"r1"}`)
	f.m.Observe(report("w1", "j1", part(0, 5, t0.Add(-2*time.Second).UnixMilli(), 1.5)))
	f.m.Observe(job.WorkerReport{WorkerID: "w1", JobID: "sp1", Time: t0, External: &job.ExternalProgress{Lines: 12, Results: 10, BadLines: 1}})
	f.m.history.ObserveBatch("s1", api.Batch{InputRows: 40, SchedulingDelayMs: 200, ProcessingMs: 800, TotalDelayMs: 1000})

	body := f.do(t, "GET", "/metrics", "").Body.String()
	for _, want := range []string{
		`boontadata_master_job_info{engine="spark",job_id="sp1",preset="structured",run_id="r1"} 1`,
		`boontadata_master_job_watermark_delay_seconds{job_id="j1",preset="exact"} 2`,
		`boontadata_master_job_results_emitted{job_id="j1",preset="exact"} 3`,
		`boontadata_master_job_open_windows{job_id="j1",preset="exact"} 1`,
		`boontadata_master_job_external_result_lines{job_id="sp1",preset="structured"} 12`,
		`boontadata_master_job_external_results_written{job_id="sp1",preset="structured"} 10`,
		`boontadata_master_job_external_bad_lines{job_id="sp1",preset="structured"} 1`,
		`boontadata_master_job_batch_input_rows_bucket{job_id="s1",preset="structured",le="100"} 1`,
		`boontadata_master_job_batch_total_delay_seconds_sum{job_id="s1",preset="structured"} 1`,
		`boontadata_master_job_batch_processing_seconds_count{job_id="s1",preset="structured"} 1`,
		`boontadata_master_job_batch_scheduling_delay_seconds_bucket{job_id="s1",preset="structured",le="0.25"} 1`,
		`boontadata_master_history_jobs 1`,
	} {
		require.Contains(t, body, want)
	}
	require.Equal(t, http.StatusOK, f.do(t, "POST", "/api/jobs/s1/cancel", "").Code)
	body = f.do(t, "GET", "/metrics", "").Body.String()
	require.NotContains(t, body, `job_id="s1"`, "no series for a cancelled job")
}

func TestConfigHistoryInterval(t *testing.T) {
	cfg := testConfig()
	cfg.HistoryInterval = 10 * time.Millisecond
	require.ErrorIs(t, cfg.Validate(), ErrBadHistory)
}

// The JSON the dashboard's script reads keeps its field names.
func TestSampleJSON(t *testing.T) {
	d := int64(1500)
	b, err := json.Marshal(api.Sample{TimeMs: 1, EventsPerSecond: 2, WatermarkDelayMs: &d})
	require.NoError(t, err)
	for _, k := range []string{`"t":1`, `"events_per_second":2`, `"records":0`, `"lag":0`, `"watermark_delay_ms":1500`,
		`"results_written":0`, `"results_per_second":0`, `"dead_letters":0`} {
		require.Contains(t, string(b), k)
	}
}
