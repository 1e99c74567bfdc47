package engine

import (
	"errors"
	"fmt"
	"time"

	"github.com/boontadata/boontadata/pkg/engine/window"
)

// TimeMode says which clock puts an event in a window.
type TimeMode uint8

const (
	// ProcessingTime is the engine's clock when the record is processed (in
	// micro-batch mode: the start of the record's batch).
	ProcessingTime TimeMode = iota + 1
	// IngestionTime is the time the platform received the event: the Kafka
	// record timestamp set by the ingest gateway.
	IngestionTime
	// EventTime is the device's own timestamp, device_time_ms.
	EventTime
)

// Trigger says when results are computed.
type Trigger uint8

const (
	// Continuous processes record by record; the runtime calls Advance on a
	// timer tick.
	Continuous Trigger = iota + 1
	// MicroBatch processes batches cut every TriggerInterval of processing
	// time; the runtime calls Advance at the end of each batch.
	MicroBatch
)

// DedupScope says how long a message id is remembered to drop its re-sends.
type DedupScope uint8

const (
	// DedupNone counts every copy.
	DedupNone DedupScope = iota + 1
	// DedupWithinBatch forgets ids at the end of every micro-batch.
	DedupWithinBatch
	// DedupWithinWindow remembers an id per window, until the window is
	// dropped: a copy that lands in another window is counted there.
	DedupWithinWindow
	// DedupUntilWatermark remembers an id until the watermark reaches both
	// its time plus DedupHorizon and the close of its last window (end plus
	// allowed lateness), rounded up to a whole window slide: while a copy
	// could still count, it is dropped.
	DedupUntilWatermark
)

// OutputMode says when a window's result is emitted.
type OutputMode uint8

const (
	// Append emits a window once, when it is final.
	Append OutputMode = iota + 1
	// Update re-emits a window whenever it changed, then once more, final.
	Update
)

// WatermarkScope says which partitions an event- or ingestion-time
// watermark is computed over, as each mirrored engine does.
type WatermarkScope uint8

const (
	// ScopePartition: each partition's own max(time) − delay, moved by every
	// record (Kafka Streams' stream time is per partition task).
	ScopePartition WatermarkScope = iota + 1
	// ScopeMin: each partition's max(time) − delay, combined by the runtime
	// as the minimum over the partitions that are neither idle
	// (IdleTimeout) nor ended, and given to every partition's engine with
	// SetWatermark on the timer tick (Flink: per-split watermarks in the
	// Kafka source, emitted periodically, and the window operator fires on
	// the minimum of its inputs).
	ScopeMin
	// ScopeGlobal: max(time over every partition) − delay, computed once
	// per micro-batch from the earlier batches and given to every partition
	// with SetWatermark (Spark Structured Streaming's driver).
	ScopeGlobal
)

// Delivery is read by the runtimes, not by the engine: it says which offsets
// they commit.
type Delivery uint8

const (
	// AtLeastOnce commits offsets once records are processed: after a crash,
	// records whose results were not yet written are lost or counted twice,
	// as the mirrored engine would.
	AtLeastOnce Delivery = iota + 1
	// ExactlyOnce commits offsets only up to Engine.MinOffsetNeeded and
	// stores Engine.Checkpoint with them, so that a restart rebuilds the same
	// state and results are idempotent upserts.
	ExactlyOnce
)

// Spec is a job's semantics. Presets returns the named ones.
type Spec struct {
	// Name is the preset name, or any label.
	Name string
	// Mirrors names the engine and mode this spec reproduces.
	Mirrors string

	Time        TimeMode
	WindowSize  time.Duration
	WindowSlide time.Duration // equal to WindowSize for tumbling windows

	Trigger         Trigger
	TriggerInterval time.Duration // micro-batch only

	// WatermarkDelay is the bounded out-of-orderness: the watermark trails
	// the highest timestamp seen by this much (event and ingestion time).
	WatermarkDelay time.Duration
	// AllowedLateness keeps a window open this long after the watermark
	// passed its end; records for it still count.
	AllowedLateness time.Duration
	// LateByRecordTime also drops a record whose own time is at or below
	// the watermark, whatever its window: Spark's dropDuplicates does this.
	LateByRecordTime bool
	// Scope is the set of partitions the watermark is computed over (event
	// and ingestion time only).
	Scope WatermarkScope
	// IdleTimeout (ScopeMin only): a partition that received no record for
	// this much processing time stops holding the combined watermark back
	// until its next record, as Flink's WatermarkStrategy.withIdleness does.
	// It never moves a watermark by itself. 0: partitions never go idle.
	IdleTimeout time.Duration

	Dedup DedupScope
	// DedupHorizon is the least time DedupUntilWatermark remembers an id:
	// until the watermark reaches the record time plus this.
	DedupHorizon time.Duration

	Output OutputMode
	// EmitPerRecord (update mode) emits a window after every record that
	// changed it instead of on the next Advance: Storm's record at a time.
	EmitPerRecord bool
	// EmitInterval (update mode, continuous trigger) emits a changed window
	// at most once per this much processing time, every change in between
	// coalesced into one revision, as Spark's processing-time trigger or
	// Flink's ContinuousProcessingTimeTrigger do; an unchanged window is
	// never emitted again. Final results are not delayed. 0: at every
	// Advance (the runtime's tick).
	EmitInterval time.Duration

	Delivery Delivery
}

// ErrInvalidSpec is wrapped by every Spec.Validate error.
var ErrInvalidSpec = errors.New("invalid job spec")

// Upper bounds of a spec. A spec is data that arrives from users, the API
// and the jobs topic: without bounds one spec could ask an engine for more
// windows or state than any machine has, and crash every worker at every
// restart.
const (
	// MaxWindowSize bounds the window size.
	MaxWindowSize = 24 * time.Hour
	// MaxWindowsPerRecord bounds size/slide: the windows one record is in.
	MaxWindowsPerRecord = 64
	// MaxDuration bounds the watermark delay, allowed lateness, idle
	// timeout and dedup horizon: how long state may be kept waiting.
	MaxDuration = 24 * time.Hour
	// MaxTriggerInterval bounds the micro-batch trigger interval.
	MaxTriggerInterval = time.Hour
)

// Validate checks that the spec defines one semantics.
func (s Spec) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%s: %w: %s", s.Name, ErrInvalidSpec, fmt.Sprintf(format, args...))
	}
	if _, err := window.Sliding(s.WindowSize, s.WindowSlide); err != nil {
		return bad("window: %v", err)
	}
	if s.WindowSize > MaxWindowSize {
		return bad("window %v is beyond the bound of %v", s.WindowSize, MaxWindowSize)
	}
	if n := (s.WindowSize + s.WindowSlide - 1) / s.WindowSlide; n > MaxWindowsPerRecord {
		return bad("window %v sliding every %v puts each record in %d windows, beyond the bound of %d", s.WindowSize, s.WindowSlide, n, MaxWindowsPerRecord)
	}
	if s.Time < ProcessingTime || s.Time > EventTime {
		return bad("unknown time mode %d", s.Time)
	}
	switch s.Trigger {
	case Continuous:
	case MicroBatch:
		if s.TriggerInterval <= 0 || s.TriggerInterval%time.Millisecond != 0 {
			return bad("micro-batch trigger interval %v must be whole positive milliseconds", s.TriggerInterval)
		}
		if s.TriggerInterval > MaxTriggerInterval {
			return bad("micro-batch trigger interval %v is beyond the bound of %v", s.TriggerInterval, MaxTriggerInterval)
		}
	default:
		return bad("unknown trigger %d", s.Trigger)
	}
	for _, b := range []struct {
		name string
		d    time.Duration
	}{
		{"watermark delay", s.WatermarkDelay}, {"allowed lateness", s.AllowedLateness},
		{"idle timeout", s.IdleTimeout}, {"dedup horizon", s.DedupHorizon},
	} {
		if b.d < 0 || b.d%time.Millisecond != 0 {
			return bad("%s %v must be whole non-negative milliseconds", b.name, b.d)
		}
		if b.d > MaxDuration {
			return bad("%s %v is beyond the bound of %v", b.name, b.d, MaxDuration)
		}
	}
	if s.Time == ProcessingTime && s.LateByRecordTime {
		return bad("late by record time needs event or ingestion time: a processing-time watermark is the clock, every record would be late")
	}
	if s.Time != ProcessingTime {
		if s.Scope < ScopePartition || s.Scope > ScopeGlobal {
			return bad("unknown watermark scope %d", s.Scope)
		}
		if s.IdleTimeout > 0 && s.Scope != ScopeMin {
			return bad("an idle timeout only applies to the min-over-partitions watermark scope")
		}
	}
	if s.Dedup < DedupNone || s.Dedup > DedupUntilWatermark {
		return bad("unknown dedup scope %d", s.Dedup)
	}
	if s.Dedup == DedupWithinBatch && s.Trigger != MicroBatch {
		return bad("dedup within batch needs a micro-batch trigger")
	}
	if s.Output != Append && s.Output != Update {
		return bad("unknown output mode %d", s.Output)
	}
	if s.EmitPerRecord && s.Output != Update {
		return bad("emit per record needs update output")
	}
	if s.EmitInterval != 0 {
		switch {
		case s.Output != Update || s.Trigger != Continuous || s.EmitPerRecord:
			return bad("an emit interval applies to update output with a continuous trigger, not emitting per record")
		case s.EmitInterval < 0 || s.EmitInterval%time.Millisecond != 0:
			return bad("emit interval %v must be whole positive milliseconds", s.EmitInterval)
		case s.EmitInterval > MaxTriggerInterval:
			return bad("emit interval %v is beyond the bound of %v", s.EmitInterval, MaxTriggerInterval)
		}
	}
	if s.Delivery != AtLeastOnce && s.Delivery != ExactlyOnce {
		return bad("unknown delivery %d", s.Delivery)
	}
	return nil
}

func (m TimeMode) String() string {
	switch m {
	case ProcessingTime:
		return "processing"
	case IngestionTime:
		return "ingestion"
	case EventTime:
		return "event"
	}
	return fmt.Sprintf("TimeMode(%d)", uint8(m))
}

func (t Trigger) String() string {
	switch t {
	case Continuous:
		return "continuous"
	case MicroBatch:
		return "micro-batch"
	}
	return fmt.Sprintf("Trigger(%d)", uint8(t))
}

func (d DedupScope) String() string {
	switch d {
	case DedupNone:
		return "none"
	case DedupWithinBatch:
		return "within batch"
	case DedupWithinWindow:
		return "within window"
	case DedupUntilWatermark:
		return "until watermark"
	}
	return fmt.Sprintf("DedupScope(%d)", uint8(d))
}

func (o OutputMode) String() string {
	switch o {
	case Append:
		return "append"
	case Update:
		return "update"
	}
	return fmt.Sprintf("OutputMode(%d)", uint8(o))
}

func (s WatermarkScope) String() string {
	switch s {
	case ScopePartition:
		return "partition"
	case ScopeMin:
		return "min"
	case ScopeGlobal:
		return "global"
	}
	return fmt.Sprintf("WatermarkScope(%d)", uint8(s))
}

// ParseScope reads a watermark scope: partition, min or global.
func ParseScope(s string) (WatermarkScope, error) {
	switch s {
	case "partition":
		return ScopePartition, nil
	case "min":
		return ScopeMin, nil
	case "global":
		return ScopeGlobal, nil
	}
	return 0, fmt.Errorf("%w: watermark scope %q: partition, min or global", ErrInvalidSpec, s)
}

func (d Delivery) String() string {
	switch d {
	case AtLeastOnce:
		return "at-least-once"
	case ExactlyOnce:
		return "exactly-once"
	}
	return fmt.Sprintf("Delivery(%d)", uint8(d))
}
