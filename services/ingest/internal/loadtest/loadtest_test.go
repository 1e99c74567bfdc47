package loadtest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/boontadata/boontadata/pkg/event"
	"github.com/boontadata/boontadata/pkg/ingestapi"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeGateway counts valid lines and answers 429 to every third request.
func fakeGateway(t *testing.T, throttle bool) (*httptest.Server, *atomic.Int64) {
	var lines, requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if throttle && requests.Add(1)%3 == 0 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		assert.Equal(t, ingestapi.EventsPath, r.URL.Path)
		assert.Equal(t, ingestapi.ContentTypeText, r.Header.Get("Content-Type"))
		assert.Equal(t, "Bearer tok", r.Header.Get("Authorization"))
		n := 0
		sc := bufio.NewScanner(r.Body)
		for sc.Scan() {
			var v event.View
			assert.NoError(t, event.ParseView(sc.Bytes(), &v))
			n++
		}
		lines.Add(int64(n))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		assert.NoError(t, json.NewEncoder(w).Encode(ingestapi.Response{Accepted: n}))
	}))
	t.Cleanup(srv.Close)
	return srv, &lines
}

func TestRunCountsAcceptedEvents(t *testing.T) {
	srv, lines := fakeGateway(t, false)
	cfg := DefaultConfig()
	cfg.URL, cfg.Events, cfg.Batch, cfg.Concurrency, cfg.Token = srv.URL, 1050, 100, 4, "tok"
	res, err := Run(context.Background(), cfg)
	require.NoError(t, err)
	require.Equal(t, int64(1050), res.Accepted)
	require.Equal(t, int64(1050), lines.Load())
	require.Equal(t, int64(11), res.Requests)
	require.Equal(t, map[int]int64{202: 11}, res.Statuses)
	require.Positive(t, res.EventsPerSecond())
	require.LessOrEqual(t, res.Latency.P50, res.Latency.P99)
	require.Contains(t, res.String(), "events/s")
}

func TestRunResendsThrottledBatches(t *testing.T) {
	srv, lines := fakeGateway(t, true)
	cfg := DefaultConfig()
	cfg.URL, cfg.Events, cfg.Batch, cfg.Concurrency, cfg.Token = srv.URL, 500, 100, 2, "tok"
	res, err := Run(context.Background(), cfg)
	require.NoError(t, err)
	require.Equal(t, int64(500), res.Accepted)
	require.Equal(t, int64(500), lines.Load())
	require.Positive(t, res.Retried)
}

func TestRunGivesUpOnAStalledGateway(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	cfg := DefaultConfig()
	cfg.URL, cfg.Events, cfg.Timeout = srv.URL, 10, 500*time.Millisecond
	_, err := Run(context.Background(), cfg)
	require.ErrorIs(t, err, ErrStalled)
}

func TestValidate(t *testing.T) {
	cfg := DefaultConfig()
	require.NoError(t, cfg.Validate())
	cfg.URL = ""
	require.True(t, errors.Is(cfg.Validate(), ErrNoURL))
	cfg = DefaultConfig()
	cfg.Batch = 0
	require.ErrorIs(t, cfg.Validate(), ErrBadCounts)
}

func TestPercentiles(t *testing.T) {
	var lat []time.Duration
	for i := 100; i >= 1; i-- {
		lat = append(lat, time.Duration(i)*time.Millisecond)
	}
	p := percentiles(lat)
	require.Equal(t, Percentiles{P50: 50 * time.Millisecond, P95: 95 * time.Millisecond, P99: 99 * time.Millisecond, Max: 100 * time.Millisecond}, p)
	require.Equal(t, Percentiles{}, percentiles(nil))
}
