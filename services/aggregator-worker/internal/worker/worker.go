package worker

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/boontadata/boontadata/pkg/engine"
	"github.com/boontadata/boontadata/pkg/job"
	"github.com/boontadata/boontadata/pkg/logging"
	"github.com/boontadata/boontadata/pkg/retry"
	"github.com/boontadata/boontadata/services/aggregator-worker/internal/stream"
)

// Deps are what the continuous runtime runs on; the worker's composition
// root (package app) builds them.
type Deps struct {
	Writer    stream.ResultWriter
	DLQ       stream.DeadLetter
	DeadTopic string
	// Hub shares partition watermarks with the other workers.
	Hub *Hub
	// Report sends a progress report to the master (it may block on Kafka:
	// never called under a lock).
	Report func(job.WorkerReport)
	// Retry paces the retries of writes, dead-letters and group joins.
	Retry retry.Policy
	Log   *zap.Logger
	Now   func() time.Time
}

// Worker is the continuous runtime: it runs every running continuous job it
// learns of, each as a member of the job's consumer group on the events
// topic. Micro-batch jobs are the micro-batch runtime's; jobs of engines
// under test are the engines' own.
type Worker struct {
	cfg  Config
	deps Deps
	log  *zap.Logger

	mu      sync.Mutex
	runners map[string]*runningJob
	wg      sync.WaitGroup
	ctx     context.Context
	stop    context.CancelFunc
}

type runningJob struct {
	spec   job.Spec
	cancel context.CancelFunc
	done   chan struct{}
	r      *runner
}

// New returns the continuous runtime; Apply starts and stops its jobs.
func New(cfg Config, deps Deps) *Worker {
	if deps.Now == nil {
		deps.Now = time.Now
	}
	ctx, stop := context.WithCancel(context.Background())
	return &Worker{cfg: cfg, deps: deps, log: deps.Log, runners: map[string]*runningJob{}, ctx: ctx, stop: stop}
}

// Jobs returns the number of jobs running here.
func (w *Worker) Jobs() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.runners)
}

// Stop stops every job (each writes what its partitions emitted, commits and
// leaves its group) and waits for them at most the shutdown timeout.
func (w *Worker) Stop() {
	w.stop()
	done := make(chan struct{})
	go func() { w.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(w.cfg.ShutdownTimeout + 5*time.Second):
		w.log.Warn("jobs did not stop within the shutdown timeout")
	}
}

// Apply starts or stops the runner of a job after its spec arrived on the
// jobs topic. A report it has to send goes out after the lock is released.
func (w *Worker) Apply(s job.Spec) {
	if s.EngineUnderTest() != job.Boontadata || isMicroBatch(s) {
		return // an engine under test, or the micro-batch runtime, runs it
	}
	var failed *job.WorkerReport
	w.mu.Lock()
	cur, running := w.runners[s.ID]
	if running {
		select {
		case <-cur.done:
			delete(w.runners, s.ID)
			running = false
		default:
		}
	}
	switch {
	case s.State != job.StateRunning && running:
		w.log.Info("job ended; stopping it and freeing its state", zap.String(logging.KeyJobID, s.ID), zap.String("state", s.State))
		cur.cancel()
		delete(w.runners, s.ID)
	case s.State == job.StateRunning && !running && w.ctx.Err() == nil:
		r, err := newRunner(&w.cfg, s, w.partitionDeps(), w.deps.Report)
		if err != nil {
			w.log.Error("cannot run job", zap.String(logging.KeyJobID, s.ID), zap.Error(err))
			failed = &job.WorkerReport{WorkerID: w.cfg.WorkerID, JobID: s.ID, Time: w.deps.Now(), Error: err.Error(), Stopping: true,
				Failed: !errors.Is(err, ErrMicroBatch)}
			break
		}
		jctx, cancel := context.WithCancel(w.ctx)
		rj := &runningJob{spec: s, cancel: cancel, done: make(chan struct{}), r: r}
		w.runners[s.ID] = rj
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			defer close(rj.done)
			defer cancel()
			w.log.Info("running job", zap.String(logging.KeyJobID, s.ID), zap.String("preset", s.Preset), zap.String(logging.KeyRunID, s.RunID))
			if err := r.run(jctx); err != nil {
				w.log.Error("job stopped on this worker", zap.String(logging.KeyJobID, s.ID), zap.Error(err))
			}
		}()
	}
	w.mu.Unlock()
	if failed != nil {
		w.deps.Report(*failed)
	}
}

func (w *Worker) partitionDeps() partitionDeps {
	return partitionDeps{writer: w.deps.Writer, dlq: w.deps.DLQ, deadTopic: w.deps.DeadTopic,
		retry: w.deps.Retry, log: w.log, now: w.deps.Now, hub: w.deps.Hub}
}

func isMicroBatch(s job.Spec) bool {
	es, err := s.Engine()
	return err == nil && es.Trigger == engine.MicroBatch
}
