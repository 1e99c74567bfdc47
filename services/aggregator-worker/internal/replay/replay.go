// Package replay runs the engine core deterministically on a text input and
// prints every result and decision as JSON lines. The input is the wire
// format, one event per line, where a line "@<ms since epoch>" sets the
// processing time at which the following lines arrive, "!partition N" sends
// the following events to partition N and "!end" ends the input of the
// current partition (its end-of-run marker). Lines that are empty or start
// with '#' are ignored. docs/engine.md has worked examples.
package replay

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/boontadata/boontadata/pkg/engine"
	"github.com/boontadata/boontadata/pkg/engine/window"
	"github.com/boontadata/boontadata/pkg/event"
	"github.com/boontadata/boontadata/pkg/jsonx"
)

// ErrInput marks a problem with the input text, reported with its line.
var ErrInput = errors.New("bad replay input")

// Options tune a replay.
type Options struct {
	// Flush ends the input of every partition at the end of the text, as
	// the end of a bounded stream does; without it, windows still open
	// print nothing.
	Flush bool
	// Partitions is the number of partitions of the input (at least 1):
	// the watermark scopes combine over all of them, and a partition that
	// never gets a record holds a min-scope watermark back until it is idle.
	Partitions int
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

// Run replays in through one engine per partition for spec, combining their
// watermarks as the spec's scope says, and writes JSON lines to out.
// Processing time comes only from "@" lines, so the same input always
// prints the same output.
func Run(ctx context.Context, in io.Reader, out io.Writer, spec engine.Spec, opts Options) (Summary, error) {
	w := bufio.NewWriter(out)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // reasons contain "<=": keep them readable
	sink := &jsonSink{enc: enc}
	local, err := engine.NewLocal(spec, max(opts.Partitions, 1), sink)
	if err != nil {
		return Summary{}, fmt.Errorf("start engine: %w", err)
	}
	d := &driver{local: local, spec: spec, interval: spec.TriggerInterval.Milliseconds(),
		offsets: make([]int64, local.Partitions())}
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
		var err error
		switch {
		case len(line) == 0 || line[0] == '#':
			continue
		case line[0] == '@':
			var t int64
			if t, err = parseTime(line[1:]); err == nil {
				err = d.setTime(t)
			}
		case line[0] == '!':
			err = d.directive(string(line[1:]))
		case !d.started:
			err = errors.New("an @<ms> line must set the processing time before the first event")
		default:
			if err = event.ParseView(line, &rec.Event); err == nil {
				rec.Partition, rec.Offset = d.part, d.offsets[d.part]
				rec.ProcessingTime, rec.IngestionTime = d.now, d.now
				d.offsets[d.part]++
				sum.Events++
				err = local.Process(&rec)
			}
		}
		if err != nil {
			return sum, fmt.Errorf("line %d: %w: %w", sum.Lines, ErrInput, err)
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
	for p := range local.Partitions() {
		st := local.Engine(int32(p)).Stats()
		sum.Stats.Records += st.Records
		sum.Stats.Accepted += st.Accepted
		sum.Stats.Duplicates += st.Duplicates
		sum.Stats.Late += st.Late
		sum.Stats.Placed += st.Placed
		sum.Stats.Results += st.Results
	}
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
	local    *engine.Local
	spec     engine.Spec
	now      int64
	interval int64
	started  bool
	batchEnd int64
	part     int32
	offsets  []int64
}

func (d *driver) setTime(t int64) error {
	if !d.started {
		d.started = true
		d.now = t
		if d.spec.Trigger == engine.MicroBatch {
			d.batchEnd = (t/d.interval + 1) * d.interval
		}
		return nil
	}
	if t < d.now {
		return fmt.Errorf("@%d goes back in time from @%d", t, d.now)
	}
	d.now = t
	if d.spec.Trigger != engine.MicroBatch {
		d.local.Advance(t)
		return nil
	}
	for d.batchEnd <= t {
		d.local.Advance(d.batchEnd)
		d.batchEnd += d.interval
		if d.quiet() && d.batchEnd <= t {
			// Empty batches change nothing: jump to the last boundary.
			d.batchEnd += (t - d.batchEnd) / d.interval * d.interval
		}
	}
	return nil
}

// quiet reports that no partition holds state an empty batch could change.
func (d *driver) quiet() bool {
	for p := range d.local.Partitions() {
		if st := d.local.Engine(int32(p)).Stats(); st.OpenWindows > 0 || st.DedupEntries > 0 {
			return false
		}
	}
	return true
}

// directive runs a "!" line: "partition N" or "end".
func (d *driver) directive(s string) error {
	f := bytes.Fields([]byte(s))
	switch {
	case len(f) == 2 && string(f[0]) == "partition":
		n, err := strconv.Atoi(string(f[1]))
		if err != nil || n < 0 || n >= d.local.Partitions() {
			return fmt.Errorf("!partition %s: want 0 to %d (--partitions %d)", f[1], d.local.Partitions()-1, d.local.Partitions())
		}
		d.part = int32(n)
		return nil
	case len(f) == 1 && string(f[0]) == "end":
		if !d.started {
			return errors.New("an @<ms> line must set the processing time before !end")
		}
		return d.local.EndInput(d.part, d.now)
	}
	return fmt.Errorf("unknown directive !%s: want !partition N or !end", s)
}

// end runs the pending micro-batch at its trigger time; then, with flush,
// ends every partition's input and closes what is left.
func (d *driver) end(flush bool) {
	if !d.started {
		return
	}
	now := d.now
	if d.spec.Trigger == engine.MicroBatch {
		now = d.batchEnd
		d.local.Advance(now)
	}
	if flush {
		for p := range d.local.Partitions() {
			if !d.local.Engine(int32(p)).Ended() {
				_ = d.local.EndInput(int32(p), now) // p is in range
			}
		}
		d.local.Flush(now)
	}
}

type resultLine struct {
	Type         string      `json:"type"`
	Partition    int32       `json:"partition"`
	WindowStart  int64       `json:"window_start"`
	WindowEnd    int64       `json:"window_end"`
	WindowEndUTC string      `json:"window_end_utc"`
	DeviceID     string      `json:"device_id"`
	Category     string      `json:"category"`
	SumMeasure1  int64       `json:"sum_measure1"`
	SumMeasure2  jsonx.Float `json:"sum_measure2"`
	Count        int64       `json:"count"`
	Revision     int64       `json:"revision"`
	Final        bool        `json:"final"`
	EmitTime     int64       `json:"emit_time"`
}

type decisionLine struct {
	Type           string `json:"type"`
	Partition      int32  `json:"partition"`
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
		Type: "result", Partition: r.Partition, WindowStart: r.Window.Start, WindowEnd: r.Window.End,
		WindowEndUTC: window.Window{End: r.Window.End}.EndString(),
		DeviceID:     r.DeviceID, Category: r.Category, SumMeasure1: r.SumMeasure1, SumMeasure2: jsonx.Float(r.SumMeasure2),
		Count: r.Count, Revision: r.Revision, Final: r.Final, EmitTime: r.EmitTime,
	})
}

func (s *jsonSink) Decision(d *engine.Decision) {
	l := decisionLine{
		Type: "decision", Partition: d.Partition, Decision: d.Kind.String(), Reason: d.Reason.String(),
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
