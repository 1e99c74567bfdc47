package engine

import (
	"errors"
	"fmt"

	"github.com/boontadata/boontadata/pkg/engine/window"
	"github.com/boontadata/boontadata/pkg/event"
)

// Errors of the engine package; test with errors.Is.
var (
	ErrUnknownPreset = errors.New("unknown preset")
	ErrStarted       = errors.New("engine already processed records")
)

// Record is one input: a parsed event and what the runtime knows about it.
// All times are ms since the epoch.
type Record struct {
	// Event may point into the runtime's buffer: the engine copies what it
	// keeps before Process returns.
	Event     event.View
	Partition int32
	Offset    int64
	// IngestionTime is the Kafka record timestamp set by the ingest gateway.
	IngestionTime int64
	// ProcessingTime is the runtime clock when the record is handed over.
	ProcessingTime int64
}

// Result is the aggregate of one (device, category, window).
type Result struct {
	Window      window.Window
	DeviceID    string
	Category    string
	SumMeasure1 int64
	SumMeasure2 float64
	Count       int64
	// Revision is the number of records aggregated so far, so the same
	// Revision always carries the same sums, even when a restarted engine
	// re-emits a window from replayed records: sinks may keep the highest.
	// A final emission may repeat the Revision of the previous one.
	Revision int64
	// Final is set on the last emission of the window.
	Final bool
	// EmitTime is the processing time of the emission.
	EmitTime  int64
	Partition int32
}

// DecisionKind says what happened to a record that was not counted.
type DecisionKind uint8

const (
	// DuplicateDropped: the message id was already counted in the dedup scope.
	DuplicateDropped DecisionKind = iota + 1
	// LateDropped: the record's windows were closed for good.
	LateDropped
	// Placed: the record counted, in the window of its processing or
	// ingestion time, which is not the window of its device time. It is
	// not a drop: it tells where the record went, so that a comparison with
	// the truth (by device time) can be explained record by record.
	Placed
)

func (k DecisionKind) String() string {
	switch k {
	case DuplicateDropped:
		return "duplicate_dropped"
	case LateDropped:
		return "late_dropped"
	case Placed:
		return "placed"
	}
	return fmt.Sprintf("DecisionKind(%d)", uint8(k))
}

// Reason details a decision.
type Reason uint8

const (
	// ReasonWindowClosed: every window of the record ended, plus the allowed
	// lateness, at or before the watermark.
	ReasonWindowClosed Reason = iota + 1
	// ReasonBeforeWatermark: the record's own time is at or below the
	// watermark (Spec.LateByRecordTime).
	ReasonBeforeWatermark
	// ReasonSeenInBatch: the id was counted earlier in this micro-batch.
	ReasonSeenInBatch
	// ReasonSeenInWindow: the id was counted in this window.
	ReasonSeenInWindow
	// ReasonSeenBeforeWatermark: the id was counted and is remembered until
	// the watermark passes its horizon.
	ReasonSeenBeforeWatermark
	// ReasonProcessingTime: placed by processing time (Placed).
	ReasonProcessingTime
	// ReasonIngestionTime: placed by ingestion time (Placed).
	ReasonIngestionTime
)

func (r Reason) String() string {
	switch r {
	case ReasonWindowClosed:
		return "window closed: window end + allowed lateness <= watermark"
	case ReasonBeforeWatermark:
		return "record time <= watermark"
	case ReasonSeenInBatch:
		return "message id already counted in this batch"
	case ReasonSeenInWindow:
		return "message id already counted in this window"
	case ReasonSeenBeforeWatermark:
		return "message id already counted, still remembered under the watermark"
	case ReasonProcessingTime:
		return "counted in the window of its processing time, not of its device time"
	case ReasonIngestionTime:
		return "counted in the window of its ingestion time, not of its device time"
	}
	return fmt.Sprintf("Reason(%d)", uint8(r))
}

// Decision makes a record that is not counted, or counted in another window
// than its device time says (Placed), observable.
type Decision struct {
	Kind   DecisionKind
	Reason Reason
	// MessageID, DeviceID and Category point into the record: valid only
	// during the Sink call. Copy them to keep them.
	MessageID []byte
	DeviceID  []byte
	Category  []byte
	Partition int32
	Offset    int64
	// Time is the record's time in the spec's time mode; DeviceTime its
	// device time.
	Time       int64
	DeviceTime int64
	// Measure1 and Measure2 are the record's measures: what the decision
	// took out of, or put into, a window.
	Measure1 int64
	Measure2 float64
	// Window is the window the record was dropped from (a duplicate within
	// a window), its newest window (late, or a duplicate in other scopes),
	// or the newest window it counted in (Placed).
	Window    window.Window
	Watermark int64
	// OriginalOffset is the offset of the copy that was counted (duplicates).
	OriginalOffset int64
	EmitTime       int64
}

// Sink receives what the engine emits, synchronously, on the goroutine that
// called Process, Advance or Flush. The pointers are only valid during the
// call: the engine reuses them, which keeps emission allocation-free.
type Sink interface {
	Result(*Result)
	Decision(*Decision)
}

// Stats counts what an engine did; all counts are since it was created.
type Stats struct {
	Records    int64 // records given to Process
	Accepted   int64 // records counted in at least one window
	Duplicates int64 // duplicate decisions
	Late       int64 // late decisions
	Placed     int64 // placed decisions: counted elsewhere than by device time
	Results    int64 // results emitted
	// Open state now.
	OpenStates   int // (device, category, window) aggregates
	OpenWindows  int
	DedupEntries int
	Watermark    int64
}

// Checkpoint is the small part of an engine's state that replaying records
// from MinOffsetNeeded cannot rebuild: store it with the committed offset
// (e.g. as Kafka commit metadata) and give it to Restore after a restart.
//
// Micro-batch runtimes take it right after Advance, at a batch boundary.
type Checkpoint struct {
	Watermark int64 `json:"watermark"`
	// LateWatermark is the watermark records are judged against, when it
	// is not Watermark (micro-batch: the batch before's).
	LateWatermark int64 `json:"late_watermark"`
	MaxTime       int64 `json:"max_time"`
	Seen          bool  `json:"seen"`
	// Ended says EndInput was called: the partition's input is over.
	Ended bool `json:"ended,omitempty"`
	// NextOffset is the offset after the last record processed. Records
	// replayed below it rebuild state silently: what they caused was
	// emitted before the checkpoint.
	NextOffset int64 `json:"next_offset"`
	// AfterAdvance says the checkpoint followed an Advance: the first
	// Advance after the replayed records repeats it and is silent too.
	AfterAdvance bool `json:"after_advance"`
	// Batches holds, in micro-batch mode, the watermark each batch since
	// MinOffsetNeeded ran under: replayed batches are judged with the same
	// one, as Spark reads it back from its offset log.
	Batches []BatchMark `json:"batches,omitempty"`
}

// BatchMark is the watermark of the micro-batch starting at FirstOffset,
// and the one its records are judged late against (the batch before's).
type BatchMark struct {
	FirstOffset int64 `json:"first_offset"`
	Watermark   int64 `json:"watermark"`
	Late        int64 `json:"late"`
}
