// Package simulator runs a simulated fleet: it generates the sends, delivers
// them to the ingest gateway or to Kafka, and records what was acknowledged,
// the truth, in Cassandra.
package simulator

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/boontadata/boontadata/pkg/cassandra"
	"github.com/boontadata/boontadata/pkg/cliapp"
	"github.com/boontadata/boontadata/pkg/kafka"

	"github.com/boontadata/boontadata/services/simulator/internal/gen"
)

// Clock modes.
const (
	// ClockLive paces sends at the rate on the wall clock; send time is the
	// real time of the send.
	ClockLive = "live"
	// ClockFast advances simulated time at the nominal rate but sends as fast
	// as possible; send time is the nominal slot time.
	ClockFast = "fast"
)

// Targets.
const (
	TargetHTTP  = "http"
	TargetKafka = "kafka"
)

// Record modes of raw_events.
const (
	RecordAll     = "all"
	RecordDefects = "defects"
	RecordNone    = "none"
)

// Progress modes.
const (
	ProgressAuto = "auto"
	ProgressBar  = "bar"
	ProgressLog  = "log"
	ProgressOff  = "off"
)

// Sentinel errors of Validate, besides those of gen.Params.
var (
	ErrChoice    = errors.New("unknown value")
	ErrStartTime = errors.New("start time must be RFC 3339 or ms since the epoch")
	ErrPositive  = errors.New("must be positive")
)

// Config is the simulator's configuration.
type Config struct {
	Devices    int
	Rate       float64
	TotalRate  float64
	Count      int64
	Duration   time.Duration
	Categories int
	// Seed of the random streams; 0 picks one at random (it is logged and
	// recorded with the run).
	Seed      int64
	Clock     string
	StartTime string
	Window    time.Duration

	ResendRate     float64
	ResendHorizon  time.Duration
	LateRate       float64
	LateMin        time.Duration
	LateMax        time.Duration
	OutOfOrderRate float64
	OutOfOrderMin  time.Duration
	OutOfOrderMax  time.Duration
	ClockSkewMax   time.Duration
	BurstRate      float64
	BurstFactor    float64
	BurstDuration  time.Duration

	Target          string
	IngestURL       string
	IngestToken     string
	BatchSize       int
	BatchLinger     time.Duration
	HTTPConcurrency int
	HTTPTimeout     time.Duration
	MaxPending      int
	RetryMaxBackoff time.Duration
	RetryTimeout    time.Duration

	Record            string
	RecordBatch       int
	RecordConcurrency int

	RunID            string
	Progress         string
	ProgressInterval time.Duration
	ShutdownTimeout  time.Duration
	SetupWait        time.Duration
	DryRun           bool

	Kafka     kafka.Config
	Cassandra cassandra.Config
}

// DefaultConfig returns the defaults: ten devices with the original
// platform's mix of defects, sending to the local ingest gateway.
func DefaultConfig() Config {
	return Config{
		Devices:    10,
		Rate:       100,
		Duration:   time.Minute,
		Categories: 4,
		Clock:      ClockLive,
		Window:     5 * time.Second,

		ResendRate:     0.05,
		ResendHorizon:  30 * time.Second,
		LateRate:       0.01,
		LateMin:        time.Minute,
		LateMax:        5 * time.Minute,
		OutOfOrderRate: 0.02,
		OutOfOrderMin:  500 * time.Millisecond,
		OutOfOrderMax:  5 * time.Second,
		ClockSkewMax:   2 * time.Second,
		BurstRate:      0.0001,
		BurstFactor:    5,
		BurstDuration:  time.Second,

		Target:          TargetHTTP,
		IngestURL:       "http://127.0.0.1:8080",
		BatchSize:       500,
		BatchLinger:     100 * time.Millisecond,
		HTTPConcurrency: 4,
		HTTPTimeout:     30 * time.Second,
		MaxPending:      200_000,
		RetryMaxBackoff: 10 * time.Second,
		RetryTimeout:    10 * time.Minute,

		Record:            RecordAll,
		RecordBatch:       100,
		RecordConcurrency: 8,

		Progress:         ProgressAuto,
		ProgressInterval: 5 * time.Second,
		ShutdownTimeout:  time.Minute,
		SetupWait:        2 * time.Minute,

		Kafka:     kafka.DefaultConfig(),
		Cassandra: cassandra.DefaultConfig(),
	}
}

// Flags registers the configuration as flags (BOONTADATA_* environment
// variables too), with the receiver's values as defaults. The Kafka and
// Cassandra flags are included.
func (c *Config) Flags() []cli.Flag {
	const (
		fleet   = "Fleet"
		defects = "Defects"
		send    = "Delivery"
		rec     = "Recording"
		out     = "Output"
	)
	f := []cli.Flag{
		&cli.IntFlag{Name: "devices", Category: fleet, EnvVars: cliapp.Env("devices"), Value: c.Devices, Destination: &c.Devices,
			Usage: "number of simulated devices"},
		&cli.Float64Flag{Name: "rate", Category: fleet, EnvVars: cliapp.Env("rate"), Value: c.Rate, Destination: &c.Rate,
			Usage: "events per second of each device"},
		&cli.Float64Flag{Name: "total-rate", Category: fleet, EnvVars: cliapp.Env("total-rate"), Value: c.TotalRate, Destination: &c.TotalRate,
			Usage: "events per second of the whole fleet (overrides --rate when set)"},
		&cli.Int64Flag{Name: "count", Category: fleet, EnvVars: cliapp.Env("count"), Value: c.Count, Destination: &c.Count,
			Usage: "total sends of the fleet, then stop (instead of --duration)"},
		&cli.DurationFlag{Name: "duration", Category: fleet, EnvVars: cliapp.Env("duration"), Value: c.Duration, Destination: &c.Duration,
			Usage: "nominal time span of the run (ignored when --count is set)"},
		&cli.IntFlag{Name: "categories", Category: fleet, EnvVars: cliapp.Env("categories"), Value: c.Categories, Destination: &c.Categories,
			Usage: "number of categories, named cat-1 ... cat-N"},
		&cli.Int64Flag{Name: "seed", Category: fleet, EnvVars: cliapp.Env("seed"), Value: c.Seed, Destination: &c.Seed,
			Usage: "seed of the devices' random streams; 0 picks one (logged and recorded with the run)"},
		&cli.StringFlag{Name: "clock", Category: fleet, EnvVars: cliapp.Env("clock"), Value: c.Clock, Destination: &c.Clock,
			Usage: "live: pace sends at the rate on the wall clock; fast: simulated time at the nominal rate, sent as fast as possible"},
		&cli.StringFlag{Name: "start-time", Category: fleet, EnvVars: cliapp.Env("start-time"), Value: c.StartTime, Destination: &c.StartTime,
			Usage: "fast clock only: nominal time of the first send, RFC 3339 or ms since the epoch (default: now)"},
		&cli.DurationFlag{Name: "window", Category: fleet, EnvVars: cliapp.Env("window"), Value: c.Window, Destination: &c.Window,
			Usage: "tumbling window size of the truth aggregates"},

		&cli.Float64Flag{Name: "resend-rate", Category: defects, EnvVars: cliapp.Env("resend-rate"), Value: c.ResendRate, Destination: &c.ResendRate,
			Usage: "fraction of sends that re-send an earlier message of the device (exact duplicate)"},
		&cli.DurationFlag{Name: "resend-horizon", Category: defects, EnvVars: cliapp.Env("resend-horizon"), Value: c.ResendHorizon, Destination: &c.ResendHorizon,
			Usage: "a re-sent message was first sent at most this long before"},
		&cli.Float64Flag{Name: "late-rate", Category: defects, EnvVars: cliapp.Env("late-rate"), Value: c.LateRate, Destination: &c.LateRate,
			Usage: "fraction of sends whose device time is minutes in the past"},
		&cli.DurationFlag{Name: "late-min", Category: defects, EnvVars: cliapp.Env("late-min"), Value: c.LateMin, Destination: &c.LateMin,
			Usage: "least delay of a late event's device time"},
		&cli.DurationFlag{Name: "late-max", Category: defects, EnvVars: cliapp.Env("late-max"), Value: c.LateMax, Destination: &c.LateMax,
			Usage: "greatest delay of a late event's device time"},
		&cli.Float64Flag{Name: "out-of-order-rate", Category: defects, EnvVars: cliapp.Env("out-of-order-rate"), Value: c.OutOfOrderRate, Destination: &c.OutOfOrderRate,
			Usage: "fraction of sends whose device time is seconds in the past"},
		&cli.DurationFlag{Name: "out-of-order-min", Category: defects, EnvVars: cliapp.Env("out-of-order-min"), Value: c.OutOfOrderMin, Destination: &c.OutOfOrderMin,
			Usage: "least delay of an out-of-order event's device time"},
		&cli.DurationFlag{Name: "out-of-order-max", Category: defects, EnvVars: cliapp.Env("out-of-order-max"), Value: c.OutOfOrderMax, Destination: &c.OutOfOrderMax,
			Usage: "greatest delay of an out-of-order event's device time"},
		&cli.DurationFlag{Name: "clock-skew-max", Category: defects, EnvVars: cliapp.Env("clock-skew-max"), Value: c.ClockSkewMax, Destination: &c.ClockSkewMax,
			Usage: "each device's clock is off by a fixed amount in [-max, +max]"},
		&cli.Float64Flag{Name: "burst-rate", Category: defects, EnvVars: cliapp.Env("burst-rate"), Value: c.BurstRate, Destination: &c.BurstRate,
			Usage: "probability, per send outside a burst, that the device starts a burst"},
		&cli.Float64Flag{Name: "burst-factor", Category: defects, EnvVars: cliapp.Env("burst-factor"), Value: c.BurstFactor, Destination: &c.BurstFactor,
			Usage: "rate multiplier during a burst"},
		&cli.DurationFlag{Name: "burst-duration", Category: defects, EnvVars: cliapp.Env("burst-duration"), Value: c.BurstDuration, Destination: &c.BurstDuration,
			Usage: "nominal length of a burst"},

		&cli.StringFlag{Name: "target", Category: send, EnvVars: cliapp.Env("target"), Value: c.Target, Destination: &c.Target,
			Usage: "http: post batches to the ingest gateway; kafka: produce straight to the events topic"},
		&cli.StringFlag{Name: "ingest-url", Category: send, EnvVars: cliapp.Env("ingest-url"), Value: c.IngestURL, Destination: &c.IngestURL,
			Usage: "base URL of the ingest gateway"},
		&cli.StringFlag{Name: "ingest-token", Category: send, EnvVars: cliapp.Env("ingest-token"), Value: c.IngestToken, Destination: &c.IngestToken,
			Usage: "bearer token for the ingest gateway, when it requires one (prefer the environment variable)"},
		&cli.IntFlag{Name: "batch-size", Category: send, EnvVars: cliapp.Env("batch-size"), Value: c.BatchSize, Destination: &c.BatchSize,
			Usage: "events per HTTP request"},
		&cli.DurationFlag{Name: "batch-linger", Category: send, EnvVars: cliapp.Env("batch-linger"), Value: c.BatchLinger, Destination: &c.BatchLinger,
			Usage: "live clock: send a partial batch this long after its first event"},
		&cli.IntFlag{Name: "http-concurrency", Category: send, EnvVars: cliapp.Env("http-concurrency"), Value: c.HTTPConcurrency, Destination: &c.HTTPConcurrency,
			Usage: "HTTP requests in flight"},
		&cli.DurationFlag{Name: "http-timeout", Category: send, EnvVars: cliapp.Env("http-timeout"), Value: c.HTTPTimeout, Destination: &c.HTTPTimeout,
			Usage: "timeout of one HTTP request"},
		&cli.IntFlag{Name: "max-pending", Category: send, EnvVars: cliapp.Env("max-pending"), Value: c.MaxPending, Destination: &c.MaxPending,
			Usage: "kafka target: sends produced and not acknowledged yet, at most"},
		&cli.DurationFlag{Name: "retry-max-backoff", Category: send, EnvVars: cliapp.Env("retry-max-backoff"), Value: c.RetryMaxBackoff, Destination: &c.RetryMaxBackoff,
			Usage: "longest wait between retries (and cap of Retry-After)"},
		&cli.DurationFlag{Name: "retry-timeout", Category: send, EnvVars: cliapp.Env("retry-timeout"), Value: c.RetryTimeout, Destination: &c.RetryTimeout,
			Usage: "give up when the receiver, or Cassandra for the records of the run, stays unavailable this long; 0 retries forever"},

		&cli.StringFlag{Name: "record", Category: rec, EnvVars: cliapp.Env("record"), Value: c.Record, Destination: &c.Record,
			Usage: "sends written to raw_events: all, defects (every pattern but normal) or none; the truth aggregates are always written"},
		&cli.IntFlag{Name: "record-batch", Category: rec, EnvVars: cliapp.Env("record-batch"), Value: c.RecordBatch, Destination: &c.RecordBatch,
			Usage: "rows per UNLOGGED batch (one partition)"},
		&cli.IntFlag{Name: "record-concurrency", Category: rec, EnvVars: cliapp.Env("record-concurrency"), Value: c.RecordConcurrency, Destination: &c.RecordConcurrency,
			Usage: "Cassandra batches in flight"},
		&cli.StringFlag{Name: "run-id", Category: rec, EnvVars: cliapp.Env("run-id"), Value: c.RunID, Destination: &c.RunID,
			Usage: "id of the run (default: a random UUID)"},
		&cli.DurationFlag{Name: "setup-wait", Category: rec, EnvVars: cliapp.Env("setup-wait"), Value: c.SetupWait, Destination: &c.SetupWait,
			Usage: "how long to wait for Kafka and Cassandra at start"},

		&cli.StringFlag{Name: "progress", Category: out, EnvVars: cliapp.Env("progress"), Value: c.Progress, Destination: &c.Progress,
			Usage: "auto (a bar on a terminal, log lines otherwise), bar, log or off"},
		&cli.DurationFlag{Name: "progress-interval", Category: out, EnvVars: cliapp.Env("progress-interval"), Value: c.ProgressInterval, Destination: &c.ProgressInterval,
			Usage: "interval of the progress log lines"},
		&cli.DurationFlag{Name: "shutdown-timeout", Category: out, EnvVars: cliapp.Env("shutdown-timeout"), Value: c.ShutdownTimeout, Destination: &c.ShutdownTimeout,
			Usage: "on interruption or at the end, how long to wait for acknowledgements and recording"},
		&cli.BoolFlag{Name: "dry-run", Category: out, EnvVars: cliapp.Env("dry-run"), Value: c.DryRun, Destination: &c.DryRun,
			Usage: "generate only: print the wire lines on stdout and the counts by pattern, touch neither Kafka nor Cassandra"},
	}
	f = append(f, cliapp.KafkaFlags(&c.Kafka)...)
	return append(f, cliapp.CassandraFlags(&c.Cassandra)...)
}

// Validate reports the first problem of the configuration.
func (c *Config) Validate() error {
	if err := oneOf("clock", c.Clock, ClockLive, ClockFast); err != nil {
		return err
	}
	if err := oneOf("target", c.Target, TargetHTTP, TargetKafka); err != nil {
		return err
	}
	if err := oneOf("record", c.Record, RecordAll, RecordDefects, RecordNone); err != nil {
		return err
	}
	if err := oneOf("progress", c.Progress, ProgressAuto, ProgressBar, ProgressLog, ProgressOff); err != nil {
		return err
	}
	if c.StartTime != "" {
		if c.Clock != ClockFast {
			return fmt.Errorf("--start-time needs --clock %s: a live run starts now", ClockFast)
		}
		if _, err := ParseStartTime(c.StartTime); err != nil {
			return err
		}
	}
	if !(c.TotalRate >= 0) || math.IsInf(c.TotalRate, 0) {
		return fmt.Errorf("total rate %v: %w", c.TotalRate, ErrPositive)
	}
	p, err := c.Params(anyValidStart)
	if err != nil {
		return err
	}
	if err := p.Validate(); err != nil {
		return err
	}
	if c.Window <= 0 || c.Window%time.Millisecond != 0 {
		return fmt.Errorf("window %v: %w and whole milliseconds", c.Window, ErrPositive)
	}
	for name, v := range map[string]int{
		"batch-size": c.BatchSize, "http-concurrency": c.HTTPConcurrency, "max-pending": c.MaxPending,
		"record-batch": c.RecordBatch, "record-concurrency": c.RecordConcurrency,
	} {
		if v < 1 {
			return fmt.Errorf("--%s %d: %w", name, v, ErrPositive)
		}
	}
	for name, v := range map[string]time.Duration{
		"http-timeout": c.HTTPTimeout, "retry-max-backoff": c.RetryMaxBackoff, "progress-interval": c.ProgressInterval,
		"shutdown-timeout": c.ShutdownTimeout, "setup-wait": c.SetupWait,
	} {
		if v <= 0 {
			return fmt.Errorf("--%s %v: %w", name, v, ErrPositive)
		}
	}
	if c.RetryTimeout < 0 {
		return fmt.Errorf("--retry-timeout %v: must not be negative", c.RetryTimeout)
	}
	if c.Target == TargetHTTP {
		u, err := url.Parse(c.IngestURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("--ingest-url %q: an http or https URL is needed", c.IngestURL)
		}
	}
	if c.DryRun {
		return nil
	}
	if c.Target == TargetKafka {
		if err := c.Kafka.Validate(); err != nil {
			return err
		}
	}
	return c.Cassandra.Validate()
}

func oneOf(name, v string, choices ...string) error {
	for _, c := range choices {
		if v == c {
			return nil
		}
	}
	return fmt.Errorf("--%s %q: %w, want one of %s", name, v, ErrChoice, strings.Join(choices, ", "))
}

// ParseStartTime reads RFC 3339 or ms since the epoch.
func ParseStartTime(s string) (int64, error) {
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return ms, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, fmt.Errorf("%w, got %q", ErrStartTime, s)
	}
	return t.UnixMilli(), nil
}

// Params returns the generator parameters for a run starting at start (ms).
// The seed is used as given (0 stays 0).
func (c *Config) Params(start int64) (gen.Params, error) {
	rate := c.Rate
	if c.TotalRate > 0 {
		if c.Devices < 1 {
			return gen.Params{}, fmt.Errorf("%w, got %d", gen.ErrDevices, c.Devices)
		}
		rate = c.TotalRate / float64(c.Devices)
	}
	p := gen.Params{
		Seed: uint64(c.Seed), Devices: c.Devices, Rate: rate, Start: start, Count: c.Count, Duration: c.Duration,
		Categories: c.Categories,
		ResendRate: c.ResendRate, LateRate: c.LateRate, OutOfOrderRate: c.OutOfOrderRate,
		ResendHorizon: c.ResendHorizon, LateMin: c.LateMin, LateMax: c.LateMax,
		OutOfOrderMin: c.OutOfOrderMin, OutOfOrderMax: c.OutOfOrderMax, ClockSkewMax: c.ClockSkewMax,
		BurstRate: c.BurstRate, BurstFactor: c.BurstFactor, BurstDuration: c.BurstDuration,
	}
	if c.Count > 0 {
		p.Duration = 0 // the count decides
	}
	return p, nil
}

// FlagMap returns the settings recorded with the run.
func (c *Config) FlagMap() map[string]string {
	d := func(v time.Duration) string { return v.String() }
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	return map[string]string{
		"devices": strconv.Itoa(c.Devices), "rate": f(c.Rate), "total-rate": f(c.TotalRate),
		"count": strconv.FormatInt(c.Count, 10), "duration": d(c.Duration), "categories": strconv.Itoa(c.Categories),
		"seed": strconv.FormatInt(c.Seed, 10), "clock": c.Clock, "start-time": c.StartTime, "window": d(c.Window),
		"resend-rate": f(c.ResendRate), "resend-horizon": d(c.ResendHorizon),
		"late-rate": f(c.LateRate), "late-min": d(c.LateMin), "late-max": d(c.LateMax),
		"out-of-order-rate": f(c.OutOfOrderRate), "out-of-order-min": d(c.OutOfOrderMin), "out-of-order-max": d(c.OutOfOrderMax),
		"clock-skew-max": d(c.ClockSkewMax), "burst-rate": f(c.BurstRate), "burst-factor": f(c.BurstFactor),
		"burst-duration": d(c.BurstDuration), "target": c.Target, "ingest-url": c.IngestURL,
		"events-topic": c.Kafka.Topics.Events, "batch-size": strconv.Itoa(c.BatchSize), "record": c.Record,
	}
}

// anyValidStart stands for the start time when validating the other params.
const anyValidStart = 1_700_000_000_000
