// Package loadtest measures the ingest gateway end to end: concurrent clients
// post batches of valid events over HTTP and count what the gateway accepted,
// that is what Kafka acknowledged.
package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/boontadata/boontadata/pkg/cliapp"
	"github.com/boontadata/boontadata/pkg/event"
	"github.com/boontadata/boontadata/pkg/ingestapi"
)

// Sentinel errors of Config.Validate.
var (
	ErrNoURL     = errors.New("no gateway URL given (--url)")
	ErrBadCounts = errors.New("--events, --batch, --concurrency and --devices must be at least 1")
	ErrStalled   = errors.New("the gateway stopped accepting events")
)

// Config of a load test.
type Config struct {
	// URL of the gateway, without the path.
	URL         string
	Events      int
	Batch       int
	Concurrency int
	Devices     int
	Token       string
	RunID       string
	// Timeout of one request, and how long the gateway may answer only 429
	// or 503 before the test gives up.
	Timeout time.Duration
}

// DefaultConfig returns the defaults of the flags.
func DefaultConfig() Config {
	return Config{
		URL: "http://127.0.0.1:8080", Events: 2_000_000, Batch: 1000, Concurrency: 8, Devices: 1000,
		RunID: "loadtest", Timeout: 30 * time.Second,
	}
}

// Flags registers the configuration as flags.
func (c *Config) Flags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "url", EnvVars: cliapp.Env("loadtest-url"), Value: c.URL, Destination: &c.URL,
			Usage: "base URL of the ingest gateway"},
		&cli.IntFlag{Name: "events", EnvVars: cliapp.Env("loadtest-events"), Value: c.Events, Destination: &c.Events,
			Usage: "events to send in all"},
		&cli.IntFlag{Name: "batch", EnvVars: cliapp.Env("loadtest-batch"), Value: c.Batch, Destination: &c.Batch,
			Usage: "events per request"},
		&cli.IntFlag{Name: "concurrency", EnvVars: cliapp.Env("loadtest-concurrency"), Value: c.Concurrency, Destination: &c.Concurrency,
			Usage: "requests in flight at once"},
		&cli.IntFlag{Name: "devices", EnvVars: cliapp.Env("loadtest-devices"), Value: c.Devices, Destination: &c.Devices,
			Usage: "distinct device ids (record keys)"},
		&cli.StringFlag{Name: "token", EnvVars: cliapp.Env("ingest-auth-token"), Value: c.Token, Destination: &c.Token,
			Usage: "bearer token, when the gateway requires one"},
		&cli.StringFlag{Name: "run-id", EnvVars: cliapp.Env("loadtest-run-id"), Value: c.RunID, Destination: &c.RunID,
			Usage: "run id sent with every request"},
		&cli.DurationFlag{Name: "timeout", EnvVars: cliapp.Env("loadtest-timeout"), Value: c.Timeout, Destination: &c.Timeout,
			Usage: "timeout of one request"},
	}
}

// Validate reports the first problem of the configuration.
func (c *Config) Validate() error {
	if c.URL == "" {
		return ErrNoURL
	}
	if c.Events < 1 || c.Batch < 1 || c.Concurrency < 1 || c.Devices < 1 || c.Timeout <= 0 {
		return ErrBadCounts
	}
	return nil
}

// Result of a load test.
type Result struct {
	Accepted int64
	Requests int64
	// Retried counts 429 and 503 answers; their batch was sent again.
	Retried  int64
	Elapsed  time.Duration
	Latency  Percentiles
	Statuses map[int]int64
}

// Percentiles of the latency of the requests answered 202.
type Percentiles struct {
	P50, P95, P99, Max time.Duration
}

// EventsPerSecond is the accepted events divided by the elapsed time.
func (r Result) EventsPerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Accepted) / r.Elapsed.Seconds()
}

// String is the report printed by the command.
func (r Result) String() string {
	codes := make([]int, 0, len(r.Statuses))
	for c := range r.Statuses {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	var st bytes.Buffer
	for _, c := range codes {
		fmt.Fprintf(&st, " %d×%d", r.Statuses[c], c)
	}
	return fmt.Sprintf("accepted %d events in %d requests in %s: %.0f events/s\n"+
		"request latency (202): p50 %s  p95 %s  p99 %s  max %s\n"+
		"answers:%s (retried %d)\n",
		r.Accepted, r.Requests, r.Elapsed.Round(time.Millisecond), r.EventsPerSecond(),
		r.Latency.P50.Round(10*time.Microsecond), r.Latency.P95.Round(10*time.Microsecond),
		r.Latency.P99.Round(10*time.Microsecond), r.Latency.Max.Round(10*time.Microsecond),
		st.String(), r.Retried)
}

// Run sends cfg.Events events in batches from cfg.Concurrency clients and
// measures. A batch answered 429 or 503 is sent again after Retry-After, as a
// device would; any other failure stops the test.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	client := &http.Client{
		Timeout: cfg.Timeout,
		Transport: &http.Transport{
			MaxIdleConns: cfg.Concurrency, MaxIdleConnsPerHost: cfg.Concurrency,
			DisableCompression: true, IdleConnTimeout: time.Minute,
		},
	}
	defer client.CloseIdleConnections()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	batches := (cfg.Events + cfg.Batch - 1) / cfg.Batch
	var next atomic.Int64
	var (
		mu       sync.Mutex
		res      = Result{Statuses: map[int]int64{}}
		lat      = make([]time.Duration, 0, batches)
		firstErr error
	)
	url := cfg.URL + ingestapi.EventsPath
	start := time.Now()
	// A gateway that keeps answering 429 or 503 fails the test after Timeout.
	lastAccepted := start
	var wg sync.WaitGroup
	for w := range cfg.Concurrency {
		wg.Go(func() {
			var body []byte
			for ctx.Err() == nil {
				n := int(next.Add(1)) - 1
				if n >= batches {
					return
				}
				count := min(cfg.Batch, cfg.Events-n*cfg.Batch)
				body = appendBatch(body[:0], cfg, w, n, count)
				for {
					d, status, accepted, err := post(ctx, client, url, body, cfg)
					mu.Lock()
					res.Requests++
					if status != 0 {
						res.Statuses[status]++
					}
					switch {
					case err != nil:
						if firstErr == nil {
							firstErr = err
						}
						mu.Unlock()
						cancel()
						return
					case status == http.StatusAccepted:
						res.Accepted += int64(accepted)
						lat = append(lat, d)
						lastAccepted = time.Now()
						mu.Unlock()
					default: // 429, 503: back off and send the batch again
						res.Retried++
						stalled := time.Since(lastAccepted) > cfg.Timeout
						if stalled && firstErr == nil {
							firstErr = fmt.Errorf("%w: no batch accepted for %s (last answer %d)", ErrStalled, cfg.Timeout, status)
						}
						mu.Unlock()
						if stalled {
							cancel()
							return
						}
						select {
						case <-ctx.Done():
							return
						case <-time.After(time.Second):
						}
						continue
					}
					break
				}
			}
		})
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	res.Latency = percentiles(lat)
	if firstErr != nil {
		return res, firstErr
	}
	return res, ctx.Err()
}

// appendBatch formats count events of batch n from worker w.
func appendBatch(dst []byte, cfg Config, w, n, count int) []byte {
	base := time.Now().UnixMilli()
	for i := range count {
		seq := n*cfg.Batch + i
		e := event.Event{
			MessageID:  "lt-" + strconv.Itoa(w) + "-" + strconv.Itoa(seq),
			DeviceID:   "dev-" + strconv.Itoa(seq%cfg.Devices),
			DeviceTime: base - int64(i%1000),
			Category:   "cat-" + strconv.Itoa(seq%5),
			Measure1:   int64(seq % 1000),
			Measure2:   float64(seq%10000) / 100,
		}
		dst = event.AppendFormat(dst, e)
		dst = append(dst, '\n')
	}
	return dst
}

func post(ctx context.Context, client *http.Client, url string, body []byte, cfg Config) (time.Duration, int, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, 0, 0, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", ingestapi.ContentTypeText)
	req.Header.Set(ingestapi.HeaderRunID, cfg.RunID)
	req.Header.Set(ingestapi.HeaderSendTime, strconv.FormatInt(time.Now().UnixMilli(), 10))
	if cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+cfg.Token)
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("post to %s: %w", url, err)
	}
	defer func() { _ = resp.Body.Close() }() // read to the end below
	var r ingestapi.Response
	derr := json.NewDecoder(resp.Body).Decode(&r)
	_, _ = io.Copy(io.Discard, resp.Body)
	d := time.Since(start)
	switch resp.StatusCode {
	case http.StatusAccepted:
		if derr != nil {
			return d, resp.StatusCode, 0, fmt.Errorf("read answer: %w", derr)
		}
		if r.Rejected > 0 {
			return d, resp.StatusCode, r.Accepted, fmt.Errorf("gateway rejected %d generated events: %+v", r.Rejected, r.Errors[0])
		}
		return d, resp.StatusCode, r.Accepted, nil
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		return d, resp.StatusCode, 0, nil
	}
	return d, resp.StatusCode, 0, fmt.Errorf("gateway answered %s: %s", resp.Status, r.Error)
}

func percentiles(lat []time.Duration) Percentiles {
	if len(lat) == 0 {
		return Percentiles{}
	}
	slices.Sort(lat)
	at := func(q float64) time.Duration {
		i := int(q*float64(len(lat))+0.5) - 1
		return lat[max(0, min(i, len(lat)-1))]
	}
	return Percentiles{P50: at(0.50), P95: at(0.95), P99: at(0.99), Max: lat[len(lat)-1]}
}
