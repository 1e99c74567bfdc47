package comparator

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/stretchr/testify/require"
	"github.com/urfave/cli/v2"
	"go.uber.org/zap/zaptest"

	"github.com/boontadata/boontadata/pkg/cassandra"
	"github.com/boontadata/boontadata/pkg/engine"
	"github.com/boontadata/boontadata/pkg/job"
	"github.com/boontadata/boontadata/pkg/job/jobstore"
	"github.com/boontadata/boontadata/pkg/setup"
	"github.com/boontadata/boontadata/pkg/testutil"

	"github.com/boontadata/boontadata/services/comparator/internal/compare"
	"github.com/boontadata/boontadata/services/comparator/internal/store"
)

// itEvent is one send of the known run.
type itEvent struct {
	dev, id, pattern string
	deviceMs, sendMs int64
	m1               int64
	m2               float64
}

// knownRun: device d1, category c1, three 5 s windows from t0.
//
//	window 0: d1-1 (10), d1-2 (20), re-send of d1-1 at +6 s
//	window 1: d1-3 (30), d1-4 late by 2m13s (31)
//	window 2: d1-5 (5)
var knownRun = []itEvent{
	{"d1", "d1-1", "normal", t0 + 100, t0 + 100, 10, 1.5},
	{"d1", "d1-2", "normal", t0 + 200, t0 + 200, 20, 2.25},
	{"d1", "d1-3", "normal", t0 + 5100, t0 + 5100, 30, 3},
	{"d1", "d1-1", "resend", t0 + 100, t0 + 6100, 10, 1.5},
	{"d1", "d1-5", "normal", t0 + 10100, t0 + 10100, 5, 0.5},
	{"d1", "d1-4", "late", t0 + 6000, t0 + 6000 + 133000, 31, 4},
}

// itResult is an engine row: window index, sums, final, emit delay after
// the window end.
type itResult struct {
	w      int64
	m1     int64
	m2     float64
	n      int64
	final  bool
	emitMs int64
}

// The layouts of a job's results: engine_emissions_by_bucket (migration
// 0006, what the workers write), engine_results_by_bucket and
// engine_result_revisions_by_bucket (0005), and the tables of one
// partition per device before those.
const (
	emissions = "emissions"
	byBucket  = "by bucket"
	byDevice  = "by device"
)

// TestIntegrationReportOfAKnownRun reports on a run whose results are in
// engine_emissions_by_bucket, then on the same run with its results in the
// tables of jobs written before it.
func TestIntegrationReportOfAKnownRun(t *testing.T) {
	testutil.Integration(t)
	for _, layout := range []string{emissions, byBucket, byDevice} {
		t.Run(layout, func(t *testing.T) { reportOfAKnownRun(t, layout) })
	}
}

func reportOfAKnownRun(t *testing.T, layout string) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cfg := DefaultConfig()
	cfg.Cassandra.Hosts = testutil.CassandraHosts()
	cfg.Cassandra.Keyspace = testutil.Unique("itcmp_")
	log := zaptest.NewLogger(t)
	require.NoError(t, setup.Run(ctx, setup.Options{Cassandra: &cfg.Cassandra, Wait: time.Minute}, log))
	session, err := cassandra.NewSession(&cfg.Cassandra, log, true)
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = session.Query("DROP KEYSPACE IF EXISTS " + cfg.Cassandra.Keyspace).Exec() // best effort
		session.Close()
	})
	insertKnownRun(ctx, t, session)
	jobs := jobstore.New(session)
	for _, j := range []job.Spec{
		{ID: "it-storm", RunID: "it-run", Preset: "storm"},
		{ID: "it-flink-event", RunID: "it-run", Preset: "flink-event"},
		{ID: "it-exact", RunID: "it-run", Preset: "exact"},
		{ID: "it-idle", RunID: "it-run", Preset: "structured"},
		{ID: "it-other", RunID: "other-run", Preset: "exact"},
	} {
		require.NoError(t, jobs.Save(ctx, j.WithDefaults()))
	}
	// storm counts the re-send; flink-event drops the late event (its
	// decision log says so) and has not emitted window 2 yet; exact is
	// right, window 2 not final yet.
	insertResults(ctx, t, session, layout, "it-storm", "d1", []itResult{{0, 40, 5.25, 3, true, 1000}, {1, 61, 7, 2, true, 2000}, {2, 5, 0.5, 1, true, 3000}})
	insertResults(ctx, t, session, layout, "it-flink-event", "d1", []itResult{{0, 30, 3.75, 2, true, 6000}, {1, 30, 3, 1, true, 7000}})
	// The watermark other devices of a fleet moved past window 1 when d1-4
	// came, 2m13s late.
	decision := []any{"it-run", "it-flink-event", "d1", "d1-4", 0, int64(5),
		compare.DecisionLate, engine.ReasonWindowClosed.String(), "c1", t0 + 6000, t0 + 6000, t0 + 5000, t0 + 10000, t0 + 134000, int64(-1),
		int64(31), 4.0, t0 + 139000}
	table := "engine_decisions"
	if layout != byDevice {
		table += "_by_bucket (bucket, "
		decision = append([]any{cassandra.ResultBucket("d1")}, decision...)
	} else {
		table += " ("
	}
	require.NoError(t, session.Query(`INSERT INTO `+table+`run_id, job_id, device_id, message_id, kafka_partition, kafka_offset,
decision, reason, category, record_time, device_time, window_start, window_end, watermark, original_offset, measure1, measure2, emit_time)
VALUES (`+strings.Repeat("?, ", len(decision)-1)+`?)`, decision...).ExecContext(ctx))
	if layout == emissions {
		// Rows of exact that are not its answers: an earlier revision of
		// window 0, written before its answer; and in window 1 a
		// revision written with an older timestamp than the answer (a
		// stale micro-batch task's), whose revision is higher. The
		// answer is the row written last, whatever its revision.
		insertResults(ctx, t, session, layout, "it-exact", "d1", []itResult{{0, 10, 1.5, 1, false, 100}})
		emit := time.UnixMilli(t0 + 10000 + 900)
		require.NoError(t, session.Query(`INSERT INTO engine_emissions_by_bucket (run_id, job_id, bucket, device_id, category,
window_start, emission, window_end, m1_sum, m2_sum, event_count, revision, is_final, emit_time) VALUES
(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?`, "it-run", "it-exact", cassandra.ResultBucket("d1"), "d1", "c1",
			time.UnixMilli(t0+5000), 3, time.UnixMilli(t0+10000), int64(99), 9.0, int64(3), 3, true, emit, int64(1)).ExecContext(ctx))
	}
	insertResults(ctx, t, session, layout, "it-exact", "d1", []itResult{{0, 30, 3.75, 2, true, 10500}, {1, 61, 7, 2, true, 11000}, {2, 5, 0.5, 1, false, 10200}})
	// A device the run does not have: its rows are not the run's.
	insertResults(ctx, t, session, layout, "it-storm", "not-of-the-run", []itResult{{3, 1, 1, 1, true, 1000}})

	src := store.New(session)
	cfg.RunID = "it-run"
	cfg.Format = FormatJSON
	htmlPath := filepath.Join(t.TempDir(), "report.html")
	cfg.HTML = htmlPath
	require.NoError(t, cfg.Validate())
	var out bytes.Buffer
	require.NoError(t, Run(ctx, cfg, Deps{Source: src, Log: log, Stdout: &out}))

	var doc struct {
		RunID string `json:"run_id"`
		Jobs  []struct {
			JobID      string         `json:"job_id"`
			Preset     string         `json:"preset"`
			Problem    string         `json:"problem"`
			Windows    int            `json:"windows"`
			Exceptions int            `json:"exceptions"`
			NotFinal   int            `json:"not_final"`
			ByCause    map[string]int `json:"by_cause"`
			LatencyMs  struct {
				P50, P99, Max int64
			} `json:"latency_ms"`
			Rows []struct {
				WindowEndUTC string `json:"window_end_utc"`
				DeltaM1      int64  `json:"delta_m1"`
				Causes       []struct {
					Code       string   `json:"code"`
					Text       string   `json:"text"`
					MessageIDs []string `json:"message_ids"`
				} `json:"causes"`
			} `json:"rows"`
		} `json:"jobs"`
	}
	require.NoError(t, json.Unmarshal(out.Bytes(), &doc), out.String())
	require.Equal(t, "it-run", doc.RunID)
	require.Len(t, doc.Jobs, 4, "every job of the run, in preset order, not it-other")
	byID := map[string]int{}
	for i, j := range doc.Jobs {
		byID[j.JobID] = i
	}
	require.Equal(t, []string{"it-idle", "it-flink-event", "it-storm", "it-exact"},
		[]string{doc.Jobs[0].JobID, doc.Jobs[1].JobID, doc.Jobs[2].JobID, doc.Jobs[3].JobID})

	storm := doc.Jobs[byID["it-storm"]]
	require.Equal(t, 3, storm.Windows)
	require.Equal(t, 1, storm.Exceptions)
	require.Equal(t, 1, storm.ByCause["duplicate_counted"])
	require.Equal(t, int64(-10), storm.Rows[0].DeltaM1)
	require.Equal(t, "2026-01-01 00:00:05", storm.Rows[0].WindowEndUTC)
	require.Equal(t, []string{"d1-1"}, storm.Rows[0].Causes[0].MessageIDs)
	require.Equal(t, int64(2000), storm.LatencyMs.P50)

	fe := doc.Jobs[byID["it-flink-event"]]
	require.Equal(t, 2, fe.Exceptions)
	require.Equal(t, 1, fe.ByCause["late_dropped"])
	require.Equal(t, 1, fe.ByCause["not_final"], "window 2 of a running job")
	require.Contains(t, fe.Rows[1].Causes[0].Text, "late event dropped: d1-4 (m1 31, device time 00:00:06.000, arrived 2m13s late; window end 00:00:10.000 + allowed lateness 0s <= watermark 00:02:14.000)")
	require.Equal(t, int64(31), fe.Rows[1].DeltaM1)
	require.Equal(t, int64(2000), fe.LatencyMs.Max, "7 s after the end, minus the 5 s watermark delay")

	exact := doc.Jobs[byID["it-exact"]]
	require.Equal(t, 0, exact.Exceptions)
	require.Equal(t, 1, exact.NotFinal)

	require.Contains(t, doc.Jobs[byID["it-idle"]].Problem, "has no results for run it-run yet")

	// The text report of one job, with the original's lines.
	cfg.Format, cfg.HTML = FormatText, ""
	cfg.JobIDs = *cli.NewStringSlice("it-flink-event")
	out.Reset()
	require.NoError(t, Run(ctx, cfg, Deps{Source: src, Log: log, Stdout: &out}))
	text := out.String()
	require.Contains(t, text, "Comparing ingest device and downstream for m1_sum\n--------------------------------------------------\n2 exceptions out of 3\n")
	require.Regexp(t, `2026-01-01 00:00:15\s+d1\s+c1\s+5\s+-\s+5\s+5\s+not final yet`, text)

	// --max-exceptions, and the clear messages.
	cfg.MaxExceptions = 1
	err = Run(ctx, cfg, Deps{Source: src, Log: log, Stdout: &out})
	var exit cli.ExitCoder
	require.ErrorAs(t, err, &exit)
	require.Equal(t, ExitMaxExceptions, exit.ExitCode())
	cfg.MaxExceptions = -1
	cfg.RunID = "no-such-run"
	require.ErrorContains(t, Run(ctx, cfg, Deps{Source: src, Log: log, Stdout: &out}), `run "no-such-run" not found`)
	cfg.RunID, cfg.JobIDs = "it-run", *cli.NewStringSlice("it-idle")
	require.ErrorContains(t, Run(ctx, cfg, Deps{Source: src, Log: log, Stdout: &out}), "has no results for run it-run yet")

	// The HTML report of the first invocation, in a real browser.
	if layout != emissions {
		return // the same report
	}
	dom := headlessDOM(t, htmlPath)
	require.True(t, strings.Contains(dom, `data-rendered="true"`), "the page's script did not finish")
	require.Equal(t, 3, countIn(t, dom, "scatter-", "it-flink-event", "<circle"), "one point per window")
	require.Equal(t, 3, countIn(t, dom, "scatter-", "it-storm", "<circle"))
	require.Equal(t, 3, countIn(t, dom, "scatter-", "it-exact", "<circle"))
	require.Positive(t, countIn(t, dom, "histogram-", "", `class="bar"`))
}

func insertKnownRun(ctx context.Context, t *testing.T, s *gocql.Session) {
	t.Helper()
	exec := func(stmt string, args ...any) { require.NoError(t, s.Query(stmt, args...).ExecContext(ctx), stmt) }
	ms := time.UnixMilli
	exec(`INSERT INTO runs (run_id, started_at, ended_at, seed, devices, window_ms, resend_horizon_ms, flags, counts, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		"it-run", ms(t0), ms(t0+140000), int64(42), 1, int64(5000), int64(30000), map[string]string{"record": "all"},
		map[string]int64{"normal": 4, "resend": 1, "late": 1, "out_of_order": 0, "burst": 0}, "done")
	exec(`INSERT INTO run_devices (run_id, device_id) VALUES (?, ?)`, "it-run", "d1")
	type agg struct {
		m1 int64
		m2 float64
		n  int64
	}
	byDev, bySend := map[int64]*agg{}, map[int64]*agg{}
	for i, e := range knownRun {
		exec(`INSERT INTO raw_events (run_id, device_id, send_seq, message_id, device_time, send_time, category, measure1, measure2, pattern) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			"it-run", e.dev, int64(i), e.id, ms(e.deviceMs), ms(e.sendMs), "c1", e.m1, e.m2, e.pattern)
		if e.pattern == "resend" {
			continue
		}
		for m, at := range map[*map[int64]*agg]int64{&byDev: e.deviceMs, &bySend: e.sendMs} {
			start := at - at%5000
			a := (*m)[start]
			if a == nil {
				a = &agg{}
				(*m)[start] = a
			}
			a.m1, a.m2, a.n = a.m1+e.m1, a.m2+e.m2, a.n+1
		}
	}
	for table, m := range map[string]map[int64]*agg{"truth_by_device_time": byDev, "truth_by_send_time": bySend} {
		for start, a := range m {
			exec(`INSERT INTO `+table+` (run_id, device_id, category, window_start, window_end, m1_sum, m2_sum, event_count) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
				"it-run", "d1", "c1", ms(start), ms(start+5000), a.m1, a.m2, a.n)
		}
	}
}

// insertResults writes a device's results and their revisions, in the
// *_by_bucket tables or in the tables of one partition per device.
func insertResults(ctx context.Context, t *testing.T, s *gocql.Session, layout string, jobID, device string, rs []itResult) {
	t.Helper()
	suffix, bucket, key := "", "", []any{"it-run", jobID, device}
	if layout != byDevice {
		suffix, bucket, key = "_by_bucket", "bucket, ", []any{"it-run", jobID, cassandra.ResultBucket(device), device}
	}
	marks := func(n int) string { return strings.Repeat("?, ", n-1) + "?" }
	for _, r := range rs {
		start := t0 + r.w*5000
		emit := time.UnixMilli(start + 5000 + r.emitMs)
		if layout == emissions {
			row := append(slices.Clone(key), "c1", time.UnixMilli(start), int(r.n), time.UnixMilli(start+5000), r.m1, r.m2, r.n,
				int(r.n), r.final, emit)
			require.NoError(t, s.Query(cassandra.InsertEmission, row...).ExecContext(ctx))
			continue
		}
		row := append(slices.Clone(key), "c1", time.UnixMilli(start), time.UnixMilli(start+5000), r.m1, r.m2, r.n, int(r.n), r.final, emit)
		require.NoError(t, s.Query(`INSERT INTO engine_results`+suffix+` (run_id, job_id, `+bucket+`device_id, category, window_start,
window_end, m1_sum, m2_sum, event_count, revision, is_final, emit_time) VALUES (`+marks(len(row))+`)`, row...).ExecContext(ctx))
		rev := append(slices.Clone(key), "c1", time.UnixMilli(start), int(r.n), r.m1, r.m2, r.n, emit)
		require.NoError(t, s.Query(`INSERT INTO engine_result_revisions`+suffix+` (run_id, job_id, `+bucket+`device_id, category,
window_start, revision, m1_sum, m2_sum, event_count, emit_time) VALUES (`+marks(len(rev))+`)`, rev...).ExecContext(ctx))
	}
}

// chromium is Debian's package "chromium".
const chromium = "/usr/bin/chromium"

// headlessDOM loads the page in headless Chromium and returns the DOM after
// its scripts ran.
func headlessDOM(t *testing.T, page string) string {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		t.Skipf("%s not installed (apt-get install chromium): the HTML report is not checked in a browser", chromium)
	}
	abs, err := filepath.Abs(page)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--user-data-dir="+t.TempDir(),
		"--virtual-time-budget=5000", "--dump-dom", "file://"+abs)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), stderr.String())
	return stdout.String()
}

// countIn counts needle inside the first <svg> whose id starts with idPrefix
// and, when job is set, whose data-job is job; with job empty, in all of them.
func countIn(t *testing.T, dom, idPrefix, jobID, needle string) int {
	t.Helper()
	re := regexp.MustCompile(`(?s)<svg id="` + regexp.QuoteMeta(idPrefix) + `\d+"[^>]*>.*?</svg>`)
	n, found := 0, false
	for _, svg := range re.FindAllString(dom, -1) {
		if jobID != "" && !strings.Contains(svg[:strings.Index(svg, ">")], `data-job="`+jobID+`"`) {
			continue
		}
		found = true
		n += strings.Count(svg, needle)
	}
	require.True(t, found, "no svg %s for job %q in the DOM", idPrefix, jobID)
	return n
}
