package gateway

import (
	"errors"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/boontadata/boontadata/pkg/cliapp"
	"github.com/boontadata/boontadata/pkg/event"
	"github.com/boontadata/boontadata/pkg/httpsec"
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
	ErrBadRejectedCap  = errors.New("--max-rejected-lines must be between 0 and 100000")
	ErrBadBodyRate     = errors.New("--min-body-rate must be at least 1 byte per second")
	ErrNoAuth          = errors.New("the gateway listens beyond loopback without a token: set --auth-token " +
		"(BOONTADATA_INGEST_AUTH_TOKEN), listen on 127.0.0.1, or run it open on purpose with --allow-no-auth")
)

// MaxRejectedLinesLimit is the highest --max-rejected-lines: it bounds the
// memory a request's rejected lines may hold.
const MaxRejectedLinesLimit = 100_000

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
	// MaxInFlight bounds the requests being read past the start of their
	// body, parsed or produced at once; one more is answered 429. Memory is
	// bounded by MaxInFlight times what one request holds at most: its body
	// (a JSON body: twice), 4 MiB (its window of records) and 8 KiB per
	// rejected line, plus 32 KiB per request receiving the start of its body
	// (TestMemoryPerRequestIsBounded, docs/ingest.md).
	MaxInFlight int
	// MaxRejectedLines bounds the rejected lines of one request: a request
	// with more is refused whole (422) and nothing of it is produced.
	MaxRejectedLines int
	// MinBodyRate is the least average rate, in bytes per second, at which a
	// body must arrive once BodyGrace has passed; a slower one is answered
	// 408. A request takes an in-flight slot only once the first
	// slotAfterBytes of its body have arrived, so slow clients cannot hold
	// the slots of the others.
	MinBodyRate int64
	// BodyGrace is the time a body may take before MinBodyRate applies.
	BodyGrace time.Duration
	// ProduceTimeout bounds how long a request waits for Kafka to acknowledge
	// its records before it is answered 503.
	ProduceTimeout time.Duration
	// AuthToken, when not empty, is the bearer token /v1/events and the
	// end-of-run call require.
	AuthToken string
	// AllowNoAuth accepts listening beyond loopback without AuthToken.
	AllowNoAuth bool
	// ShutdownTimeout bounds the graceful stop: finish requests, flush, close.
	ShutdownTimeout time.Duration
	// ReadyInterval is how often Kafka's reachability is checked.
	ReadyInterval time.Duration
	// RetryAfter is the Retry-After of 429 and 503 answers.
	RetryAfter time.Duration
	// SetupWait bounds how long the start waits for Kafka to provision topics.
	SetupWait time.Duration
	// IdempotencyTTL is how long a request with an Idempotency-Key is
	// remembered for its retries (idempotency.go).
	IdempotencyTTL time.Duration
	Kafka          kafka.Config
}

// DefaultConfig returns the defaults of every flag.
func DefaultConfig() Config {
	return Config{
		Listen:           "127.0.0.1:8080",
		MaxBodyBytes:     16 << 20,
		MaxLineBytes:     event.MaxLineLen,
		MaxInFlight:      64,
		MaxRejectedLines: 1000,
		MinBodyRate:      32 << 10,
		BodyGrace:        5 * time.Second,
		ProduceTimeout:   10 * time.Second,
		ShutdownTimeout:  30 * time.Second,
		ReadyInterval:    2 * time.Second,
		RetryAfter:       time.Second,
		SetupWait:        2 * time.Minute,
		IdempotencyTTL:   10 * time.Minute,
		Kafka:            kafka.DefaultConfig(),
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
			Usage: "requests read, parsed or produced at once; one more is answered 429",
		},
		&cli.IntFlag{
			Name: "max-rejected-lines", Category: cat, EnvVars: cliapp.Env("max-rejected-lines"), Value: c.MaxRejectedLines, Destination: &c.MaxRejectedLines,
			Usage: "rejected lines a request may have; with more it is refused whole (422) and nothing of it is stored",
		},
		&cli.Int64Flag{
			Name: "min-body-rate", Category: cat, EnvVars: cliapp.Env("min-body-rate"), Value: c.MinBodyRate, Destination: &c.MinBodyRate,
			Usage: "least average rate of a body in bytes/s once --body-grace has passed; a slower one is answered 408",
		},
		&cli.DurationFlag{
			Name: "body-grace", Category: cat, EnvVars: cliapp.Env("body-grace"), Value: c.BodyGrace, Destination: &c.BodyGrace,
			Usage: "time a body may take before --min-body-rate applies",
		},
		&cli.DurationFlag{
			Name: "produce-timeout", Category: cat, EnvVars: cliapp.Env("produce-timeout"), Value: c.ProduceTimeout, Destination: &c.ProduceTimeout,
			Usage: "how long a request waits for Kafka's acknowledgements before it is answered 503",
		},
		&cli.StringFlag{
			Name: "auth-token", Category: cat, EnvVars: cliapp.Env("ingest-auth-token"), Value: c.AuthToken, Destination: &c.AuthToken,
			Usage: "bearer token required on /v1/events and /v1/runs/RUN/end (empty: no authentication, loopback only unless --allow-no-auth)",
		},
		&cli.BoolFlag{
			Name: "allow-no-auth", Category: cat, EnvVars: cliapp.Env("ingest-allow-no-auth"), Value: c.AllowNoAuth, Destination: &c.AllowNoAuth,
			Usage: "serve without --auth-token on an address beyond loopback (anyone who reaches it may send events)",
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
		&cli.DurationFlag{
			Name: "idempotency-ttl", Category: cat, EnvVars: cliapp.Env("idempotency-ttl"), Value: c.IdempotencyTTL, Destination: &c.IdempotencyTTL,
			Usage: "how long a request with an Idempotency-Key header is remembered: a retry with the same key and body stores only what earlier attempts did not",
		},
	}, cliapp.KafkaFlags(&c.Kafka)...)
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
	case c.ProduceTimeout <= 0 || c.ShutdownTimeout <= 0 || c.SetupWait <= 0 || c.BodyGrace <= 0 || c.IdempotencyTTL <= 0:
		return ErrBadTimeout
	case c.ReadyInterval < 100*time.Millisecond:
		return ErrBadReadInterval
	case c.RetryAfter < time.Second:
		return ErrBadRetryAfter
	case c.MaxRejectedLines < 0 || c.MaxRejectedLines > MaxRejectedLinesLimit:
		return ErrBadRejectedCap
	case c.MinBodyRate < 1:
		return ErrBadBodyRate
	case httpsec.CheckTokenFormat(c.AuthToken) != nil:
		return ErrBadTokenFormat
	case c.AuthToken == "" && !c.AllowNoAuth && !httpsec.IsLoopback(c.Listen):
		return fmt.Errorf("%w (--listen %s)", ErrNoAuth, c.Listen)
	}
	if err := c.Kafka.Validate(); err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	return nil
}
