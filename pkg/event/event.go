// Package event is the codec of the boontadata wire format, one event per line:
//
//	message_id|device_id|device_time_ms|category|measure1|measure2
//	123-12|123|1472209316326|cat1|456|789.12
//
// It offers two shapes. Event holds strings and is what the simulator and the
// ingest gateway build and format. View is a zero-copy view over the bytes of
// a line: the engine's hot path parses into a reused View without allocating.
// Parsing is strict: every problem is reported as a *ParseError naming the
// field, so that a rejected line can be explained to whoever sent it.
package event

import (
	"errors"
	"fmt"
	"math"
	"strconv"
)

// Field names, as they appear in errors and docs.
const (
	FieldMessageID  = "message_id"
	FieldDeviceID   = "device_id"
	FieldDeviceTime = "device_time_ms"
	FieldCategory   = "category"
	FieldMeasure1   = "measure1"
	FieldMeasure2   = "measure2"
)

// NumFields is the number of '|'-separated fields of a line.
const NumFields = 6

// Limits of a valid event. They keep a hostile or broken sender from growing
// the engine's state with huge keys, and bound the length of a line.
const (
	// MaxIDLen bounds message_id and device_id, in bytes.
	MaxIDLen = 128
	// MaxCategoryLen bounds category, in bytes.
	MaxCategoryLen = 64
	// MaxNumberLen bounds the text of device_time_ms, measure1 and measure2.
	MaxNumberLen = 32
	// MaxLineLen is the longest valid line (without a line terminator).
	MaxLineLen = 2*MaxIDLen + MaxCategoryLen + 3*MaxNumberLen + NumFields - 1
	// MinDeviceTime (2000-01-01T00:00:00Z) and MaxDeviceTime
	// (2100-01-01T00:00:00Z), in ms since the epoch, bound device_time_ms: a
	// timestamp outside is a unit mistake (seconds or µs) or a broken clock,
	// and one such value would move an event-time watermark by decades.
	MinDeviceTime int64 = 946684800000
	MaxDeviceTime int64 = 4102444800000
	// MaxMeasure2 bounds the magnitude of measure2. Sums of measure2 are
	// float64: with every value at most 10^15, no sum of fewer than 10^290
	// events can overflow to ±Inf, so no window's result is infinite or NaN
	// and the exact (compensated) sum does not depend on arrival order.
	MaxMeasure2 = 1e15
)

const measure2Range = "magnitude at most 1e15, so that sums cannot overflow"

// Problems a ParseError or a validation error can report; test with errors.Is.
var (
	ErrFieldCount = errors.New("wrong number of fields")
	ErrEmpty      = errors.New("empty")
	ErrTooLong    = errors.New("too long")
	ErrControl    = errors.New("contains a control character")
	ErrNotInteger = errors.New("not an integer")
	ErrNotNumber  = errors.New("not a decimal number")
	ErrNotFinite  = errors.New("not finite")
	ErrRange      = errors.New("out of range")
)

// Event is one measurement of one device.
type Event struct {
	MessageID string
	DeviceID  string
	// DeviceTime is the event time: ms since the epoch on the device's clock.
	DeviceTime int64
	Category   string
	Measure1   int64
	Measure2   float64
}

// View is an event whose text fields point into the parsed line. It stays
// valid only as long as the line's bytes are not reused.
type View struct {
	MessageID  []byte
	DeviceID   []byte
	DeviceTime int64
	Category   []byte
	Measure1   int64
	Measure2   float64
}

// Event copies the view into an Event that owns its strings.
func (v *View) Event() Event {
	return Event{
		MessageID:  string(v.MessageID),
		DeviceID:   string(v.DeviceID),
		DeviceTime: v.DeviceTime,
		Category:   string(v.Category),
		Measure1:   v.Measure1,
		Measure2:   v.Measure2,
	}
}

// ParseError says which field of a line is wrong and why.
type ParseError struct {
	// Field is one of the Field* names, or "line" for a wrong field count.
	Field string
	// Value is the offending text, cut to a readable length.
	Value string
	// Err is one of the Err* problems.
	Err error
	// Detail adds what was expected, when useful.
	Detail string
}

func (e *ParseError) Error() string {
	msg := e.Field + ": " + e.Err.Error()
	if e.Detail != "" {
		msg += " (" + e.Detail + ")"
	}
	if e.Value != "" {
		msg += ": " + strconv.Quote(e.Value)
	}
	return msg
}

func (e *ParseError) Unwrap() error { return e.Err }

// shownValueLen keeps error messages readable when a field is megabytes long.
const shownValueLen = 40

func fieldError(field string, value []byte, err error, detail string) *ParseError {
	v := value
	if len(v) > shownValueLen {
		v = v[:shownValueLen]
		return &ParseError{Field: field, Value: string(v) + "...", Err: err, Detail: detail}
	}
	return &ParseError{Field: field, Value: string(v), Err: err, Detail: detail}
}

// Validate reports whether e can be formatted into a line that parses back to
// e. AppendFormat does not validate, to stay cheap; producers call Validate once.
func (e Event) Validate() error {
	if err := checkText(FieldMessageID, []byte(e.MessageID), MaxIDLen); err != nil {
		return err
	}
	if err := checkText(FieldDeviceID, []byte(e.DeviceID), MaxIDLen); err != nil {
		return err
	}
	if err := checkDeviceTime(e.DeviceTime, nil); err != nil {
		return err
	}
	if err := checkText(FieldCategory, []byte(e.Category), MaxCategoryLen); err != nil {
		return err
	}
	if math.IsNaN(e.Measure2) || math.IsInf(e.Measure2, 0) {
		return &ParseError{Field: FieldMeasure2, Err: ErrNotFinite, Value: fmt.Sprint(e.Measure2)}
	}
	if math.Abs(e.Measure2) > MaxMeasure2 {
		return &ParseError{Field: FieldMeasure2, Err: ErrRange, Value: fmt.Sprint(e.Measure2), Detail: measure2Range}
	}
	return nil
}

func checkDeviceTime(ms int64, text []byte) error {
	if ms < MinDeviceTime || ms >= MaxDeviceTime {
		if text == nil {
			text = strconv.AppendInt(nil, ms, 10)
		}
		return fieldError(FieldDeviceTime, text, ErrRange,
			"ms since the epoch between 2000-01-01 and 2100-01-01")
	}
	return nil
}

// checkText rejects empty, over-long and control-character text fields: a
// '|' cannot occur in a parsed field, but an Event built in code may hold one.
func checkText(field string, b []byte, maxLen int) error {
	if len(b) == 0 {
		return &ParseError{Field: field, Err: ErrEmpty}
	}
	if len(b) > maxLen {
		return fieldError(field, b, ErrTooLong, "at most "+strconv.Itoa(maxLen)+" bytes, got "+strconv.Itoa(len(b)))
	}
	for _, c := range b {
		if c < 0x20 || c == 0x7f {
			return fieldError(field, b, ErrControl, "")
		}
		if c == '|' {
			return fieldError(field, b, ErrFieldCount, "'|' separates fields")
		}
	}
	return nil
}
