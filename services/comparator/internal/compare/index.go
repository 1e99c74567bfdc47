package compare

import (
	"sort"

	"github.com/boontadata/boontadata/pkg/engine"
)

// index groups a run's truth and raw events by window for one window size.
type index struct {
	size      int64
	truthDev  map[Key]TruthRow
	truthSend map[Key]TruthRow
	// Distinct events (every pattern but resend) and re-sends, by the window
	// of their device time and of their send time.
	distinctByDev, distinctBySend map[Key][]*RawEvent
	resendByDev, resendBySend     map[Key][]*RawEvent
	// original maps a message id to its first (non-resend) send.
	original map[string]*RawEvent
}

func (c *Comparator) index(size int64) *index {
	if idx, ok := c.indexes[size]; ok {
		return idx
	}
	idx := &index{
		size:          size,
		truthDev:      make(map[Key]TruthRow, len(c.run.TruthByDevice)),
		truthSend:     make(map[Key]TruthRow, len(c.run.TruthBySend)),
		distinctByDev: map[Key][]*RawEvent{}, distinctBySend: map[Key][]*RawEvent{},
		resendByDev: map[Key][]*RawEvent{}, resendBySend: map[Key][]*RawEvent{},
		original: map[string]*RawEvent{},
	}
	for _, t := range c.run.TruthByDevice {
		idx.truthDev[t.Key] = t
	}
	for _, t := range c.run.TruthBySend {
		idx.truthSend[t.Key] = t
	}
	raw := make([]*RawEvent, len(c.run.Raw))
	for i := range c.run.Raw {
		raw[i] = &c.run.Raw[i]
	}
	// Send order makes every explanation deterministic.
	sort.SliceStable(raw, func(i, j int) bool {
		a, b := raw[i], raw[j]
		if a.DeviceID != b.DeviceID {
			return a.DeviceID < b.DeviceID
		}
		return a.SendSeq < b.SendSeq
	})
	for _, e := range raw {
		dev, send := idx.key(e, e.DeviceTime), idx.key(e, e.SendTime)
		if e.Pattern == PatternResend {
			idx.resendByDev[dev] = append(idx.resendByDev[dev], e)
			idx.resendBySend[send] = append(idx.resendBySend[send], e)
			continue
		}
		idx.distinctByDev[dev] = append(idx.distinctByDev[dev], e)
		idx.distinctBySend[send] = append(idx.distinctBySend[send], e)
		if _, ok := idx.original[e.MessageID]; !ok {
			idx.original[e.MessageID] = e
		}
	}
	c.indexes[size] = idx
	return idx
}

func (idx *index) key(e *RawEvent, t int64) Key {
	return Key{DeviceID: e.DeviceID, Category: e.Category, WindowStart: floorDiv(t, idx.size) * idx.size}
}

// floorDiv rounds toward minus infinity, as the windows do.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// reported groups the late drops an engine under test reported by the
// window the comparison puts them in: the window they were dropped from in
// event time; in other time modes the window of the message's send time,
// through which those modes are compared (X of explain), else the window
// dropped from.
func (idx *index) reported(ds []Decision, spec engine.Spec) map[Key][]*Decision {
	out := map[Key][]*Decision{}
	for i := range ds {
		d := &ds[i]
		if d.Kind != DecisionLate {
			continue
		}
		k := droppedFrom(d, idx.size)
		if orig, ok := idx.original[d.MessageID]; ok && spec.Time != engine.EventTime {
			k = idx.key(orig, orig.SendTime)
		}
		out[k] = append(out[k], d)
	}
	return out
}

// lateByWindow groups a job's late drops by the window they were dropped
// from.
func lateByWindow(ds []Decision, size int64) map[Key][]*Decision {
	out := map[Key][]*Decision{}
	for i := range ds {
		if d := &ds[i]; d.Kind == DecisionLate {
			k := droppedFrom(d, size)
			out[k] = append(out[k], d)
		}
	}
	return out
}

// droppedFrom is the window of windows of size a decision dropped its
// record from.
func droppedFrom(d *Decision, size int64) Key {
	return Key{DeviceID: d.DeviceID, Category: d.Category, WindowStart: floorDiv(d.WindowStart, size) * size}
}
