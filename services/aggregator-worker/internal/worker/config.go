// Package worker is the continuous runtime of the boontadata engine: it learns
// jobs from the jobs topic, joins one Kafka consumer group per job, runs one
// engine per claimed partition, upserts results into Cassandra and commits
// offsets only up to what its open state still needs.
package worker

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/boontadata/boontadata/pkg/cassandra"
	"github.com/boontadata/boontadata/pkg/cliapp"
	"github.com/boontadata/boontadata/pkg/kafka"
	"github.com/boontadata/boontadata/services/aggregator-worker/internal/stream"
)

// Errors of Config.Validate.
var (
	ErrBadInterval = errors.New("intervals and timeouts must be positive")
	ErrBadStopAt   = errors.New("--stop-at takes a time of day as HH:MM")
	ErrBadLimit    = errors.New("limits must be at least 1")
)

// Config is the worker's configuration.
type Config struct {
	WorkerID string
	Listen   string
	// Tick is how often each partition advances its engine in processing
	// time, writes what it emitted and marks its offset.
	Tick time.Duration
	// CommitInterval is how often marked offsets are committed to Kafka.
	CommitInterval time.Duration
	// ProgressInterval is how often progress is reported to the master.
	ProgressInterval time.Duration
	// MaxPending results and decisions waiting in one partition trigger a
	// write before the tick, once the write in flight ended.
	MaxPending int
	// WriteConcurrency bounds the Cassandra writes in flight per worker.
	WriteConcurrency int
	// RevisionSample: every revision of one window in RevisionSample has
	// a row of engine_emissions_by_bucket, for latency (1: every window);
	// the others have one row, rewritten at each emission.
	RevisionSample  int
	ShutdownTimeout time.Duration
	// RunFor and StopAt plan a graceful stop (zero: none).
	RunFor time.Duration
	StopAt string

	Kafka     kafka.Config
	Cassandra cassandra.Config
}

// DefaultConfig returns the configuration that works against the local
// infrastructure.
func DefaultConfig() Config {
	return Config{
		Listen:           "127.0.0.1:0",
		Tick:             200 * time.Millisecond,
		CommitInterval:   time.Second,
		ProgressInterval: time.Second,
		MaxPending:       10000,
		WriteConcurrency: stream.DefaultWriteConcurrency,
		RevisionSample:   1,
		ShutdownTimeout:  30 * time.Second,
		Kafka:            kafka.DefaultConfig(),
		Cassandra:        cassandra.DefaultConfig(),
	}
}

// Flags registers the configuration as flags with BOONTADATA_* variables.
func (c *Config) Flags() []cli.Flag {
	flags := []cli.Flag{
		&cli.StringFlag{Name: "worker-id", EnvVars: cliapp.Env("worker-id"), Value: c.WorkerID, Destination: &c.WorkerID,
			Usage: "name of this worker in progress reports (empty: host name and process id)"},
		&cli.StringFlag{Name: "listen", EnvVars: cliapp.Env("worker-listen"), Value: c.Listen, Destination: &c.Listen,
			Usage: "address of /healthz and /metrics (port 0 picks a free port, logged at start)"},
		&cli.DurationFlag{Name: "tick", EnvVars: cliapp.Env("worker-tick"), Value: c.Tick, Destination: &c.Tick,
			Usage: "how often each partition advances processing time, writes its results and marks its offset"},
		&cli.DurationFlag{Name: "commit-interval", EnvVars: cliapp.Env("worker-commit-interval"), Value: c.CommitInterval, Destination: &c.CommitInterval,
			Usage: "how often marked offsets are committed to Kafka"},
		&cli.DurationFlag{Name: "progress-interval", EnvVars: cliapp.Env("worker-progress-interval"), Value: c.ProgressInterval, Destination: &c.ProgressInterval,
			Usage: "how often progress is reported to the master"},
		&cli.IntFlag{Name: "max-pending", EnvVars: cliapp.Env("worker-max-pending"), Value: c.MaxPending, Destination: &c.MaxPending,
			Usage: "results and decisions waiting in one partition that trigger a write before the next tick (the partition waits for the write in flight)"},
		&cli.IntFlag{Name: "write-concurrency", EnvVars: cliapp.Env("worker-write-concurrency"), Value: c.WriteConcurrency, Destination: &c.WriteConcurrency,
			Usage: "Cassandra writes in flight at once"},
		&cli.IntFlag{Name: "revision-sample", EnvVars: cliapp.Env("worker-revision-sample"), Value: c.RevisionSample, Destination: &c.RevisionSample,
			Usage: "keep every revision of one window in `N` (by a hash of the window), for latency; 1: every window. " +
				"The other windows keep their latest answer only: fewer rows in update mode; the comparator's latency is then over the sampled windows"},
		&cli.DurationFlag{Name: "shutdown-timeout", EnvVars: cliapp.Env("worker-shutdown-timeout"), Value: c.ShutdownTimeout, Destination: &c.ShutdownTimeout,
			Usage: "how long a graceful stop may take to write results and commit"},
		&cli.DurationFlag{Name: "run-for", EnvVars: cliapp.Env("worker-run-for"), Value: c.RunFor, Destination: &c.RunFor,
			Usage: "stop gracefully after this long (a planned stop; a restart resumes without loss)"},
		&cli.StringFlag{Name: "stop-at", EnvVars: cliapp.Env("worker-stop-at"), Value: c.StopAt, Destination: &c.StopAt,
			Usage: "stop gracefully at this time of day, HH:MM in the machine's time zone (a planned stop)"},
	}
	flags = append(flags, cliapp.KafkaFlags(&c.Kafka)...)
	return append(flags, cliapp.CassandraFlags(&c.Cassandra)...)
}

// Validate reports the first problem of the configuration.
func (c *Config) Validate() error {
	if c.WorkerID != "" && strings.TrimSpace(c.WorkerID) != c.WorkerID {
		return errors.New("the worker id must not start or end with blanks")
	}
	for _, d := range []time.Duration{c.Tick, c.CommitInterval, c.ProgressInterval, c.ShutdownTimeout} {
		if d <= 0 {
			return ErrBadInterval
		}
	}
	if c.RunFor < 0 {
		return ErrBadInterval
	}
	if c.MaxPending < 1 || c.WriteConcurrency < 1 || c.RevisionSample < 1 {
		return ErrBadLimit
	}
	if _, err := c.StopDeadline(time.Now()); err != nil {
		return err
	}
	if err := c.Kafka.Validate(); err != nil {
		return err
	}
	return c.Cassandra.Validate()
}

// defaultWorkerID names a worker after its host and process.
// DefaultWorkerID is the host name and the process id.
func DefaultWorkerID() string {
	host, _ := os.Hostname() // only a default name
	if host == "" {
		host = "worker"
	}
	return host + "-" + strconv.Itoa(os.Getpid())
}

// stopDeadline returns when a planned stop is due, or zero.
// StopDeadline is when a planned stop (--run-for, --stop-at) is due; zero: none.
func (c *Config) StopDeadline(now time.Time) (time.Time, error) {
	var at time.Time
	if c.RunFor > 0 {
		at = now.Add(c.RunFor)
	}
	if c.StopAt != "" {
		t, err := time.ParseInLocation("15:04", c.StopAt, now.Location())
		if err != nil {
			return at, fmt.Errorf("%w, got %q", ErrBadStopAt, c.StopAt)
		}
		stop := time.Date(now.Year(), now.Month(), now.Day(), t.Hour(), t.Minute(), 0, 0, now.Location())
		if !stop.After(now) {
			stop = stop.Add(24 * time.Hour)
		}
		if at.IsZero() || stop.Before(at) {
			at = stop
		}
	}
	return at, nil
}
