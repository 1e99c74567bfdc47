package master

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/boontadata/boontadata/pkg/job"
)

// dashboardCollector exposes on /metrics the figures the dashboard shows
// beyond those of jobCollector: which engine runs each job, the watermark
// delay, the results ingestion of engines under test and the micro-batch
// histograms. Like jobCollector it reads everything at each scrape, and the
// per-job series exist for running jobs only.
type dashboardCollector struct {
	jobs    *Jobs
	tracker *Tracker
	history *History
	now     func() int64 // ms

	info, historyJobs, wmDelay, emitted, openWindows, extLines, extResults, extBad, extLate,
	batchRows, batchScheduling, batchProcessing, batchTotal *prometheus.Desc
}

func newDashboardCollector(jobs *Jobs, tracker *Tracker, history *History, clock Clock) *dashboardCollector {
	l := []string{"job_id", "preset"}
	desc := func(name, help string, labels []string) *prometheus.Desc {
		return prometheus.NewDesc(namespace+"_"+name, help, labels, nil)
	}
	return &dashboardCollector{
		jobs: jobs, tracker: tracker, history: history, now: func() int64 { return clock.Now().UnixMilli() },
		info: desc("job_info", "A running job, always 1: its engine under test and run.",
			[]string{"job_id", "preset", "engine", "run_id"}),
		historyJobs: desc("history_jobs", "Jobs whose progress history the master keeps in memory for the dashboard.", nil),
		wmDelay:     desc("job_watermark_delay_seconds", "The master's clock minus the lowest partition watermark of a running job.", l),
		emitted:     desc("job_results_emitted", "Window results a running job's engines emitted (written or not yet).", l),
		openWindows: desc("job_open_windows", "Windows a running job holds open.", l),
		extLines:    desc("job_external_result_lines", "Lines of the results topic the results ingestion read for a running job of an engine under test.", l),
		extResults:  desc("job_external_results_written", "Results of an engine under test the results ingestion wrote to Cassandra for a running job.", l),
		extBad:      desc("job_external_bad_lines", "Result lines of an engine under test sent to the dead-letter topic for a running job.", l),
		extLate:     desc("job_external_late", "Records an engine under test reported dropping as late (its late lines) for a running job.", l),
		batchRows:   desc("job_batch_input_rows", "Input rows of each completed micro-batch of a running job.", l),
		batchScheduling: desc("job_batch_scheduling_delay_seconds",
			"Scheduling delay of each completed micro-batch of a running job: from the trigger it was due at to its plan.", l),
		batchProcessing: desc("job_batch_processing_seconds",
			"Processing time of each completed micro-batch of a running job: from its plan to its last task acknowledged.", l),
		batchTotal: desc("job_batch_total_delay_seconds",
			"Total delay of each completed micro-batch of a running job: scheduling delay plus processing time.", l),
	}
}

func (c *dashboardCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.info, c.historyJobs, c.wmDelay, c.emitted, c.openWindows, c.extLines,
		c.extResults, c.extBad, c.extLate, c.batchRows, c.batchScheduling, c.batchProcessing, c.batchTotal} {
		ch <- d
	}
}

func (c *dashboardCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(c.historyJobs, float64(c.history.Jobs()))
	progress := c.tracker.All()
	now := c.now()
	for _, s := range c.jobs.List() {
		if s.State != job.StateRunning {
			continue
		}
		gauge(c.info, 1, s.ID, s.Preset, s.EngineUnderTest(), s.RunID)
		l := []string{s.ID, s.Preset}
		p := progress[s.ID].Progress
		if p.Watermark > 0 {
			gauge(c.wmDelay, float64(now-p.Watermark)/1000, l...)
		}
		gauge(c.emitted, float64(p.ResultsEmitted), l...)
		gauge(c.openWindows, float64(p.OpenWindows), l...)
		if e := p.External; e != nil {
			gauge(c.extLines, float64(e.Lines), l...)
			gauge(c.extResults, float64(e.Results), l...)
			gauge(c.extBad, float64(e.BadLines), l...)
			gauge(c.extLate, float64(e.Late), l...)
		}
		if b, ok := c.history.batchFigures(s.ID); ok {
			for d, h := range map[*prometheus.Desc]histogram{c.batchRows: b.inputRows, c.batchScheduling: b.scheduling,
				c.batchProcessing: b.processing, c.batchTotal: b.total} {
				ch <- prometheus.MustNewConstHistogram(d, b.count, h.sum, h.cumulative(), l...)
			}
		}
	}
}
