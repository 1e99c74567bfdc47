package engine

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/boontadata/boontadata/pkg/engine/window"
	"github.com/boontadata/boontadata/pkg/event"
)

// t0 is a window boundary: test times are seconds after it.
const t0 int64 = 1472209315000

// recorder is a Sink that renders everything compactly, times in seconds
// after t0, so expectations read like the scenario.
type recorder struct {
	out     []string
	results []Result
}

func sec(ms int64) string {
	return strconv.FormatFloat(float64(ms-t0)/1000, 'f', -1, 64)
}

func winStr(w window.Window) string { return "[" + sec(w.Start) + "," + sec(w.End) + ")" }

func (r *recorder) Result(res *Result) {
	f := ""
	if res.Final {
		f = " F"
	}
	r.out = append(r.out, fmt.Sprintf("R %s/%s %s n=%d m1=%d rev=%d%s @%s",
		res.DeviceID, res.Category, winStr(res.Window), res.Count, res.SumMeasure1, res.Revision, f, sec(res.EmitTime)))
	r.results = append(r.results, *res)
}

func (r *recorder) Decision(d *Decision) {
	kind := "DUP"
	if d.Kind == LateDropped {
		kind = "LATE"
	}
	s := fmt.Sprintf("%s %s off=%d %s", kind, d.MessageID, d.Offset, reasonCode(d.Reason))
	if d.Kind == DuplicateDropped {
		s += fmt.Sprintf(" orig=%d", d.OriginalOffset)
	} else {
		s += " wm=" + sec(d.Watermark)
	}
	r.out = append(r.out, s)
}

func reasonCode(r Reason) string {
	return map[Reason]string{
		ReasonWindowClosed: "window-closed", ReasonBeforeWatermark: "before-watermark",
		ReasonSeenInBatch: "in-batch", ReasonSeenInWindow: "in-window", ReasonSeenBeforeWatermark: "until-watermark",
	}[r]
}

func (r *recorder) take() []string {
	out := r.out
	r.out = nil
	return out
}

// driver runs a script against an engine. Steps:
//
//	"ev ID DEV T M1 [P [I]]"  event with device time T, processing time P,
//	                          ingestion time I (seconds after t0; P and I
//	                          default to T)
//	"adv P"                   Advance(P)
//	"flush P"                 Flush(P)
type driver struct {
	tb     testing.TB
	eng    *Engine
	rec    *recorder
	offset int64
}

func newDriver(tb testing.TB, spec Spec) *driver {
	tb.Helper()
	rec := &recorder{}
	eng, err := New(spec, 0, rec)
	require.NoError(tb, err)
	return &driver{tb: tb, eng: eng, rec: rec}
}

func ms(s string) int64 {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		panic(err) // test scripts are constants
	}
	return t0 + int64(f*1000)
}

func (d *driver) step(s string) {
	d.tb.Helper()
	f := strings.Fields(s)
	switch f[0] {
	case "ev":
		p, i := f[3], f[3]
		if len(f) > 5 {
			p, i = f[5], f[5]
		}
		if len(f) > 6 {
			i = f[6]
		}
		line := fmt.Sprintf("%s|%s|%d|c|%s|0.5", f[1], f[2], ms(f[3]), f[4])
		var rec Record
		require.NoError(d.tb, event.ParseView([]byte(line), &rec.Event))
		rec.Offset, rec.ProcessingTime, rec.IngestionTime = d.offset, ms(p), ms(i)
		d.offset++
		d.eng.Process(&rec)
	case "adv":
		d.eng.Advance(ms(f[1]))
	case "flush":
		d.eng.Flush(ms(f[1]))
	default:
		d.tb.Fatalf("bad step %q", s)
	}
}
