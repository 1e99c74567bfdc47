package gateway

import (
	"errors"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/boontadata/boontadata/pkg/cliapp"
	"github.com/boontadata/boontadata/pkg/event"
	"github.com/boontadata/boontadata/pkg/kafka"
)

// Sentinel errors returned by Config.Validate.
var (
	ErrNoListen        = errors.New("no listen address given (--listen)")
	ErrBadBodyLimit    = errors.New("--max-body-bytes must be at least 1")
	ErrBadLineLimit    = errors.New("--max-line-bytes must be between 1 and --max-body-bytes")
	ErrBadInFlight     = errors.New("--max-in-flight must be at least 1")
	ErrBadTimeout      = errors.New("timeouts and intervals must be positive")
	ErrBadTokenFormat  = errors.New("--auth-token must be printable ASCII without spaces")
	ErrBadRetryAfter   = errors.New("--retry-after must be at least one second")
	ErrBadReadInterval = errors.New("--ready-interval must be at least 100ms")
)

// Config is the configuration of the gateway. DefaultConfig gives values that
// work on a laptop against scripts/infra.
type Config struct {
	// Listen is the TCP address of the HTTP server.
	Listen string
	// MaxBodyBytes bounds a request body; a larger one is answered 413.
	MaxBodyBytes int64
	// MaxLineBytes bounds one line of a text body; a longer line is rejected
	// on its own, the rest of the request is processed.
	MaxLineBytes int
	// MaxInFlight bounds the requests being read or produced at once; one more
	// is answered 429. Memory is bounded by MaxInFlight × MaxBodyBytes.
	MaxInFlight int
	// ProduceTimeout bounds how long a request waits for Kafka to acknowledge
	// its records before it is answered 503.
	ProduceTimeout time.Duration
	// AuthToken, when not empty, is the bearer token /v1/events requires.
	AuthToken string
	// ShutdownTimeout bounds the graceful stop: finish requests, flush, close.
	ShutdownTimeout time.Duration
	// ReadyInterval is how often Kafka's reachability is checked.
	ReadyInterval time.Duration
	// RetryAfter is the Retry-After of 429 and 503 answers.
	RetryAfter time.Duration
	// SetupWait bounds how long the start waits for Kafka to provision topics.
	SetupWait time.Duration
	Kafka     kafka.Config
}

// DefaultConfig returns the defaults of every flag.
func DefaultConfig() Config {
	return Config{
		Listen:          "127.0.0.1:8080",
		MaxBodyBytes:    16 << 20,
		MaxLineBytes:    event.MaxLineLen,
		MaxInFlight:     64,
		ProduceTimeout:  10 * time.Second,
		ShutdownTimeout: 30 * time.Second,
		ReadyInterval:   2 * time.Second,
		RetryAfter:      time.Second,
		SetupWait:       2 * time.Minute,
		Kafka:           kafka.DefaultConfig(),
	}
}

// Flags registers the configuration as flags, each also read from a
// BOONTADATA_* environment variable. The receiver holds the defaults.
func (c *Config) Flags() []cli.Flag {
	const cat = "Gateway"
	return append([]cli.Flag{
		&cli.StringFlag{
			Name: "listen", Category: cat, EnvVars: cliapp.Env("ingest-listen"), Value: c.Listen, Destination: &c.Listen,
			Usage: "address of the HTTP server (use :8080 in a container)",
		},
		&cli.Int64Flag{
			Name: "max-body-bytes", Category: cat, EnvVars: cliapp.Env("max-body-bytes"), Value: c.MaxBodyBytes, Destination: &c.MaxBodyBytes,
			Usage: "largest request body; a larger one is answered 413",
		},
		&cli.IntFlag{
			Name: "max-line-bytes", Category: cat, EnvVars: cliapp.Env("max-line-bytes"), Value: c.MaxLineBytes, Destination: &c.MaxLineBytes,
			Usage: "longest line of a text body; a longer line is rejected on its own",
		},
		&cli.IntFlag{
			Name: "max-in-flight", Category: cat, EnvVars: cliapp.Env("max-in-flight"), Value: c.MaxInFlight, Destination: &c.MaxInFlight,
			Usage: "requests read or produced at once; one more is answered 429",
		},
		&cli.DurationFlag{
			Name: "produce-timeout", Category: cat, EnvVars: cliapp.Env("produce-timeout"), Value: c.ProduceTimeout, Destination: &c.ProduceTimeout,
			Usage: "how long a request waits for Kafka's acknowledgements before it is answered 503",
		},
		&cli.StringFlag{
			Name: "auth-token", Category: cat, EnvVars: cliapp.Env("ingest-auth-token"), Value: c.AuthToken, Destination: &c.AuthToken,
			Usage: "bearer token required on /v1/events (empty: no authentication)",
		},
		&cli.DurationFlag{
			Name: "shutdown-timeout", Category: cat, EnvVars: cliapp.Env("shutdown-timeout"), Value: c.ShutdownTimeout, Destination: &c.ShutdownTimeout,
			Usage: "how long a graceful stop may take: finish requests, flush and close the producer",
		},
		&cli.DurationFlag{
			Name: "ready-interval", Category: cat, EnvVars: cliapp.Env("ready-interval"), Value: c.ReadyInterval, Destination: &c.ReadyInterval,
			Usage: "how often Kafka's reachability is checked for /readyz",
		},
		&cli.DurationFlag{
			Name: "retry-after", Category: cat, EnvVars: cliapp.Env("retry-after"), Value: c.RetryAfter, Destination: &c.RetryAfter,
			Usage: "Retry-After of 429 and 503 answers (whole seconds)",
		},
		&cli.DurationFlag{
			Name: "setup-wait", Category: cat, EnvVars: cliapp.Env("setup-wait"), Value: c.SetupWait, Destination: &c.SetupWait,
			Usage: "how long the start waits for Kafka to create the topics",
		},
	}, c.Kafka.Flags()...)
}

// Validate reports the first problem of the configuration.
func (c *Config) Validate() error {
	switch {
	case c.Listen == "":
		return ErrNoListen
	case c.MaxBodyBytes < 1:
		return ErrBadBodyLimit
	case c.MaxLineBytes < 1 || int64(c.MaxLineBytes) > c.MaxBodyBytes:
		return ErrBadLineLimit
	case c.MaxInFlight < 1:
		return ErrBadInFlight
	case c.ProduceTimeout <= 0 || c.ShutdownTimeout <= 0 || c.SetupWait <= 0:
		return ErrBadTimeout
	case c.ReadyInterval < 100*time.Millisecond:
		return ErrBadReadInterval
	case c.RetryAfter < time.Second:
		return ErrBadRetryAfter
	}
	for _, r := range c.AuthToken {
		if r <= ' ' || r > '~' {
			return ErrBadTokenFormat
		}
	}
	if err := c.Kafka.Validate(); err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	return nil
}
