package clock

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestManualMovesOnlyWhenTold(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := NewManual(t0)
	require.Equal(t, t0, c.Now())
	c.Add(1500 * time.Millisecond)
	require.Equal(t, t0.Add(1500*time.Millisecond), c.Now())
	c.Set(t0)
	require.Equal(t, t0, c.Now())
	var _ Clock = c
	var _ Clock = System{}
	require.WithinDuration(t, time.Now(), System{}.Now(), time.Minute)
}
