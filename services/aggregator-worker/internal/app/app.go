// Package app is the aggregator-worker's composition root: it builds what
// the runtimes share (the Cassandra session and writer, the Kafka producer
// and consumer, the watermark hub, health and metrics) and runs the three
// runtimes side by side — continuous jobs (package worker), micro-batch tasks
// (package microbatch), the results ingestion of engines under test (package
// results) — until the context ends or one fails, then stops them in order.
package app

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
	"go.uber.org/zap"

	"github.com/boontadata/boontadata/pkg/cassandra"
	"github.com/boontadata/boontadata/pkg/job"
	"github.com/boontadata/boontadata/pkg/job/jobkafka"
	"github.com/boontadata/boontadata/pkg/kafka"
	"github.com/boontadata/boontadata/pkg/logging"
	"github.com/boontadata/boontadata/pkg/probe"
	"github.com/boontadata/boontadata/pkg/retry"
	"github.com/boontadata/boontadata/pkg/setup"
	"github.com/boontadata/boontadata/services/aggregator-worker/internal/microbatch"
	"github.com/boontadata/boontadata/services/aggregator-worker/internal/results"
	"github.com/boontadata/boontadata/services/aggregator-worker/internal/stream"
	"github.com/boontadata/boontadata/services/aggregator-worker/internal/worker"
)

// App is one aggregator-worker process.
type App struct {
	cfg worker.Config
	log *zap.Logger
	now func() time.Time

	mu   sync.Mutex
	addr string
}

// New returns a worker process; Run starts it.
func New(cfg worker.Config, log *zap.Logger) *App {
	if cfg.WorkerID == "" {
		cfg.WorkerID = worker.DefaultWorkerID()
	}
	return &App{cfg: cfg, log: log.With(zap.String(logging.KeyWorker, cfg.WorkerID)), now: time.Now}
}

// Addr returns the address of the health and metrics server once it listens.
func (a *App) Addr() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.addr
}

// part is one long-running part: run until ctx ends.
type part struct {
	name string
	run  func(ctx context.Context) error
}

// Run works until ctx ends, a planned stop is due or a part fails, then
// stops in order: not ready, stop reading job specs, stop the continuous
// jobs (each writes what it emitted, commits and leaves its group), stop
// the micro-batch tasks and the results ingestion, the watermark hub, the
// HTTP server; the producer and the session close last.
func (a *App) Run(ctx context.Context) error {
	cfg := &a.cfg
	if deadline, err := cfg.StopDeadline(a.now()); err != nil {
		return err
	} else if !deadline.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
		a.log.Info("planned stop", zap.Time("at", deadline))
	}
	metrics := worker.NewMetrics()
	// The worker's one retry policy: every retry is counted by operation.
	policy := retry.Default()
	policy.OnRetry = metrics.Retried
	if err := setup.Run(ctx, setup.Options{Kafka: &cfg.Kafka, Cassandra: &cfg.Cassandra,
		ClientID: "aggregator-worker-setup", Wait: 2 * time.Minute, Retry: policy}, a.log); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	session, err := cassandra.NewSession(&cfg.Cassandra, a.log, true)
	if err != nil {
		return err
	}
	defer session.Close()
	writer := stream.NewCassandraWriter(session, cfg.WriteConcurrency, cfg.RevisionSample)

	sc, err := cfg.Kafka.Sarama("aggregator-worker-" + cfg.WorkerID)
	if err != nil {
		return err
	}
	// The shared client reads control topics only (job specs, partition
	// watermarks): small, and waited on. A fetch returns
	// after 50 ms at most, so that a partition watermark published by
	// another worker is applied at the next tick, not half a second later.
	sc.Consumer.MaxWaitTime = 50 * time.Millisecond
	brokers := cfg.Kafka.BrokerList()
	client, err := sarama.NewClient(brokers, sc)
	if err != nil {
		return fmt.Errorf("connect to Kafka at %v: %w", brokers, err)
	}
	defer func() { _ = client.Close() }() // the consumers over it close first
	// The producer has a connection of its own: with one request in flight
	// per connection (idempotence), a send over the shared client would
	// wait behind the control topics' fetch.
	pclient, err := sarama.NewClient(brokers, sc)
	if err != nil {
		return fmt.Errorf("connect to Kafka at %v: %w", brokers, err)
	}
	defer func() { _ = pclient.Close() }() // the producer over it closes first
	producer, err := sarama.NewSyncProducerFromClient(pclient)
	if err != nil {
		return fmt.Errorf("producer: %w", err)
	}
	defer func() {
		if err := producer.Close(); err != nil {
			a.log.Warn("closing the producer", zap.Error(err))
		}
	}()
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return fmt.Errorf("consumer: %w", err)
	}
	defer func() { _ = consumer.Close() }() // reads the jobs and watermarks topics only
	// The results ingestion's consumer group has a connection of its own
	// too: the broker holds a JoinGroup until the group's rebalance ends
	// (seconds, when a worker starts or stops), and with one request in
	// flight per connection the job specs and the watermarks would wait
	// behind it.
	rclient, err := sarama.NewClient(brokers, sc)
	if err != nil {
		return fmt.Errorf("connect to Kafka at %v: %w", brokers, err)
	}
	defer func() { _ = rclient.Close() }() // the ingestion's group over it closes first
	dlq := stream.SyncProducer{P: producer}

	report := func(rep job.WorkerReport) {
		metrics.Observe(rep)
		b, err := json.Marshal(rep)
		if err != nil {
			return
		}
		_, _, err = producer.SendMessage(&sarama.ProducerMessage{Topic: cfg.Kafka.Topics.Progress,
			Key: sarama.StringEncoder(rep.WorkerID + "/" + rep.JobID), Value: sarama.ByteEncoder(b)})
		if err != nil {
			a.log.Warn("progress report not sent", zap.Error(err))
		}
	}
	hub := worker.NewHub(cfg.Kafka.Topics.Watermarks, cfg.WorkerID, a.log, a.now)
	continuous := worker.New(*cfg, worker.Deps{Writer: writer, DLQ: dlq, DeadTopic: cfg.Kafka.Topics.DeadLetter,
		Hub: hub, Report: report, Retry: policy, Log: a.log, Now: a.now})
	ingester := &results.Ingester{WorkerID: cfg.WorkerID, Topic: cfg.Kafka.Topics.Results, Writer: writer, DLQ: dlq,
		DeadTopic: cfg.Kafka.Topics.DeadLetter, Report: report, ReportInterval: cfg.ProgressInterval,
		Retry: policy, Log: a.log.Named("results"), Now: a.now}

	checker, err := kafka.NewChecker(&cfg.Kafka, "aggregator-worker-ready", probe.CheckTimeout,
		cfg.Kafka.Topics.Events, cfg.Kafka.Topics.Jobs, cfg.Kafka.Topics.Results)
	if err != nil {
		return err
	}
	defer func() { _ = checker.Close() }() // read-only client
	pr := probe.New(map[string]probe.Checker{"kafka": probe.Kafka(checker), "cassandra": probe.Cassandra(session)},
		func() map[string]any { return map[string]any{"worker_id": cfg.WorkerID, "jobs": continuous.Jobs()} }, a.log)
	srv, err := a.serveHTTP(pr, metrics)
	if err != nil {
		return err
	}

	// Background parts, stopped after the jobs.
	bgCtx, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBackground()
	parts := []part{
		{"readiness checks", func(ctx context.Context) error { pr.Run(ctx, 2*time.Second); return nil }},
		{"watermark publisher", func(ctx context.Context) error { hub.Publish(ctx, producer, cfg.Tick); return nil }},
		{"watermark reader", func(ctx context.Context) error { return hub.Consume(ctx, consumer) }},
		{"micro-batch tasks", func(ctx context.Context) error {
			return microbatch.Run(ctx, microbatch.Env{WorkerID: cfg.WorkerID, Kafka: &cfg.Kafka, Session: session,
				Writer: writer, DLQ: dlq, Retry: policy, Log: a.log})
		}},
		{"results ingestion", func(ctx context.Context) error { return ingester.Run(ctx, rclient) }},
	}
	failed := make(chan error, len(parts))
	var wg sync.WaitGroup
	for _, p := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.run(bgCtx); err != nil && bgCtx.Err() == nil {
				failed <- fmt.Errorf("%s: %w", p.name, err)
			}
		}()
	}

	a.log.Info("worker started", zap.String("listen", a.Addr()), zap.Strings("brokers", brokers))
	watchCtx, stopWatch := context.WithCancel(ctx)
	watched := make(chan error, 1)
	go func() { watched <- jobkafka.Watch(watchCtx, consumer, cfg.Kafka.Topics.Jobs, a.log, continuous.Apply) }()
	var runErr error
	select {
	case runErr = <-watched:
		pr.SetStopping()
	case runErr = <-failed:
		a.log.Error("stopping: a part of the worker failed", zap.Error(runErr))
		pr.SetStopping()
		stopWatch()
		<-watched
	}
	stopWatch()
	a.log.Info("stopping: jobs flush their results and commit")
	continuous.Stop()
	stopBackground()
	wg.Wait()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdownCtx) // health and metrics only
	if runErr != nil && !errors.Is(runErr, context.Canceled) {
		return runErr
	}
	a.log.Info("worker stopped")
	return nil
}

func (a *App) serveHTTP(pr *probe.Probe, metrics *worker.Metrics) (*http.Server, error) {
	mux := http.NewServeMux()
	pr.Register(mux)
	mux.Handle("GET /metrics", metrics.Handler())
	ln, err := net.Listen("tcp", a.cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w (choose another --listen)", a.cfg.Listen, err)
	}
	a.mu.Lock()
	a.addr = ln.Addr().String()
	a.mu.Unlock()
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("health server stopped", zap.Error(err))
		}
	}()
	return srv, nil
}
