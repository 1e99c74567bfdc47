package truth

import (
	"cmp"
	"slices"
	"time"

	"github.com/boontadata/boontadata/pkg/engine/window"

	"github.com/boontadata/boontadata/services/simulator/internal/gen"
)

// Key identifies one aggregate. Device and Category are indexes in the fleet.
type Key struct {
	Device   int32
	Category int32
	Start    int64
}

type agg struct {
	m1    int64
	m2    Sum
	count int64
}

// Row is one aggregate of a table.
type Row struct {
	Device   int32
	Category int32
	Window   window.Window
	M1Sum    int64
	M2Sum    float64
	Count    int64
}

// Table aggregates events per (device, category, tumbling window).
type Table struct {
	win window.Assigner
	m   map[Key]*agg
}

// NewTable returns an empty table of windows of the given size.
func NewTable(size time.Duration) (*Table, error) {
	w, err := window.Tumbling(size)
	if err != nil {
		return nil, err
	}
	return &Table{win: w, m: map[Key]*agg{}}, nil
}

// Add aggregates one event at time ts (ms).
func (t *Table) Add(device, category int32, ts, m1 int64, m2 float64) {
	k := Key{Device: device, Category: category, Start: t.win.Align(ts)}
	a := t.m[k]
	if a == nil {
		a = &agg{}
		t.m[k] = a
	}
	a.m1 += m1
	a.m2.Add(m2)
	a.count++
}

// Len is the number of aggregates.
func (t *Table) Len() int { return len(t.m) }

// Rows returns the aggregates ordered by device, category and window start.
func (t *Table) Rows() []Row {
	out := make([]Row, 0, len(t.m))
	for k, a := range t.m {
		out = append(out, Row{
			Device: k.Device, Category: k.Category,
			Window: window.Window{Start: k.Start, End: k.Start + t.win.Size()},
			M1Sum:  a.m1, M2Sum: a.m2.Value(), Count: a.count,
		})
	}
	slices.SortFunc(out, func(a, b Row) int {
		return cmp.Or(cmp.Compare(a.Device, b.Device), cmp.Compare(a.Category, b.Category), cmp.Compare(a.Window.Start, b.Window.Start))
	})
	return out
}

// Truth is what a run really delivered: counts of acknowledged sends by
// pattern, and the aggregates of the distinct messages (re-sends excluded)
// by device time and by send time.
type Truth struct {
	ByDeviceTime *Table
	BySendTime   *Table
	Counts       gen.Counts
	// PerDevice counts acknowledged sends and distinct messages per device.
	Sends, Distinct []int64
}

// New returns an empty truth for a fleet of devices.
func New(devices int, windowSize time.Duration) (*Truth, error) {
	bd, err := NewTable(windowSize)
	if err != nil {
		return nil, err
	}
	bs, err := NewTable(windowSize)
	if err != nil {
		return nil, err
	}
	return &Truth{ByDeviceTime: bd, BySendTime: bs, Sends: make([]int64, devices), Distinct: make([]int64, devices)}, nil
}

// Add records one acknowledged send. Not safe for concurrent use.
func (t *Truth) Add(s *gen.Send) {
	t.Counts[s.Pattern]++
	t.Sends[s.Device]++
	if s.Pattern == gen.Resend {
		return
	}
	t.Distinct[s.Device]++
	e := &s.Event
	t.ByDeviceTime.Add(s.Device, s.Category, e.DeviceTime, e.Measure1, e.Measure2)
	t.BySendTime.Add(s.Device, s.Category, s.SendTime, e.Measure1, e.Measure2)
}
