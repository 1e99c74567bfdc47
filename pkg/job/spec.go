// Package job is what the aggregator-master and the aggregator-workers agree on:
// a job specification (a preset plus overrides) and its JSON form, the engines
// under test, the micro-batch tasks and the progress reports the workers send
// back. It is plain data over the engine core: jobkafka carries it on Kafka and
// jobstore keeps it in Cassandra; this package imports neither client.
package job

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/boontadata/boontadata/pkg/engine"
)

// States of a job. A job runs until it is cancelled, or, when it is bound to
// a run, until the run's input ended and every window is final (finished);
// a job that cannot run at all (its spec breaks a bound a worker checks, an
// engine refused it) failed. Only a running job changes state.
const (
	StateRunning   = "running"
	StateFinished  = "finished"
	StateCancelled = "cancelled"
	StateFailed    = "failed"
)

// Ended reports whether a state is final: the job no longer runs anywhere.
func Ended(state string) bool {
	return state == StateFinished || state == StateCancelled || state == StateFailed
}

// Where a job starts reading when its consumer group has no committed offsets.
const (
	StartEarliest = "earliest"
	StartLatest   = "latest"
)

// What a worker does when the committed offsets of a job point to data that
// retention already deleted.
const (
	OutOfRangeFail = "fail"
	OutOfRangeSkip = "skip"
)

// Errors of Validate; test with errors.Is.
var (
	ErrBadID       = errors.New("job ids are 1 to 64 letters, digits, '-' or '_'")
	ErrBadOverride = errors.New("bad override")
	ErrBadOption   = errors.New("bad job option")
)

var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

// Duration is a time.Duration written as "5s" in JSON.
type Duration time.Duration

// MarshalText writes the duration as time.Duration.String does.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// DurationOf returns d as a pointer to a Duration: an override that may be zero.
func DurationOf(d time.Duration) *Duration {
	v := Duration(d)
	return &v
}

// GivenDuration is d as an override when the user gave it (0 included), else
// nil: the preset's.
func GivenDuration(given bool, d time.Duration) *Duration {
	if !given {
		return nil
	}
	return DurationOf(d)
}

// UnmarshalText reads a duration such as "5s" or "1m30s".
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// Overrides change a preset. A zero window, slide or trigger interval (none
// can be zero) and a nil duration keep the preset's; the durations that may
// be zero (no watermark delay, no allowed lateness, no idle timeout, ...)
// are pointers, so that zero is a value.
type Overrides struct {
	Window          Duration  `json:"window,omitempty"`
	Slide           Duration  `json:"slide,omitempty"`
	Watermark       *Duration `json:"watermark,omitempty"`
	AllowedLateness *Duration `json:"allowed_lateness,omitempty"`
	IdleTimeout     *Duration `json:"idle_timeout,omitempty"`
	TriggerInterval Duration  `json:"trigger_interval,omitempty"`
	DedupHorizon    *Duration `json:"dedup_horizon,omitempty"`
	// EmitInterval: update output, continuous trigger; a changed window is
	// emitted at most once per interval.
	EmitInterval *Duration `json:"emit_interval,omitempty"`
	// Dedup: none, batch, window or watermark.
	Dedup string `json:"dedup,omitempty"`
	// Output: append or update.
	Output string `json:"output,omitempty"`
	// Scope of the watermark: partition, min or global.
	Scope string `json:"watermark_scope,omitempty"`
}

// Spec is a job: which events it reads and with which semantics.
type Spec struct {
	ID string `json:"job_id"`
	// RunID, when set, restricts the job to the events of one simulator run;
	// results are stored under it. Events of other runs are skipped and
	// counted. When empty, each event's run id header is used.
	RunID  string `json:"run_id,omitempty"`
	Preset string `json:"preset"`
	// EngineName is the engine under test that runs the job: empty (or
	// "boontadata") for this project's engine, else the name of a real
	// engine behind the engine contract (docs/engines.md), such as spark.
	EngineName string    `json:"engine,omitempty"`
	Overrides  Overrides `json:"overrides,omitzero"`
	// StartOffsets: earliest or latest, used only without committed offsets.
	StartOffsets string `json:"start_offsets,omitempty"`
	// OnOutOfRange: fail or skip (with a warning and a counter).
	OnOutOfRange string `json:"on_out_of_range,omitempty"`
	State        string `json:"state"`
	// Reason says why a job failed, or how it finished.
	Reason    string    `json:"reason,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// WithDefaults fills the options left empty.
func (s Spec) WithDefaults() Spec {
	if s.StartOffsets == "" {
		s.StartOffsets = StartEarliest
	}
	if s.OnOutOfRange == "" {
		s.OnOutOfRange = OutOfRangeFail
	}
	if s.State == "" {
		s.State = StateRunning
	}
	return s
}

// Validate reports the first problem of the spec, including one of the
// resulting engine semantics.
func (s Spec) Validate() error {
	if !idPattern.MatchString(s.ID) {
		return fmt.Errorf("%w, got %q", ErrBadID, s.ID)
	}
	if s.RunID != "" && !idPattern.MatchString(s.RunID) {
		return fmt.Errorf("%w: run id %q: 1 to 64 letters, digits, '-' or '_'", ErrBadOption, s.RunID)
	}
	switch s.StartOffsets {
	case "", StartEarliest, StartLatest:
	default:
		return fmt.Errorf("%w: start offsets %q: earliest or latest", ErrBadOption, s.StartOffsets)
	}
	switch s.OnOutOfRange {
	case "", OutOfRangeFail, OutOfRangeSkip:
	default:
		return fmt.Errorf("%w: on out of range %q: fail or skip", ErrBadOption, s.OnOutOfRange)
	}
	switch s.State {
	case "", StateRunning, StateFinished, StateCancelled, StateFailed:
	default:
		return fmt.Errorf("%w: state %q: running, finished, cancelled or failed", ErrBadOption, s.State)
	}
	if _, err := s.Engine(); err != nil {
		return err
	}
	return s.checkEngine()
}

// Engine returns the engine semantics of the job: its preset with the
// overrides applied.
func (s Spec) Engine() (engine.Spec, error) {
	es, err := engine.Preset(s.Preset)
	if err != nil {
		return es, err // names the preset and the known ones
	}
	o := s.Overrides
	set := func(dst *time.Duration, v Duration) {
		if v != 0 {
			*dst = time.Duration(v)
		}
	}
	setOpt := func(dst *time.Duration, v *Duration) {
		if v != nil {
			*dst = time.Duration(*v)
		}
	}
	if o.Window != 0 && o.Slide == 0 && es.WindowSlide == es.WindowSize {
		es.WindowSlide = time.Duration(o.Window) // a tumbling preset stays tumbling
	}
	set(&es.WindowSize, o.Window)
	set(&es.WindowSlide, o.Slide)
	setOpt(&es.WatermarkDelay, o.Watermark)
	setOpt(&es.AllowedLateness, o.AllowedLateness)
	setOpt(&es.IdleTimeout, o.IdleTimeout)
	set(&es.TriggerInterval, o.TriggerInterval)
	setOpt(&es.DedupHorizon, o.DedupHorizon)
	setOpt(&es.EmitInterval, o.EmitInterval)
	if o.Dedup != "" {
		d, err := ParseDedup(o.Dedup)
		if err != nil {
			return es, err
		}
		es.Dedup = d
	}
	if o.Scope != "" {
		sc, err := engine.ParseScope(o.Scope)
		if err != nil {
			return es, fmt.Errorf("%w: %w", ErrBadOverride, err)
		}
		es.Scope = sc
		if sc != engine.ScopeMin && o.IdleTimeout == nil {
			es.IdleTimeout = 0 // idleness belongs to the min scope only
		}
	}
	if o.Output != "" {
		m, err := ParseOutput(o.Output)
		if err != nil {
			return es, err
		}
		es.Output = m
		if m == engine.Append {
			es.EmitPerRecord = false
		}
	}
	if err := es.Validate(); err != nil {
		return es, fmt.Errorf("%w: %w", ErrBadOverride, err)
	}
	return es, nil
}

// ParseDedup reads a dedup scope: none, batch, window or watermark.
func ParseDedup(s string) (engine.DedupScope, error) {
	switch strings.ToLower(s) {
	case "none":
		return engine.DedupNone, nil
	case "batch", "within-batch":
		return engine.DedupWithinBatch, nil
	case "window", "within-window":
		return engine.DedupWithinWindow, nil
	case "watermark", "until-watermark":
		return engine.DedupUntilWatermark, nil
	}
	return 0, fmt.Errorf("%w: dedup %q: none, batch, window or watermark", ErrBadOverride, s)
}

// ParseOutput reads an output mode: append or update.
func ParseOutput(s string) (engine.OutputMode, error) {
	switch strings.ToLower(s) {
	case "append":
		return engine.Append, nil
	case "update":
		return engine.Update, nil
	}
	return 0, fmt.Errorf("%w: output %q: append or update", ErrBadOverride, s)
}

// EngineUnderTest is the job's engine under test: boontadata unless
// EngineName says otherwise.
func (s Spec) EngineUnderTest() string {
	if s.EngineName == "" {
		return Boontadata
	}
	return s.EngineName
}

// Boontadata names this project's own engine (aggregator-master and
// workers), the default engine of a job.
const Boontadata = "boontadata"

// GroupID is the Kafka consumer group of the job: each job has its own, so
// that several jobs read the same events side by side.
func (s Spec) GroupID() string { return "boontadata-job-" + s.ID }
