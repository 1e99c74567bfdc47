// Package api is the JSON contract of the aggregator-master's HTTP API: the
// paths, and the documents the server writes and the CLI reads.
package api

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/boontadata/boontadata/pkg/engine"
	"github.com/boontadata/boontadata/pkg/job"
)

// Paths of the API.
const (
	JobsPath    = "/api/jobs"
	PresetsPath = "/api/presets"
	HealthzPath = "/healthz"
	ReadyzPath  = "/readyz"
	MetricsPath = "/metrics"
	// HistoryPath answers the recent history of every job (the overview's
	// sparklines).
	HistoryPath = "/api/history"
	// ClusterPagePath is the page of the workers, presets and engines.
	ClusterPagePath = "/cluster"
	// ReportsPath serves the comparator's HTML reports (--reports-dir).
	ReportsPath = "/reports/"
)

// JobPath is the path of one job.
func JobPath(id string) string { return JobsPath + "/" + id }

// CancelPath is the path that cancels one job.
func CancelPath(id string) string { return JobPath(id) + "/cancel" }

// JobHistoryPath is the path of one job's history.
func JobHistoryPath(id string) string { return JobPath(id) + "/history" }

// JobPagePath is the dashboard page of one job.
func JobPagePath(id string) string { return "/jobs/" + id }

// ReportPath is where the master serves the comparator's HTML report of a
// run.
func ReportPath(runID string) string { return ReportsPath + runID + ".html" }

// Error is the body of every answer that is not 2xx.
type Error struct {
	Error string `json:"error"`
}

// Semantics is an engine spec in words: a row of the preset table, or what a
// job runs once its overrides are applied.
type Semantics struct {
	Name            string `json:"name"`
	Mirrors         string `json:"mirrors"`
	Time            string `json:"time"`
	Window          string `json:"window"`
	Slide           string `json:"slide"`
	Trigger         string `json:"trigger"`
	TriggerInterval string `json:"trigger_interval,omitempty"`
	Watermark       string `json:"watermark"`
	WatermarkScope  string `json:"watermark_scope,omitempty"`
	AllowedLateness string `json:"allowed_lateness"`
	IdleTimeout     string `json:"idle_timeout"`
	Dedup           string `json:"dedup"`
	DedupHorizon    string `json:"dedup_horizon,omitempty"`
	Output          string `json:"output"`
	EmitPerRecord   bool   `json:"emit_per_record,omitempty"`
	EmitInterval    string `json:"emit_interval,omitempty"`
	Delivery        string `json:"delivery"`
	// Engines are the engines under test that run the preset (boontadata:
	// this project's).
	Engines []string `json:"engines,omitempty"`
	// Runnable says the platform runs the preset: continuous presets in the
	// workers' continuous runtime, micro-batch ones with the master's
	// micro-batch driver. Note says why when it is false.
	Runnable bool   `json:"runnable"`
	Note     string `json:"note,omitempty"`
}

// MicroBatchNote says why a master without the micro-batch driver (no batch
// store, offsets or tasks topic) refuses micro-batch semantics, naming the
// presets of each kind.
func MicroBatchNote() string {
	var batch, continuous []string
	for _, p := range engine.Presets() {
		if p.Trigger == engine.MicroBatch {
			batch = append(batch, p.Name)
		} else {
			continuous = append(continuous, p.Name)
		}
	}
	return fmt.Sprintf("micro-batch presets (%s) are not available on this master: it runs without the micro-batch driver "+
		"(aggregator-master serve provides it); the continuous runtime runs %s", strings.Join(batch, ", "), strings.Join(continuous, ", "))
}

// Describe puts an engine spec in words.
func Describe(s engine.Spec) Semantics {
	d := Semantics{
		Name:            s.Name,
		Mirrors:         s.Mirrors,
		Time:            s.Time.String(),
		Window:          s.WindowSize.String(),
		Slide:           s.WindowSlide.String(),
		Trigger:         s.Trigger.String(),
		Watermark:       s.WatermarkDelay.String(),
		AllowedLateness: s.AllowedLateness.String(),
		IdleTimeout:     s.IdleTimeout.String(),
		Dedup:           s.Dedup.String(),
		Output:          s.Output.String(),
		EmitPerRecord:   s.EmitPerRecord,
		Delivery:        s.Delivery.String(),
		Engines:         job.EnginesOf(s.Name),
		Runnable:        true,
	}
	if s.Trigger == engine.MicroBatch {
		d.TriggerInterval = s.TriggerInterval.String()
	}
	if s.Time != engine.ProcessingTime {
		d.WatermarkScope = s.Scope.String()
	}
	if s.Dedup == engine.DedupUntilWatermark {
		d.DedupHorizon = s.DedupHorizon.String()
	}
	if s.EmitInterval > 0 {
		d.EmitInterval = s.EmitInterval.String()
	}
	return d
}

// PresetTable describes every preset, in table order.
func PresetTable() []Semantics {
	ps := engine.Presets()
	out := make([]Semantics, 0, len(ps))
	for _, p := range ps {
		out = append(out, Describe(p))
	}
	return out
}

// Presets is the body of GET /api/presets.
type Presets struct {
	Presets []Semantics `json:"presets"`
}

// Jobs is the body of GET /api/jobs.
type Jobs struct {
	Jobs []Job `json:"jobs"`
}

// Job is a job with the aggregate of its workers' latest reports.
type Job struct {
	Spec      job.Spec  `json:"spec"`
	Semantics Semantics `json:"semantics"`
	Progress  Progress  `json:"progress"`
}

// JobDetail is the body of GET /api/jobs/{id}.
type JobDetail struct {
	Job
	Workers    []Worker    `json:"workers"`
	Partitions []Partition `json:"partitions"`
	// Batches are the latest micro-batches of a micro-batch job, newest
	// first.
	Batches []Batch `json:"batches,omitempty"`
}

// Progress aggregates the latest report of every live worker of a job. Each
// partition counts once, from the freshest report naming it (during a
// rebalance two workers may briefly report the same one). Counters are those
// of the current owners of the partitions.
type Progress struct {
	Workers         int     `json:"workers"`
	Partitions      int     `json:"partitions"`
	Lag             int64   `json:"lag"`
	EventsPerSecond float64 `json:"events_per_second"`
	// Watermark is the lowest watermark of the partitions that have one, ms
	// since the epoch; 0 when none has one yet.
	Watermark      int64 `json:"watermark_ms"`
	Records        int64 `json:"records"`
	Accepted       int64 `json:"accepted"`
	Late           int64 `json:"late"`
	Duplicates     int64 `json:"duplicates"`
	Poison         int64 `json:"poison"`
	OtherRuns      int64 `json:"other_runs"`
	ResultsEmitted int64 `json:"results_emitted"`
	ResultsWritten int64 `json:"results_written"`
	OffsetResets   int64 `json:"offset_resets"`
	OpenWindows    int   `json:"open_windows"`
	// LastReport is when the master received the newest report of the job.
	LastReport time.Time `json:"last_report,omitzero"`
	// Errors of the live workers' runners of the job.
	Errors []WorkerError `json:"errors,omitempty"`
	// LastError is the newest error any worker reported for the job, kept
	// after that worker left.
	LastError *WorkerError `json:"last_error,omitempty"`
	// External is what the results ingestion read of a job of an engine
	// under test, over every worker.
	External *job.ExternalProgress `json:"external,omitempty"`
}

// WorkerError is an error a worker reported.
type WorkerError struct {
	WorkerID string    `json:"worker_id"`
	Error    string    `json:"error"`
	Time     time.Time `json:"time"`
}

// Worker is the latest report of one worker of a job.
type Worker struct {
	WorkerID string `json:"worker_id"`
	// Time is the worker's clock when it wrote the report; ReceivedAt the
	// master's when it read it (expiry uses the latter).
	Time       time.Time `json:"time"`
	ReceivedAt time.Time `json:"received_at"`
	Partitions []int32   `json:"partitions"`
	Lag        int64     `json:"lag"`
	// EventsPerSecond of the worker for this job.
	EventsPerSecond float64 `json:"events_per_second"`
	Error           string  `json:"error,omitempty"`
}

// Partition is the latest progress of one partition of a job, from the
// worker that reported it last.
type Partition struct {
	WorkerID string `json:"worker_id"`
	job.PartitionProgress
}

// FormatWatermark writes a watermark in ms as a UTC time, "-" when none.
func FormatWatermark(ms int64) string {
	if ms <= 0 {
		return "-"
	}
	return time.UnixMilli(ms).UTC().Format("2006-01-02 15:04:05.000")
}

// FormatRate writes events per second with one decimal.
func FormatRate(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// Batch is one micro-batch of a job, with the figures Spark's streaming UI
// shows.
type Batch struct {
	BatchID   int64     `json:"batch_id"`
	BatchTime time.Time `json:"batch_time"`
	State     string    `json:"state"`
	// InputRows counts the offsets of the batch's ranges.
	InputRows int64 `json:"input_rows"`
	// ProcessingMs is from the plan to the last task acknowledged.
	ProcessingMs int64 `json:"processing_ms"`
	// SchedulingDelayMs is from the trigger the batch was due at to its
	// plan; Late says a trigger was missed because the batch before was
	// still running (the batch then took everything pending).
	SchedulingDelayMs int64 `json:"scheduling_delay_ms"`
	// TotalDelayMs is the scheduling delay plus the processing time, as
	// Spark's "total delay"; 0 until the batch completed.
	TotalDelayMs int64     `json:"total_delay_ms"`
	Late         bool      `json:"late,omitempty"`
	PlannedAt    time.Time `json:"planned_at"`
	CompletedAt  time.Time `json:"completed_at,omitzero"`
	Partitions   int       `json:"partitions"`
}

// Sample is one point of a job's history: the aggregate of its progress as
// the master saw it at one time.
type Sample struct {
	// TimeMs is the master's clock, ms since the epoch.
	TimeMs          int64   `json:"t"`
	Workers         int     `json:"workers"`
	Partitions      int     `json:"partitions"`
	EventsPerSecond float64 `json:"events_per_second"`
	Records         int64   `json:"records"`
	Lag             int64   `json:"lag"`
	// WatermarkDelayMs is the master's clock minus the job's watermark;
	// absent while the job has no watermark.
	WatermarkDelayMs *int64 `json:"watermark_delay_ms,omitempty"`
	Late             int64  `json:"late"`
	Duplicates       int64  `json:"duplicates"`
	// DeadLetters are the records the job sent to the dead-letter topic
	// (poison records, and bad result lines of an engine under test).
	DeadLetters int64 `json:"dead_letters"`
	// ResultsWritten counts the window results written to Cassandra (by the
	// workers, or by the results ingestion for an engine under test);
	// ResultsPerSecond is its rise since the sample before.
	ResultsWritten   int64   `json:"results_written"`
	ResultsPerSecond float64 `json:"results_per_second"`
	OpenWindows      int     `json:"open_windows"`
}

// History is the body of GET /api/jobs/{id}/history: what the master kept of
// a job's progress, in memory and bounded. Recent holds the latest samples
// at the sampling interval; Life the job's whole life as seen by this master,
// thinned (every StepMs) as it grows, its last point the latest sample.
type History struct {
	JobID      string   `json:"job_id"`
	IntervalMs int64    `json:"interval_ms"`
	StepMs     int64    `json:"step_ms"`
	Recent     []Sample `json:"recent"`
	Life       []Sample `json:"life"`
	// Errors are the latest distinct errors workers reported for the job,
	// newest first.
	Errors []WorkerError `json:"errors"`
}

// Histories is the body of GET /api/history: the recent samples of every
// job with a history, by job id.
type Histories struct {
	IntervalMs int64               `json:"interval_ms"`
	Jobs       map[string][]Sample `json:"jobs"`
}
