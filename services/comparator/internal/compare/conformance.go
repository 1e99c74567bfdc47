package compare

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/boontadata/boontadata/pkg/job"
)

// Conformance compares, window by window, a job of a real engine with the
// job of the preset that claims to mirror it (this project's engine) on the
// same run: where their answers differ, and why each answered what it did,
// from each one's comparison with the truth.
type Conformance struct {
	Preset string `json:"preset"`
	// Job and Engine are the real engine's; Against and AgainstEngine the
	// preset's.
	Job           string `json:"job"`
	Engine        string `json:"engine"`
	Against       string `json:"against"`
	AgainstEngine string `json:"against_engine"`
	Windows       int    `json:"windows"`
	Differ        int    `json:"differ"`
	// Note says what differences mean for this preset.
	Note string           `json:"note"`
	Rows []ConformanceRow `json:"rows"`
}

// ConformanceRow is one window where the two engines' answers differ.
type ConformanceRow struct {
	DeviceID     string  `json:"device_id"`
	Category     string  `json:"category"`
	WindowStart  int64   `json:"window_start"`
	WindowEndUTC string  `json:"window_end_utc"`
	Truth        *Agg    `json:"truth"`
	Engine       *Agg    `json:"engine"`
	Against      *Agg    `json:"against"`
	EngineCauses []Cause `json:"engine_causes"`
	// AgainstCauses explain the preset's answer against the truth.
	AgainstCauses []Cause `json:"against_causes"`
	// Dropped, when set, reconciles the two answers with each other: the
	// records one side dropped as late from this window and the other
	// counted. It needs the late drops of both sides: the preset's
	// decision log, and an engine that reports its own (Job.ReportsLate).
	Dropped *LateDifference `json:"dropped,omitempty"`
}

// LateDifference is what each side of a conformance row dropped as late
// and the other counted: message ids, with their m1.
type LateDifference struct {
	Engine  []string `json:"engine"`
	Against []string `json:"against"`
	Text    string   `json:"text"`
}

// Conform pairs each report of a real engine with the report of the same
// preset on this project's engine, and compares them.
func Conform(reports []Report, tolerance float64) []Conformance {
	c := &Comparator{opts: Options{M2Tolerance: tolerance}}
	byPreset := map[string]*Report{}
	for i := range reports {
		if r := &reports[i]; r.Engine == job.Boontadata && r.Problem == "" {
			byPreset[r.Preset] = r
		}
	}
	var out []Conformance
	for i := range reports {
		r := &reports[i]
		b, ok := byPreset[r.Preset]
		if r.Engine == job.Boontadata || r.Problem != "" || !ok {
			continue
		}
		out = append(out, c.conform(r, b))
	}
	return out
}

func (c *Comparator) conform(r, b *Report) Conformance {
	cf := Conformance{Preset: r.Preset, Job: r.JobID, Engine: r.Engine, Against: b.JobID, AgainstEngine: b.Engine,
		Rows: []ConformanceRow{}}
	switch r.Time {
	case "processing":
		cf.Note = "processing time: each engine puts a record in the window of its own clock when it reads it, so windows near their boundaries differ by nature; the totals per device and category, and each side's causes, say whether anything was lost or counted twice"
	case "ingestion":
		cf.Note = "ingestion time: both engines read the gateway's timestamps; differences come from when each one's watermark passed (its idleness and polling)"
	default:
		cf.Note = "event time: the same records and rules give the same windows; a difference comes from when each engine's watermark moved (batch boundaries, polling), explained by each side's causes"
	}
	rows := map[Key][2]*Row{}
	for _, side := range []struct {
		rep *Report
		i   int
	}{{r, 0}, {b, 1}} {
		for j := range side.rep.Rows {
			row := &side.rep.Rows[j]
			pair := rows[row.Key()]
			pair[side.i] = row
			rows[row.Key()] = pair
		}
	}
	keys := make([]Key, 0, len(rows))
	for k := range rows {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keyLess(keys[i], keys[j]) })
	answer := func(row *Row) *Agg {
		if row == nil || row.Engine == nil {
			return nil
		}
		a := row.Engine.Agg
		return &a
	}
	for _, k := range keys {
		pair := rows[k]
		if pair[0] != nil && pair[0].Engine != nil || pair[1] != nil && pair[1].Engine != nil {
			cf.Windows++
		}
		ea, eb := answer(pair[0]), answer(pair[1])
		if c.sameAnswer(ea, eb) {
			continue
		}
		cf.Differ++
		cr := ConformanceRow{DeviceID: k.DeviceID, Category: k.Category, WindowStart: k.WindowStart, Engine: ea, Against: eb}
		for _, row := range pair {
			if row != nil {
				cr.WindowEndUTC, cr.Truth = row.WindowEndUTC, row.Truth
			}
		}
		if pair[0] != nil {
			cr.EngineCauses = pair[0].Causes
		}
		if pair[1] != nil {
			cr.AgainstCauses = pair[1].Causes
		}
		if r.late != nil && b.late != nil {
			cr.Dropped = c.lateDifference(r.late[k], b.late[k], ea, eb, r.Engine, b.Engine)
		}
		cf.Rows = append(cf.Rows, cr)
	}
	return cf
}

// lateDifference finds the records that reconcile the two answers of a
// window: from the answer against (the preset's), minus what the engine
// alone dropped as late, plus what the preset alone dropped, gives the
// engine's answer. Copies of one message count once per side. First every
// such record, then all but one or two of them (a dropped copy of a message
// whose other copy counted changes nothing), then the smallest subset that
// reconciles. Nil when nothing reconciles.
func (c *Comparator) lateDifference(de, da []*Decision, ea, eb *Agg, engineName, againstName string) *LateDifference {
	distinct := func(ds []*Decision) map[string]*Decision {
		m := map[string]*Decision{}
		for _, d := range ds {
			if _, ok := m[d.MessageID]; !ok {
				m[d.MessageID] = d
			}
		}
		return m
	}
	me, ma := distinct(de), distinct(da)
	var items []item
	for _, side := range []struct {
		mine, other map[string]*Decision
		sign        int64
	}{{me, ma, -1}, {ma, me, 1}} {
		ids := make([]string, 0, len(side.mine))
		for id := range side.mine {
			if _, both := side.other[id]; !both {
				ids = append(ids, id)
			}
		}
		sort.Strings(ids)
		for _, id := range ids {
			d := side.mine[id]
			items = append(items, item{ev: &RawEvent{MessageID: id, M1: d.M1, M2: d.M2}, sign: side.sign, code: CauseLateDropped, drop: d})
		}
	}
	if len(items) == 0 {
		return nil
	}
	var base, target Agg
	if eb != nil {
		base = *eb
	}
	if ea != nil {
		target = *ea
	}
	match := func(p Agg) bool { return p.M1 == target.M1 && p.Count == target.Count && c.m2Close(p.M2, target.M2) }
	chosen, ok := allButFew(items, base, match, 2)
	if !ok && len(items) <= maxSubsetCandidates {
		chosen, ok = subsetMatching(items, base, match)
	}
	if !ok {
		return nil
	}
	ld := &LateDifference{Engine: []string{}, Against: []string{}}
	var parts []string
	for _, it := range chosen {
		who := engineName
		if it.sign < 0 {
			ld.Engine = append(ld.Engine, it.ev.MessageID)
		} else {
			ld.Against = append(ld.Against, it.ev.MessageID)
			who = againstName
		}
		parts = append(parts, fmt.Sprintf("%s (m1 %d, dropped as late by %s)", it.ev.MessageID, it.ev.M1, who))
	}
	ld.Text = "the answers differ by late drops: " + joinIDs(parts)
	return ld
}

// allButFew returns items without the fewest of them, at most most, whose
// contributions added to base match: every item, then every item but one
// (in order), then but two.
func allButFew(items []item, base Agg, match func(Agg) bool, most int) ([]item, bool) {
	all := base
	for _, it := range items {
		all = all.add(it.agg())
	}
	var leave func(from, k int, sum Agg, out []int) ([]int, bool)
	leave = func(from, k int, sum Agg, out []int) ([]int, bool) {
		if k == 0 {
			return out, match(sum)
		}
		for i := from; i < len(items); i++ {
			if got, ok := leave(i+1, k-1, sum.sub(items[i].agg()), append(out, i)); ok {
				return got, true
			}
		}
		return nil, false
	}
	for k := 0; k <= most && k <= len(items); k++ {
		out, ok := leave(0, k, all, nil)
		if !ok {
			continue
		}
		kept := make([]item, 0, len(items)-k)
		for i, it := range items {
			if !slices.Contains(out, i) {
				kept = append(kept, it)
			}
		}
		return kept, true
	}
	return nil, false
}

func (c *Comparator) sameAnswer(a, b *Agg) bool {
	switch {
	case a == nil && b == nil:
		return true
	case a == nil || b == nil:
		return false
	}
	return a.M1 == b.M1 && a.Count == b.Count && c.m2Close(a.M2, b.M2)
}

// Describe says a conformance row in one line.
func (cr ConformanceRow) Describe(engine, against string) string {
	side := func(name string, a *Agg, causes []Cause) string {
		s := name + ": no result"
		if a != nil {
			s = fmt.Sprintf("%s: m1 %d from %d events", name, a.M1, a.Count)
		}
		var texts []string
		for _, c := range causes {
			texts = append(texts, c.Text)
		}
		if len(texts) > 0 {
			s += " (" + strings.Join(texts, "; ") + ")"
		} else if a != nil {
			s += " (as the truth)"
		}
		return s
	}
	s := side(engine, cr.Engine, cr.EngineCauses) + " | " + side(against, cr.Against, cr.AgainstCauses)
	if cr.Dropped != nil {
		s += " — " + cr.Dropped.Text
	}
	return s
}
