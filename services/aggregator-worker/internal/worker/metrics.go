package worker

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"

	"github.com/boontadata/boontadata/pkg/job"
)

// Metrics keeps the latest progress of each job's partitions on this worker
// and the count of its retries, and serves them in the Prometheus text
// format.
type Metrics struct {
	mu      sync.Mutex
	jobs    map[string]job.WorkerReport
	retries map[string]int64
}

// NewMetrics returns empty metrics.
func NewMetrics() *Metrics {
	return &Metrics{jobs: map[string]job.WorkerReport{}, retries: map[string]int64{}}
}

// Retried counts a retry of an operation: the OnRetry of the worker's
// retry.Policy.
func (m *Metrics) Retried(operation string) {
	m.mu.Lock()
	m.retries[operation]++
	m.mu.Unlock()
}

// Observe records a progress report.
func (m *Metrics) Observe(rep job.WorkerReport) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if rep.Stopping {
		delete(m.jobs, rep.JobID)
		return
	}
	m.jobs[rep.JobID] = rep
}

// Handler serves the metrics.
func (m *Metrics) Handler() http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
		rw.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = rw.Write([]byte(m.render()))
	})
}

func (m *Metrics) render() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	type series struct {
		name, help, kind string
		value            func(job.PartitionProgress) float64
	}
	all := []series{
		{"boontadata_worker_records_total", "Records handed to the engine.", "counter", func(p job.PartitionProgress) float64 { return float64(p.Records) }},
		{"boontadata_worker_late_total", "Records dropped as late.", "counter", func(p job.PartitionProgress) float64 { return float64(p.Late) }},
		{"boontadata_worker_duplicates_total", "Records dropped as duplicates.", "counter", func(p job.PartitionProgress) float64 { return float64(p.Duplicates) }},
		{"boontadata_worker_poison_total", "Records sent to the dead-letter topic.", "counter", func(p job.PartitionProgress) float64 { return float64(p.Poison) }},
		{"boontadata_worker_results_written_total", "Results upserted into Cassandra.", "counter", func(p job.PartitionProgress) float64 { return float64(p.ResultsWritten) }},
		{"boontadata_worker_lag", "Records not yet processed.", "gauge", func(p job.PartitionProgress) float64 { return float64(p.Lag) }},
		{"boontadata_worker_watermark_ms", "Event-time watermark.", "gauge", func(p job.PartitionProgress) float64 { return float64(p.Watermark) }},
		{"boontadata_worker_open_states", "Open (device, category, window) aggregates.", "gauge", func(p job.PartitionProgress) float64 { return float64(p.OpenStates) }},
		{"boontadata_worker_dedup_entries", "Message ids remembered for dedup.", "gauge", func(p job.PartitionProgress) float64 { return float64(p.DedupEntries) }},
	}
	ids := make([]string, 0, len(m.jobs))
	for id := range m.jobs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var b strings.Builder
	for _, s := range all {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", s.name, s.help, s.name, s.kind)
		for _, id := range ids {
			for _, p := range m.jobs[id].Partitions {
				fmt.Fprintf(&b, "%s{job=%q,partition=\"%d\"} %g\n", s.name, id, p.Partition, s.value(p))
			}
		}
	}
	const retries = "boontadata_worker_retries_total"
	fmt.Fprintf(&b, "# HELP %s Failed attempts retried after a backoff, by operation.\n# TYPE %s counter\n", retries, retries)
	ops := make([]string, 0, len(m.retries))
	for op := range m.retries {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	for _, op := range ops {
		fmt.Fprintf(&b, "%s{operation=%q} %d\n", retries, op, m.retries[op])
	}
	return b.String()
}
