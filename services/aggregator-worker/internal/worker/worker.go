package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/IBM/sarama"
	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"go.uber.org/zap"

	"github.com/boontadata/boontadata/pkg/cassandra"
	"github.com/boontadata/boontadata/pkg/engine"
	"github.com/boontadata/boontadata/pkg/job"
	"github.com/boontadata/boontadata/pkg/logging"
	"github.com/boontadata/boontadata/pkg/setup"
)

// Worker runs every running job it learns of from the jobs topic.
type Worker struct {
	cfg Config
	log *zap.Logger
	now func() time.Time

	mu      sync.Mutex
	runners map[string]*runningJob
	wg      sync.WaitGroup
	ready   bool
	addr    string

	metrics *metrics

	// Tasks, when set, runs the micro-batch tasks next to the continuous
	// jobs (package microbatch); micro-batch specs on the jobs topic are
	// then left to it instead of being reported as not runnable.
	Tasks func(ctx context.Context, env TasksEnv) error
}

// TasksEnv is what the micro-batch runtime shares with the worker.
type TasksEnv struct {
	Config    *Config
	Session   *gocql.Session
	Writer    ResultWriter
	DLQ       DeadLetter
	DeadTopic string
	Log       *zap.Logger
}

type runningJob struct {
	spec   job.Spec
	cancel context.CancelFunc
	done   chan struct{}
	r      *runner
}

// New returns a worker; Run starts it.
func New(cfg Config, log *zap.Logger) *Worker {
	if cfg.WorkerID == "" {
		cfg.WorkerID = defaultWorkerID()
	}
	return &Worker{cfg: cfg, log: log.With(zap.String(logging.KeyWorker, cfg.WorkerID)), now: time.Now,
		runners: map[string]*runningJob{}, metrics: newMetrics()}
}

// Addr returns the address of the health and metrics server once it listens.
func (w *Worker) Addr() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.addr
}

// syncProducer adapts a sarama.SyncProducer to DeadLetter.
type syncProducer struct{ p sarama.SyncProducer }

func (s syncProducer) Send(m *sarama.ProducerMessage) error {
	_, _, err := s.p.SendMessage(m)
	return err
}

// Run works until ctx ends or a planned stop is due, then stops gracefully:
// every job stops consuming, writes what its partitions emitted, commits and
// leaves its group.
func (w *Worker) Run(ctx context.Context) error {
	if deadline, err := w.cfg.stopDeadline(w.now()); err != nil {
		return err
	} else if !deadline.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
		w.log.Info("planned stop", zap.Time("at", deadline))
	}

	if err := setup.Run(ctx, setup.Options{Kafka: &w.cfg.Kafka, Cassandra: &w.cfg.Cassandra,
		ClientID: "aggregator-worker-setup", Wait: 2 * time.Minute}, w.log); err != nil {
		return stopped(ctx, err)
	}
	session, err := cassandra.NewSession(&w.cfg.Cassandra, w.log, true)
	if err != nil {
		return err
	}
	defer session.Close()
	writer := NewCassandraWriter(session, w.cfg.WriteConcurrency)

	sc, err := w.cfg.Kafka.Sarama("aggregator-worker-" + w.cfg.WorkerID)
	if err != nil {
		return err
	}
	brokers := w.cfg.Kafka.BrokerList()
	producer, err := sarama.NewSyncProducer(brokers, sc)
	if err != nil {
		return fmt.Errorf("connect to Kafka at %v: %w", brokers, err)
	}
	defer func() {
		if err := producer.Close(); err != nil {
			w.log.Warn("closing the producer", zap.Error(err))
		}
	}()
	consumer, err := sarama.NewConsumer(brokers, sc)
	if err != nil {
		return fmt.Errorf("connect to Kafka at %v: %w", brokers, err)
	}
	defer func() { _ = consumer.Close() }() // reads the jobs topic only

	srv, err := w.serveHTTP()
	if err != nil {
		return err
	}

	// Partition watermarks shared with the other workers (min and global
	// scopes), published every tick and read from the newest offset.
	marks := newHub(w.cfg.Kafka.Topics.Watermarks, w.cfg.WorkerID, w.log, w.now)
	marksCtx, stopMarks := context.WithCancel(context.Background())
	var marksWG sync.WaitGroup
	marksWG.Add(2)
	go func() {
		defer marksWG.Done()
		marks.publish(marksCtx, producer, w.cfg.Tick)
	}()
	go func() {
		defer marksWG.Done()
		if err := marks.consume(marksCtx, consumer); err != nil && marksCtx.Err() == nil {
			w.log.Error("partition watermarks of other workers unavailable: shared watermarks hold back", zap.Error(err))
		}
	}()
	defer func() {
		stopMarks()
		marksWG.Wait()
	}()

	deps := partitionDeps{writer: writer, dlq: syncProducer{producer}, deadTopic: w.cfg.Kafka.Topics.DeadLetter,
		log: w.log, now: w.now, hub: marks}
	report := func(rep job.WorkerReport) { w.publish(producer, rep) }

	tasksDone := make(chan error, 1)
	tasksCtx, stopTasks := context.WithCancel(context.Background())
	defer stopTasks()
	if w.Tasks != nil {
		go func() {
			tasksDone <- w.Tasks(tasksCtx, TasksEnv{Config: &w.cfg, Session: session, Writer: writer,
				DLQ: syncProducer{producer}, DeadTopic: w.cfg.Kafka.Topics.DeadLetter, Log: w.log})
		}()
	} else {
		tasksDone <- nil
	}

	w.setReady(true)
	w.log.Info("worker started", zap.String("listen", w.Addr()), zap.Strings("brokers", brokers))
	jobsCtx, stopJobs := context.WithCancel(context.Background())
	watchErr := job.Watch(ctx, consumer, w.cfg.Kafka.Topics.Jobs, w.log, func(s job.Spec) {
		w.apply(jobsCtx, s, deps, report)
	})
	// Ordered shutdown: not ready, stop every job (they flush and commit),
	// then the HTTP server; the producer and the session close last.
	w.setReady(false)
	w.log.Info("stopping: jobs flush their results and commit")
	stopJobs()
	stopTasks()
	if err := <-tasksDone; err != nil {
		w.log.Warn("micro-batch tasks stopped on an error", zap.Error(err))
	}
	done := make(chan struct{})
	go func() { w.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(w.cfg.ShutdownTimeout + 5*time.Second):
		w.log.Warn("jobs did not stop within the shutdown timeout")
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdownCtx) // health and metrics only
	if watchErr != nil {
		return watchErr
	}
	w.log.Info("worker stopped")
	return nil
}

// stopped turns an error caused by the end of ctx into a clean stop.
func stopped(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// apply starts or stops the runner of a job after a spec arrived.
func (w *Worker) apply(ctx context.Context, s job.Spec, deps partitionDeps, report func(job.WorkerReport)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	cur, running := w.runners[s.ID]
	if running {
		select {
		case <-cur.done:
			delete(w.runners, s.ID)
			running = false
		default:
		}
	}
	if s.EngineUnderTest() != job.Boontadata {
		return // an engine under test runs it; the results ingestion writes its results
	}
	switch {
	case s.State != job.StateRunning && running:
		w.log.Info("job ended; stopping it and freeing its state", zap.String(logging.KeyJobID, s.ID), zap.String("state", s.State))
		cur.cancel()
		delete(w.runners, s.ID)
	case s.State == job.StateRunning && !running && w.Tasks != nil && isMicroBatch(s):
		w.log.Debug("micro-batch job: run by the tasks of the master", zap.String(logging.KeyJobID, s.ID))
	case s.State == job.StateRunning && !running:
		r, err := newRunner(&w.cfg, s, deps, report)
		if err != nil {
			w.log.Error("cannot run job", zap.String(logging.KeyJobID, s.ID), zap.Error(err))
			report(job.WorkerReport{WorkerID: w.cfg.WorkerID, JobID: s.ID, Time: w.now(), Error: err.Error(), Stopping: true,
				Failed: !errors.Is(err, ErrMicroBatch)})
			return
		}
		jctx, cancel := context.WithCancel(ctx)
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
}

func isMicroBatch(s job.Spec) bool {
	es, err := s.Engine()
	return err == nil && es.Trigger == engine.MicroBatch
}

func (w *Worker) publish(p sarama.SyncProducer, rep job.WorkerReport) {
	w.metrics.observe(rep)
	b, err := json.Marshal(rep)
	if err != nil {
		return
	}
	_, _, err = p.SendMessage(&sarama.ProducerMessage{Topic: w.cfg.Kafka.Topics.Progress,
		Key: sarama.StringEncoder(rep.WorkerID + "/" + rep.JobID), Value: sarama.ByteEncoder(b)})
	if err != nil {
		w.log.Warn("progress report not sent", zap.Error(err))
	}
}

func (w *Worker) setReady(v bool) {
	w.mu.Lock()
	w.ready = v
	w.mu.Unlock()
}

func (w *Worker) serveHTTP() (*http.Server, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(rw http.ResponseWriter, _ *http.Request) {
		w.mu.Lock()
		ready, jobs := w.ready, len(w.runners)
		w.mu.Unlock()
		rw.Header().Set("Content-Type", "application/json")
		if !ready {
			rw.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(rw).Encode(map[string]any{"worker_id": w.cfg.WorkerID, "ready": ready, "jobs": jobs})
	})
	mux.Handle("GET /metrics", w.metrics.handler())
	ln, err := net.Listen("tcp", w.cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w (choose another --listen)", w.cfg.Listen, err)
	}
	w.mu.Lock()
	w.addr = ln.Addr().String()
	w.mu.Unlock()
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			w.log.Error("health server stopped", zap.Error(err))
		}
	}()
	return srv, nil
}
