// Package contract is the engine contract's wire format (docs/engines.md):
// the lines an engine under test writes to the results topic, parsed and
// formatted. The aggregator-workers ingest them into the results tables.
package contract

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/boontadata/boontadata/pkg/engine"
	"github.com/boontadata/boontadata/pkg/engine/window"
)

// Kinds of lines.
const (
	KindStart  = "start"
	KindResult = "result"
	KindEnd    = "end"
	KindLate   = "late"
)

// ErrLine is wrapped by every parse error.
var ErrLine = errors.New("bad results line")

// MaxLineLen bounds a line: longer ones are refused whole.
const MaxLineLen = 4 << 10

// Line is one parsed line of the results topic.
type Line struct {
	Kind  string
	JobID string
	RunID string
	// Result is set for a result line, Late for a late line; EmitTime for
	// every kind.
	Result   engine.Result
	Late     Late
	EmitTime int64
}

// Late is a record an engine dropped as late, as its late line says: the
// window it belonged to by the job's time, which had closed, the record's
// Kafka position, its time in the job's time mode and its device time, and
// its measures.
type Late struct {
	DeviceID, Category, MessageID string
	Window                        window.Window
	Partition                     int32
	Offset                        int64
	Time, DeviceTime              int64
	Measure1                      int64
	Measure2                      float64
}

// Parse reads one line: start|JOB|RUN|EMIT_TIME_MS,
// result|JOB|RUN|DEVICE|CATEGORY|WINDOW_START_MS|WINDOW_END_MS|SUM_MEASURE1|
// SUM_MEASURE2|COUNT|REVISION|FINAL|EMIT_TIME_MS,
// late|JOB|RUN|DEVICE|CATEGORY|WINDOW_START_MS|WINDOW_END_MS|MESSAGE_ID|
// PARTITION|OFFSET|RECORD_TIME_MS|DEVICE_TIME_MS|MEASURE1|MEASURE2|EMIT_TIME_MS
// or end|JOB|RUN|EMIT_TIME_MS. Every error names the field.
func Parse(b []byte) (Line, error) {
	var l Line
	if len(b) > MaxLineLen {
		return l, fmt.Errorf("%w: %d bytes, at most %d", ErrLine, len(b), MaxLineLen)
	}
	f := fields(strings.Split(strings.TrimRight(string(b), "\r\n"), "|"))
	var err error
	switch f[0] {
	case KindResult:
		if len(f) != 13 {
			return l, bad("line", "a result line has 13 fields, got %d", len(f))
		}
	case KindLate:
		if len(f) != 15 {
			return l, bad("line", "a late line has 15 fields, got %d", len(f))
		}
	case KindStart, KindEnd:
		if len(f) != 4 {
			return l, bad("line", "%s lines have 4 fields, got %d", f[0], len(f))
		}
	default:
		return l, bad("kind", "want start, result, late or end, got %q", f[0])
	}
	l.Kind = f[0]
	if l.JobID, err = f.text(1, "job"); err != nil {
		return l, err
	}
	if l.RunID, err = f.text(2, "run"); err != nil {
		return l, err
	}
	switch l.Kind {
	case KindStart, KindEnd:
		l.EmitTime, err = f.integer(3, "emit_time")
		return l, err
	case KindLate:
		return l, f.late(&l)
	}
	r := &l.Result
	if r.DeviceID, r.Category, r.Window, err = f.key(); err != nil {
		return l, err
	}
	if r.SumMeasure1, err = f.integer(7, "sum_measure1"); err != nil {
		return l, err
	}
	if r.SumMeasure2, err = parseFloat(f[8]); err != nil {
		return l, bad("sum_measure2", "not a number: %q", f[8])
	}
	if r.Count, err = f.integer(9, "count"); err != nil {
		return l, err
	}
	if r.Count < 0 {
		return l, bad("count", "negative: %d", r.Count)
	}
	if r.Revision, err = f.integer(10, "revision"); err != nil {
		return l, err
	}
	if r.Revision < 0 || r.Revision > math.MaxInt32 {
		// Cassandra's revision and emission columns are 32-bit ints.
		return l, bad("revision", "%d is not in 0..%d", r.Revision, math.MaxInt32)
	}
	switch f[11] {
	case "1":
		r.Final = true
	case "0":
	default:
		return l, bad("final", "want 0 or 1, got %q", f[11])
	}
	if r.EmitTime, err = f.integer(12, "emit_time"); err != nil {
		return l, err
	}
	l.EmitTime = r.EmitTime
	return l, nil
}

// bad is a parse error that names its field.
func bad(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrLine, field, fmt.Sprintf(format, args...))
}

// fields are the fields of a line.
type fields []string

// text is a non-empty field of at most 128 bytes without control characters.
func (f fields) text(i int, name string) (string, error) {
	v := f[i]
	if v == "" {
		return "", bad(name, "empty")
	}
	if len(v) > 128 {
		return "", bad(name, "longer than 128 bytes")
	}
	for j := 0; j < len(v); j++ {
		if v[j] < 0x20 || v[j] == 0x7f {
			return "", bad(name, "control character")
		}
	}
	return v, nil
}

func (f fields) integer(i int, name string) (int64, error) {
	v, err := strconv.ParseInt(f[i], 10, 64)
	if err != nil {
		return 0, bad(name, "not an integer: %q", f[i])
	}
	return v, nil
}

// key reads the device, category and window of a result or late line
// (fields 3 to 6).
func (f fields) key() (device, category string, w window.Window, err error) {
	if device, err = f.text(3, "device"); err != nil {
		return
	}
	if category, err = f.text(4, "category"); err != nil {
		return
	}
	if w.Start, err = f.integer(5, "window_start"); err != nil {
		return
	}
	if w.End, err = f.integer(6, "window_end"); err != nil {
		return
	}
	if w.End <= w.Start {
		err = bad("window_end", "%d is not after the window start %d", w.End, w.Start)
	}
	return
}

// late reads the fields of a late line into l.
func (f fields) late(l *Line) error {
	d := &l.Late
	var err error
	if d.DeviceID, d.Category, d.Window, err = f.key(); err != nil {
		return err
	}
	if d.MessageID, err = f.text(7, "message_id"); err != nil {
		return err
	}
	p, err := f.integer(8, "partition")
	if err != nil {
		return err
	}
	if p < 0 || p > math.MaxInt32 {
		return bad("partition", "%d is not in 0..%d", p, math.MaxInt32)
	}
	d.Partition = int32(p)
	if d.Offset, err = f.integer(9, "offset"); err != nil {
		return err
	}
	if d.Offset < 0 {
		return bad("offset", "negative: %d", d.Offset)
	}
	if d.Time, err = f.integer(10, "record_time"); err != nil {
		return err
	}
	if d.DeviceTime, err = f.integer(11, "device_time"); err != nil {
		return err
	}
	if d.Measure1, err = f.integer(12, "measure1"); err != nil {
		return err
	}
	if d.Measure2, err = parseFloat(f[13]); err != nil {
		return bad("measure2", "not a number: %q", f[13])
	}
	l.EmitTime, err = f.integer(14, "emit_time")
	return err
}

// parseFloat reads a sum as Java's Double.toString or Go writes it,
// including Infinity, -Infinity and NaN.
func parseFloat(s string) (float64, error) {
	switch s {
	case "Infinity", "+Infinity":
		return math.Inf(1), nil
	case "-Infinity":
		return math.Inf(-1), nil
	case "NaN":
		return math.NaN(), nil
	}
	return strconv.ParseFloat(s, 64)
}

// FormatResult writes a result line.
func FormatResult(jobID, runID string, r *engine.Result) string {
	final := "0"
	if r.Final {
		final = "1"
	}
	return strings.Join([]string{KindResult, jobID, runID, r.DeviceID, r.Category,
		strconv.FormatInt(r.Window.Start, 10), strconv.FormatInt(r.Window.End, 10),
		strconv.FormatInt(r.SumMeasure1, 10), strconv.FormatFloat(r.SumMeasure2, 'g', -1, 64),
		strconv.FormatInt(r.Count, 10), strconv.FormatInt(r.Revision, 10), final,
		strconv.FormatInt(r.EmitTime, 10)}, "|")
}

// FormatLate writes a late line.
func FormatLate(jobID, runID string, d *Late, emitTime int64) string {
	return strings.Join([]string{KindLate, jobID, runID, d.DeviceID, d.Category,
		strconv.FormatInt(d.Window.Start, 10), strconv.FormatInt(d.Window.End, 10), d.MessageID,
		strconv.FormatInt(int64(d.Partition), 10), strconv.FormatInt(d.Offset, 10),
		strconv.FormatInt(d.Time, 10), strconv.FormatInt(d.DeviceTime, 10),
		strconv.FormatInt(d.Measure1, 10), strconv.FormatFloat(d.Measure2, 'g', -1, 64),
		strconv.FormatInt(emitTime, 10)}, "|")
}

// FormatEnd writes an end line.
func FormatEnd(jobID, runID string, emitTime int64) string {
	return strings.Join([]string{KindEnd, jobID, runID, strconv.FormatInt(emitTime, 10)}, "|")
}

// FormatStart writes a start line.
func FormatStart(jobID, runID string, emitTime int64) string {
	return strings.Join([]string{KindStart, jobID, runID, strconv.FormatInt(emitTime, 10)}, "|")
}
