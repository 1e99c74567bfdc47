package faults

import (
	"slices"
	"time"

	"github.com/boontadata/boontadata/pkg/job"

	"github.com/boontadata/boontadata/services/comparator/internal/compare"
)

const (
	// LevelSpan is how far before a fault the samples give the job's lag
	// level.
	LevelSpan = 5 * time.Second
	// Settle is how long a job must stay back at its level for the
	// recovery to count.
	Settle = time.Second
)

// Recovery is how one job came back from one fault.
type Recovery struct {
	// LagBefore is the job's lag before the fault: the highest lag of the
	// samples of the LevelSpan before it.
	LagBefore int64
	// PeakLag is the highest lag from the fault to the recovery, or to the
	// last sample.
	PeakLag int64
	// RecoveredMs is when the job was back (ms since the epoch); 0 when it
	// was not within the samples.
	RecoveredMs int64
	// Samples is the number of samples from the fault on.
	Samples int
	Note    string
}

// Measure says when the job of samples recovered from f: the first sample,
// once the fault's action ended, from which on (for Settle at least) the
// master hears again about every partition of the job from reports sent
// after the action ended, the job's lag is at most its level before the
// fault, and a worker the fault killed, paused or added owns partitions
// again. A job that finished is recovered.
func Measure(samples []Sample, f Fault) Recovery {
	var r Recovery
	expected := 0
	for i := range samples {
		expected = max(expected, len(samples[i].Partitions))
	}
	before := false
	for i := range samples {
		s := &samples[i]
		if s.TimeMs >= f.AtMs-LevelSpan.Milliseconds() && s.TimeMs < f.AtMs {
			r.LagBefore = max(r.LagBefore, lag(s))
			before = true
		}
	}
	if !before {
		r.Note = "no sample in the 5s before the fault: level 0"
	}
	start := 0
	for start < len(samples) && samples[start].TimeMs < f.AtMs {
		start++
	}
	if start > 0 && samples[start-1].State == job.StateFinished {
		r.RecoveredMs, r.Note = f.AtMs, "the job had finished before the fault"
		return r
	}
	after := samples[start:]
	r.Samples = len(after)
	back := func(s *Sample) bool { return recovered(s, f, expected, r.LagBefore) }
	for i := range after {
		s := &after[i]
		r.PeakLag = max(r.PeakLag, lag(s))
		if !back(s) {
			continue
		}
		held := true
		for j := i + 1; j < len(after) && after[j].TimeMs <= s.TimeMs+Settle.Milliseconds(); j++ {
			if !back(&after[j]) {
				held = false
				break
			}
		}
		if held {
			r.RecoveredMs = s.TimeMs
			return r
		}
	}
	if r.Note == "" {
		r.Note = "not back to its level before the fault within the samples"
	}
	return r
}

// recovered says whether sample s shows the job back from f.
func recovered(s *Sample, f Fault, expected int, level int64) bool {
	if s.State == job.StateFinished {
		return true
	}
	if s.TimeMs < f.DoneMs || expected == 0 {
		return false
	}
	// A worker the fault killed, paused or added must run the job again.
	targetBack := f.WorkerID == "" || !slices.Contains([]string{KillWorker, PauseWorker, AddWorker}, f.Kind)
	fresh := map[string]bool{}
	for _, w := range s.Workers {
		if w.ReceivedMs >= f.DoneMs {
			fresh[w.ID] = true
			if w.ID == f.WorkerID && len(w.Partitions) > 0 {
				targetBack = true
			}
		}
	}
	if !targetBack {
		return false
	}
	covered := 0
	var lag int64
	for _, p := range s.Partitions {
		if fresh[p.Worker] {
			covered++
			lag += p.Lag
		}
	}
	return covered >= expected && lag <= level
}

func lag(s *Sample) int64 {
	var n int64
	for _, p := range s.Partitions {
		n += p.Lag
	}
	return n
}

// Report is one fault of the run and what it did to each job.
type Report struct {
	Fault
	// AtUTC is AtMs as a UTC time.
	AtUTC string `json:"at_utc"`
	// ActionMs is how long the fault's action took (DoneMs − AtMs).
	ActionMs int64       `json:"action_ms"`
	Jobs     []JobEffect `json:"jobs"`
}

// JobEffect is what one fault did to one job.
type JobEffect struct {
	JobID string `json:"job_id"`
	// LagBefore is the job's lag before the fault (the highest of the 5 s
	// before it); PeakLag the highest from the fault to the recovery.
	LagBefore int64 `json:"lag_before"`
	PeakLag   int64 `json:"peak_lag"`
	// RecoveryMs is the recovery time: from the start of the fault until
	// the job's lag was back to LagBefore, with every partition reported
	// again (see Measure); null when that was not seen.
	RecoveryMs *int64 `json:"recovery_ms"`
	// RecoveredAtUTC is when it was back.
	RecoveredAtUTC string `json:"recovered_at_utc,omitempty"`
	// Exceptions counts the job's exceptions in windows that were still
	// open when the fault began (window end + watermark delay + allowed
	// lateness after it); Unexplained those of them whose causes the
	// preset's semantics do not explain (unexplained, missing or extra
	// window, not final). ResultsChanged is Unexplained > 0: the fault
	// changed the job's final results.
	Exceptions     int  `json:"exceptions"`
	Unexplained    int  `json:"unexplained"`
	ResultsChanged bool `json:"results_changed"`
	// Samples counts the progress samples of the job from the fault on.
	Samples int    `json:"samples"`
	Note    string `json:"note,omitempty"`
}

// Assess reports every fault of the timeline against every job of reports.
func Assess(tl Timeline, reports []compare.Report) []Report {
	out := make([]Report, 0, len(tl.Faults))
	for _, f := range tl.Faults {
		fr := Report{Fault: f, AtUTC: utc(f.AtMs), ActionMs: max(0, f.DoneMs-f.AtMs), Jobs: []JobEffect{}}
		for i := range reports {
			rep := &reports[i]
			e := JobEffect{JobID: rep.JobID}
			if samples := tl.Samples[rep.JobID]; len(samples) == 0 {
				e.Note = "no progress sample of the job"
			} else {
				r := Measure(samples, f)
				e.LagBefore, e.PeakLag, e.Samples, e.Note = r.LagBefore, r.PeakLag, r.Samples, r.Note
				if r.RecoveredMs > 0 {
					d := max(0, r.RecoveredMs-f.AtMs)
					e.RecoveryMs, e.RecoveredAtUTC = &d, utc(r.RecoveredMs)
				}
			}
			if rep.Problem != "" {
				e.Note = joinNote(e.Note, "nothing compared: "+rep.Problem)
			} else {
				e.Exceptions, e.Unexplained = exceptionsOpenAt(rep, f.AtMs)
				e.ResultsChanged = e.Unexplained > 0
			}
			if !f.OK {
				e.Note = joinNote(e.Note, "the fault could not be made")
			}
			fr.Jobs = append(fr.Jobs, e)
		}
		out = append(out, fr)
	}
	return out
}

// exceptionsOpenAt counts the exceptions of rep in windows still open at
// at, and those of them the preset's semantics do not explain.
func exceptionsOpenAt(rep *compare.Report, at int64) (exceptions, unexplained int) {
	for i := range rep.Rows {
		r := &rep.Rows[i]
		if !r.Exception || r.WindowEnd+rep.WatermarkDelayMs+rep.AllowedLateMs <= at {
			continue
		}
		exceptions++
		if slices.ContainsFunc(r.Causes, notSemantics) {
			unexplained++
		}
	}
	return exceptions, unexplained
}

// notSemantics says whether c is a difference the preset's semantics do not
// explain.
func notSemantics(c compare.Cause) bool {
	switch c.Code {
	case compare.CauseUnexplained, compare.CauseMissingWindow, compare.CauseExtraWindow, compare.CauseNotFinal:
		return true
	}
	return false
}

func joinNote(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

func utc(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02 15:04:05.000")
}
