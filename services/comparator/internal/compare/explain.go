package compare

import (
	"fmt"
	"math/bits"
	"strings"
	"time"

	"github.com/boontadata/boontadata/pkg/engine"
	"github.com/boontadata/boontadata/pkg/engine/window"
)

// item is one event that may explain part of a delta: a re-send the engine
// counted (+) or a distinct event it dropped (−).
type item struct {
	ev   *RawEvent
	sign int64
	code string
	// drop is the engine's own report of the drop (its late line).
	drop *Decision
}

func (it item) agg() Agg {
	return Agg{M1: it.sign * it.ev.M1, M2: float64(it.sign) * it.ev.M2, Count: it.sign}
}

// group is a whole set of items, or the move of every event to the window of
// its send time (delta taken from the truth tables).
type group struct {
	code  string
	delta Agg
	items []item
}

// explain reconciles an exception deterministically. The engine's answer E
// and the truth T of the window are compared on (m1, count, m2 within the
// tolerance); the candidate explanations are
//
//   - D: re-sends in the window (by the job's time axis), counted by the
//     engine: +each;
//   - L: distinct late events in the window by device time, dropped by an
//     event-time job: −each; O: the same for out-of-order events;
//   - X: processing or ingestion time: every event counted in the window of
//     its send time, not of its device time: + (truth by send time − truth).
//
// An engine that reports its late drops (reported, keyed by window) has
// them as its L instead of the late and out-of-order events, in every time
// mode: a late event it did not report is not named.
//
// First whole groups are tried (D, L, X, then pairs, then all three); then
// subsets of the individual events of D, L and O, smallest first in send
// order, on top of T or T+X. The first combination that makes T equal to E
// is the explanation; if none does, the exception is a missing window (no
// engine row), an extra window (no truth row) or unexplained, with the
// numbers. A cause is never given without a combination that reconciles.
func (c *Comparator) explain(idx *index, r *Row, spec engine.Spec, reported map[Key][]*Decision) []Cause {
	k := r.Key()
	var t, e Agg
	if r.Truth != nil {
		t = *r.Truth
	}
	if r.Engine != nil {
		e = r.Engine.Agg
	}
	match := func(p Agg) bool { return p.M1 == e.M1 && p.Count == e.Count && c.m2Close(p.M2, e.M2) }

	var groups []group
	var singles []item
	switch spec.Time {
	case engine.EventTime:
		var dup, late, ooo []item
		for _, ev := range idx.resendByDev[k] {
			dup = append(dup, item{ev: ev, sign: 1, code: CauseDuplicateCounted})
		}
		for _, ev := range idx.distinctByDev[k] {
			switch ev.Pattern {
			case PatternLate:
				late = append(late, item{ev: ev, sign: -1, code: CauseLateDropped})
			case PatternOutOfOrder:
				ooo = append(ooo, item{ev: ev, sign: -1, code: CauseLateDropped})
			}
		}
		if dupImpossible(spec) != "" {
			dup = nil // copies share their device time, hence their window: never counted twice
		}
		if reported != nil {
			late, dup = reportedItems(reported[k], idx.resendByDev[k], dup)
			ooo = nil
		}
		groups = appendGroup(groups, CauseDuplicateCounted, dup)
		groups = appendGroup(groups, CauseLateDropped, late)
		singles = append(append(append(singles, dup...), late...), ooo...)
	default:
		var dup []item
		for _, ev := range idx.resendBySend[k] {
			dup = append(dup, item{ev: ev, sign: 1, code: CauseDuplicateCounted})
		}
		late, dup := reportedItems(reported[k], idx.resendBySend[k], dup)
		groups = appendGroup(groups, CauseDuplicateCounted, dup)
		var s Agg
		if sr, ok := idx.truthSend[k]; ok {
			s = sr.Agg
		}
		if x := s.sub(t); x != (Agg{}) {
			var moved []item
			for _, ev := range idx.distinctByDev[k] {
				if idx.key(ev, ev.SendTime) != k {
					moved = append(moved, item{ev: ev, sign: -1, code: CauseOtherWindow})
				}
			}
			for _, ev := range idx.distinctBySend[k] {
				if idx.key(ev, ev.DeviceTime) != k {
					moved = append(moved, item{ev: ev, sign: 1, code: CauseOtherWindow})
				}
			}
			groups = append(groups, group{code: CauseOtherWindow, delta: x, items: moved})
		}
		groups = appendGroup(groups, CauseLateDropped, late)
		singles = append(dup, late...)
	}

	// Whole groups, fewest first.
	n := len(groups)
	for size := 1; size <= n; size++ {
		for mask := 1; mask < 1<<n; mask++ {
			if bits.OnesCount(uint(mask)) != size {
				continue
			}
			p := t
			var chosen []group
			for i, g := range groups {
				if mask&(1<<i) != 0 {
					p = p.add(g.delta)
					chosen = append(chosen, g)
				}
			}
			if match(p) {
				return c.describeGroups(idx, r, spec, chosen)
			}
		}
	}

	// Single events, on top of the truth or of the truth moved by send time.
	bases := []struct {
		agg Agg
		gs  []group
	}{{agg: t}}
	for _, g := range groups {
		if g.code == CauseOtherWindow {
			bases = append(bases, struct {
				agg Agg
				gs  []group
			}{agg: t.add(g.delta), gs: []group{g}})
		}
	}
	if len(singles) > 0 && len(singles) <= maxSubsetCandidates {
		for _, b := range bases {
			if sub, ok := subsetMatching(singles, b.agg, match); ok {
				return c.describeGroups(idx, r, spec, append(b.gs, groupItems(sub)...))
			}
		}
	}
	return []Cause{c.unreconciled(idx, r, spec, singles)}
}

// reportedItems turns the copies an engine reported dropping as late from
// a window into its L candidates, and takes them out of its D candidates
// (dup, the re-sends sent in the window): of a message with r re-sends in
// the window of which k copies were dropped, min(k, r) re-sends were not
// counted (no cause: the truth counts the message once), and when k > r
// every copy was dropped: the message is one event lost.
func reportedItems(ds []*Decision, resends []*RawEvent, dup []item) (late, dupLeft []item) {
	type position struct {
		partition int32
		offset    int64
	}
	copies := map[string]map[position]bool{}
	var order []*Decision
	for _, d := range ds {
		if copies[d.MessageID] == nil {
			copies[d.MessageID] = map[position]bool{}
			order = append(order, d)
		}
		copies[d.MessageID][position{d.Partition, d.Offset}] = true
	}
	sent := map[string]int{}
	for _, ev := range resends {
		sent[ev.MessageID]++
	}
	uncounted := map[string]int{}
	for _, d := range order {
		dropped, r := len(copies[d.MessageID]), sent[d.MessageID]
		uncounted[d.MessageID] = min(dropped, r)
		if dropped > r {
			ev := &RawEvent{DeviceID: d.DeviceID, MessageID: d.MessageID, DeviceTime: d.DeviceTime, Category: d.Category, M1: d.M1, M2: d.M2}
			late = append(late, item{ev: ev, sign: -1, code: CauseLateDropped, drop: d})
		}
	}
	for _, it := range dup {
		if uncounted[it.ev.MessageID] > 0 {
			uncounted[it.ev.MessageID]--
			continue
		}
		dupLeft = append(dupLeft, it)
	}
	return late, dupLeft
}

func appendGroup(gs []group, code string, items []item) []group {
	if len(items) == 0 {
		return gs
	}
	g := group{code: code, items: items}
	for _, it := range items {
		g.delta = g.delta.add(it.agg())
	}
	return append(gs, g)
}

// groupItems regroups chosen single events by cause, in cause order.
func groupItems(items []item) []group {
	var out []group
	for _, code := range []string{CauseLateDropped, CauseDuplicateCounted} {
		var its []item
		for _, it := range items {
			if it.code == code {
				its = append(its, it)
			}
		}
		out = appendGroup(out, code, its)
	}
	return out
}

// subsetMatching returns the smallest subset of items (first in
// lexicographic order of their positions) whose contributions added to base
// match, trying at most maxSubsetEvaluations subsets.
func subsetMatching(items []item, base Agg, match func(Agg) bool) ([]item, bool) {
	n := len(items)
	evaluated := 0
	idx := make([]int, 0, n)
	for k := 1; k <= n; k++ {
		idx = idx[:k]
		for i := range idx {
			idx[i] = i
		}
		for {
			evaluated++
			if evaluated > maxSubsetEvaluations {
				return nil, false
			}
			p := base
			for _, i := range idx {
				p = p.add(items[i].agg())
			}
			if match(p) {
				out := make([]item, k)
				for j, i := range idx {
					out[j] = items[i]
				}
				return out, true
			}
			// Next combination of k positions among n.
			j := k - 1
			for j >= 0 && idx[j] == n-k+j {
				j--
			}
			if j < 0 {
				break
			}
			idx[j]++
			for m := j + 1; m < k; m++ {
				idx[m] = idx[m-1] + 1
			}
		}
	}
	return nil, false
}

func (c *Comparator) describeGroups(idx *index, r *Row, spec engine.Spec, gs []group) []Cause {
	var out []Cause
	for _, g := range gs {
		cause := Cause{Code: g.code}
		var parts []string
		for _, it := range g.items {
			cause.MessageIDs = append(cause.MessageIDs, it.ev.MessageID)
			parts = append(parts, c.describeItem(idx, it, r))
		}
		switch g.code {
		case CauseOtherWindow:
			by := "processing time"
			if spec.Time == engine.IngestionTime {
				by = "ingestion time"
			}
			var s Agg
			if sr, ok := idx.truthSend[r.Key()]; ok {
				s = sr.Agg
			}
			cause.Text = fmt.Sprintf("%s by %s: events counted in the window of their send time (truth by send time m1 %d, %d events) instead of their device time",
				causeLabelOtherWindow, by, s.M1, s.Count)
			if len(parts) > 0 {
				cause.Text += ": " + joinIDs(parts)
			}
		default:
			cause.Text = CauseLabel(g.code) + ": " + joinIDs(parts)
		}
		if r.Engine == nil {
			cause.Text += " (no engine result for this window)"
		} else if r.Truth == nil {
			cause.Text += " (no truth for this window)"
		}
		out = append(out, cause)
	}
	return out
}

func (c *Comparator) describeItem(idx *index, it item, r *Row) string {
	ev := it.ev
	switch it.code {
	case CauseDuplicateCounted:
		if orig, ok := idx.original[ev.MessageID]; ok {
			return fmt.Sprintf("%s (m1 %d, re-sent %s after the original)", ev.MessageID, ev.M1, human(ev.SendTime-orig.SendTime))
		}
		return fmt.Sprintf("%s (m1 %d, re-sent)", ev.MessageID, ev.M1)
	case CauseLateDropped:
		if d := it.drop; d != nil {
			return fmt.Sprintf("%s (m1 %d, device time %s, record time %s; the engine reported it dropped as late: its window ending %s had closed)",
				d.MessageID, d.M1, clock(d.DeviceTime), clock(d.Time), clock(d.WindowEnd))
		}
		kind := ""
		if ev.Pattern == PatternOutOfOrder {
			kind = "out of order, "
		}
		return fmt.Sprintf("%s (%slate by %s, m1 %d)", ev.MessageID, kind, human(ev.SendTime-ev.DeviceTime), ev.M1)
	case CauseOtherWindow:
		if it.sign < 0 {
			w := idx.key(ev, ev.SendTime)
			return fmt.Sprintf("%s out (m1 %d, sent in the window ending %s)", ev.MessageID, ev.M1, endString(w.WindowStart, idx.size))
		}
		w := idx.key(ev, ev.DeviceTime)
		return fmt.Sprintf("%s in (m1 %d, device time in the window ending %s)", ev.MessageID, ev.M1, endString(w.WindowStart, idx.size))
	}
	return ev.MessageID
}

// unreconciled describes an exception nothing explains, with its numbers.
func (c *Comparator) unreconciled(idx *index, r *Row, spec engine.Spec, singles []item) Cause {
	k := r.Key()
	var t, e Agg
	if r.Truth != nil {
		t = *r.Truth
	}
	if r.Engine != nil {
		e = r.Engine.Agg
	}
	send := "none"
	if sr, ok := idx.truthSend[k]; ok {
		send = fmt.Sprintf("m1 %d (%d events)", sr.M1, sr.Count)
	}
	var dups, lates Agg
	for _, it := range singles {
		if it.code == CauseDuplicateCounted {
			dups = dups.add(it.ev.agg())
		} else {
			lates = lates.add(it.ev.agg())
		}
	}
	candidates := fmt.Sprintf("%d re-sends in the window (m1 %d)", dups.Count, dups.M1)
	if spec.Time == engine.EventTime {
		candidates += fmt.Sprintf(", %d late or out-of-order events (m1 %d)", lates.Count, lates.M1)
	}
	if len(singles) > maxSubsetCandidates {
		candidates += fmt.Sprintf(", too many (%d) to try one by one", len(singles))
	}
	if len(c.run.Raw) == 0 {
		candidates = "raw_events not recorded"
	}
	switch {
	case r.Engine == nil:
		sent := ""
		if evs := idx.distinctByDev[k]; len(evs) > 0 {
			lo, hi := evs[0].SendTime, evs[0].SendTime
			for _, ev := range evs {
				lo, hi = min(lo, ev.SendTime), max(hi, ev.SendTime)
			}
			sent = fmt.Sprintf(", sent between %s and %s", clock(lo), clock(hi))
		}
		return Cause{Code: CauseMissingWindow, Text: fmt.Sprintf("%s: no engine result; truth m1 %d from %d events%s; truth by send time %s; %s",
			causeLabelMissing, t.M1, t.Count, sent, send, candidates)}
	case r.Truth == nil:
		return Cause{Code: CauseExtraWindow, Text: fmt.Sprintf("%s: engine m1 %d from %d events where the devices sent nothing by device time; truth by send time %s; %s",
			causeLabelExtra, e.M1, e.Count, send, candidates)}
	}
	return Cause{Code: CauseUnexplained, Text: fmt.Sprintf("%s: truth m1 %d (%d events, m2 %s), engine m1 %d (%d events, m2 %s), delta %d; truth by send time %s; %s: no combination reconciles the delta",
		causeLabelUnexplained, t.M1, t.Count, fmtFloat(t.M2), e.M1, e.Count, fmtFloat(e.M2), t.M1-e.M1, send, candidates)}
}

func (e *RawEvent) agg() Agg { return Agg{M1: e.M1, M2: e.M2, Count: 1} }

func joinIDs(parts []string) string {
	if len(parts) <= maxIDsInText {
		return strings.Join(parts, ", ")
	}
	return strings.Join(parts[:maxIDsInText], ", ") + fmt.Sprintf(" and %d more", len(parts)-maxIDsInText)
}

// human prints a duration in ms as 2m13s, 3.2s or 450ms.
func human(ms int64) string {
	d := time.Duration(ms) * time.Millisecond
	switch {
	case d < 0:
		return "-" + human(-ms)
	case d >= time.Minute:
		return d.Round(time.Second).String()
	case d >= time.Second:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.String()
}

func endString(start, size int64) string {
	return window.Window{Start: start, End: start + size}.EndString()
}

func clock(ms int64) string { return time.UnixMilli(ms).UTC().Format("15:04:05.000") }

func fmtFloat(f float64) string { return fmt.Sprintf("%.6g", f) }
