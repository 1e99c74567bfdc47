package probe

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
)

func TestReadinessFollowsChecksAndStopping(t *testing.T) {
	var down atomic.Bool
	p := New(map[string]Checker{"kafka": CheckerFunc(func(context.Context) error {
		if down.Load() {
			return errors.New("kafka: gone")
		}
		return nil
	})}, func() map[string]any { return map[string]any{"jobs": 2} }, zap.NewNop())
	mux := http.NewServeMux()
	p.Register(mux)
	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code, rec.Body.String()
	}
	code, body := get("/readyz")
	require.Equal(t, http.StatusServiceUnavailable, code, "not checked yet")
	require.Contains(t, body, "not checked yet")
	p.Check(context.Background())
	code, body = get("/readyz")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, `"jobs":2`)
	down.Store(true)
	p.Check(context.Background())
	code, body = get("/readyz")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Contains(t, body, "kafka: gone")
	code, _ = get("/healthz")
	require.Equal(t, http.StatusOK, code, "alive while a dependency is down")
	down.Store(false)
	p.Check(context.Background())
	p.SetStopping()
	code, body = get("/readyz")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Contains(t, body, "stopping")
}

func TestTriggerChecksAtOnceAndReadyFollows(t *testing.T) {
	var down atomic.Bool
	var observed atomic.Int32
	p := New(map[string]Checker{"kafka": CheckerFunc(func(context.Context) error {
		if down.Load() {
			return errors.New("kafka: gone")
		}
		return nil
	})}, nil, zap.NewNop())
	p.Observe(func(name string, err error) {
		require.Equal(t, "kafka", name)
		observed.Add(1)
	})
	require.False(t, p.Ready(), "not checked yet")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.RunOn(ctx, nil) }() // no ticks: only triggers
	p.Trigger()
	require.Eventually(t, p.Ready, 5*time.Second, time.Millisecond)
	down.Store(true)
	p.Trigger()
	require.Eventually(t, func() bool { return !p.Ready() }, 5*time.Second, time.Millisecond)
	require.GreaterOrEqual(t, observed.Load(), int32(2))
	down.Store(false)
	p.Trigger()
	require.Eventually(t, p.Ready, 5*time.Second, time.Millisecond)
	p.SetStopping()
	require.False(t, p.Ready(), "stopping")
	cancel()
	<-done
}
