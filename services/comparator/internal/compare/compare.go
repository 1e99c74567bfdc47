package compare

import (
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/boontadata/boontadata/pkg/engine"
	"github.com/boontadata/boontadata/pkg/engine/window"
	"github.com/boontadata/boontadata/pkg/job"
)

// Comparator compares the jobs of one run with its truth.
type Comparator struct {
	run     *RunData
	opts    Options
	indexes map[int64]*index
}

// New returns a comparator of the run's jobs.
func New(run *RunData, opts Options) *Comparator {
	if opts.M2Tolerance < 0 || math.IsNaN(opts.M2Tolerance) {
		opts.M2Tolerance = DefaultM2Tolerance
	}
	return &Comparator{run: run, opts: opts, indexes: map[int64]*index{}}
}

// TruthWindowMs is the size of the truth's tumbling windows: runs.window_ms,
// else the size of the first truth row, else 0 (unknown).
func (c *Comparator) TruthWindowMs() int64 {
	if c.run.Run.WindowMs > 0 {
		return c.run.Run.WindowMs
	}
	for _, t := range c.run.TruthByDevice {
		if t.WindowEnd > t.WindowStart {
			return t.WindowEnd - t.WindowStart
		}
	}
	return 0
}

// Compare compares one job with the truth.
func (c *Comparator) Compare(jd JobData) Report {
	j := jd.Job
	spec := j.Engine
	rep := Report{
		RunID: c.run.Run.ID, JobID: j.ID, Engine: j.EngineName, Preset: j.Preset, JobState: j.State,
		M2Tolerance: c.opts.M2Tolerance,
		ByCause:     map[string]int{},
		Events:      Events{ByPattern: c.run.Run.Counts, RawRecorded: int64(len(c.run.Raw))},
		Rows:        []Row{},
		Notes:       []string{},
	}
	for _, code := range Causes() {
		rep.ByCause[code] = 0
	}
	if rep.Events.ByPattern == nil {
		rep.Events.ByPattern = map[string]int64{}
	}
	if j.SpecErr != nil {
		rep.Problem = fmt.Sprintf("job %s has no usable semantics: %v", j.ID, j.SpecErr)
		return rep
	}
	rep.Mirrors = spec.Mirrors
	rep.Time = spec.Time.String()
	rep.Dedup = spec.Dedup.String()
	rep.Output = spec.Output.String()
	rep.WindowMs = spec.WindowSize.Milliseconds()
	if spec.Time != engine.ProcessingTime {
		rep.WatermarkDelayMs = spec.WatermarkDelay.Milliseconds()
	}
	rep.AllowedLateMs = spec.AllowedLateness.Milliseconds()

	size := c.TruthWindowMs()
	if size == 0 {
		size = rep.WindowMs
	}
	if spec.WindowSlide != spec.WindowSize {
		rep.Problem = fmt.Sprintf("job %s uses sliding windows (%v every %v); the truth has tumbling windows of %v: they cannot be compared window by window",
			j.ID, spec.WindowSize, spec.WindowSlide, time.Duration(size)*time.Millisecond)
		return rep
	}
	if rep.WindowMs != size {
		rep.Problem = fmt.Sprintf("job %s uses %v windows; the truth of run %s has %v windows: they cannot be compared window by window (submit a job with --window %v)",
			j.ID, spec.WindowSize, c.run.Run.ID, time.Duration(size)*time.Millisecond, time.Duration(size)*time.Millisecond)
		return rep
	}
	if len(jd.Results) == 0 {
		rep.Problem = fmt.Sprintf("job %s (preset %s, state %s) has no results for run %s yet: results appear when windows close (is an aggregator-worker running, and has the run's data reached Kafka?)",
			j.ID, j.Preset, j.State, c.run.Run.ID)
		return rep
	}

	idx := c.index(size)
	rep.Rows = c.join(idx, jd.Results, size)
	var log *ledger
	var reported map[Key][]*Decision
	switch {
	case j.DecisionLog:
		log = c.ledger(idx, jd.Decisions)
	case j.ReportsLate:
		reported = idx.reported(jd.Decisions, spec)
	}
	if j.DecisionLog || j.ReportsLate {
		rep.late = lateByWindow(jd.Decisions, size)
	}
	wm := rep.WatermarkDelayMs
	for i := range rep.Rows {
		r := &rep.Rows[i]
		if r.Engine != nil {
			l := r.Engine.EmitTime - r.WindowEnd - wm
			r.LatencyMs = &l
			rep.Events.Engine += r.Engine.Count
			// A finished job's answers are final (an engine under test
			// says so of all of them with its end line).
			if !r.Engine.Final && j.State != job.StateFinished {
				rep.NotFinal++
			}
		}
		if r.Truth != nil {
			rep.Events.Truth += r.Truth.Count
		}
		if !r.Exception {
			continue
		}
		rep.Exceptions++
		if r.M1Differs {
			rep.M1Exceptions++
		}
		if r.M2Differs {
			rep.M2Exceptions++
		}
		switch {
		case log != nil:
			r.Causes = c.explainFromLog(log, r, spec, j)
		case pending(r, j):
			r.Causes = []Cause{{Code: CauseNotFinal, Text: fmt.Sprintf("%s: the job is %s and the engine has not closed this window yet", causeLabelNotFinal, j.State)}}
		default:
			r.Causes = c.explain(idx, r, spec, reported)
		}
		seen := map[string]bool{}
		for _, cause := range r.Causes {
			if !seen[cause.Code] {
				rep.ByCause[cause.Code]++
				seen[cause.Code] = true
			}
		}
	}
	rep.Windows = len(rep.Rows)
	latencies(&rep, jd, size, wm)
	for _, res := range jd.Results {
		rep.LastResultMs = max(rep.LastResultMs, res.EmitTime)
	}
	if end := c.run.Run.InputEnded; !end.IsZero() && rep.LastResultMs > 0 {
		after := rep.LastResultMs - end.UnixMilli()
		rep.AfterInputEndMs = &after
	}
	rep.Notes = c.notes(&rep, spec, j)
	return rep
}

// pending reports whether a window of a job that will end (bound to a run)
// may still change: the job still runs and the engine did not say final.
func pending(r *Row, j Job) bool {
	return j.RunID != "" && !job.Ended(j.State) && (r.Engine == nil || !r.Engine.Final)
}

func (c *Comparator) notes(rep *Report, spec engine.Spec, j Job) []string {
	notes := []string{}
	if rep.NotFinal > 0 {
		notes = append(notes, fmt.Sprintf("%d of %d engine windows are not final yet (update mode, allowed lateness %v not passed): compared with their latest revision",
			rep.NotFinal, rep.Windows, spec.AllowedLateness))
	}
	switch {
	case c.run.Run.Flags["record"] == "none" || len(c.run.Raw) == 0:
		notes = append(notes, "raw_events holds no sends of this run (simulator --record none): exceptions are explained from the truth tables only, without message ids")
	case c.run.Run.Flags["record"] == "defects":
		notes = append(notes, "raw_events holds only the defective sends of this run (simulator --record defects): normal events moved to another window are not listed by message")
	}
	switch {
	case j.DecisionLog:
		notes = append(notes, "differences are explained from the engine's decision log (every record it dropped, or placed in another window than its device time's), checked against the preset's rules")
	case j.ReportsLate && spec.Time != engine.EventTime:
		notes = append(notes, fmt.Sprintf("the %s engine reports the records it drops as late, and no other decision: %s time is compared through the send time of raw_events and truth_by_send_time; a late event named is one the engine reported dropping",
			j.EngineName, spec.Time))
	case j.ReportsLate:
		notes = append(notes, fmt.Sprintf("the %s engine reports the records it drops as late: a late event named is one it reported dropping, and only those are named", j.EngineName))
	case spec.Time == engine.ProcessingTime:
		notes = append(notes, fmt.Sprintf("the %s engine keeps no decision log: processing time is compared through the send time of raw_events and truth_by_send_time", j.EngineName))
	case spec.Time == engine.IngestionTime:
		notes = append(notes, fmt.Sprintf("the %s engine keeps no decision log: ingestion time is compared through the send time of raw_events and truth_by_send_time", j.EngineName))
	}
	if st := c.run.Run.Status; st != "" && st != "done" {
		notes = append(notes, fmt.Sprintf("run status is %q: its truth covers only what was acknowledged", st))
	}
	return notes
}

// join is the full outer join of the truth by device time and the results.
func (c *Comparator) join(idx *index, results []Result, size int64) []Row {
	eng := make(map[Key]*Result, len(results))
	for i := range results {
		eng[results[i].Key] = &results[i]
	}
	keys := make([]Key, 0, len(idx.truthDev)+len(results))
	for k := range idx.truthDev {
		keys = append(keys, k)
	}
	for k := range eng {
		if _, ok := idx.truthDev[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keyLess(keys[i], keys[j]) })
	rows := make([]Row, 0, len(keys))
	for _, k := range keys {
		end := k.WindowStart + size
		r := Row{DeviceID: k.DeviceID, Category: k.Category, WindowStart: k.WindowStart, WindowEnd: end,
			WindowEndUTC: window.Window{Start: k.WindowStart, End: end}.EndString()}
		var t, e Agg
		if tr, ok := idx.truthDev[k]; ok {
			a := tr.Agg
			r.Truth, t = &a, a
		}
		if sr, ok := idx.truthSend[k]; ok {
			a := sr.Agg
			r.BySendTime = &a
		}
		if er, ok := eng[k]; ok {
			r.Engine = &EngineAgg{Agg: er.Agg, Revision: er.Revision, Final: er.Final, EmitTime: er.EmitTime}
			e = er.Agg
		}
		r.DeltaM1 = t.M1 - e.M1
		r.DeltaM2 = t.M2 - e.M2
		r.M1Differs = t.M1 != e.M1
		r.M2Differs = !c.m2Close(t.M2, e.M2)
		switch {
		case r.Engine == nil:
			r.Kind = KindMissing
		case r.Truth == nil:
			r.Kind = KindExtra
		case r.M1Differs || r.M2Differs || t.Count != e.Count:
			r.Kind = KindMismatch
		}
		r.Exception = r.Kind != ""
		rows = append(rows, r)
	}
	return rows
}

// m2Close compares measure2 sums with the relative tolerance.
func (c *Comparator) m2Close(a, b float64) bool {
	if a == b {
		return true
	}
	if math.IsInf(a, 0) || math.IsInf(b, 0) || math.IsNaN(a) || math.IsNaN(b) {
		return false // only the same infinity is close to an infinity
	}
	return math.Abs(a-b) <= c.opts.M2Tolerance*math.Max(math.Max(math.Abs(a), math.Abs(b)), minRelativeM2Magnitude)
}

func keyLess(a, b Key) bool {
	if a.DeviceID != b.DeviceID {
		return a.DeviceID < b.DeviceID
	}
	if a.Category != b.Category {
		return a.Category < b.Category
	}
	return a.WindowStart < b.WindowStart
}

func sortRowsByTime(rows []*Row) {
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if a.WindowEnd != b.WindowEnd {
			return a.WindowEnd < b.WindowEnd
		}
		return keyLess(a.Key(), b.Key())
	})
}
