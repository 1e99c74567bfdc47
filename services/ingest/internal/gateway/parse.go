package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/boontadata/boontadata/pkg/event"
)

// Problems of a JSON element that the wire codec cannot have.
var (
	ErrJSONType     = errors.New("wrong JSON type")
	ErrUnknownField = errors.New("unknown field")
	ErrMissingField = errors.New("missing")
	ErrNotObject    = errors.New("not a JSON object")
)

// errNotArray and errNoEvents reject a whole request.
var (
	errNotArray = errors.New("a JSON body must be an array of events")
	errNoEvents = errors.New("the body holds no event")
)

// accepted is one valid event: the record value (a wire-format line) and key.
type accepted struct {
	value []byte
	key   []byte
}

// rejection is one invalid line or JSON element.
type rejection struct {
	line int    // 1-based line of a text body, or index of a JSON element
	raw  []byte // the line or element as sent
	err  *event.ParseError
}

// batch is a parsed request body. Its slices point into the body.
type batch struct {
	accepted []accepted
	rejected []rejection
}

func (b *batch) empty() bool { return len(b.accepted) == 0 && len(b.rejected) == 0 }

// parseText splits a body of newline-separated wire-format lines. CRLF is
// accepted, blank lines are skipped (their number still counts, so that line
// numbers match the sender's), and a line longer than maxLine is rejected on
// its own. A valid line's value is the line as sent, without its terminator:
// the codec is strict, so a line it accepts is already the wire format.
func parseText(body []byte, maxLine int) batch {
	// Lines are counted first so the slices are allocated once.
	n := bytes.Count(body, []byte{'\n'}) + 1
	b := batch{accepted: make([]accepted, 0, n)}
	var v event.View
	for lineNo := 1; len(body) > 0; lineNo++ {
		line := body
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		if k := len(line); k > 0 && line[k-1] == '\r' {
			line = line[:k-1]
		}
		if len(line) == 0 {
			continue
		}
		if len(line) > maxLine {
			b.rejected = append(b.rejected, rejection{line: lineNo, raw: line, err: &event.ParseError{
				Field: "line", Err: event.ErrTooLong,
				Detail: "at most " + strconv.Itoa(maxLine) + " bytes, got " + strconv.Itoa(len(line)),
			}})
			continue
		}
		if err := event.ParseView(line, &v); err != nil {
			b.rejected = append(b.rejected, rejection{line: lineNo, raw: line, err: asParseError(err)})
			continue
		}
		b.accepted = append(b.accepted, accepted{value: line, key: v.DeviceID})
	}
	return b
}

// jsonEvent has pointer fields so that a missing field is told from a zero.
type jsonEvent struct {
	MessageID  *string  `json:"message_id"`
	DeviceID   *string  `json:"device_id"`
	DeviceTime *int64   `json:"device_time_ms"`
	Category   *string  `json:"category"`
	Measure1   *int64   `json:"measure1"`
	Measure2   *float64 `json:"measure2"`
}

// parseJSON reads a JSON array of ingestapi.Event. A malformed document fails
// the whole request; an element of the wrong shape or with an invalid event
// is rejected on its own, numbered from 1 like a line. A valid element's value
// is its canonical wire-format line (event.AppendFormat).
func parseJSON(body []byte) (batch, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	if err != nil {
		return batch{}, fmt.Errorf("%w: %w", errNotArray, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return batch{}, errNotArray
	}
	var b batch
	for i := 1; dec.More(); i++ {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return batch{}, fmt.Errorf("JSON element %d: %w", i, err)
		}
		e, perr := decodeElement(raw)
		if perr != nil {
			b.rejected = append(b.rejected, rejection{line: i, raw: raw, err: perr})
			continue
		}
		value := event.AppendFormat(make([]byte, 0, 64), e)
		// The device id is the second field of the value: key and value share bytes.
		start := len(e.MessageID) + 1
		b.accepted = append(b.accepted, accepted{value: value, key: value[start : start+len(e.DeviceID)]})
	}
	if _, err := dec.Token(); err != nil {
		return batch{}, fmt.Errorf("%w: %w", errNotArray, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return batch{}, fmt.Errorf("%w: data after the closing ']'", errNotArray)
	}
	return b, nil
}

func decodeElement(raw json.RawMessage) (event.Event, *event.ParseError) {
	if len(raw) == 0 || raw[0] != '{' {
		return event.Event{}, &event.ParseError{Field: "element", Err: ErrNotObject, Value: shorten(raw)}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var je jsonEvent
	if err := dec.Decode(&je); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return event.Event{}, &event.ParseError{Field: te.Field, Err: ErrJSONType,
				Detail: "want " + jsonKind(te.Type.Kind().String()) + ", got " + te.Value}
		}
		// DisallowUnknownFields reports `json: unknown field "name"`.
		const prefix = `json: unknown field `
		if msg := err.Error(); len(msg) > len(prefix) && msg[:len(prefix)] == prefix {
			name, uerr := strconv.Unquote(msg[len(prefix):])
			if uerr != nil {
				name = msg[len(prefix):]
			}
			return event.Event{}, &event.ParseError{Field: name, Err: ErrUnknownField}
		}
		return event.Event{}, &event.ParseError{Field: "element", Err: ErrJSONType, Detail: err.Error()}
	}
	fields := []struct {
		name    string
		missing bool
	}{
		{event.FieldMessageID, je.MessageID == nil}, {event.FieldDeviceID, je.DeviceID == nil},
		{event.FieldDeviceTime, je.DeviceTime == nil}, {event.FieldCategory, je.Category == nil},
		{event.FieldMeasure1, je.Measure1 == nil}, {event.FieldMeasure2, je.Measure2 == nil},
	}
	for _, f := range fields {
		if f.missing {
			return event.Event{}, &event.ParseError{Field: f.name, Err: ErrMissingField}
		}
	}
	e := event.Event{
		MessageID: *je.MessageID, DeviceID: *je.DeviceID, DeviceTime: *je.DeviceTime,
		Category: *je.Category, Measure1: *je.Measure1, Measure2: *je.Measure2,
	}
	if err := e.Validate(); err != nil {
		return event.Event{}, asParseError(err)
	}
	return e, nil
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "int64":
		return "an integer"
	case "float64":
		return "a number"
	}
	return goKind
}

// asParseError keeps the codec's *ParseError, or wraps another error in one.
func asParseError(err error) *event.ParseError {
	var pe *event.ParseError
	if errors.As(err, &pe) {
		return pe
	}
	return &event.ParseError{Field: "line", Err: err}
}

func shorten(b []byte) string {
	const n = 40
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}
