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
	p := ""
	if res.Partition != 0 {
		p = fmt.Sprintf(" p=%d", res.Partition)
	}
	r.out = append(r.out, fmt.Sprintf("R %s/%s %s n=%d m1=%d rev=%d%s @%s%s",
		res.DeviceID, res.Category, winStr(res.Window), res.Count, res.SumMeasure1, res.Revision, f, sec(res.EmitTime), p))
	r.results = append(r.results, *res)
}

func (r *recorder) Decision(d *Decision) {
	var s string
	switch d.Kind {
	case DuplicateDropped:
		s = fmt.Sprintf("DUP %s off=%d %s orig=%d", d.MessageID, d.Offset, reasonCode(d.Reason), d.OriginalOffset)
	case LateDropped:
		s = fmt.Sprintf("LATE %s off=%d %s wm=%s", d.MessageID, d.Offset, reasonCode(d.Reason), sec(d.Watermark))
	case Placed:
		s = fmt.Sprintf("PLACED %s off=%d %s", d.MessageID, d.Offset, winStr(d.Window))
	}
	if d.Partition != 0 {
		s += fmt.Sprintf(" p=%d", d.Partition)
	}
	r.out = append(r.out, s)
}

func reasonCode(r Reason) string {
	return map[Reason]string{
		ReasonWindowClosed: "window-closed", ReasonBeforeWatermark: "before-watermark",
		ReasonSeenInBatch: "in-batch", ReasonSeenInWindow: "in-window", ReasonSeenBeforeWatermark: "until-watermark",
		ReasonProcessingTime: "processing-time", ReasonIngestionTime: "ingestion-time",
	}[r]
}

func (r *recorder) take() []string {
	out := r.out
	r.out = nil
	return out
}

// driver runs a script against the engines of a Local: one partition
// unless newDriverN says more. Steps:
//
//	"ev ID DEV T M1 [P [I]]"  event with device time T, processing time P,
//	                          ingestion time I (seconds after t0; P and I
//	                          default to T), on the current partition
//	"part N"                  the following events go to partition N
//	"end P"                   end of input of the current partition at P
//	"adv P"                   Advance(P): a tick, or the end of a batch
//	"flush P"                 Flush(P)
type driver struct {
	tb     testing.TB
	local  *Local
	eng    *Engine // partition 0's
	rec    *recorder
	part   int32
	offset []int64
}

func newDriver(tb testing.TB, spec Spec) *driver { return newDriverN(tb, spec, 1) }

func newDriverN(tb testing.TB, spec Spec, partitions int) *driver {
	tb.Helper()
	rec := &recorder{}
	l, err := NewLocal(spec, partitions, rec)
	require.NoError(tb, err)
	return &driver{tb: tb, local: l, eng: l.Engine(0), rec: rec, offset: make([]int64, partitions)}
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
		rec.Partition, rec.Offset, rec.ProcessingTime, rec.IngestionTime = d.part, d.offset[d.part], ms(p), ms(i)
		d.offset[d.part]++
		require.NoError(d.tb, d.local.Process(&rec))
	case "part":
		n, err := strconv.Atoi(f[1])
		require.NoError(d.tb, err)
		d.part = int32(n)
	case "end":
		require.NoError(d.tb, d.local.EndInput(d.part, ms(f[1])))
	case "adv":
		d.local.Advance(ms(f[1]))
	case "flush":
		d.local.Flush(ms(f[1]))
	default:
		d.tb.Fatalf("bad step %q", s)
	}
}

// advanceAlone is Local.Advance for an engine that is the only partition of
// its input: the combined watermark of min and global scopes is then its own.
func advanceAlone(e *Engine, now int64) {
	spec := e.Spec()
	combine := func() {
		if spec.Time != ProcessingTime && spec.Scope != ScopePartition {
			e.SetWatermark(Combine(spec.Scope, e.Watermark(), []PartitionMark{e.Mark()}))
		}
	}
	if spec.Trigger != MicroBatch {
		combine()
	}
	e.Advance(now)
	if spec.Trigger == MicroBatch {
		combine()
	}
}
