package compare

import (
	"encoding/json"

	"github.com/boontadata/boontadata/pkg/jsonx"
)

// Cause codes, stable in JSON and CSV.
const (
	CauseLateDropped       = "late_dropped"
	CauseDuplicateCounted  = "duplicate_counted"
	CauseOtherWindow       = "other_window"
	CauseNotFinal          = "not_final"
	CauseMissingWindow     = "missing_window"
	CauseExtraWindow       = "extra_window"
	CauseUnexplained       = "unexplained"
	KindMismatch           = "mismatch"
	KindMissing            = "missing"
	KindExtra              = "extra"
	causeLabelUnexplained  = "unexplained"
	causeLabelOtherWindow  = "placed in another window"
	causeLabelLateDropped  = "late event dropped"
	causeLabelDuplicate    = "duplicate counted twice"
	causeLabelMissing      = "missing window"
	causeLabelExtra        = "extra window"
	causeLabelNotFinal     = "not final yet"
	maxIDsInText           = 8
	maxSubsetCandidates    = 20
	maxSubsetEvaluations   = 300_000
	minRelativeM2Magnitude = 1.0
)

// Causes lists the cause codes in report order.
func Causes() []string {
	return []string{CauseLateDropped, CauseDuplicateCounted, CauseOtherWindow, CauseNotFinal, CauseMissingWindow, CauseExtraWindow, CauseUnexplained}
}

// CauseLabel is the human name of a cause code.
func CauseLabel(code string) string {
	switch code {
	case CauseLateDropped:
		return causeLabelLateDropped
	case CauseDuplicateCounted:
		return causeLabelDuplicate
	case CauseOtherWindow:
		return causeLabelOtherWindow
	case CauseMissingWindow:
		return causeLabelMissing
	case CauseExtraWindow:
		return causeLabelExtra
	case CauseNotFinal:
		return causeLabelNotFinal
	}
	return causeLabelUnexplained
}

// Cause explains (part of) an exception.
type Cause struct {
	Code string `json:"code"`
	// Text is the explanation, e.g. "late event dropped: d1-7 (late by
	// 2m13s, m1 31)".
	Text string `json:"text"`
	// MessageIDs are the events involved, from raw_events.
	MessageIDs []string `json:"message_ids,omitempty"`
}

// EngineAgg is the engine's answer for a window.
type EngineAgg struct {
	Agg
	Revision int   `json:"revision"`
	Final    bool  `json:"final"`
	EmitTime int64 `json:"emit_time"`
}

// MarshalJSON writes the sums and the revision fields flat, as one object
// (Agg's own MarshalJSON would otherwise stand for the whole struct).
func (e EngineAgg) MarshalJSON() ([]byte, error) {
	return json.Marshal(engineAggJSON{M1: e.M1, M2: jsonx.Float(e.M2), Count: e.Count, Revision: e.Revision, Final: e.Final, EmitTime: e.EmitTime})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (e *EngineAgg) UnmarshalJSON(b []byte) error {
	var v engineAggJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*e = EngineAgg{Agg: Agg{M1: v.M1, M2: float64(v.M2), Count: v.Count}, Revision: v.Revision, Final: v.Final, EmitTime: v.EmitTime}
	return nil
}

type engineAggJSON struct {
	M1       int64       `json:"m1_sum"`
	M2       jsonx.Float `json:"m2_sum"`
	Count    int64       `json:"count"`
	Revision int         `json:"revision"`
	Final    bool        `json:"final"`
	EmitTime int64       `json:"emit_time"`
}

// Row is one compared window.
type Row struct {
	DeviceID     string     `json:"device_id"`
	Category     string     `json:"category"`
	WindowStart  int64      `json:"window_start"`
	WindowEnd    int64      `json:"window_end"`
	WindowEndUTC string     `json:"window_end_utc"`
	Truth        *Agg       `json:"truth"`
	Engine       *EngineAgg `json:"engine"`
	BySendTime   *Agg       `json:"truth_by_send_time"`
	// DeltaM1 and DeltaM2 are truth by device time − engine, a missing side
	// counting as 0, as in the original report.
	DeltaM1   int64   `json:"delta_m1"`
	DeltaM2   float64 `json:"delta_m2"`
	M1Differs bool    `json:"m1_differs"`
	M2Differs bool    `json:"m2_differs"`
	Exception bool    `json:"exception"`
	// Kind: "" (no exception), mismatch, missing (no engine row) or extra
	// (no truth row).
	Kind   string  `json:"kind,omitempty"`
	Causes []Cause `json:"causes,omitempty"`
	// LatencyMs of the engine's latest revision; nil without an engine row.
	LatencyMs *int64 `json:"latency_ms"`
}

// MarshalJSON writes the row; a delta of m2 that is not finite is written as
// a string.
func (r Row) MarshalJSON() ([]byte, error) {
	type plain Row
	return json.Marshal(struct {
		plain
		DeltaM2 jsonx.Float `json:"delta_m2"`
	}{plain(r), jsonx.Float(r.DeltaM2)})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (r *Row) UnmarshalJSON(b []byte) error {
	type plain Row
	v := struct {
		*plain
		DeltaM2 jsonx.Float `json:"delta_m2"`
	}{plain: (*plain)(r)}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	r.DeltaM2 = float64(v.DeltaM2)
	return nil
}

// Key returns the row's window key.
func (r *Row) Key() Key {
	return Key{DeviceID: r.DeviceID, Category: r.Category, WindowStart: r.WindowStart}
}

// CauseCodes returns the codes of the row's causes joined by "+".
func (r *Row) CauseCodes() string {
	s := ""
	for i, c := range r.Causes {
		if i > 0 {
			s += "+"
		}
		s += c.Code
	}
	return s
}

// CauseLabels returns the labels of the row's causes joined by " + ".
func (r *Row) CauseLabels() string {
	s := ""
	for i, c := range r.Causes {
		if i > 0 {
			s += " + "
		}
		s += CauseLabel(c.Code)
	}
	return s
}

// Latency summarises latencies in ms; percentiles are exact (nearest rank
// over the sorted values).
type Latency struct {
	Count int64   `json:"count"`
	Min   int64   `json:"min"`
	Mean  float64 `json:"mean"`
	P50   int64   `json:"p50"`
	P95   int64   `json:"p95"`
	P99   int64   `json:"p99"`
	P999  int64   `json:"p999"`
	Max   int64   `json:"max"`
}

// LatencyPoint is the latency of the results of the windows ending at one
// moment, over every revision.
type LatencyPoint struct {
	WindowEnd    int64  `json:"window_end"`
	WindowEndUTC string `json:"window_end_utc"`
	Count        int64  `json:"count"`
	P50          int64  `json:"p50"`
	Max          int64  `json:"max"`
}

// HistogramBin counts latencies in [From, To) ms.
type HistogramBin struct {
	From  int64 `json:"from"`
	To    int64 `json:"to"`
	Count int64 `json:"count"`
}

// Events counts events on both sides.
type Events struct {
	// Truth is the number of distinct events in the compared windows.
	Truth int64 `json:"truth"`
	// Engine is the number of events the engine counted.
	Engine int64 `json:"engine"`
	// ByPattern is runs.counts: acknowledged sends by pattern.
	ByPattern map[string]int64 `json:"by_pattern"`
	// RawRecorded is the number of raw_events rows read.
	RawRecorded int64 `json:"raw_recorded"`
}

// Report is the comparison of one job with the truth of its run.
type Report struct {
	RunID            string  `json:"run_id"`
	JobID            string  `json:"job_id"`
	Engine           string  `json:"engine"`
	Preset           string  `json:"preset"`
	Mirrors          string  `json:"mirrors"`
	JobState         string  `json:"job_state"`
	Time             string  `json:"time"`
	Dedup            string  `json:"dedup"`
	Output           string  `json:"output"`
	WindowMs         int64   `json:"window_ms"`
	WatermarkDelayMs int64   `json:"watermark_delay_ms"`
	AllowedLateMs    int64   `json:"allowed_lateness_ms"`
	M2Tolerance      float64 `json:"m2_tolerance"`
	// Problem, when set, says why there is nothing to compare (no results
	// yet, windows that differ from the truth's, an unknown preset).
	Problem      string         `json:"problem,omitempty"`
	Windows      int            `json:"windows"`
	Exceptions   int            `json:"exceptions"`
	M1Exceptions int            `json:"m1_exceptions"`
	M2Exceptions int            `json:"m2_exceptions"`
	NotFinal     int            `json:"not_final"`
	ByCause      map[string]int `json:"by_cause"`
	// LatencyMs is over every revision the engine emitted; FinalLatencyMs
	// over the latest revision of each window. With a revision sample
	// (aggregator-worker --revision-sample), LatencyMs is over every
	// revision of the RevisionWindows windows that have revision rows, of
	// the ResultWindows that have a result.
	LatencyMs        Latency        `json:"latency_ms"`
	RevisionWindows  int            `json:"revision_windows"`
	ResultWindows    int            `json:"result_windows"`
	FinalLatencyMs   Latency        `json:"final_latency_ms"`
	LatencySeries    []LatencyPoint `json:"latency_series"`
	LatencyHistogram []HistogramBin `json:"latency_histogram"`
	// LastResultMs is when the engine wrote its last result for the run (ms
	// since the epoch); AfterInputEndMs how long after the run's input ended
	// (its end-of-run markers) that was: how soon final results came.
	LastResultMs    int64    `json:"last_result_ms,omitempty"`
	AfterInputEndMs *int64   `json:"after_input_end_ms,omitempty"`
	Events          Events   `json:"events"`
	Notes           []string `json:"notes"`
	Rows            []Row    `json:"rows"`
	// late are the records the job's engine dropped as late, by the window
	// they were dropped from (its decision log, or the late lines of an
	// engine under test): what conformance reconciles two answers with.
	late map[Key][]*Decision
}

// ExceptionRows returns the rows that are exceptions, by window end, device
// and category.
func (r *Report) ExceptionRows() []*Row {
	var out []*Row
	for i := range r.Rows {
		if r.Rows[i].Exception {
			out = append(out, &r.Rows[i])
		}
	}
	sortRowsByTime(out)
	return out
}
