// Package retry is the one retry policy of the services: exponential backoff
// with jitter, until the operation succeeds, says it cannot succeed, or the
// context ends. Every wait is logged with what is retried and when, and can
// be counted (see Counting).
package retry

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// Policy bounds the waits between attempts. The zero Policy waits as Default
// does, so that a component built without one still backs off.
type Policy struct {
	// Initial is the first wait, Max the longest; zero takes Default's.
	Initial, Max time.Duration
	// OnRetry, when set, is called before each wait with the what of Do
	// (metrics of retries).
	OnRetry func(what string)
}

const (
	defaultInitial = 200 * time.Millisecond
	defaultMax     = 10 * time.Second
)

// Default waits 200 ms, doubling up to 10 s.
func Default() Policy { return Policy{Initial: defaultInitial, Max: defaultMax} }

// ErrPermanent wraps an error that retrying cannot fix: Do returns it at once.
var ErrPermanent = errors.New("permanent")

// Permanent marks err as not worth retrying.
func Permanent(err error) error { return fmt.Errorf("%w: %w", ErrPermanent, err) }

// Delay returns the wait before retry n (1-based): Initial doubled n−1
// times, at most Max, with ±20% jitter so that concurrent callers do not
// retry in lockstep.
func (p Policy) Delay(n int) time.Duration {
	d, limit := p.Initial, p.Max
	if d <= 0 {
		d = defaultInitial
	}
	if limit <= 0 {
		limit = defaultMax
	}
	for i := 1; i < n && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64())) //nolint:gosec // jitter, not security
}

// Do runs f until it returns nil or an error wrapping ErrPermanent, or ctx
// ends; then it returns f's last error, wrapped with what (and, when ctx
// ended, with why it gave up). what names the operation in the log and in
// the metrics of retries: keep it a constant ("write results"), and put
// identifiers in log's fields.
func (p Policy) Do(ctx context.Context, log *zap.Logger, what string, f func() error) error {
	for n := 1; ; n++ {
		err := f()
		if err == nil {
			return nil
		}
		if errors.Is(err, ErrPermanent) {
			return fmt.Errorf("%s: %w", what, err)
		}
		if ctx.Err() != nil {
			return gaveUp(ctx, what, err)
		}
		d := p.Delay(n)
		if p.OnRetry != nil {
			p.OnRetry(what)
		}
		log.Warn(what+" failed; retrying", zap.Error(err), zap.Int("attempt", n), zap.Duration("retry_in", d))
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return gaveUp(ctx, what, err)
		case <-t.C:
		}
	}
}

func gaveUp(ctx context.Context, what string, err error) error {
	if errors.Is(err, ctx.Err()) {
		return fmt.Errorf("%s: %w", what, err)
	}
	return fmt.Errorf("%s: %w (gave up: %v)", what, err, ctx.Err())
}

// NewCounter returns the counter of a service's retries,
// <namespace>_retries_total{operation}, for Counting. The service registers
// it on its registry.
func NewCounter(namespace string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "retries_total",
		Help: "Failed attempts retried after a backoff, by operation.",
	}, []string{"operation"})
}

// Counting returns p counting every retry in c, labelled by operation (the
// what of Do), before p's own OnRetry if it has one.
func (p Policy) Counting(c *prometheus.CounterVec) Policy {
	next := p.OnRetry
	p.OnRetry = func(what string) {
		c.WithLabelValues(what).Inc()
		if next != nil {
			next(what)
		}
	}
	return p
}
