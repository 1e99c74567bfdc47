package master

import (
	"context"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"os"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/boontadata/boontadata/pkg/engine"
	"github.com/boontadata/boontadata/pkg/job"
	"github.com/boontadata/boontadata/services/aggregator-master/internal/api"
)

// The dashboard: server-rendered pages whose tables work without JavaScript
// (they then reload every noScriptRefresh seconds), and a script, served by
// the master itself, that polls the JSON API to draw the charts in SVG and
// refreshes the tables in place. Nothing is loaded from elsewhere: the
// Content-Security-Policy of every page says so to the browser.

//go:embed ui
var uiFiles embed.FS

const (
	// pollMs is how often the dashboard's script polls the master.
	pollMs = 2000
	// noScriptRefresh is how often a page reloads itself without
	// JavaScript, seconds.
	noScriptRefresh = 5
	// sparkWindow is the span of the overview's sparklines.
	sparkWindow = 5 * time.Minute
	// pageBatches is how many micro-batches the job page shows.
	pageBatches = 100
	// maxBatches bounds ?batches= of GET /api/jobs/{id}.
	maxBatches = 1000
)

// pageCSP allows the page to load its script, style and data from the
// master only, and nothing to frame it.
const pageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// reportCSP runs the comparator's self-contained report (inline script and
// style) in a sandbox: an opaque origin that cannot call the master's API.
const reportCSP = "sandbox allow-scripts; default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:"

// runFile is the name of a report: a run id (pkg/job's pattern) and .html.
var runFile = regexp.MustCompile(`^([A-Za-z0-9][A-Za-z0-9_-]{0,63})\.html$`)

func (m *Master) dashboardRoutes(handle func(pattern, name string, h http.HandlerFunc)) {
	handle("GET /{$}", "page", m.handleOverview)
	handle("GET /jobs/{id}", "job_page", m.handleJobPage)
	handle("GET "+api.ClusterPagePath, "cluster_page", m.handleClusterPage)
	handle("GET "+api.HistoryPath, "history", m.handleHistories)
	handle("GET "+api.JobsPath+"/{id}/history", "job_history", m.handleJobHistory)
	handle("GET /ui/{file}", "asset", m.handleAsset)
	handle("GET "+api.ReportsPath+"{file}", "report", m.handleReport)
}

// recordHistory samples every job's progress each history interval until
// ctx ends.
func (m *Master) recordHistory(ctx context.Context) {
	t := time.NewTicker(m.history.Interval())
	defer t.Stop()
	for {
		m.history.Record(m.clock.Now(), m.jobs.List(), m.tracker.All())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func newPageTemplate(now func() time.Time) (*template.Template, error) {
	ago := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return now().Sub(t).Round(100*time.Millisecond).String() + " ago"
	}
	return template.New("pages").Funcs(template.FuncMap{
		"rate":      api.FormatRate,
		"watermark": api.FormatWatermark,
		"ago":       ago,
		"ms":        formatMs,
		"utc":       func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") },
		"clock":     func(t time.Time) string { return t.UTC().Format("15:04:05.000") },
		"join":      strings.Join,
		"partitions": func(ps []int32) string {
			s := make([]string, len(ps))
			for i, p := range ps {
				s[i] = strconv.Itoa(int(p))
			}
			return strings.Join(s, ", ")
		},
		"jobPage": api.JobPagePath,
	}).ParseFS(uiFiles, "ui/*.html")
}

// formatMs writes a duration in ms the way the pages show delays.
func formatMs(ms int64) string {
	switch d := time.Duration(ms) * time.Millisecond; {
	case ms < 0:
		return "-" + formatMs(-ms)
	case d < time.Second:
		return strconv.FormatInt(ms, 10) + " ms"
	case d < time.Minute:
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + " s"
	default:
		return d.Round(time.Second).String()
	}
}

// pageBase is what every page shows in its header and tells its script.
type pageBase struct {
	Title    string
	Page     string // overview, job or cluster
	Now      string
	Ready    bool
	NotReady string
	PollMs   int
	Refresh  int
	// TokenRequired: cancelling needs the API token (--api-token); the
	// cancel dialog asks for it.
	TokenRequired bool
}

func (m *Master) base(title, page string) pageBase {
	b := pageBase{Title: title, Page: page, Now: m.clock.Now().UTC().Format("2006-01-02 15:04:05 UTC"),
		PollMs: pollMs, Refresh: noScriptRefresh, TokenRequired: m.cfg.APIToken != ""}
	if err := m.ready.Status(); err != nil {
		b.NotReady = err.Error()
	} else {
		b.Ready = true
	}
	return b
}

// jobRow is one job as the pages show it.
type jobRow struct {
	api.Job
	Engine         string
	Running        bool
	WatermarkDelay string
	ResultsWritten int64
	DeadLetters    int64
}

func (m *Master) row(j api.Job) jobRow {
	r := jobRow{Job: j, Engine: j.Spec.EngineUnderTest(), Running: j.Spec.State == job.StateRunning,
		WatermarkDelay: "-", ResultsWritten: j.Progress.ResultsWritten, DeadLetters: j.Progress.Poison}
	if w := j.Progress.Watermark; w > 0 {
		r.WatermarkDelay = formatMs(m.clock.Now().UnixMilli() - w)
	}
	if e := j.Progress.External; e != nil {
		r.ResultsWritten += e.Results
		r.DeadLetters += e.BadLines
	}
	return r
}

// stateFilter is one of the overview's filters.
type stateFilter struct {
	Name, Href string
	Count      int
	Active     bool
}

type overviewData struct {
	pageBase
	Filter  string
	Filters []stateFilter
	Jobs    []jobRow
	Total   int
}

var jobStates = []string{job.StateRunning, job.StateFinished, job.StateCancelled, job.StateFailed}

func (m *Master) handleOverview(w http.ResponseWriter, r *http.Request) {
	filter := r.URL.Query().Get("state")
	if filter != "" && filter != "all" && !slices.Contains(jobStates, filter) {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("state %q: all, %s", filter, strings.Join(jobStates, ", ")))
		return
	}
	if filter == "" {
		filter = "all"
	}
	d := overviewData{pageBase: m.base("jobs", "overview"), Filter: filter}
	counts := map[string]int{}
	for _, j := range m.list() {
		counts[j.Spec.State]++
		d.Total++
		if filter == "all" || j.Spec.State == filter {
			d.Jobs = append(d.Jobs, m.row(j))
		}
	}
	d.Filters = append(d.Filters, stateFilter{Name: "all", Href: "/", Count: d.Total, Active: filter == "all"})
	for _, s := range jobStates {
		d.Filters = append(d.Filters, stateFilter{Name: s, Href: "/?state=" + s, Count: counts[s], Active: filter == s})
	}
	m.render(w, "overview", d)
}

// batchRow is a micro-batch as the job page lists it.
type batchRow struct {
	api.Batch
	Completed bool
}

// reportLink is the comparator's report of a job's run, or why there is
// none.
type reportLink struct {
	Href    string
	Written time.Time
	Note    string
}

type jobPageData struct {
	pageBase
	Row        jobRow
	Detail     api.JobDetail
	Semantics  string
	MicroBatch bool
	External   *job.ExternalProgress
	IsExternal bool
	Batches    []batchRow
	Errors     []api.WorkerError
	Report     reportLink
	// DeadLetterTopic is where the job's dead letters went.
	DeadLetterTopic string
}

func (m *Master) handleJobPage(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	det, ok := m.detail(id, pageBatches)
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("%v: %s", ErrNotFound, id))
		return
	}
	d := jobPageData{pageBase: m.base("job "+id, "job"), Row: m.row(det.Job), Detail: det,
		Semantics: describeSemantics(det.Semantics), External: det.Progress.External,
		IsExternal: det.Spec.EngineUnderTest() != job.Boontadata, DeadLetterTopic: m.cfg.Kafka.Topics.DeadLetter}
	if es, err := det.Spec.Engine(); err == nil && es.Trigger == engine.MicroBatch && !d.IsExternal {
		d.MicroBatch = true
	}
	for _, b := range det.Batches {
		d.Batches = append(d.Batches, batchRow{Batch: b, Completed: !b.CompletedAt.IsZero()})
	}
	if h, ok := m.history.Job(id); ok {
		d.Errors = h.Errors
	} else if e := det.Progress.LastError; e != nil {
		d.Errors = []api.WorkerError{*e}
	}
	d.Report = m.report(det.Spec.RunID)
	m.render(w, "job", d)
}

// describeSemantics puts a job's semantics on one line.
func describeSemantics(s api.Semantics) string {
	if s.Time == "" {
		return s.Note
	}
	parts := []string{s.Time + " time", "window " + s.Window}
	if s.Slide != s.Window {
		parts = append(parts, "slide "+s.Slide)
	}
	trigger := s.Trigger
	if s.TriggerInterval != "" {
		trigger += " " + s.TriggerInterval
	}
	parts = append(parts, trigger, "watermark "+s.Watermark, "allowed lateness "+s.AllowedLateness,
		"dedup "+s.Dedup, s.Output+" output", s.Delivery)
	return strings.Join(parts, ", ")
}

// report finds the comparator's HTML report of a run in --reports-dir.
func (m *Master) report(runID string) reportLink {
	switch {
	case runID == "":
		return reportLink{Note: "the job reads every run: the comparator compares one run at a time"}
	case m.cfg.ReportsDir == "":
		return reportLink{Note: "the master runs without --reports-dir; runscenario.sh writes the report to .state/reports/" +
			runID + ".html (aggregator-master serve --reports-dir .state/reports links it here)"}
	}
	fi, err := os.Stat(path.Join(m.cfg.ReportsDir, runID+".html"))
	if err != nil || !fi.Mode().IsRegular() {
		return reportLink{Note: fmt.Sprintf("no report of run %s in %s yet: comparator --run %s --html %s/%s.html writes it",
			runID, m.cfg.ReportsDir, runID, m.cfg.ReportsDir, runID)}
	}
	return reportLink{Href: api.ReportPath(runID), Written: fi.ModTime()}
}

// workerRow is one worker over every job it reports.
type workerRow struct {
	WorkerID        string
	Jobs            []string
	Partitions      int
	Lag             int64
	EventsPerSecond float64
	LastReport      time.Time
	Errors          []string
}

type clusterData struct {
	pageBase
	Workers []workerRow
	Presets []api.Semantics
	Engines []job.EngineUnderTest
	Topics  [][2]string
}

func (m *Master) handleClusterPage(w http.ResponseWriter, _ *http.Request) {
	d := clusterData{pageBase: m.base("workers, presets and engines", "cluster"), Presets: api.PresetTable(), Engines: job.Engines()}
	byID := map[string]*workerRow{}
	for id, snap := range m.tracker.All() {
		for _, wk := range snap.Workers {
			r := byID[wk.WorkerID]
			if r == nil {
				r = &workerRow{WorkerID: wk.WorkerID}
				byID[wk.WorkerID] = r
			}
			r.Jobs = append(r.Jobs, id)
			r.Partitions += len(wk.Partitions)
			r.Lag += wk.Lag
			r.EventsPerSecond += wk.EventsPerSecond
			if wk.ReceivedAt.After(r.LastReport) {
				r.LastReport = wk.ReceivedAt
			}
			if wk.Error != "" {
				r.Errors = append(r.Errors, id+": "+wk.Error)
			}
		}
	}
	for _, r := range byID {
		slices.Sort(r.Jobs)
		slices.Sort(r.Errors)
		d.Workers = append(d.Workers, *r)
	}
	slices.SortFunc(d.Workers, func(a, b workerRow) int { return strings.Compare(a.WorkerID, b.WorkerID) })
	t := m.cfg.Kafka.Topics
	d.Topics = [][2]string{{"events", t.Events}, {"jobs", t.Jobs}, {"tasks", t.Tasks}, {"progress", t.Progress},
		{"results", t.Results}, {"watermarks", t.Watermarks}, {"dead letters", t.DeadLetter}}
	m.render(w, "cluster", d)
}

func (m *Master) render(w http.ResponseWriter, name string, data any) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	if err := m.page.ExecuteTemplate(w, name, data); err != nil {
		m.log.Debug("dashboard page not written", zap.String("page", name), zap.Error(err))
	}
}

func (m *Master) handleHistories(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, api.Histories{IntervalMs: m.history.Interval().Milliseconds(),
		Jobs: m.history.Recent(m.clock.Now(), sparkWindow)})
}

func (m *Master) handleJobHistory(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, ok := m.jobs.Get(id); !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("%v: %s", ErrNotFound, id))
		return
	}
	h, _ := m.history.Job(id) // a job without samples yet has an empty history
	writeJSON(w, http.StatusOK, h)
}

// assetTypes are the files the dashboard serves from ui/.
var assetTypes = map[string]string{
	"dashboard.js":  "text/javascript; charset=utf-8",
	"dashboard.css": "text/css; charset=utf-8",
}

func (m *Master) handleAsset(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	ct, ok := assetTypes[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	b, err := fs.ReadFile(uiFiles, "ui/"+name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(b) // the client may be gone
}

// handleReport serves RUN_ID.html of --reports-dir, in a sandbox.
func (m *Master) handleReport(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	if m.cfg.ReportsDir == "" || !runFile.MatchString(name) {
		writeError(w, http.StatusNotFound, "no such report (the master serves RUN_ID.html of --reports-dir)")
		return
	}
	root, err := os.OpenRoot(m.cfg.ReportsDir)
	if err != nil {
		writeError(w, http.StatusNotFound, "no such report: "+err.Error())
		return
	}
	defer func() { _ = root.Close() }()
	f, err := root.Open(name)
	if err != nil {
		writeError(w, http.StatusNotFound, "no such report: "+name)
		return
	}
	defer func() { _ = f.Close() }()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		writeError(w, http.StatusNotFound, "no such report: "+name)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", reportCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	http.ServeContent(w, r, name, fi.ModTime(), f)
}

// batchesParam reads ?batches= of GET /api/jobs/{id}: how many of the latest
// micro-batches to list.
func batchesParam(r *http.Request) (int, error) {
	v := r.URL.Query().Get("batches")
	if v == "" {
		return 20, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxBatches {
		return 0, fmt.Errorf("%w: batches %q: a number from 1 to %d", ErrInvalid, v, maxBatches)
	}
	return n, nil
}

// batchCache keeps the micro-batches read last for each job for a second,
// so that dashboards polling the master do not read Cassandra each time.
type batchCache struct {
	clock Clock
	mu    sync.Mutex
	jobs  map[string]cachedBatches
}

type cachedBatches struct {
	at      time.Time
	n       int
	batches []Batch
}

// batchCacheTTL is how long batches read from the store are reused.
const batchCacheTTL = time.Second

func newBatchCache(clock Clock) *batchCache {
	return &batchCache{clock: clock, jobs: map[string]cachedBatches{}}
}

// latest returns up to n of the job's latest batches, newest first.
func (c *batchCache) latest(store BatchStore, id string, n int) ([]Batch, error) {
	now := c.clock.Now()
	c.mu.Lock()
	e, ok := c.jobs[id]
	c.mu.Unlock()
	if ok && now.Sub(e.at) < batchCacheTTL && (e.n >= n || len(e.batches) < e.n) {
		return e.batches[:min(n, len(e.batches))], nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	bs, err := store.Latest(ctx, id, n)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.jobs { // bounded by the jobs read within a TTL
		if now.Sub(e.at) >= batchCacheTTL {
			delete(c.jobs, k)
		}
	}
	c.jobs[id] = cachedBatches{at: now, n: n, batches: bs}
	return bs, nil
}
