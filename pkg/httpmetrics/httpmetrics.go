// Package httpmetrics counts and times the HTTP answers of the services'
// servers for Prometheus, with the same metric shape everywhere.
package httpmetrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// statusWriter remembers the status code of an answer.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Requests are the request metrics every server has: answers by handler and
// status code, and their duration by handler.
type Requests struct {
	Total   *prometheus.CounterVec
	Seconds *prometheus.HistogramVec
}

// NewRequests returns the request metrics of a service, named
// NAMESPACE_requests_total and NAMESPACE_request_duration_seconds.
func NewRequests(namespace string) Requests {
	return Requests{
		Total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "requests_total",
			Help: "HTTP requests answered, by handler and status code.",
		}, []string{"handler", "code"}),
		Seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "request_duration_seconds",
			Help:    "Time from the request's arrival to its answer, by handler.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"handler"}),
	}
}

// Instrument counts the answers of h in requests, labelled by handler name
// and status code, and observes their duration in seconds, labelled by
// handler name. now is the clock, injected for tests.
func Instrument(requests *prometheus.CounterVec, seconds *prometheus.HistogramVec, name string, now func() time.Time, h http.Handler) http.Handler {
	observe := seconds.WithLabelValues(name)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := now()
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		if sw.code == 0 {
			sw.code = http.StatusOK
		}
		requests.WithLabelValues(name, strconv.Itoa(sw.code)).Inc()
		observe.Observe(now().Sub(start).Seconds())
	})
}
