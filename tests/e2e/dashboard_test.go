package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/boontadata/boontadata/pkg/job"
	"github.com/boontadata/boontadata/pkg/testutil"
)

// chromium is Debian's package "chromium" (scripts/bootstrap.sh --browser).
const chromium = "/usr/bin/chromium"

// TestIntegrationDashboardInABrowser opens the master's dashboard in headless
// Chromium during a real run (a master with an API token, two workers, the
// simulator): the overview's sparklines and the job page's charts move, the
// tables list the workers and partitions, a structured job shows its
// micro-batch timelines, histograms and batch list, a job is cancelled from
// its button (refused without the token, done with it), the comparator's
// report opens from the job page, the tables are there without JavaScript,
// and the browser requests nothing but the master. Screenshots are kept in
// .state/test/dashboard (BOONTADATA_STATE_DIR).
func TestIntegrationDashboardInABrowser(t *testing.T) {
	testutil.Integration(t)
	if _, err := os.Stat(chromium); err != nil {
		t.Skipf("%s not installed (scripts/bootstrap.sh --browser): the dashboard is not checked in a browser", chromium)
	}
	start := time.Now()
	p := newPlatform(t)
	p.showWarnings()
	token := randomToken(t)
	reports := t.TempDir()
	p.startMaster("master", "", "--api-token", token, "--reports-dir", reports, "--history-interval", "500ms")
	p.startWorker("worker-1")
	p.startWorker("worker-2")
	runID := testutil.Unique("run-")
	fe, st, ex := "fe-dash", "st-dash", "ex-dash"
	p.submitWithToken(token, job.Spec{ID: fe, RunID: runID, Preset: "flink-event"})
	structured := structuredCoveringLateness(st, runID)
	structured.Overrides.TriggerInterval = job.Duration(2 * time.Second)
	p.submitWithToken(token, structured)
	p.submitWithToken(token, job.Spec{ID: ex, RunID: runID, Preset: "exact"})
	sim := p.simulate(runID, 20, 20)
	shots := screenshotDir(t)
	t.Logf("platform up in %v; screenshots go to %s", time.Since(start).Round(time.Second), shots)

	b := newBrowser(t, p.masterURL)

	// The overview: the running job's sparkline moves.
	b.open("/")
	b.waitTrue(30*time.Second, "the sparkline of "+fe+" has points",
		`(document.querySelector("#spark-rate-`+fe+`")?.getAttribute("data-points") | 0) >= 2`)
	before := b.str(`document.querySelector("#spark-rate-` + fe + `").getAttribute("data-last-t")`)
	line := b.str(`document.querySelector("#spark-rate-` + fe + ` polyline")?.getAttribute("points") || ""`)
	b.waitTrue(10*time.Second, "the sparkline moves",
		`document.querySelector("#spark-rate-`+fe+`").getAttribute("data-last-t") > "`+before+`"`)
	require.NotEqual(t, line, b.str(`document.querySelector("#spark-rate-`+fe+` polyline")?.getAttribute("points") || ""`))
	require.Equal(t, "running", b.str(`document.querySelector('tr[data-job="`+fe+`"]').getAttribute("data-state")`))
	b.screenshot(filepath.Join(shots, "1-overview.png"))

	// The job page, reached by its link: charts that move, the tables.
	b.click(`a[href="/jobs/` + fe + `"]`)
	b.waitTrue(15*time.Second, "the job page's input rate chart has points",
		`(document.querySelector("#chart-events_per_second")?.getAttribute("data-points") | 0) >= 2`)
	last := b.str(`document.querySelector("#chart-records").getAttribute("data-last-t")`)
	b.waitTrue(10*time.Second, "the job page's charts move",
		`document.querySelector("#chart-records").getAttribute("data-last-t") > "`+last+`"`)
	for _, id := range []string{"chart-lag", "chart-watermark_delay_ms", "chart-results_written"} {
		require.True(t, b.boolean(`!!document.querySelector("#`+id+`")`), id)
	}
	b.waitTrue(10*time.Second, "both workers and their partitions are listed",
		`document.querySelectorAll("#workers tbody tr").length === 2 && document.querySelectorAll("#partitions tbody tr").length === 8`)
	b.screenshot(filepath.Join(shots, "2-job-flink-event.png"))

	// The structured job: Spark's streaming tab.
	b.open("/jobs/" + st)
	b.waitTrue(30*time.Second, "the micro-batch timelines, histograms and batch list",
		`document.querySelectorAll("#batch-timeline-processing_ms circle").length >= 2 &&
		 document.querySelectorAll("#batch-timeline-scheduling_delay_ms circle").length >= 2 &&
		 document.querySelectorAll("#batch-timeline-input_rows circle").length >= 2 &&
		 document.querySelectorAll("#batch-hist-total_delay_ms rect.bar").length >= 1 &&
		 document.querySelectorAll("#batches tbody tr").length >= 2`)
	b.screenshot(filepath.Join(shots, "3-job-structured.png"))

	// Cancel from the overview: without the token the master refuses, with
	// it the job is cancelled and the row says so.
	b.open("/?state=running")
	b.waitTrue(10*time.Second, "the cancel button", `!!document.querySelector('button[data-cancel="`+ex+`"]')`)
	b.click(`button[data-cancel="` + ex + `"]`)
	b.waitTrue(5*time.Second, "the confirmation dialog", `document.querySelector("#cancel-dialog").open`)
	require.Equal(t, ex, b.str(`document.querySelector("#cancel-job").textContent`))
	b.click("#cancel-confirm")
	b.waitTrue(5*time.Second, "the refusal without a token",
		`!document.querySelector("#cancel-error").hidden && document.querySelector("#cancel-error").textContent.includes("401")`)
	require.Equal(t, job.StateRunning, p.jobState(ex), "not cancelled without the token")
	b.screenshot(filepath.Join(shots, "4-cancel-dialog.png"))
	b.typeIn("#cancel-token", token)
	b.click("#cancel-confirm")
	b.waitTrue(10*time.Second, "the dialog closes and the job leaves the running filter",
		`!document.querySelector("#cancel-dialog").open && !document.querySelector('tr[data-job="`+ex+`"]')`)
	require.Equal(t, job.StateCancelled, p.jobState(ex))
	b.open("/")
	b.waitTrue(5*time.Second, "the row says cancelled", `document.querySelector('tr[data-job="`+ex+`"]')?.getAttribute("data-state") === "cancelled"`)
	require.False(t, b.boolean(`!!document.querySelector('button[data-cancel="`+ex+`"]')`), "no cancel button once cancelled")
	b.screenshot(filepath.Join(shots, "5-overview-cancelled.png"))

	// Workers, presets and engines.
	b.open("/cluster")
	b.waitTrue(10*time.Second, "the workers, presets and engines",
		`document.querySelectorAll("#cluster-workers tr[data-worker]").length === 2 &&
		 !!document.querySelector('#presets tr[data-preset="structured"]') && !!document.querySelector('#engines tr[data-engine="flink"]')`)
	b.screenshot(filepath.Join(shots, "6-cluster.png"))

	// The comparator's report of the run, linked from the job page.
	p.awaitExit(sim, 2*time.Minute)
	p.waitFor(time.Minute, fe+" finished", func() (bool, string) { s := p.jobState(fe); return s == job.StateFinished, s })
	p.run(time.Minute, "comparator", "--run", runID, "--job", fe, "--html", filepath.Join(reports, runID+".html"))
	b.open("/jobs/" + fe)
	b.waitTrue(5*time.Second, "the report link", `!!document.querySelector("#report-link")`)
	b.click("#report-link")
	b.waitTrue(15*time.Second, "the report, rendered", `document.body?.getAttribute("data-rendered") === "true"`)
	b.screenshot(filepath.Join(shots, "7-report.png"))

	// Without JavaScript the tables are there.
	b.scripts(true)
	b.open("/jobs/" + st)
	require.True(t, b.boolean(`document.querySelectorAll("#batches tbody tr").length >= 2`), "the batch list without JavaScript")
	b.scripts(false)

	require.Empty(t, b.foreignRequests(), "the dashboard requests nothing but the master")
	t.Logf("dashboard checked in %v; screenshots in %s", time.Since(start).Round(time.Second), shots)
}

func randomToken(t *testing.T) string {
	t.Helper()
	b := make([]byte, 16)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}

// submitWithToken posts a job to a master that wants the API token.
func (p *platform) submitWithToken(token string, spec job.Spec) {
	p.t.Helper()
	b, err := json.Marshal(spec)
	require.NoError(p.t, err)
	req, err := http.NewRequest(http.MethodPost, p.masterURL+"/api/jobs", bytes.NewReader(b))
	require.NoError(p.t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(p.t, err)
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	require.Equal(p.t, http.StatusCreated, resp.StatusCode, "submit %s: %s", spec.ID, body)
}

// jobState reads a job's state from the master's API.
func (p *platform) jobState(id string) string {
	p.t.Helper()
	resp, err := http.Get(p.masterURL + "/api/jobs/" + id)
	if err != nil {
		return err.Error()
	}
	defer func() { _ = resp.Body.Close() }()
	var d struct {
		Spec job.Spec `json:"spec"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		return err.Error()
	}
	return d.Spec.State
}

// screenshotDir is where the test keeps its screenshots: beside the logs of
// scripts/test.sh, replaced at each run.
func screenshotDir(t *testing.T) string {
	t.Helper()
	state := os.Getenv("BOONTADATA_STATE_DIR")
	if state == "" {
		root, err := filepath.Abs("../..")
		require.NoError(t, err)
		state = filepath.Join(root, ".state")
	}
	dir := filepath.Join(state, "test", "dashboard")
	require.NoError(t, os.RemoveAll(dir))
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return dir
}

// browser drives one headless Chromium tab over the DevTools protocol.
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string

	mu       sync.Mutex
	requests []string
}

func newBrowser(t *testing.T, base string) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox,
		chromedp.WindowSize(1400, 1000), chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.Flag("disable-quic", true))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	b := &browser{t: t, ctx: ctx, base: base}
	// The first call starts the browser: without a timeout, which would
	// stop it.
	require.NoError(t, chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			b.mu.Lock()
			b.requests = append(b.requests, e.Request.URL)
			b.mu.Unlock()
		}
	}))
	_, err := chromedp.Call(ctx, network.Enable, network.EnableParams{})
	require.NoError(t, err)
	return b
}

// timeout bounds one browser action.
const timeout = 30 * time.Second

func (b *browser) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	require.NoError(b.t, chromedp.Do(ctx, steps...))
}

func (b *browser) open(path string) {
	b.t.Helper()
	b.do(chromedp.Navigate(b.base + path))
}

func (b *browser) click(sel string) {
	b.t.Helper()
	b.do(chromedp.Click(chromedp.CSS(sel)))
}

func (b *browser) typeIn(sel, text string) {
	b.t.Helper()
	b.do(chromedp.SendKeys(chromedp.CSS(sel), text))
}

// scripts turns JavaScript off (true) or on for the pages opened next.
func (b *browser) scripts(off bool) {
	b.t.Helper()
	_, err := chromedp.Call(b.ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: off})
	require.NoError(b.t, err)
}

func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	require.NoError(b.t, err, expr)
	return v
}

func (b *browser) str(expr string) string { b.t.Helper(); return eval[string](b, expr) }

func (b *browser) boolean(expr string) bool { b.t.Helper(); return eval[bool](b, "!!("+expr+")") }

// waitTrue polls a JavaScript expression until it is true.
func (b *browser) waitTrue(timeout time.Duration, what, expr string) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		v, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+expr+")"))
		cancel()
		if err == nil && v {
			return
		}
		if time.Now().After(deadline) {
			ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
			dom, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.outerHTML.slice(0, 6000)`))
			cancel()
			b.t.Fatalf("waited %v for %s (%s); err %v; page:\n%s", timeout, what, expr, err, dom)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// screenshot saves the whole page as PNG and logs where.
func (b *browser) screenshot(path string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(b.t, err)
	require.NoError(b.t, os.WriteFile(path, png, 0o644))
	b.t.Logf("screenshot: %s", path)
}

// foreignRequests lists the requests to anything but the master.
func (b *browser) foreignRequests() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, u := range b.requests {
		if !strings.HasPrefix(u, b.base+"/") && u != b.base {
			out = append(out, u)
		}
	}
	return out
}
