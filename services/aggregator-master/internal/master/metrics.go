package master

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/boontadata/boontadata/pkg/httpmetrics"
	"github.com/boontadata/boontadata/pkg/job"
)

const namespace = "boontadata_master"

// metrics of the master, registered on a registry of its own (no global).
type metrics struct {
	reg            *prometheus.Registry
	requests       *prometheus.CounterVec
	requestSeconds *prometheus.HistogramVec
	reports        prometheus.Counter
	badReports     prometheus.Counter
}

// newMetrics registers retries (see retry.NewCounter) with the master's
// own metrics.
func newMetrics(jobs *Jobs, tracker *Tracker, retries *prometheus.CounterVec) *metrics {
	req := httpmetrics.NewRequests(namespace)
	m := &metrics{
		reg:            prometheus.NewRegistry(),
		requests:       req.Total,
		requestSeconds: req.Seconds,
		reports: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "progress_reports_total",
			Help: "Worker progress reports read from the progress topic.",
		}),
		badReports: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "progress_bad_records_total",
			Help: "Records of the progress topic that are not progress reports.",
		}),
	}
	m.reg.MustRegister(m.requests, m.requestSeconds, m.reports, m.badReports, retries,
		newJobCollector(jobs, tracker),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// jobCollector reads the jobs and their progress at every scrape, so that a
// cancelled or forgotten job leaves no stale series behind. The per-job
// figures are gauges: they sum the counters of the partitions' current
// owners, which restart when a partition moves to another worker.
type jobCollector struct {
	jobs    *Jobs
	tracker *Tracker

	jobsByState, dropped, workers, partitions, lag, rate, watermark, records, results, resets, errors *prometheus.Desc
}

func newJobCollector(jobs *Jobs, tracker *Tracker) *jobCollector {
	l := []string{"job_id", "preset"}
	desc := func(name, help string, labels []string) *prometheus.Desc {
		return prometheus.NewDesc(namespace+"_"+name, help, labels, nil)
	}
	return &jobCollector{
		jobs: jobs, tracker: tracker,
		jobsByState: desc("jobs", "Jobs by state.", []string{"state"}),
		dropped: desc("progress_dropped_reports_total",
			"Reports dropped because the master tracked too many (job, worker) pairs.", nil),
		workers:    desc("job_workers", "Live workers of a running job.", l),
		partitions: desc("job_partitions", "Partitions the live workers of a running job own.", l),
		lag:        desc("job_lag_records", "Records of the events topic a running job has not processed yet.", l),
		rate:       desc("job_events_per_second", "Records a running job processes per second.", l),
		watermark:  desc("job_watermark_seconds", "Lowest partition watermark of a running job, seconds since the epoch.", l),
		records: desc("job_records", "Records of a running job by outcome, as the partitions' current owners count them.",
			append([]string{"outcome"}, l...)),
		results: desc("job_results_written", "Window results a running job wrote to Cassandra.", l),
		resets:  desc("job_offset_resets", "Times a running job's committed offsets were out of range and skipped ahead.", l),
		errors:  desc("job_worker_errors", "Live workers of a running job whose runner reported an error.", l),
	}
}

func (c *jobCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.jobsByState, c.dropped, c.workers, c.partitions, c.lag, c.rate,
		c.watermark, c.records, c.results, c.resets, c.errors} {
		ch <- d
	}
}

func (c *jobCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(c.tracker.Dropped()))
	states := map[string]int{job.StateRunning: 0, job.StateCancelled: 0}
	progress := c.tracker.All()
	for _, s := range c.jobs.List() {
		states[s.State]++
		if s.State != job.StateRunning {
			continue
		}
		p := progress[s.ID].Progress
		l := []string{s.ID, s.Preset}
		gauge(c.workers, float64(p.Workers), l...)
		gauge(c.partitions, float64(p.Partitions), l...)
		gauge(c.lag, float64(p.Lag), l...)
		gauge(c.rate, p.EventsPerSecond, l...)
		if p.Watermark > 0 {
			gauge(c.watermark, float64(p.Watermark)/1000, l...)
		}
		for outcome, v := range map[string]int64{
			"processed": p.Records, "accepted": p.Accepted, "late": p.Late, "duplicate": p.Duplicates,
			"poison": p.Poison, "other_run": p.OtherRuns,
		} {
			gauge(c.records, float64(v), append([]string{outcome}, l...)...)
		}
		gauge(c.results, float64(p.ResultsWritten), l...)
		gauge(c.resets, float64(p.OffsetResets), l...)
		gauge(c.errors, float64(len(p.Errors)), l...)
	}
	for state, n := range states {
		gauge(c.jobsByState, float64(n), state)
	}
}

// instrument counts the answers of h by status code and times them.
func (m *metrics) instrument(name string, now func() time.Time, h http.HandlerFunc) http.Handler {
	return httpmetrics.Instrument(m.requests, m.requestSeconds, name, now, h)
}
