package httpmetrics

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

func TestInstrument(t *testing.T) {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "r"}, []string{"handler", "code"})
	seconds := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "s"}, []string{"handler"})
	clock := time.Unix(0, 0)
	now := func() time.Time { clock = clock.Add(time.Second); return clock }
	tests := []struct {
		name string
		h    http.HandlerFunc
		code string
	}{
		{"implicit 200", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }, "200"},
		{"explicit 503", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) }, "503"},
		{"nothing written", func(http.ResponseWriter, *http.Request) {}, "200"},
	}
	for _, tt := range tests {
		h := Instrument(requests, seconds, tt.name, now, tt.h)
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
		require.Equal(t, 1.0, testutil.ToFloat64(requests.WithLabelValues(tt.name, tt.code)), tt.name)
	}
	require.Equal(t, 3, testutil.CollectAndCount(seconds))
}
