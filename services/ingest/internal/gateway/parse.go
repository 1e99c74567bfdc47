package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
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

// rejection is one invalid line or JSON element.
type rejection struct {
	line int // 1-based line of a text body, or index of a JSON element
	// raw is the line as sent (pointing into the body), or the element
	// compacted onto one line and cut at MaxDeadLetterValue (a copy, so that
	// a large element is not kept whole).
	raw []byte
	err *event.ParseError
}

// batch is a parsed request body. It does not hold one entry per valid event:
// a second pass over lines (acceptedLines) yields them, so that a request
// costs its body plus what its rejected lines need, whatever its size.
type batch struct {
	// lines are newline-separated lines: the body of a text request, or the
	// canonical lines of the valid elements of a JSON request.
	lines []byte
	// accepted counts the valid events.
	accepted int
	// rejected are the rejected lines in order; they are among lines for a
	// text body, and acceptedLines skips them. Parsing stops once there are
	// more than the cap, which tooMany then tells.
	rejected []rejection
	tooMany  bool
	// json is true when the body was a JSON array.
	json bool
}

func (b *batch) empty() bool { return b.accepted == 0 && len(b.rejected) == 0 }

// cutLine returns the first line of body without its LF or CRLF terminator,
// and the rest.
func cutLine(body []byte) (line, rest []byte) {
	line = body
	if i := bytes.IndexByte(body, '\n'); i >= 0 {
		line, rest = body[:i], body[i+1:]
	}
	if k := len(line); k > 0 && line[k-1] == '\r' {
		line = line[:k-1]
	}
	return line, rest
}

// parseText checks a body of newline-separated wire-format lines. CRLF is
// accepted, blank lines are skipped (their number still counts, so that line
// numbers match the sender's), and a line longer than maxLine is rejected on
// its own. A valid line's value is the line as sent, without its terminator:
// the codec is strict, so a line it accepts is already the wire format.
// Parsing stops at the first rejected line beyond maxRejected.
func parseText(body []byte, maxLine, maxRejected int) batch {
	b := batch{lines: body}
	var v event.View
	for lineNo, rest := 1, body; len(rest) > 0; lineNo++ {
		var line []byte
		line, rest = cutLine(rest)
		if len(line) == 0 {
			continue
		}
		var perr *event.ParseError
		if len(line) > maxLine {
			perr = &event.ParseError{
				Field: "line", Err: event.ErrTooLong,
				Detail: "at most " + strconv.Itoa(maxLine) + " bytes, got " + strconv.Itoa(len(line)),
			}
		} else if err := event.ParseView(line, &v); err != nil {
			perr = asParseError(err)
		}
		if perr == nil {
			b.accepted++
			continue
		}
		b.rejected = append(b.rejected, rejection{line: lineNo, raw: line, err: perr})
		if len(b.rejected) > maxRejected {
			b.tooMany = true
			return b
		}
	}
	return b
}

// acceptedLines yields the value and key (device id) of every valid event of
// b, in order. For a text body it walks the body again as parseText did and
// skips the blank and rejected lines; the lines it yields passed the codec,
// so their key is simply their second field.
func (b *batch) acceptedLines() iter.Seq2[[]byte, []byte] {
	return func(yield func(value, key []byte) bool) {
		rejected := b.rejected
		if b.json {
			rejected = nil // the canonical lines hold valid events only
		}
		for lineNo, rest := 1, b.lines; len(rest) > 0; lineNo++ {
			var line []byte
			line, rest = cutLine(rest)
			if len(line) == 0 {
				continue
			}
			if len(rejected) > 0 && rejected[0].line == lineNo {
				rejected = rejected[1:]
				continue
			}
			if !yield(line, deviceID(line)) {
				return
			}
		}
	}
}

// deviceID returns the second field of a valid line.
func deviceID(line []byte) []byte {
	_, rest, _ := bytes.Cut(line, []byte{'|'})
	id, _, _ := bytes.Cut(rest, []byte{'|'})
	return id
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
// is its canonical wire-format line (event.AppendFormat), kept in b.lines:
// always shorter than the element, so b.lines is smaller than the body.
// Parsing stops at the first rejected element beyond maxRejected.
func parseJSON(body []byte, maxRejected int) (batch, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	if err != nil {
		return batch{}, fmt.Errorf("%w: %w", errNotArray, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return batch{}, errNotArray
	}
	b := batch{json: true}
	for i := 1; dec.More(); i++ {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return batch{}, fmt.Errorf("JSON element %d: %w", i, err)
		}
		e, perr := decodeElement(raw)
		if perr != nil {
			b.rejected = append(b.rejected, rejection{line: i, raw: oneLine(raw), err: perr})
			if len(b.rejected) > maxRejected {
				b.tooMany = true
				return b, nil
			}
			continue
		}
		b.lines = append(event.AppendFormat(b.lines, e), '\n')
		b.accepted++
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
