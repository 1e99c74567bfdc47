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
)

// Kinds of lines.
const (
	KindStart  = "start"
	KindResult = "result"
	KindEnd    = "end"
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
	// Result is set for a result line; EmitTime for both kinds.
	Result   engine.Result
	EmitTime int64
}

// Parse reads one line: start|JOB|RUN|EMIT_TIME_MS,
// result|JOB|RUN|DEVICE|CATEGORY|WINDOW_START_MS|WINDOW_END_MS|SUM_MEASURE1|
// SUM_MEASURE2|COUNT|REVISION|FINAL|EMIT_TIME_MS or end|JOB|RUN|EMIT_TIME_MS.
// Every error names the field.
func Parse(b []byte) (Line, error) {
	var l Line
	if len(b) > MaxLineLen {
		return l, fmt.Errorf("%w: %d bytes, at most %d", ErrLine, len(b), MaxLineLen)
	}
	s := strings.TrimRight(string(b), "\r\n")
	f := strings.Split(s, "|")
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrLine, field, fmt.Sprintf(format, args...))
	}
	text := func(i int, name string) (string, error) {
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
	integer := func(i int, name string) (int64, error) {
		v, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return 0, bad(name, "not an integer: %q", f[i])
		}
		return v, nil
	}
	var err error
	switch f[0] {
	case KindResult:
		if len(f) != 13 {
			return l, bad("line", "a result line has 13 fields, got %d", len(f))
		}
	case KindStart, KindEnd:
		if len(f) != 4 {
			return l, bad("line", "%s lines have 4 fields, got %d", f[0], len(f))
		}
	default:
		return l, bad("kind", "want start, result or end, got %q", f[0])
	}
	l.Kind = f[0]
	if l.JobID, err = text(1, "job"); err != nil {
		return l, err
	}
	if l.RunID, err = text(2, "run"); err != nil {
		return l, err
	}
	if l.Kind != KindResult {
		l.EmitTime, err = integer(3, "emit_time")
		return l, err
	}
	r := &l.Result
	if r.DeviceID, err = text(3, "device"); err != nil {
		return l, err
	}
	if r.Category, err = text(4, "category"); err != nil {
		return l, err
	}
	if r.Window.Start, err = integer(5, "window_start"); err != nil {
		return l, err
	}
	if r.Window.End, err = integer(6, "window_end"); err != nil {
		return l, err
	}
	if r.Window.End <= r.Window.Start {
		return l, bad("window_end", "%d is not after the window start %d", r.Window.End, r.Window.Start)
	}
	if r.SumMeasure1, err = integer(7, "sum_measure1"); err != nil {
		return l, err
	}
	if r.SumMeasure2, err = parseFloat(f[8]); err != nil {
		return l, bad("sum_measure2", "not a number: %q", f[8])
	}
	if r.Count, err = integer(9, "count"); err != nil {
		return l, err
	}
	if r.Count < 0 {
		return l, bad("count", "negative: %d", r.Count)
	}
	if r.Revision, err = integer(10, "revision"); err != nil {
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
	if r.EmitTime, err = integer(12, "emit_time"); err != nil {
		return l, err
	}
	l.EmitTime = r.EmitTime
	return l, nil
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

// FormatEnd writes an end line.
func FormatEnd(jobID, runID string, emitTime int64) string {
	return strings.Join([]string{KindEnd, jobID, runID, strconv.FormatInt(emitTime, 10)}, "|")
}

// FormatStart writes a start line.
func FormatStart(jobID, runID string, emitTime int64) string {
	return strings.Join([]string{KindStart, jobID, runID, strconv.FormatInt(emitTime, 10)}, "|")
}
