package compare

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/boontadata/boontadata/pkg/engine"
)

// fate is what happened to the sends of one message id: how many there were
// (from raw_events; one when the id was never recorded) and what the engine
// decided for each copy it did not count in the window of its device time.
type fate struct {
	id        string
	key       Key // the window of its device time
	devTime   int64
	sendTime  int64
	m1        int64
	m2        float64
	sends     int
	resends   []*RawEvent
	dups      []*Decision
	lates     []*Decision
	placedOut []*Decision
	// unsure (no raw events of the run): the log decided copies of this
	// message, none as a duplicate, and whether one more copy was sent and
	// counted is not known.
	unsure bool
}

// counted is how many copies the engine counted in the window of the
// message's device time.
func (f *fate) counted() int { return f.sends - len(f.dups) - len(f.lates) - len(f.placedOut) }

func (f *fate) agg(n int) Agg {
	return Agg{M1: int64(n) * f.m1, M2: float64(n) * f.m2, Count: int64(n)}
}

// ledger is a job's decision log joined with the run's sends: for each
// window, the messages of its device time whose copies were not counted
// there exactly once, and the records placed in it from elsewhere.
type ledger struct {
	fates    map[string]*fate
	byKey    map[Key][]*fate
	placedIn map[Key][]*Decision
	// sendsUnknown: raw_events holds no send of the run (--record none).
	sendsUnknown bool
}

func (c *Comparator) ledger(idx *index, ds []Decision) *ledger {
	l := &ledger{fates: map[string]*fate{}, byKey: map[Key][]*fate{}, placedIn: map[Key][]*Decision{}}
	get := func(id string, dev, cat string, devTime int64, m1 int64, m2 float64) *fate {
		f := l.fates[id]
		if f == nil {
			k := Key{DeviceID: dev, Category: cat, WindowStart: floorDiv(devTime, idx.size) * idx.size}
			f = &fate{id: id, key: k, devTime: devTime, m1: m1, m2: m2, sends: 1}
			l.fates[id] = f
			l.byKey[k] = append(l.byKey[k], f)
		}
		return f
	}
	// Sends: a message first sent with a pattern raw_events records, or
	// only its re-sends (--record defects: the original was normal).
	for id, orig := range idx.original {
		f := get(id, orig.DeviceID, orig.Category, orig.DeviceTime, orig.M1, orig.M2)
		f.sendTime = orig.SendTime
	}
	for _, evs := range idx.resendByDev {
		for _, ev := range evs {
			f := get(ev.MessageID, ev.DeviceID, ev.Category, ev.DeviceTime, ev.M1, ev.M2)
			f.resends = append(f.resends, ev)
			f.sends++
		}
	}
	for i := range ds {
		d := &ds[i]
		f := get(d.MessageID, d.DeviceID, d.Category, d.DeviceTime, d.M1, d.M2)
		switch d.Kind {
		case DecisionDuplicate:
			f.dups = append(f.dups, d)
		case DecisionLate:
			f.lates = append(f.lates, d)
		case DecisionPlaced:
			f.placedOut = append(f.placedOut, d)
			in := Key{DeviceID: d.DeviceID, Category: d.Category, WindowStart: d.WindowStart}
			l.placedIn[in] = append(l.placedIn[in], d)
		}
	}
	if l.sendsUnknown = len(c.run.Raw) == 0; l.sendsUnknown {
		// Every copy the log decided was sent; a copy dropped as a
		// duplicate had another counted; otherwise one more copy may have
		// been sent and counted (a late re-send of a counted event).
		for _, f := range l.fates {
			decided := len(f.dups) + len(f.lates) + len(f.placedOut)
			f.sends = max(f.sends, decided)
			if len(f.dups) > 0 {
				f.sends = decided + 1
			}
			f.unsure = len(f.dups) == 0 && decided > 0
		}
	}
	for _, fs := range l.byKey {
		sort.Slice(fs, func(i, j int) bool { return fs[i].id < fs[j].id })
	}
	return l
}

// maxUnsure bounds the messages of one window whose counted copy is
// searched for: 2^12 combinations at most.
const maxUnsure = 12

// countedCopies finds, among the unsure messages of a window whose every
// decided copy was taken as not counted, those that had one more copy
// counted, so that expected plus them gives the engine's answer e. It
// returns nil when no such set exists (or the window has too many).
func (c *Comparator) countedCopies(fs []*fate, expected, e Agg) []*fate {
	var cand []*fate
	for _, f := range fs {
		if f.unsure && f.counted() == 0 {
			cand = append(cand, f)
		}
	}
	need := e.Count - expected.Count
	if need <= 0 || int(need) > len(cand) || len(cand) > maxUnsure {
		return nil
	}
	for mask := 1; mask < 1<<len(cand); mask++ {
		var sum Agg
		var set []*fate
		for i, f := range cand {
			if mask&(1<<i) != 0 {
				sum = sum.add(f.agg(1))
				set = append(set, f)
			}
		}
		if got := expected.add(sum); got.Count == e.Count && got.M1 == e.M1 && c.m2Close(got.M2, e.M2) {
			return set
		}
	}
	return nil
}

// explainFromLog explains an exception from what the engine decided: the
// truth, less every message whose copies were not all counted once in the
// window, plus the records placed in it, must give the engine's answer;
// then each difference is named with its rule, checked against the preset.
// A window the engine has not closed yet is "not final"; a difference the
// log does not account for, or a decision the preset's rules could not
// make, is unexplained.
func (c *Comparator) explainFromLog(l *ledger, r *Row, spec engine.Spec, j Job) []Cause {
	k := r.Key()
	var t, e Agg
	if r.Truth != nil {
		t = *r.Truth
	}
	if r.Engine != nil {
		e = r.Engine.Agg
	}
	expected := t
	var late, dup, out, gone []*fate
	var broken []string
	for _, f := range l.byKey[k] {
		n := f.counted()
		if n == 1 {
			continue
		}
		expected = expected.add(f.agg(n - 1))
		switch {
		case n > 1:
			dup = append(dup, f)
			if why := dupImpossible(spec); why != "" {
				broken = append(broken, fmt.Sprintf("%s counted %d times, but %s", f.id, n, why))
			}
		case len(f.lates) > 0 && n == 0:
			late = append(late, f)
			for _, d := range f.lates {
				if why := lateImpossible(spec, d); why != "" {
					broken = append(broken, fmt.Sprintf("%s dropped as late, but %s", f.id, why))
				}
			}
		case len(f.placedOut) > 0 && n == 0:
			out = append(out, f)
		default:
			gone = append(gone, f) // more copies decided than sent
		}
	}
	// Records placed here from another window: a re-send whose message also
	// counted elsewhere is a duplicate counted (here, by processing time).
	var in, dupIn []*Decision
	for _, d := range l.placedIn[k] {
		expected = expected.add(Agg{M1: d.M1, M2: d.M2, Count: 1})
		if f := l.fates[d.MessageID]; f != nil && f.counted()+len(f.placedOut) > 1 {
			dupIn = append(dupIn, d)
		} else {
			in = append(in, d)
		}
	}
	if (len(in) > 0 || len(out) > 0) && spec.Time == engine.EventTime {
		broken = append(broken, "records placed by another time than device time, in an event-time job")
	}
	match := expected.M1 == e.M1 && expected.Count == e.Count && c.m2Close(expected.M2, e.M2)
	var copies []*fate
	if !match && l.sendsUnknown {
		// Without raw events a late (or moved) copy of a message whose
		// other copy counted looks like a lost event: find the messages
		// that had one copy counted, if that accounts for the answer.
		if copies = c.countedCopies(l.byKey[k], expected, e); copies != nil {
			for _, f := range copies {
				expected = expected.add(f.agg(1))
			}
			late, out = without(late, copies), without(out, copies)
			match = true
		}
	}

	switch {
	case !match && pending(r, j) && r.Engine == nil:
		return []Cause{{Code: CauseNotFinal, Text: fmt.Sprintf("%s: the job is %s and the engine has not closed this window yet",
			causeLabelNotFinal, j.State)}}
	case !match && pending(r, j):
		return []Cause{{Code: CauseNotFinal, Text: fmt.Sprintf("%s: the engine's latest revision (m1 %d from %d events) is not final and the job is %s; the window may still change",
			causeLabelNotFinal, e.M1, e.Count, j.State)}}
	case !match:
		return []Cause{{Code: CauseUnexplained, Text: fmt.Sprintf("%s: the decision log gives m1 %d from %d events (truth m1 %d from %d events), the engine answered m1 %d from %d events: the difference is no record the engine decided on%s%s",
			causeLabelUnexplained, expected.M1, expected.Count, t.M1, t.Count, e.M1, e.Count, lostHint(spec, expected, e), sideMissing(r))}}
	case len(broken) > 0:
		return []Cause{{Code: CauseUnexplained, Text: fmt.Sprintf("%s: the engine's decisions do not follow the preset %s: %s",
			causeLabelUnexplained, spec.Name, joinIDs(broken))}}
	}
	var causes []Cause
	add := func(code string, ids []string, parts []string, text string) {
		if len(parts) == 0 {
			return
		}
		cause := Cause{Code: code, MessageIDs: ids, Text: CauseLabel(code) + ": " + joinIDs(parts)}
		if text != "" {
			cause.Text += "; " + text
		}
		causes = append(causes, cause)
	}
	var ids, parts []string
	for _, f := range late {
		d := f.lates[0]
		ids = append(ids, f.id)
		rule := fmt.Sprintf("window end %s + allowed lateness %v <= watermark %s", clock(d.WindowEnd), spec.AllowedLateness, clock(d.Watermark))
		if d.Reason == engine.ReasonBeforeWatermark.String() {
			rule = fmt.Sprintf("record time %s <= watermark %s", clock(d.Time), clock(d.Watermark))
		}
		parts = append(parts, fmt.Sprintf("%s (m1 %d, device time %s, arrived %s late; %s)", f.id, f.m1, clock(f.devTime), human(d.EmitTime-f.devTime), rule))
	}
	add(CauseLateDropped, ids, parts, "")
	ids, parts = nil, nil
	for _, f := range dup {
		ids = append(ids, f.id)
		parts = append(parts, fmt.Sprintf("%s (m1 %d, %d copies counted)", f.id, f.m1, f.counted()))
	}
	for _, d := range dupIn {
		ids = append(ids, d.MessageID)
		parts = append(parts, fmt.Sprintf("%s (m1 %d, a copy counted again in the window of its %s time %s)", d.MessageID, d.M1, spec.Time, clock(d.Time)))
	}
	add(CauseDuplicateCounted, ids, parts, dupRule(spec))
	ids, parts = nil, nil
	for _, f := range out {
		d := f.placedOut[0]
		ids = append(ids, f.id)
		parts = append(parts, fmt.Sprintf("%s out (m1 %d, device time %s, counted in the window ending %s)", f.id, f.m1, clock(f.devTime), clock(d.WindowEnd)))
	}
	for _, d := range in {
		ids = append(ids, d.MessageID)
		parts = append(parts, fmt.Sprintf("%s in (m1 %d, device time %s, %s time %s)", d.MessageID, d.M1, clock(d.DeviceTime), spec.Time, clock(d.Time)))
	}
	add(CauseOtherWindow, ids, parts, fmt.Sprintf("windows by %s time, the truth by device time", spec.Time))
	if len(gone) > 0 {
		ids, parts = nil, nil
		for _, f := range gone {
			ids = append(ids, f.id)
			parts = append(parts, fmt.Sprintf("%s (%d sends, %d decided)", f.id, f.sends, len(f.dups)+len(f.lates)+len(f.placedOut)))
		}
		causes = append(causes, Cause{Code: CauseUnexplained, MessageIDs: ids,
			Text: causeLabelUnexplained + ": more copies decided than raw_events holds: " + joinIDs(parts)})
	}
	if len(copies) > 0 && len(causes) > 0 {
		var cs []string
		for _, f := range copies {
			cs = append(cs, f.id)
		}
		causes[0].Text += fmt.Sprintf(" (raw events not recorded: %s had a copy counted, the copies the log lists were extra)", joinIDs(cs))
	}
	if len(causes) == 0 {
		// Equal counts and m1 but m2 beyond the tolerance: sums in
		// another order, or another value.
		causes = append(causes, Cause{Code: CauseUnexplained, Text: fmt.Sprintf("%s: the decision log accounts for every record, yet m2 differs (truth %s, engine %s)",
			causeLabelUnexplained, fmtFloat(t.M2), fmtFloat(e.M2))})
	}
	causes[0].Text += sideMissing(r)
	return causes
}

// sideMissing says which side has no row for the window, or "".
func sideMissing(r *Row) string {
	switch {
	case r.Engine == nil:
		return " (no engine result for this window)"
	case r.Truth == nil:
		return " (no truth for this window)"
	}
	return ""
}

// lateImpossible says why the preset could not have dropped d as late, or "".
func lateImpossible(spec engine.Spec, d *Decision) string {
	if spec.Time == engine.ProcessingTime {
		return "a processing-time job drops nothing as late"
	}
	if d.WindowEnd+spec.AllowedLateness.Milliseconds() <= d.Watermark {
		return ""
	}
	if spec.LateByRecordTime && d.Time <= d.Watermark {
		return ""
	}
	return fmt.Sprintf("its window ends at %s and with %v of allowed lateness stays open past the watermark %s",
		clock(d.WindowEnd), spec.AllowedLateness, clock(d.Watermark))
}

// dupImpossible says why the preset could not count two copies of a message
// in one window, or "".
func dupImpossible(spec engine.Spec) string {
	if spec.Dedup == engine.DedupWithinWindow {
		return "dedup within the window drops every copy after the first in a window"
	}
	return ""
}

// dupRule says why the preset lets a copy count again.
func dupRule(spec engine.Spec) string {
	switch spec.Dedup {
	case engine.DedupNone:
		return "the preset does not dedup"
	case engine.DedupWithinBatch:
		return "the preset dedups within a micro-batch: a copy in a later batch counts again"
	case engine.DedupUntilWatermark:
		return fmt.Sprintf("the preset remembers an id until the watermark passes its horizon (%v) and its window's close: a later copy counts again", spec.DedupHorizon)
	}
	return ""
}

// lostHint says what an unexplained difference may be.
func lostHint(spec engine.Spec, expected, e Agg) string {
	var hints []string
	if e.Count > expected.Count && spec.Delivery == engine.AtLeastOnce {
		hints = append(hints, "an at-least-once job counts again what it re-reads after a restart")
	}
	if e.Count < expected.Count {
		hints = append(hints, "records the engine never counted nor decided on (lost)")
	}
	if len(hints) == 0 {
		return ""
	}
	return " (" + strings.Join(hints, "; ") + ")"
}

// without returns fs less the fates in drop.
func without(fs, drop []*fate) []*fate {
	out := fs[:0:0]
	for _, f := range fs {
		if !slices.Contains(drop, f) {
			out = append(out, f)
		}
	}
	return out
}
