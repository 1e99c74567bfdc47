// Package render writes comparison reports: text for a terminal, JSON with
// stable field names, CSV of windows, and a self-contained HTML page with
// charts.
package render

import (
	"time"

	"github.com/boontadata/boontadata/services/comparator/internal/compare"
	"github.com/boontadata/boontadata/services/comparator/internal/faults"
)

// RunInfo is the runs row as reported.
type RunInfo struct {
	RunID     string            `json:"run_id"`
	Status    string            `json:"status"`
	StartedAt *time.Time        `json:"started_at"`
	EndedAt   *time.Time        `json:"ended_at"`
	Devices   int               `json:"devices"`
	WindowMs  int64             `json:"window_ms"`
	Counts    map[string]int64  `json:"counts"`
	Flags     map[string]string `json:"flags"`
}

// Document is everything one comparator invocation reports: one report per
// job, in the order of the jobs.
type Document struct {
	// Version of the JSON layout; bumped only when a field changes meaning
	// or disappears.
	Version     int     `json:"version"`
	RunID       string  `json:"run_id"`
	Run         RunInfo `json:"run"`
	M2Tolerance float64 `json:"m2_tolerance"`
	// Delta says how deltas are computed.
	Delta       string           `json:"delta"`
	GeneratedAt time.Time        `json:"generated_at"`
	Jobs        []compare.Report `json:"jobs"`
	// Conformance compares each real engine's job with the job of the
	// preset that mirrors it.
	Conformance []compare.Conformance `json:"conformance"`
	// Faults are the faults injected during the run (comparator --faults)
	// and what each did to each job.
	Faults []faults.Report `json:"faults"`
}

// DeltaDefinition is Document.Delta.
const DeltaDefinition = "truth_by_device_time - engine"

// NewDocument builds the document of a run's reports.
func NewDocument(run compare.Run, tolerance float64, now time.Time, reports []compare.Report) Document {
	info := RunInfo{RunID: run.ID, Status: run.Status, Devices: run.Devices, WindowMs: run.WindowMs,
		Counts: run.Counts, Flags: run.Flags}
	if !run.Started.IsZero() {
		t := run.Started.UTC()
		info.StartedAt = &t
	}
	if !run.Ended.IsZero() {
		t := run.Ended.UTC()
		info.EndedAt = &t
	}
	if info.Counts == nil {
		info.Counts = map[string]int64{}
	}
	if info.Flags == nil {
		info.Flags = map[string]string{}
	}
	if reports == nil {
		reports = []compare.Report{}
	}
	conf := compare.Conform(reports, tolerance)
	if conf == nil {
		conf = []compare.Conformance{}
	}
	return Document{Version: 1, RunID: run.ID, Run: info, M2Tolerance: tolerance, Delta: DeltaDefinition,
		GeneratedAt: now.UTC(), Jobs: reports, Conformance: conf, Faults: []faults.Report{}}
}
