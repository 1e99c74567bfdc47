package master

import (
	"errors"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/boontadata/boontadata/pkg/cassandra"
	"github.com/boontadata/boontadata/pkg/cliapp"
	"github.com/boontadata/boontadata/pkg/httpsec"
	"github.com/boontadata/boontadata/pkg/kafka"
)

// Sentinel errors returned by Config.Validate.
var (
	ErrNoListen     = errors.New("no listen address given (--listen)")
	ErrBadTimeout   = errors.New("--shutdown-timeout and --setup-wait must be positive")
	ErrBadExpiry    = errors.New("--worker-expiry must be at least 1s (workers report about every second)")
	ErrBadReadiness = errors.New("--ready-interval must be at least 100ms")
	ErrBadToken     = errors.New("--api-token must be printable ASCII without spaces")
	ErrBadHistory   = errors.New("--history-interval must be at least 100ms")
	ErrNoAuth       = errors.New("the master's API listens beyond loopback without a token: set --api-token " +
		"(BOONTADATA_API_TOKEN), listen on 127.0.0.1, or run it open on purpose with --allow-no-auth")
)

// Config is the configuration of `aggregator-master serve`. DefaultConfig
// gives values that work on a laptop against scripts/infra.
type Config struct {
	// Listen is the TCP address of the HTTP server.
	Listen string
	// ShutdownTimeout bounds the graceful stop.
	ShutdownTimeout time.Duration
	// WorkerExpiry forgets a worker whose last report is older than this.
	WorkerExpiry time.Duration
	// ReadyInterval is how often Cassandra and Kafka are checked for /readyz.
	ReadyInterval time.Duration
	// SetupWait bounds how long the start waits for Kafka and Cassandra.
	SetupWait time.Duration
	// TaskTimeout re-issues micro-batch tasks not acknowledged within it.
	TaskTimeout time.Duration
	// APIToken, when not empty, is the bearer token writes to the API
	// (submit, cancel) require, and reads too with APITokenReads.
	APIToken      string
	APITokenReads bool
	// AllowNoAuth accepts listening beyond loopback without APIToken.
	AllowNoAuth bool
	// AllowedHosts are the names, besides IP addresses, localhost and the
	// host of Listen, the API answers to in the Host header ("*.domain"
	// for subdomains, "*" for any); AllowedOrigins the origins of the web
	// pages that may call it ("*" for any).
	AllowedHosts   cli.StringSlice
	AllowedOrigins cli.StringSlice
	// HistoryInterval is how often the dashboard's history samples every
	// job's progress (0: every second).
	HistoryInterval time.Duration
	// ReportsDir holds the comparator's HTML reports, RUN_ID.html; the
	// dashboard links and serves the report of a job's run from it. Empty:
	// none.
	ReportsDir string
	Kafka      kafka.Config
	Cassandra  cassandra.Config
}

// DefaultConfig returns the defaults of every flag.
func DefaultConfig() Config {
	return Config{
		Listen:          "127.0.0.1:8090",
		ShutdownTimeout: 15 * time.Second,
		WorkerExpiry:    10 * time.Second,
		ReadyInterval:   2 * time.Second,
		SetupWait:       2 * time.Minute,
		TaskTimeout:     30 * time.Second,
		HistoryInterval: time.Second,
		Kafka:           kafka.DefaultConfig(),
		Cassandra:       cassandra.DefaultConfig(),
	}
}

// Flags registers the configuration as flags, each also read from a
// BOONTADATA_* environment variable. The receiver holds the defaults.
func (c *Config) Flags() []cli.Flag {
	const cat = "Master"
	flags := []cli.Flag{
		&cli.StringFlag{
			Name: "listen", Category: cat, EnvVars: cliapp.Env("master-listen"), Value: c.Listen, Destination: &c.Listen,
			Usage: "address of the HTTP API, status page and metrics (use :8090 in a container)",
		},
		&cli.DurationFlag{
			Name: "shutdown-timeout", Category: cat, EnvVars: cliapp.Env("shutdown-timeout"), Value: c.ShutdownTimeout, Destination: &c.ShutdownTimeout,
			Usage: "how long a graceful stop may take: finish requests, stop consuming, close the producer and session",
		},
		&cli.DurationFlag{
			Name: "worker-expiry", Category: cat, EnvVars: cliapp.Env("worker-expiry"), Value: c.WorkerExpiry, Destination: &c.WorkerExpiry,
			Usage: "forget a worker of a job after this long without a progress report",
		},
		&cli.DurationFlag{
			Name: "ready-interval", Category: cat, EnvVars: cliapp.Env("ready-interval"), Value: c.ReadyInterval, Destination: &c.ReadyInterval,
			Usage: "how often Cassandra and Kafka are checked for /readyz",
		},
		&cli.DurationFlag{
			Name: "setup-wait", Category: cat, EnvVars: cliapp.Env("setup-wait"), Value: c.SetupWait, Destination: &c.SetupWait,
			Usage: "how long the start waits for Kafka and Cassandra to create the topics and schema",
		},
		&cli.DurationFlag{
			Name: "task-timeout", Category: cat, EnvVars: cliapp.Env("task-timeout"), Value: c.TaskTimeout, Destination: &c.TaskTimeout,
			Usage: "re-issue a micro-batch task not acknowledged within this (a dead worker)",
		},
		&cli.StringFlag{
			Name: "api-token", Category: cat, EnvVars: cliapp.Env("api-token"), Value: c.APIToken, Destination: &c.APIToken,
			Usage: "bearer token required to submit and cancel jobs (empty: none, loopback only unless --allow-no-auth)",
		},
		&cli.BoolFlag{
			Name: "api-token-reads", Category: cat, EnvVars: cliapp.Env("api-token-reads"), Value: c.APITokenReads, Destination: &c.APITokenReads,
			Usage: "require --api-token on reads too: the API, the status page and /metrics (not /healthz, /readyz)",
		},
		&cli.BoolFlag{
			Name: "allow-no-auth", Category: cat, EnvVars: cliapp.Env("master-allow-no-auth"), Value: c.AllowNoAuth, Destination: &c.AllowNoAuth,
			Usage: "serve without --api-token on an address beyond loopback (anyone who reaches it may submit and cancel jobs)",
		},
		&cli.StringSliceFlag{
			Name: "allowed-hosts", Category: cat, EnvVars: cliapp.Env("master-allowed-hosts"),
			Value: cli.NewStringSlice(c.AllowedHosts.Value()...), Destination: &c.AllowedHosts,
			Usage: "host names the API answers to besides IP addresses, localhost and the --listen host " +
				"(\"*.example.com\" for subdomains, \"*\" for any): other Host headers get 403 (DNS rebinding)",
		},
		&cli.StringSliceFlag{
			Name: "allowed-origins", Category: cat, EnvVars: cliapp.Env("master-allowed-origins"),
			Value: cli.NewStringSlice(c.AllowedOrigins.Value()...), Destination: &c.AllowedOrigins,
			Usage: "origins (scheme://host[:port]) of web pages that may call the API besides its own; " +
				"a request with another Origin header gets 403",
		},
		&cli.DurationFlag{
			Name: "history-interval", Category: cat, EnvVars: cliapp.Env("history-interval"), Value: c.HistoryInterval, Destination: &c.HistoryInterval,
			Usage: "how often the dashboard's in-memory history samples every job's progress",
		},
		&cli.StringFlag{
			Name: "reports-dir", Category: cat, EnvVars: cliapp.Env("reports-dir"), Value: c.ReportsDir, Destination: &c.ReportsDir,
			Usage: "folder of the comparator's HTML reports (RUN_ID.html, as runscenario.sh writes them): the dashboard links and serves a job's report",
		},
	}
	return append(append(flags, cliapp.KafkaFlags(&c.Kafka)...), cliapp.CassandraFlags(&c.Cassandra)...)
}

// Validate reports the first problem of the configuration.
func (c *Config) Validate() error {
	switch {
	case c.Listen == "":
		return ErrNoListen
	case c.ShutdownTimeout <= 0 || c.SetupWait <= 0 || c.TaskTimeout < 0:
		return ErrBadTimeout
	case c.WorkerExpiry < time.Second:
		return ErrBadExpiry
	case c.ReadyInterval < 100*time.Millisecond:
		return ErrBadReadiness
	case c.HistoryInterval != 0 && c.HistoryInterval < 100*time.Millisecond:
		return ErrBadHistory
	case httpsec.CheckTokenFormat(c.APIToken) != nil:
		return ErrBadToken
	case c.APIToken == "" && !c.AllowNoAuth && !httpsec.IsLoopback(c.Listen):
		return fmt.Errorf("%w (--listen %s)", ErrNoAuth, c.Listen)
	}
	if _, err := c.policy(); err != nil {
		return err
	}
	if err := c.Kafka.Validate(); err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	if err := c.Cassandra.Validate(); err != nil {
		return fmt.Errorf("cassandra: %w", err)
	}
	return nil
}

// policy is the Host and Origin policy of the API.
func (c *Config) policy() (*httpsec.Policy, error) {
	p, err := httpsec.NewPolicy(c.Listen, cliapp.SplitList(c.AllowedHosts.Value()), cliapp.SplitList(c.AllowedOrigins.Value()))
	if err != nil {
		return nil, fmt.Errorf("--allowed-hosts or --allowed-origins: %w", err)
	}
	return p, nil
}
