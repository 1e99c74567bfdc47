package target

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/boontadata/boontadata/pkg/event"
	"github.com/boontadata/boontadata/pkg/ingestapi"
	"github.com/boontadata/boontadata/pkg/logging"

	"github.com/boontadata/boontadata/services/simulator/internal/gen"
)

// ErrRejected is returned when the gateway refuses a request for good (a
// 4xx other than 429), or answers in a way that does not say which lines it
// accepted.
var ErrRejected = errors.New("ingest gateway refused the request")

// HTTPOptions configure the HTTP target.
type HTTPOptions struct {
	// URL is the gateway's base URL; ingestapi.EventsPath is appended.
	URL   string
	Token string
	RunID string
	// BatchSize is the number of events per request.
	BatchSize int
	// Linger sends a partial batch this long after its first event (live
	// mode only: in fast mode batches are always full, so that their
	// content and send time are deterministic).
	Linger time.Duration
	// Concurrency bounds the requests in flight.
	Concurrency int
	// Timeout bounds one request.
	Timeout time.Duration
	Live    bool
	Now     func() time.Time
	Retry   Retry
}

type hbatch struct {
	sends    []gen.Send
	body     []byte
	created  time.Time
	sendTime int64
	// key is the batch's Idempotency-Key, the same on every attempt: the
	// gateway stores each line once however often the batch is resent.
	key string
}

// HTTP posts batches of lines to the ingest gateway.
type HTTP struct {
	opts     HTTPOptions
	url      string
	client   *http.Client
	ack      AckFunc
	log      *zap.Logger
	mu       sync.Mutex
	cur      *hbatch
	work     chan *hbatch
	workers  sync.WaitGroup
	linger   sync.WaitGroup
	stop     chan struct{}
	cancel   context.CancelFunc
	ctx      context.Context
	failures atomic.Int64
	pending  atomic.Int64
	fatal    atomic.Pointer[error]
	closed   bool
}

// NewHTTP starts the request workers.
func NewHTTP(opts HTTPOptions, ack AckFunc, log *zap.Logger) *HTTP {
	opts.BatchSize = max(opts.BatchSize, 1)
	opts.Concurrency = max(opts.Concurrency, 1)
	ctx, cancel := context.WithCancel(context.Background())
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = opts.Concurrency
	h := &HTTP{
		opts: opts, url: opts.URL + ingestapi.EventsPath, ack: ack, log: log,
		client: &http.Client{Timeout: opts.Timeout, Transport: transport},
		work:   make(chan *hbatch, opts.Concurrency),
		stop:   make(chan struct{}),
		ctx:    ctx, cancel: cancel,
	}
	for range opts.Concurrency {
		h.workers.Add(1)
		go h.worker()
	}
	if opts.Live && opts.Linger > 0 {
		h.linger.Add(1)
		go h.lingerLoop()
	}
	return h
}

// Send implements Target.
func (h *HTTP) Send(ctx context.Context, s *gen.Send) error {
	if err := h.err(); err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return ErrClosed
	}
	if h.cur == nil {
		h.cur = &hbatch{sends: make([]gen.Send, 0, h.opts.BatchSize), body: make([]byte, 0, h.opts.BatchSize*100), created: h.opts.Now()}
	}
	b := h.cur
	if len(b.sends) > 0 {
		b.body = append(b.body, '\n')
	}
	b.body = event.AppendFormat(b.body, s.Event)
	b.sends = append(b.sends, *s)
	h.pending.Add(1)
	if len(b.sends) < h.opts.BatchSize {
		return nil
	}
	return h.dispatchLocked(ctx)
}

// dispatchLocked hands the current batch to a worker; h.mu is held, so a
// full pipeline blocks the generator: that is the backpressure.
func (h *HTTP) dispatchLocked(ctx context.Context) error {
	b := h.cur
	h.cur = nil
	b.key = newKey()
	if !h.opts.Live {
		b.sendTime = b.sends[len(b.sends)-1].Slot
	}
	select {
	case h.work <- b:
		return nil
	case <-ctx.Done():
		h.pending.Add(-int64(len(b.sends)))
		return ctx.Err()
	}
}

func (h *HTTP) lingerLoop() {
	defer h.linger.Done()
	t := time.NewTicker(max(h.opts.Linger/4, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
			h.mu.Lock()
			if h.cur != nil && len(h.cur.sends) > 0 && h.opts.Now().Sub(h.cur.created) >= h.opts.Linger {
				_ = h.dispatchLocked(h.ctx) // fails only when closing
			}
			h.mu.Unlock()
		}
	}
}

func (h *HTTP) worker() {
	defer h.workers.Done()
	for b := range h.work {
		if h.err() != nil {
			h.pending.Add(-int64(len(b.sends)))
			continue
		}
		if err := h.deliver(b); err != nil {
			h.setFatal(err)
		}
		h.pending.Add(-int64(len(b.sends)))
	}
}

// deliver posts one batch until the gateway acknowledges it, then reports
// the accepted sends.
func (h *HTTP) deliver(b *hbatch) error {
	var failingSince time.Time
	for attempt := 1; ; attempt++ {
		if attempt == 1 && h.opts.Live {
			b.sendTime = h.opts.Now().UnixMilli() // the first attempt is the send
		}
		resp, retryAfter, err := h.post(b)
		if err == nil {
			if attempt > 1 {
				h.log.Info("ingest gateway accepted a batch after retries", zap.Int("attempts", attempt))
			}
			return h.acknowledge(b, resp)
		}
		if !errors.Is(err, errRetry) {
			return err
		}
		h.failures.Add(1)
		now := time.Now()
		if failingSince.IsZero() {
			failingSince = now
		}
		if t := h.opts.Retry.Timeout; t > 0 && now.Sub(failingSince) > t {
			return fmt.Errorf("ingest gateway at %s: %w (%v): %w", h.url, ErrGaveUp, t, err)
		}
		wait := h.opts.Retry.delay(attempt)
		if retryAfter > 0 {
			wait = min(retryAfter, h.opts.Retry.Max)
		}
		h.log.Warn("ingest gateway unavailable; retrying", zap.Error(err), zap.Int("attempt", attempt),
			zap.Duration("retry_in", wait), zap.Int("events", len(b.sends)))
		if !sleep(h.ctx, nil, wait) {
			return fmt.Errorf("stopped while retrying: %w", err)
		}
	}
}

var errRetry = errors.New("retry")

// newKey returns a random Idempotency-Key: 128 bits, in hex.
func newKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read does not fail on supported platforms
	return hex.EncodeToString(b[:])
}

// EndRun implements Target: the gateway's end-of-run call, retried like a
// batch.
func (h *HTTP) EndRun(ctx context.Context) (int, error) {
	u := h.opts.URL + ingestapi.EndOfRunPath(h.opts.RunID)
	var n int
	err := h.opts.Retry.do(ctx, h.log, "end-of-run call", func() error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, http.NoBody)
		if err != nil {
			return fmt.Errorf("build request to %s: %w", u, err)
		}
		if h.opts.Token != "" {
			req.Header.Set("Authorization", "Bearer "+h.opts.Token)
		}
		resp, err := h.client.Do(req)
		if err != nil {
			return fmt.Errorf("post to %s: %w: %w", u, errRetry, err)
		}
		defer func() { _ = resp.Body.Close() }() // read fully below
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if err != nil {
			return fmt.Errorf("read answer of %s: %w: %w", u, errRetry, err)
		}
		switch {
		case resp.StatusCode >= 200 && resp.StatusCode < 300:
			var r ingestapi.EndOfRunResponse
			if err := json.Unmarshal(body, &r); err != nil {
				return fmt.Errorf("%w: status %d with an unreadable body: %w", ErrRejected, resp.StatusCode, err)
			}
			n = r.Partitions
			return nil
		case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
			return fmt.Errorf("%s: status %d %s: %w", u, resp.StatusCode, bytes.TrimSpace(body), errRetry)
		}
		return fmt.Errorf("%w: %s: status %d: %s", ErrRejected, u, resp.StatusCode, bytes.TrimSpace(body))
	})
	return n, err
}

// post sends the batch once. A nil error means a 2xx answer; an error
// wrapping errRetry means try again (after retryAfter when positive).
func (h *HTTP) post(b *hbatch) (ingestapi.Response, time.Duration, error) {
	var r ingestapi.Response
	req, err := http.NewRequestWithContext(h.ctx, http.MethodPost, h.url, bytes.NewReader(b.body))
	if err != nil {
		return r, 0, fmt.Errorf("build request to %s: %w", h.url, err)
	}
	req.Header.Set("Content-Type", ingestapi.ContentTypeText)
	req.Header.Set(ingestapi.HeaderRunID, h.opts.RunID)
	req.Header.Set(ingestapi.HeaderSendTime, strconv.FormatInt(b.sendTime, 10))
	req.Header.Set(ingestapi.HeaderIdempotencyKey, b.key)
	if h.opts.Token != "" {
		req.Header.Set("Authorization", "Bearer "+h.opts.Token)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		if h.ctx.Err() != nil {
			return r, 0, fmt.Errorf("post to %s: %w", h.url, err)
		}
		return r, 0, fmt.Errorf("post to %s: %w: %w", h.url, errRetry, err)
	}
	defer func() { _ = resp.Body.Close() }() // read fully below; nothing to report
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return r, 0, fmt.Errorf("read answer of %s: %w: %w", h.url, errRetry, err)
	}
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		if err := json.Unmarshal(body, &r); err != nil {
			return r, 0, fmt.Errorf("%w: status %d with an unreadable body: %w", ErrRejected, resp.StatusCode, err)
		}
		return r, 0, nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusConflict || resp.StatusCode >= 500:
		// 409: an earlier attempt of this batch is still in progress.
		_ = json.Unmarshal(body, &r) // the body of an error may not be JSON
		return r, retryAfter(resp.Header.Get("Retry-After"), h.opts.Now()),
			fmt.Errorf("status %d %q: %w", resp.StatusCode, r.Error, errRetry)
	default:
		return r, 0, fmt.Errorf("%w: status %d: %s", ErrRejected, resp.StatusCode, bytes.TrimSpace(body))
	}
}

// retryAfter parses a Retry-After header: seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
}

// acknowledge reports the accepted lines. Rejected lines are not in the
// truth; the simulator only sends valid lines, so any is a loud error.
func (h *HTTP) acknowledge(b *hbatch, r ingestapi.Response) error {
	n := len(b.sends)
	for i := range b.sends {
		b.sends[i].SendTime = b.sendTime // what the gateway stamps on every record
	}
	if r.Rejected == 0 && r.Accepted == n {
		return h.ack(b.sends)
	}
	if r.Accepted+r.Rejected != n || len(r.Errors) != r.Rejected {
		return fmt.Errorf("%w: it accepted %d and rejected %d of %d lines, explaining %d: cannot tell which were recorded",
			ErrRejected, r.Accepted, r.Rejected, n, len(r.Errors))
	}
	rejected := make(map[int]bool, len(r.Errors))
	for _, e := range r.Errors {
		rejected[e.Line] = true
		if e.Line >= 1 && e.Line <= n {
			h.log.Error("ingest gateway rejected a line the simulator generated; it is left out of the truth",
				zap.Int("line", e.Line), zap.String("error", e.Error), zap.String("message_id", b.sends[e.Line-1].Event.MessageID),
				zap.String(logging.KeyRunID, h.opts.RunID))
		}
	}
	kept := b.sends[:0]
	for i, s := range b.sends {
		if !rejected[i+1] {
			kept = append(kept, s)
		}
	}
	if len(kept) != r.Accepted {
		return fmt.Errorf("%w: line numbers of rejected lines out of range", ErrRejected)
	}
	return h.ack(kept)
}

func (h *HTTP) err() error {
	if e := h.fatal.Load(); e != nil {
		return *e
	}
	return nil
}

func (h *HTTP) setFatal(err error) { h.fatal.CompareAndSwap(nil, &err) }

// Close implements Target.
func (h *HTTP) Close(ctx context.Context) error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return h.err()
	}
	h.closed = true
	close(h.stop)
	h.mu.Unlock()
	h.linger.Wait()
	h.mu.Lock()
	if h.cur != nil && len(h.cur.sends) > 0 {
		_ = h.dispatchLocked(ctx) // on ctx end the batch is dropped, unacknowledged
	}
	h.cur = nil
	h.mu.Unlock()
	close(h.work)
	done := make(chan struct{})
	go func() {
		h.workers.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		h.cancel() // stops retries; their sends are not acknowledged
		<-done
	}
	h.cancel()
	if err := h.err(); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return fmt.Errorf("ingest gateway did not acknowledge every send before the deadline: %w", ctx.Err())
	}
	return nil
}

// Stats implements Target.
func (h *HTTP) Stats() Stats {
	return Stats{Failures: h.failures.Load(), Pending: h.pending.Load()}
}
