package retry

import (
	"context"
	"errors"
	"testing"
	"time"

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
	require.ErrorContains(t, err, "write: down")
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
