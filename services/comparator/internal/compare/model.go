// Package compare is the comparator's core, pure Go over plain structs: it
// joins the truth by device time with a job's results per (device, category,
// window), classifies and explains every exception from the raw events, and
// measures how late results came. It knows nothing of Cassandra; the store
// package loads these structs and the render package prints the reports.
package compare

import (
	"encoding/json"
	"time"

	"github.com/boontadata/boontadata/pkg/jsonx"

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

// MarshalJSON writes the sums; an m2 sum that is not finite (an engine
// under test may write one) is written as a string, which JSON allows.
func (a Agg) MarshalJSON() ([]byte, error) {
	return json.Marshal(aggJSON{M1: a.M1, M2: jsonx.Float(a.M2), Count: a.Count})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (a *Agg) UnmarshalJSON(b []byte) error {
	var v aggJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*a = Agg{M1: v.M1, M2: float64(v.M2), Count: v.Count}
	return nil
}

type aggJSON struct {
	M1    int64       `json:"m1_sum"`
	M2    jsonx.Float `json:"m2_sum"`
	Count int64       `json:"count"`
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

// Result is the answer of a window: the row of engine_emissions_by_bucket
// written last (cassandra.Emission.Supersedes), or of engine_results_by_bucket
// for jobs written before it.
type Result struct {
	Key
	WindowEnd int64
	Agg
	Revision int
	Final    bool
	EmitTime int64 // ms
}

// Revision is one emission of a window in the revision sample: a row of
// engine_emissions_by_bucket, or of engine_result_revisions_by_bucket for
// jobs written before it.
type Revision struct {
	Key
	Revision int
	Agg
	EmitTime int64 // ms
}

// Run is the runs row.
type Run struct {
	ID             string
	Started, Ended time.Time
	// InputEnded is when the run's end-of-run markers were acknowledged
	// (zero for runs without them).
	InputEnded      time.Time
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

// Decision is a row of engine_decisions_by_bucket: a record the engine did not count
// (duplicate_dropped, late_dropped), or counted in another window than its
// device time's (placed), with the inputs of the rule that decided it.
type Decision struct {
	DeviceID, Category, MessageID string
	Partition                     int32
	Offset                        int64
	Kind, Reason                  string
	// Time is the record's time in the job's time mode; Window* is the
	// window concerned (the one it was dropped from, or placed in).
	Time, DeviceTime         int64
	WindowStart, WindowEnd   int64
	Watermark                int64
	OriginalOffset, EmitTime int64
	M1                       int64
	M2                       float64
}

// Decision kinds, as the engine writes them.
const (
	DecisionDuplicate = "duplicate_dropped"
	DecisionLate      = "late_dropped"
	DecisionPlaced    = "placed"
)

// Job is a job that consumed the run.
type Job struct {
	ID     string
	RunID  string
	Preset string
	State  string
	// EngineName is the engine under test (boontadata: this project's).
	EngineName string
	// DecisionLog says the engine writes the decision log (this project's
	// engine does): differences are then explained record by record from
	// what the engine decided, checked against the preset's rules.
	DecisionLog bool
	// ReportsLate says the engine under test reports the records it drops
	// as late (its late lines, stored as decisions): a late drop it names
	// is one it reported, and only those.
	ReportsLate bool
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
	// Decisions is the job's decision log for the run (Job.DecisionLog),
	// or the late drops its engine reported (Job.ReportsLate).
	Decisions []Decision
}

// Options tune the comparison.
type Options struct {
	// M2Tolerance is the relative tolerance of measure2:
	// |truth − engine| ≤ M2Tolerance × max(|truth|, |engine|).
	M2Tolerance float64
}

// DefaultM2Tolerance is the default relative tolerance of measure2.
const DefaultM2Tolerance = 1e-6
