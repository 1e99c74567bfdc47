package probe

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

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
