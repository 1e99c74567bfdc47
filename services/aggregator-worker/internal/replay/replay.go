// Package replay runs the engine core deterministically on a text input and
// prints every result and decision as JSON lines. The input is the wire
// format, one event per line, where a line "@<ms since epoch>" sets the
// processing time at which the following lines arrive. Lines that are empty
// or start with '#' are ignored. docs/engine.md has a worked example.
package replay

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/boontadata/boontadata/pkg/engine"
	"github.com/boontadata/boontadata/pkg/engine/window"
	"github.com/boontadata/boontadata/pkg/event"
)

// ErrInput marks a problem with the input text, reported with its line.
var ErrInput = errors.New("bad replay input")

// Options tune a replay.
type Options struct {
	// Flush closes every window at the end of the input, as the end of a
	// bounded stream does; without it, windows still open print nothing.
	Flush bool
}

// Summary counts what a replay did.
type Summary struct {
	Lines  int
	Events int64
	Stats  engine.Stats
}

// maxScanLine accepts lines longer than any valid event so that an
// over-long field is reported by the codec, naming the field.
const maxScanLine = 1 << 20

// Run replays in through an engine for spec and writes JSON lines to out.
// Processing time comes only from "@" lines, so the same input always
// prints the same output.
func Run(ctx context.Context, in io.Reader, out io.Writer, spec engine.Spec, opts Options) (Summary, error) {
	w := bufio.NewWriter(out)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // reasons contain "<=": keep them readable
	sink := &jsonSink{enc: enc}
	eng, err := engine.New(spec, 0, sink)
	if err != nil {
		return Summary{}, fmt.Errorf("start engine: %w", err)
	}
	d := &driver{eng: eng, spec: spec, interval: spec.TriggerInterval.Milliseconds()}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64*1024), maxScanLine)
	var sum Summary
	var rec engine.Record
	for sc.Scan() {
		sum.Lines++
		sink.line = sum.Lines
		if sum.Lines%4096 == 0 && ctx.Err() != nil {
			return sum, fmt.Errorf("replay: %w", ctx.Err())
		}
		line := sc.Bytes()
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		switch {
		case len(line) == 0 || line[0] == '#':
			continue
		case line[0] == '@':
			t, err := parseTime(line[1:])
			if err != nil {
				return sum, fmt.Errorf("line %d: %w: %w", sum.Lines, ErrInput, err)
			}
			if err := d.setTime(t); err != nil {
				return sum, fmt.Errorf("line %d: %w: %w", sum.Lines, ErrInput, err)
			}
		default:
			if !d.started {
				return sum, fmt.Errorf("line %d: %w: an @<ms> line must set the processing time before the first event", sum.Lines, ErrInput)
			}
			if err := event.ParseView(line, &rec.Event); err != nil {
				return sum, fmt.Errorf("line %d: %w: %w", sum.Lines, ErrInput, err)
			}
			now := engine.Millis(d.clock.Now())
			rec.Offset, rec.ProcessingTime, rec.IngestionTime = sum.Events, now, now
			sum.Events++
			eng.Process(&rec)
		}
		if sink.err != nil {
			return sum, fmt.Errorf("write output: %w", sink.err)
		}
	}
	if err := sc.Err(); err != nil {
		return sum, fmt.Errorf("read input after line %d: %w", sum.Lines, err)
	}
	sink.line = 0
	d.end(opts.Flush)
	sum.Stats = eng.Stats()
	if sink.err != nil {
		return sum, fmt.Errorf("write output: %w", sink.err)
	}
	if err := w.Flush(); err != nil {
		return sum, fmt.Errorf("write output: %w", err)
	}
	return sum, nil
}

func parseTime(b []byte) (int64, error) {
	t, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil || t < event.MinDeviceTime || t >= event.MaxDeviceTime {
		return 0, fmt.Errorf("@%s: want ms since the epoch between 2000 and 2100", b)
	}
	return t, nil
}

// driver turns "@" lines into Advance calls: one per "@" line in continuous
// mode (a timer tick), one per trigger boundary crossed in micro-batch mode.
type driver struct {
	eng      *engine.Engine
	spec     engine.Spec
	clock    *engine.ManualClock
	interval int64
	started  bool
	batchEnd int64
}

func (d *driver) setTime(t int64) error {
	if !d.started {
		d.started = true
		d.clock = engine.NewManualClock(time.UnixMilli(t))
		if d.spec.Trigger == engine.MicroBatch {
			d.batchEnd = (t/d.interval + 1) * d.interval
		}
		return nil
	}
	now := engine.Millis(d.clock.Now())
	if t < now {
		return fmt.Errorf("@%d goes back in time from @%d", t, now)
	}
	d.clock.Set(time.UnixMilli(t))
	if d.spec.Trigger != engine.MicroBatch {
		d.eng.Advance(t)
		return nil
	}
	for d.batchEnd <= t {
		d.eng.Advance(d.batchEnd)
		d.batchEnd += d.interval
		if st := d.eng.Stats(); st.OpenWindows == 0 && st.DedupEntries == 0 && d.batchEnd <= t {
			// Empty batches change nothing: jump to the last boundary.
			d.batchEnd += (t - d.batchEnd) / d.interval * d.interval
		}
	}
	return nil
}

// end runs the pending micro-batch at its trigger time, then flushes.
func (d *driver) end(flush bool) {
	if !d.started {
		return
	}
	now := engine.Millis(d.clock.Now())
	if d.spec.Trigger == engine.MicroBatch {
		now = d.batchEnd
		d.eng.Advance(now)
	}
	if flush {
		d.eng.Flush(now)
	}
}

type resultLine struct {
	Type         string  `json:"type"`
	WindowStart  int64   `json:"window_start"`
	WindowEnd    int64   `json:"window_end"`
	WindowEndUTC string  `json:"window_end_utc"`
	DeviceID     string  `json:"device_id"`
	Category     string  `json:"category"`
	SumMeasure1  int64   `json:"sum_measure1"`
	SumMeasure2  float64 `json:"sum_measure2"`
	Count        int64   `json:"count"`
	Revision     int64   `json:"revision"`
	Final        bool    `json:"final"`
	EmitTime     int64   `json:"emit_time"`
}

type decisionLine struct {
	Type           string `json:"type"`
	Decision       string `json:"decision"`
	Reason         string `json:"reason"`
	MessageID      string `json:"message_id"`
	DeviceID       string `json:"device_id"`
	Category       string `json:"category"`
	Line           int    `json:"line"`
	Offset         int64  `json:"offset"`
	Time           int64  `json:"time"`
	WindowStart    int64  `json:"window_start"`
	WindowEnd      int64  `json:"window_end"`
	Watermark      *int64 `json:"watermark"`
	OriginalOffset *int64 `json:"original_offset,omitempty"`
	EmitTime       int64  `json:"emit_time"`
}

type jsonSink struct {
	enc  *json.Encoder
	line int
	err  error
}

func (s *jsonSink) Result(r *engine.Result) {
	s.write(resultLine{
		Type: "result", WindowStart: r.Window.Start, WindowEnd: r.Window.End,
		WindowEndUTC: window.Window{End: r.Window.End}.EndString(),
		DeviceID:     r.DeviceID, Category: r.Category, SumMeasure1: r.SumMeasure1, SumMeasure2: r.SumMeasure2,
		Count: r.Count, Revision: r.Revision, Final: r.Final, EmitTime: r.EmitTime,
	})
}

func (s *jsonSink) Decision(d *engine.Decision) {
	l := decisionLine{
		Type: "decision", Decision: d.Kind.String(), Reason: d.Reason.String(),
		MessageID: string(d.MessageID), DeviceID: string(d.DeviceID), Category: string(d.Category),
		Line: s.line, Offset: d.Offset, Time: d.Time,
		WindowStart: d.Window.Start, WindowEnd: d.Window.End, EmitTime: d.EmitTime,
	}
	if d.Watermark != math.MinInt64 {
		wm := d.Watermark
		l.Watermark = &wm
	}
	if d.Kind == engine.DuplicateDropped {
		orig := d.OriginalOffset
		l.OriginalOffset = &orig
	}
	s.write(l)
}

func (s *jsonSink) write(v any) {
	if s.err == nil {
		s.err = s.enc.Encode(v)
	}
}
