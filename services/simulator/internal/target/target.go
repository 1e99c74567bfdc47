// Package target delivers the simulator's sends to the platform, to the
// ingest gateway over HTTP or straight to Kafka, and reports each send only
// once the receiver acknowledged it. Both retry with backoff while the
// receiver is down, and say so.
package target

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/boontadata/boontadata/pkg/retry"
	"github.com/boontadata/boontadata/services/simulator/internal/gen"
)

// Target delivers sends.
type Target interface {
	// Send hands one send over; the target sets its SendTime. It blocks
	// while too many sends wait for their acknowledgement, and returns an
	// error when the target gave up or the acknowledgement callback failed.
	Send(ctx context.Context, s *gen.Send) error
	// Close delivers what is pending and waits for the acknowledgements
	// until ctx ends; sends not acknowledged by then are not reported.
	Close(ctx context.Context) error
	// Stats returns counters for the progress display.
	Stats() Stats
	// EndRun writes the run's end-of-run marker to every partition of the
	// events topic (docs/engines.md) and returns how many got it. Call it
	// once Close returned nil: every send was acknowledged, so the marker
	// follows them on every partition.
	EndRun(ctx context.Context) (int, error)
}

// AckFunc receives acknowledged sends. The slice is reused after the call
// returns. Calls may come from several goroutines, one at a time each.
type AckFunc func(sends []gen.Send) error

// Stats are counters of a target.
type Stats struct {
	// Failures counts failed delivery attempts (each is retried).
	Failures int64
	// Pending counts sends handed over and not acknowledged yet.
	Pending int64
}

// ErrGaveUp is returned when the receiver stayed unavailable longer than
// the retry timeout.
var ErrGaveUp = errors.New("receiver unavailable for longer than the retry timeout")

// ErrClosed is returned by Send after Close.
var ErrClosed = errors.New("target closed")

// Retry configures retries with exponential backoff.
type Retry struct {
	// Initial and Max bound the delay between attempts.
	Initial, Max time.Duration
	// Timeout is how long failures may go on before giving up; 0 never
	// gives up.
	Timeout time.Duration
}

// delay returns the wait before attempt n (1-based): the backoff of the
// services' retry policy, jitter included.
func (r Retry) delay(n int) time.Duration {
	return retry.Policy{Initial: r.Initial, Max: r.Max}.Delay(n)
}

// do runs f until it succeeds, fails with an error that does not wrap
// errRetry (HTTP) or the retry timeout passes, waiting with backoff between
// attempts.
func (r Retry) do(ctx context.Context, log *zap.Logger, what string, f func() error) error {
	began := time.Now()
	for n := 1; ; n++ {
		err := f()
		if err == nil {
			return nil
		}
		if errors.Is(err, ErrRejected) || ctx.Err() != nil {
			return err
		}
		if r.Timeout > 0 && time.Since(began) > r.Timeout {
			return fmt.Errorf("%s: %w: %w", what, ErrGaveUp, err)
		}
		d := r.delay(n)
		log.Warn(what+" failed; retrying", zap.Error(err), zap.Duration("retry_in", d))
		if !sleep(ctx, nil, d) {
			return err
		}
	}
}

// sleep waits d or until ctx or stop ends.
func sleep(ctx context.Context, stop <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-stop:
		return false
	}
}
