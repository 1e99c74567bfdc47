// Package retry is the one retry policy of the services: exponential backoff
// with jitter, until the operation succeeds, says it cannot succeed, or the
// context ends. Every wait is logged with what is retried and when.
package retry

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"go.uber.org/zap"
)

// Policy bounds the waits between attempts.
type Policy struct {
	// Initial is the first wait, Max the longest.
	Initial, Max time.Duration
	// OnRetry, when set, is called before each wait (metrics of retries).
	OnRetry func(what string)
}

// Default waits 200 ms, doubling up to 10 s.
func Default() Policy { return Policy{Initial: 200 * time.Millisecond, Max: 10 * time.Second} }

// ErrPermanent wraps an error that retrying cannot fix: Do returns it at once.
var ErrPermanent = errors.New("permanent")

// Permanent marks err as not worth retrying.
func Permanent(err error) error { return fmt.Errorf("%w: %w", ErrPermanent, err) }

// Delay returns the wait before retry n (1-based): Initial doubled n−1
// times, at most Max, with ±20% jitter so that concurrent callers do not
// retry in lockstep.
func (p Policy) Delay(n int) time.Duration {
	d := p.Initial
	for i := 1; i < n && d < p.Max; i++ {
		d *= 2
	}
	d = min(d, p.Max)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64())) //nolint:gosec // jitter, not security
}

// Do runs f until it returns nil or an error wrapping ErrPermanent, or ctx
// ends; then it returns f's last error, wrapped with what.
func (p Policy) Do(ctx context.Context, log *zap.Logger, what string, f func() error) error {
	for n := 1; ; n++ {
		err := f()
		if err == nil {
			return nil
		}
		if errors.Is(err, ErrPermanent) || ctx.Err() != nil {
			return fmt.Errorf("%s: %w", what, err)
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
			return fmt.Errorf("%s: %w", what, err)
		case <-t.C:
		}
	}
}
