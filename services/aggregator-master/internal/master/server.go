package master

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/boontadata/boontadata/pkg/clock"
	"github.com/boontadata/boontadata/pkg/engine"
	"github.com/boontadata/boontadata/pkg/job"
	"github.com/boontadata/boontadata/pkg/probe"
	"github.com/boontadata/boontadata/pkg/retry"
	"github.com/boontadata/boontadata/services/aggregator-master/internal/api"
)

// maxSpecBytes bounds the body of a submit: a spec is a few hundred bytes.
const maxSpecBytes = 64 << 10

// HTTP server timeouts: a slow client cannot hold a connection forever.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = time.Minute
	idleTimeout       = 2 * time.Minute
)

// Deps are what the master runs on.
type Deps struct {
	Store     Store
	Publisher Publisher
	// Consumer reads the progress topic; nil follows no progress (tests feed
	// Observe instead).
	Consumer sarama.Consumer
	// Checkers tell /readyz whether each dependency answers, by name.
	Checkers map[string]probe.Checker
	// MicroBatch drives micro-batch jobs; without it they are refused.
	MicroBatch MicroBatchDeps
	// Clock defaults to the system's.
	Clock Clock
	// Retries counts the master's retries (retry.NewCounter); nil makes
	// one. Serve shares it with the setup that runs before New.
	Retries *prometheus.CounterVec
	Log     *zap.Logger
}

// Master is the aggregator-master: jobs, progress, HTTP API.
type Master struct {
	cfg      Config
	jobs     *Jobs
	tracker  *Tracker
	ready    *probe.Probe
	metrics  *metrics
	consumer sarama.Consumer
	page     *template.Template
	clock    Clock
	retry    retry.Policy
	log      *zap.Logger
	mb       MicroBatchDeps
	access   *access
	// history keeps the jobs' progress for the dashboard; batchCache the
	// micro-batches its pages read last.
	history    *History
	batchCache *batchCache
	// ends wakes the lifecycle when a report says a partition ended.
	ends chan struct{}
}

// New builds a master; Run serves it.
func New(cfg Config, d Deps) (*Master, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if d.Store == nil || d.Publisher == nil {
		return nil, errors.New("master needs a store and a publisher")
	}
	if d.Log == nil {
		d.Log = zap.NewNop()
	}
	if d.Clock == nil {
		d.Clock = clock.System{}
	}
	pageTmpl, err := newPageTemplate(d.Clock.Now)
	if err != nil {
		return nil, fmt.Errorf("status page template: %w", err)
	}
	acc, err := newAccess(cfg, d.Log)
	if err != nil {
		return nil, err
	}
	jobs := NewJobs(d.Store, d.Publisher, d.Clock, d.Log)
	jobs.microBatch = d.MicroBatch.enabled()
	tracker := NewTracker(d.Clock, cfg.WorkerExpiry)
	if d.Retries == nil {
		d.Retries = retry.NewCounter(namespace)
	}
	met := newMetrics(jobs, tracker, d.Retries)
	met.reg.MustRegister(acc.refused)
	if cfg.HistoryInterval == 0 {
		cfg.HistoryInterval = time.Second
	}
	history := NewHistory(cfg.HistoryInterval, d.Clock)
	met.reg.MustRegister(newDashboardCollector(jobs, tracker, history, d.Clock))
	return &Master{
		cfg:      cfg,
		jobs:     jobs,
		tracker:  tracker,
		ready:    probe.New(d.Checkers, nil, d.Log),
		metrics:  met,
		consumer: d.Consumer,
		page:     pageTmpl,
		clock:    d.Clock,
		retry:    retry.Default().Counting(d.Retries),
		log:      d.Log,
		mb:       d.MicroBatch,
		access:   acc,

		history:    history,
		batchCache: newBatchCache(d.Clock),
		ends:       make(chan struct{}, 1),
	}, nil
}

// Jobs returns the registry of jobs.
func (m *Master) Jobs() *Jobs { return m.jobs }

// Observe records a worker's progress report.
func (m *Master) Observe(r job.WorkerReport) {
	m.metrics.reports.Inc()
	if !m.tracker.Observe(r) {
		m.log.Debug("progress report dropped: too many workers tracked")
		return
	}
	if r.SaysEnded() {
		select {
		case m.ends <- struct{}{}:
		default: // a check is already due
		}
	}
}

// Handler returns the HTTP handler of every endpoint, behind the checks of
// access (Host, Origin, token, JSON body type on writes).
func (m *Master) Handler() http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern, name string, h http.HandlerFunc) {
		mux.Handle(pattern, m.metrics.instrument(name, m.clock.Now, h))
	}
	handle("POST "+api.JobsPath, "submit", m.handleSubmit)
	handle("GET "+api.JobsPath, "list", m.handleList)
	handle("GET "+api.JobsPath+"/{id}", "status", m.handleStatus)
	handle("POST "+api.JobsPath+"/{id}/cancel", "cancel", m.handleCancel)
	handle("DELETE "+api.JobsPath+"/{id}", "cancel", m.handleCancel)
	handle("GET "+api.PresetsPath, "presets", m.handlePresets)
	handle("GET "+api.HealthzPath, "healthz", m.ready.Healthz)
	handle("GET "+api.ReadyzPath, "readyz", m.ready.Readyz)
	m.dashboardRoutes(handle)
	mux.Handle("GET "+api.MetricsPath, m.metrics.handler())
	return m.access.wrap(mux)
}

// Run loads the jobs from the store and publishes them again, then follows
// the progress topic and serves on ln until ctx is cancelled or a part fails.
// It stops in order within ShutdownTimeout: not ready, finish the requests in
// flight, stop consuming. The caller closes the producer and the session.
func (m *Master) Run(ctx context.Context, ln net.Listener) error {
	n, err := m.jobs.Load(ctx)
	if err != nil {
		return errors.Join(err, ln.Close())
	}
	m.log.Info("jobs loaded and published again", zap.Int("jobs", n))
	m.ready.Check(ctx)

	var wg sync.WaitGroup
	bgCtx, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	defer func() {
		stopBackground()
		wg.Wait()
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		m.ready.Run(bgCtx, m.cfg.ReadyInterval)
	}()
	lc := &lifecycle{jobs: m.jobs, tracker: m.tracker, log: m.log, ends: m.ends}
	if m.mb.Offsets != nil {
		lc.partitions = m.mb.Offsets.Partitions
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		lc.run(bgCtx, 500*time.Millisecond)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		m.recordHistory(bgCtx)
	}()
	if m.mb.enabled() {
		ds := &drivers{deps: m.mb, clock: m.clock, retry: m.retry, log: m.log, running: map[string]context.CancelFunc{},
			done: func(id, reason string) {
				if _, err := m.jobs.End(bgCtx, id, job.StateFinished, reason); err != nil {
					m.log.Warn("micro-batch job not marked finished", zap.String("job_id", id), zap.Error(err))
				}
			}}
		ds.batch = m.history.ObserveBatch
		wg.Add(1)
		go func() {
			defer wg.Done()
			ds.run(bgCtx, m.jobs.List)
		}()
	}

	var consumed chan error // nil, never ready, without a consumer
	consumeCtx, stopConsuming := context.WithCancel(context.WithoutCancel(ctx))
	defer stopConsuming()
	if m.consumer != nil {
		consumed = make(chan error, 1)
		go func() {
			consumed <- ConsumeProgress(consumeCtx, m.consumer, m.cfg.Kafka.Topics.Progress, m.retry, m.log, m.Observe,
				func(error) { m.metrics.badReports.Inc() })
		}()
	}

	srv := &http.Server{
		Handler:           m.Handler(),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          zap.NewStdLog(m.log.Named("http")),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	m.log.Info("aggregator-master listening", zap.String("addr", ln.Addr().String()))
	m.access.logStart(ln.Addr().String())

	var errs []error
	serving, consuming := true, m.consumer != nil
	select {
	case <-ctx.Done():
	case err := <-served:
		serving = false
		errs = append(errs, fmt.Errorf("http server: %w", err))
	case err := <-consumed:
		consuming = false
		if err == nil {
			err = errors.New("stopped unexpectedly")
		}
		errs = append(errs, fmt.Errorf("follow progress: %w", err))
	}

	// Ordered stop, all within one deadline.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.cfg.ShutdownTimeout)
	defer cancel()
	errs = append(errs, m.ready.StopServing(sctx, srv, served, serving)...)
	stopConsuming()
	if consuming {
		select {
		case err := <-consumed:
			if err != nil {
				errs = append(errs, fmt.Errorf("follow progress: %w", err))
			}
		case <-sctx.Done():
			errs = append(errs, fmt.Errorf("stop following progress: %w", sctx.Err()))
		}
	}
	if len(errs) == 0 {
		m.log.Info("aggregator-master stopped")
	}
	return errors.Join(errs...)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client may be gone; nothing to do
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, api.Error{Error: msg})
}

// fail answers an error of Jobs with its status code.
func (m *Master) fail(w http.ResponseWriter, err error) {
	code := http.StatusServiceUnavailable // Cassandra or Kafka did not answer
	switch {
	case errors.Is(err, ErrInvalid):
		code = http.StatusBadRequest
	case errors.Is(err, ErrNotRunnable):
		code = http.StatusUnprocessableEntity
	case errors.Is(err, ErrConflict):
		code = http.StatusConflict
	case errors.Is(err, ErrNotFound):
		code = http.StatusNotFound
	}
	if code == http.StatusServiceUnavailable {
		m.log.Warn("job request failed", zap.Error(err))
		w.Header().Set("Retry-After", "1")
	}
	writeError(w, code, err.Error())
}

func (m *Master) handleSubmit(w http.ResponseWriter, r *http.Request) {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxSpecBytes))
	dec.DisallowUnknownFields()
	var s job.Spec
	if err := dec.Decode(&s); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("job spec larger than %d bytes", maxSpecBytes))
			return
		}
		writeError(w, http.StatusBadRequest, fmt.Sprintf("%v: job spec JSON: %v", ErrInvalid, err))
		return
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("%v: one job spec per request", ErrInvalid))
		return
	}
	stored, created, err := m.jobs.Submit(r.Context(), s)
	if err != nil {
		m.fail(w, err)
		return
	}
	w.Header().Set("Location", api.JobPath(stored.ID))
	code := http.StatusOK
	if created {
		code = http.StatusCreated
	}
	writeJSON(w, code, stored)
}

func (m *Master) handleCancel(w http.ResponseWriter, r *http.Request) {
	s, err := m.jobs.Cancel(r.Context(), r.PathValue("id"))
	if err != nil {
		m.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, s)
}

// view returns a job with its semantics and the aggregate of its progress.
func view(s job.Spec, snap Snapshot) api.Job {
	var sem api.Semantics
	if es, err := s.Engine(); err == nil {
		sem = api.Describe(es)
	} else {
		sem = api.Semantics{Name: s.Preset, Note: err.Error()}
	}
	return api.Job{Spec: s, Semantics: sem, Progress: snap.Progress}
}

func (m *Master) list() []api.Job {
	all := m.tracker.All()
	specs := m.jobs.List()
	out := make([]api.Job, 0, len(specs))
	for _, s := range specs {
		out = append(out, view(s, all[s.ID]))
	}
	return out
}

func (m *Master) handleList(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, api.Jobs{Jobs: m.list()})
}

// detail returns a job with its workers, partitions and, for a micro-batch
// job, its latest batches (at most batches of them).
func (m *Master) detail(id string, batches int) (api.JobDetail, bool) {
	s, ok := m.jobs.Get(id)
	if !ok {
		return api.JobDetail{}, false
	}
	snap := m.tracker.Job(id)
	d := api.JobDetail{Job: view(s, snap), Workers: snap.Workers, Partitions: snap.Partitions}
	if d.Workers == nil {
		d.Workers = []api.Worker{}
	}
	if d.Partitions == nil {
		d.Partitions = []api.Partition{}
	}
	if es, err := s.Engine(); err == nil && es.Trigger == engine.MicroBatch && m.mb.enabled() {
		if bs, err := m.batchCache.latest(m.mb.Batches, id, batches); err == nil {
			d.Batches = BatchInfo(bs, es.TriggerInterval.Milliseconds())
		} else {
			m.log.Warn("micro-batches not read", zap.Error(err))
		}
	}
	return d, true
}

func (m *Master) handleStatus(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	n, err := batchesParam(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	d, ok := m.detail(id, n)
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("%v: %s", ErrNotFound, id))
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (m *Master) handlePresets(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, api.Presets{Presets: api.PresetTable()})
}
