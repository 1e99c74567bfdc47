package gateway

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/boontadata/boontadata/pkg/httpmetrics"
)

const namespace = "boontadata_ingest"

// metrics of the gateway, registered on a registry of its own (no global).
type metrics struct {
	reg            *prometheus.Registry
	requests       *prometheus.CounterVec
	requestSeconds *prometheus.HistogramVec
	accepted       prometheus.Counter
	rejected       prometheus.Counter
	produceSeconds prometheus.Histogram
	produceErrors  prometheus.Counter
	inFlight       prometheus.Gauge
	kafkaReachable prometheus.Gauge
	refused        prometheus.Counter
	slowBodies     prometheus.Counter
	idemSkipped    prometheus.Counter
}

// newMetrics registers retries (see retry.NewCounter) with the gateway's own
// metrics.
func newMetrics(retries *prometheus.CounterVec) *metrics {
	req := httpmetrics.NewRequests(namespace)
	m := &metrics{
		reg:            prometheus.NewRegistry(),
		requests:       req.Total,
		requestSeconds: req.Seconds,
		accepted: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "events_accepted_total",
			Help: "Valid events acknowledged by Kafka on the events topic (counted in 202 answers).",
		}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "events_rejected_total",
			Help: "Invalid lines acknowledged by Kafka on the dead-letter topic (counted in 202 answers).",
		}),
		produceSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Name: "produce_duration_seconds",
			Help:    "Time from enqueueing a request's first record to Kafka's last acknowledgement.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
		produceErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "produce_errors_total",
			Help: "Records Kafka did not acknowledge (their request was answered 503).",
		}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "in_flight_requests",
			Help: "Requests of /v1/events holding an in-flight slot: being read past the start of their body, parsed or produced.",
		}),
		kafkaReachable: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "kafka_reachable",
			Help: "1 when the last readiness check reached Kafka.",
		}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "requests_refused_rejected_lines_total",
			Help: "Requests refused whole (422) for more rejected lines than --max-rejected-lines.",
		}),
		slowBodies: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "slow_bodies_total",
			Help: "Requests cut off (408) because their body arrived slower than --min-body-rate.",
		}),
		idemSkipped: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "idempotent_records_skipped_total",
			Help: "Records of a retried request not produced again: an earlier attempt with the same Idempotency-Key stored them.",
		}),
	}
	m.reg.MustRegister(m.requests, m.requestSeconds, m.accepted, m.rejected, m.produceSeconds,
		m.produceErrors, m.inFlight, m.kafkaReachable, m.refused, m.slowBodies, m.idemSkipped, retries,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// instrument counts the answers of h by status code and times them.
func (m *metrics) instrument(name string, now func() time.Time, h http.Handler) http.Handler {
	return httpmetrics.Instrument(m.requests, m.requestSeconds, name, now, h)
}
