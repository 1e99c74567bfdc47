package compare

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/boontadata/boontadata/pkg/engine"
)

const (
	t0   = int64(1_767_225_600_000) // 2026-01-01 00:00:00 UTC
	size = int64(5000)
)

// fixture builds a run by hand: sends are added in send order, and the truth
// tables are computed from them as the simulator does (re-sends excluded).
type fixture struct {
	t    testing.TB
	run  RunData
	seq  map[string]int64
	nums map[string]int
}

func newFixture(t testing.TB) *fixture {
	return &fixture{
		t:    t,
		run:  RunData{Run: Run{ID: "run-1", Status: "done", Devices: 1, WindowMs: size, Flags: map[string]string{"record": "all"}, Counts: map[string]int64{}}},
		seq:  map[string]int64{},
		nums: map[string]int{},
	}
}

// send records a new message of device dev and returns its id.
func (f *fixture) send(dev, cat, pattern string, deviceTime, sendTime, m1 int64, m2 float64) string {
	f.nums[dev]++
	id := fmt.Sprintf("%s-%d", dev, f.nums[dev])
	f.add(RawEvent{DeviceID: dev, MessageID: id, DeviceTime: deviceTime, SendTime: sendTime, Category: cat, M1: m1, M2: m2, Pattern: pattern})
	return id
}

// resend re-sends message id at sendTime.
func (f *fixture) resend(id string, sendTime int64) {
	for _, e := range f.run.Raw {
		if e.MessageID == id {
			e.SendTime, e.Pattern = sendTime, PatternResend
			f.add(e)
			return
		}
	}
	f.t.Fatalf("resend of an unknown message %s", id)
}

func (f *fixture) add(e RawEvent) {
	e.SendSeq = f.seq[e.DeviceID]
	f.seq[e.DeviceID]++
	f.run.Raw = append(f.run.Raw, e)
	f.run.Run.Counts[e.Pattern]++
}

// truth computes both truth tables from the distinct sends.
func (f *fixture) truth() *RunData {
	dev, send := map[Key]*TruthRow{}, map[Key]*TruthRow{}
	var devOrder, sendOrder []Key
	put := func(m map[Key]*TruthRow, order *[]Key, e RawEvent, t int64) []Key {
		k := Key{DeviceID: e.DeviceID, Category: e.Category, WindowStart: floorDiv(t, size) * size}
		r, ok := m[k]
		if !ok {
			r = &TruthRow{Key: k, WindowEnd: k.WindowStart + size}
			m[k] = r
			*order = append(*order, k)
		}
		r.M1 += e.M1
		r.M2 += e.M2
		r.Count++
		return *order
	}
	devices := map[string]bool{}
	for _, e := range f.run.Raw {
		if !devices[e.DeviceID] {
			devices[e.DeviceID] = true
			f.run.DeviceIDs = append(f.run.DeviceIDs, e.DeviceID)
		}
		if e.Pattern == PatternResend {
			continue
		}
		put(dev, &devOrder, e, e.DeviceTime)
		put(send, &sendOrder, e, e.SendTime)
	}
	f.run.TruthByDevice, f.run.TruthBySend = nil, nil
	for _, k := range devOrder {
		f.run.TruthByDevice = append(f.run.TruthByDevice, *dev[k])
	}
	for _, k := range sendOrder {
		f.run.TruthBySend = append(f.run.TruthBySend, *send[k])
	}
	return &f.run
}

// result is an engine row for window w (index from t0) of dev/cat.
func result(dev, cat string, w int64, m1 int64, m2 float64, count int64, emit int64) Result {
	start := t0 + w*size
	return Result{Key: Key{DeviceID: dev, Category: cat, WindowStart: start}, WindowEnd: start + size,
		Agg: Agg{M1: m1, M2: m2, Count: count}, Revision: int(count), Final: true, EmitTime: emit}
}

func preset(t testing.TB, name string) Job {
	t.Helper()
	spec, err := engine.Preset(name)
	require.NoError(t, err)
	return Job{ID: "job-" + name, RunID: "run-1", Preset: name, State: "finished", EngineName: "test", Engine: spec}
}

func rowAt(t testing.TB, rep Report, dev, cat string, w int64) Row {
	t.Helper()
	for _, r := range rep.Rows {
		if r.DeviceID == dev && r.Category == cat && r.WindowStart == t0+w*size {
			return r
		}
	}
	t.Fatalf("no row for %s %s window %d", dev, cat, w)
	return Row{}
}

func codes(r Row) []string {
	var out []string
	for _, c := range r.Causes {
		out = append(out, c.Code)
	}
	return out
}
