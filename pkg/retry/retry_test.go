package retry

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
)

func TestDoRetriesUntilSuccess(t *testing.T) {
	p := Policy{Initial: time.Millisecond, Max: 2 * time.Millisecond}
	var retries []string
	p.OnRetry = func(what string) { retries = append(retries, what) }
	n := 0
	err := p.Do(context.Background(), zap.NewNop(), "write", func() error {
		if n++; n < 3 {
			return errors.New("down")
		}
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, 3, n)
	require.Equal(t, []string{"write", "write"}, retries)
}

func TestDoStopsOnPermanentAndContext(t *testing.T) {
	p := Policy{Initial: time.Millisecond, Max: time.Millisecond}
	boom := errors.New("bad input")
	err := p.Do(context.Background(), zap.NewNop(), "write", func() error { return Permanent(boom) })
	require.ErrorIs(t, err, boom)
	require.ErrorContains(t, err, "write: permanent: bad input")

	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	err = p.Do(ctx, zap.NewNop(), "write", func() error {
		if n++; n == 2 {
			cancel()
		}
		return errors.New("down")
	})
	require.EqualError(t, err, "write: down (gave up: context canceled)")
	require.Equal(t, 2, n)

	// An error that is the context's own is not repeated.
	err = p.Do(ctx, zap.NewNop(), "write", func() error { return ctx.Err() })
	require.EqualError(t, err, "write: context canceled")
	require.ErrorIs(t, err, context.Canceled)
}

func TestZeroPolicyWaitsAsDefault(t *testing.T) {
	var zero Policy
	for range 100 {
		require.InDelta(t, float64(200*time.Millisecond), float64(zero.Delay(1)), float64(40*time.Millisecond))
		require.InDelta(t, float64(10*time.Second), float64(zero.Delay(20)), float64(2*time.Second))
	}
}

func TestCountingCountsRetriesByOperation(t *testing.T) {
	c := NewCounter("boontadata_test")
	var seen []string
	p := Policy{Initial: time.Millisecond, Max: time.Millisecond, OnRetry: func(what string) { seen = append(seen, what) }}.Counting(c)
	for _, op := range []string{"write results", "write results", "acknowledge task"} {
		n := 0
		require.NoError(t, p.Do(context.Background(), zap.NewNop(), op, func() error {
			if n++; n < 3 {
				return errors.New("down")
			}
			return nil
		}))
	}
	require.InDelta(t, 4, testutil.ToFloat64(c.WithLabelValues("write results")), 0)
	require.InDelta(t, 2, testutil.ToFloat64(c.WithLabelValues("acknowledge task")), 0)
	require.Len(t, seen, 6, "the policy's own OnRetry still runs")

	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(c))
	n, err := testutil.GatherAndCount(reg, "boontadata_test_retries_total")
	require.NoError(t, err)
	require.Equal(t, 2, n)
}

func TestDelayGrowsWithJitterToMax(t *testing.T) {
	p := Policy{Initial: 100 * time.Millisecond, Max: time.Second}
	for range 100 {
		require.InDelta(t, float64(100*time.Millisecond), float64(p.Delay(1)), float64(20*time.Millisecond))
		require.InDelta(t, float64(400*time.Millisecond), float64(p.Delay(3)), float64(80*time.Millisecond))
		require.InDelta(t, float64(time.Second), float64(p.Delay(10)), float64(200*time.Millisecond))
	}
}
