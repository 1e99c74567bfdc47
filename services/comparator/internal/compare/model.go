// Package compare is the comparator's core, pure Go over plain structs: it
// joins the truth by device time with a job's results per (device, category,
// window), classifies and explains every exception from the raw events, and
// measures how late results came. It knows nothing of Cassandra; the store
// package loads these structs and the render package prints the reports.
package compare

import (
	"time"

	"github.com/boontadata/boontadata/pkg/engine"
)

// Patterns of raw_events, as the simulator records them.
const (
	PatternNormal     = "normal"
	PatternBurst      = "burst"
	PatternResend     = "resend"
	PatternLate       = "late"
	PatternOutOfOrder = "out_of_order"
)

// Key identifies one window of one device and category. WindowStart is in ms
// since the epoch.
type Key struct {
	DeviceID    string
	Category    string
	WindowStart int64
}

// Agg is an aggregate of a window.
type Agg struct {
	M1    int64   `json:"m1_sum"`
	M2    float64 `json:"m2_sum"`
	Count int64   `json:"count"`
}

func (a Agg) add(b Agg) Agg { return Agg{M1: a.M1 + b.M1, M2: a.M2 + b.M2, Count: a.Count + b.Count} }
func (a Agg) sub(b Agg) Agg { return Agg{M1: a.M1 - b.M1, M2: a.M2 - b.M2, Count: a.Count - b.Count} }

// TruthRow is a row of truth_by_device_time or truth_by_send_time.
type TruthRow struct {
	Key
	WindowEnd int64
	Agg
}

// RawEvent is a row of raw_events: one send of the simulator.
type RawEvent struct {
	DeviceID   string
	SendSeq    int64
	MessageID  string
	DeviceTime int64 // ms
	SendTime   int64 // ms
	Category   string
	M1         int64
	M2         float64
	Pattern    string
}

// Result is a row of engine_results: the latest revision of a window.
type Result struct {
	Key
	WindowEnd int64
	Agg
	Revision int
	Final    bool
	EmitTime int64 // ms
}

// Revision is a row of engine_result_revisions: one emission of a window.
type Revision struct {
	Key
	Revision int
	Agg
	EmitTime int64 // ms
}

// Run is the runs row.
type Run struct {
	ID              string
	Started, Ended  time.Time
	Status          string
	Devices         int
	WindowMs        int64
	ResendHorizonMs int64
	Flags           map[string]string
	Counts          map[string]int64
}

// RunData is what the comparator reads of a run, shared by every job.
type RunData struct {
	Run           Run
	DeviceIDs     []string
	TruthByDevice []TruthRow
	TruthBySend   []TruthRow
	// Raw holds the recorded sends; with the simulator's --record defects
	// it lacks the normal ones, with --record none it is empty.
	Raw []RawEvent
}

// Job is a job that consumed the run.
type Job struct {
	ID     string
	RunID  string
	Preset string
	State  string
	// Engine is the job's semantics (preset with overrides).
	Engine engine.Spec
	// SpecErr, when set, says why Engine could not be built.
	SpecErr error
}

// JobData is a job with its results for the run.
type JobData struct {
	Job       Job
	Results   []Result
	Revisions []Revision
}

// Options tune the comparison.
type Options struct {
	// M2Tolerance is the relative tolerance of measure2:
	// |truth − engine| ≤ M2Tolerance × max(|truth|, |engine|).
	M2Tolerance float64
}

// DefaultM2Tolerance is the default relative tolerance of measure2.
const DefaultM2Tolerance = 1e-6
