package compare

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const (
	sec    = int64(1000)
	minute = 60 * sec
)

// TestExplainEveryCause builds, per cause, a small run and a job's results
// and checks the classification, the events named and the explanation.
func TestExplainEveryCause(t *testing.T) {
	tests := []struct {
		name   string
		preset string
		// build sends events and returns the engine's results.
		build     func(f *fixture) []Result
		window    int64
		wantKind  string
		wantCodes []string
		wantIDs   []string
		wantText  []string
	}{{
		name:   "duplicate counted twice (storm, no dedup)",
		preset: "storm",
		build: func(f *fixture) []Result {
			a := f.send("d1", "c1", PatternNormal, t0+100, t0+100, 10, 1.5)
			f.send("d1", "c1", PatternNormal, t0+200, t0+200, 20, 2.25)
			f.resend(a, t0+12*sec)
			return []Result{result("d1", "c1", 0, 40, 5.25, 3, t0+13*sec)}
		},
		wantKind: KindMismatch, wantCodes: []string{CauseDuplicateCounted}, wantIDs: []string{"d1-1"},
		wantText: []string{"duplicate counted twice: d1-1 (m1 10, re-sent 11.9s after the original)"},
	}, {
		name:   "late event dropped (flink-event)",
		preset: "flink-event",
		build: func(f *fixture) []Result {
			f.send("d1", "c1", PatternNormal, t0+100, t0+100, 30, 3)
			f.send("d1", "c1", PatternLate, t0+1000, t0+1000+2*minute+13*sec, 31, 4)
			return []Result{result("d1", "c1", 0, 30, 3, 1, t0+11*sec)}
		},
		wantKind: KindMismatch, wantCodes: []string{CauseLateDropped}, wantIDs: []string{"d1-2"},
		wantText: []string{"late event dropped: d1-2 (late by 2m13s, m1 31)"},
	}, {
		name:   "one of two out-of-order events dropped: subset search",
		preset: "flink-event",
		build: func(f *fixture) []Result {
			f.send("d1", "c1", PatternNormal, t0+100, t0+100, 5, 0.5)
			f.send("d1", "c1", PatternOutOfOrder, t0+200, t0+3*sec, 7, 0.75)
			f.send("d1", "c1", PatternOutOfOrder, t0+300, t0+9*sec, 9, 0.25)
			return []Result{result("d1", "c1", 0, 12, 1.25, 2, t0+11*sec)}
		},
		wantKind: KindMismatch, wantCodes: []string{CauseLateDropped}, wantIDs: []string{"d1-3"},
		wantText: []string{"late event dropped: d1-3 (out of order, late by 8.7s, m1 9)"},
	}, {
		name:   "duplicate counted and late event dropped in one window",
		preset: "storm",
		build: func(f *fixture) []Result {
			a := f.send("d1", "c1", PatternNormal, t0+100, t0+100, 10, 1)
			f.send("d1", "c1", PatternLate, t0+200, t0+6*minute, 50, 2)
			f.resend(a, t0+7*sec)
			return []Result{result("d1", "c1", 0, 20, 2, 2, t0+8*sec)}
		},
		wantKind: KindMismatch, wantCodes: []string{CauseDuplicateCounted, CauseLateDropped}, wantIDs: []string{"d1-1", "d1-2"},
	}, {
		name:   "placed in another window by processing time",
		preset: "flink-processing",
		build: func(f *fixture) []Result {
			f.send("d1", "c1", PatternNormal, t0+1000, t0+1000, 1, 0.5)
			f.send("d1", "c1", PatternNormal, t0+4900, t0+5100, 2, 0.5) // device window 0, sent in window 1
			return []Result{
				result("d1", "c1", 0, 1, 0.5, 1, t0+5*sec),
				result("d1", "c1", 1, 2, 0.5, 1, t0+10*sec),
			}
		},
		wantKind: KindMismatch, wantCodes: []string{CauseOtherWindow}, wantIDs: []string{"d1-2"},
		wantText: []string{"placed in another window by processing time", "d1-2 out (m1 2, sent in the window ending 2026-01-01 00:00:10)"},
	}, {
		name:   "the other side of a processing-time move is an extra window, explained",
		preset: "flink-ingestion",
		window: 1,
		build: func(f *fixture) []Result {
			f.send("d1", "c1", PatternNormal, t0+1000, t0+1000, 1, 0.5)
			f.send("d1", "c1", PatternNormal, t0+4900, t0+5100, 2, 0.5)
			return []Result{
				result("d1", "c1", 0, 1, 0.5, 1, t0+5*sec),
				result("d1", "c1", 1, 2, 0.5, 1, t0+10*sec),
			}
		},
		wantKind: KindExtra, wantCodes: []string{CauseOtherWindow}, wantIDs: []string{"d1-2"},
		wantText: []string{"by ingestion time", "d1-2 in (m1 2, device time in the window ending 2026-01-01 00:00:05)", "(no truth for this window)"},
	}, {
		name:   "processing time: a re-send in a later batch counted there",
		preset: "dstream",
		window: 2,
		build: func(f *fixture) []Result {
			a := f.send("d1", "c1", PatternNormal, t0+1000, t0+1000, 4, 0.5)
			f.resend(a, t0+11*sec)
			return []Result{
				result("d1", "c1", 0, 4, 0.5, 1, t0+5*sec),
				result("d1", "c1", 2, 4, 0.5, 1, t0+15*sec),
			}
		},
		wantKind: KindExtra, wantCodes: []string{CauseDuplicateCounted}, wantIDs: []string{"d1-1"},
	}, {
		name:   "missing window",
		preset: "flink-event",
		window: 1,
		build: func(f *fixture) []Result {
			f.send("d1", "c1", PatternNormal, t0+100, t0+100, 3, 1)
			f.send("d1", "c1", PatternNormal, t0+5100, t0+5100, 8, 1)
			return []Result{result("d1", "c1", 0, 3, 1, 1, t0+10*sec)}
		},
		wantKind: KindMissing, wantCodes: []string{CauseMissingWindow},
		wantText: []string{"missing window: no engine result; truth m1 8 from 1 events, sent between 00:00:05.100 and 00:00:05.100"},
	}, {
		name:   "a window missing because its only event was late is a late event dropped",
		preset: "flink-event",
		window: 1,
		build: func(f *fixture) []Result {
			f.send("d1", "c1", PatternNormal, t0+100, t0+100, 3, 1)
			f.send("d1", "c1", PatternLate, t0+5100, t0+3*minute, 8, 1)
			return []Result{result("d1", "c1", 0, 3, 1, 1, t0+10*sec)}
		},
		wantKind: KindMissing, wantCodes: []string{CauseLateDropped}, wantIDs: []string{"d1-2"},
		wantText: []string{"(no engine result for this window)"},
	}, {
		name:   "extra window",
		preset: "flink-event",
		window: 3,
		build: func(f *fixture) []Result {
			f.send("d1", "c1", PatternNormal, t0+100, t0+100, 3, 1)
			return []Result{result("d1", "c1", 0, 3, 1, 1, t0+10*sec), result("d1", "c1", 3, 99, 9, 2, t0+25*sec)}
		},
		wantKind: KindExtra, wantCodes: []string{CauseExtraWindow},
		wantText: []string{"extra window: engine m1 99 from 2 events"},
	}, {
		name:   "unexplained: nothing reconciles, the numbers are given",
		preset: "storm",
		build: func(f *fixture) []Result {
			a := f.send("d1", "c1", PatternNormal, t0+100, t0+100, 30, 3)
			f.send("d1", "c1", PatternNormal, t0+200, t0+200, 20, 2)
			f.resend(a, t0+2*sec)
			return []Result{result("d1", "c1", 0, 47, 5, 2, t0+10*sec)}
		},
		wantKind: KindMismatch, wantCodes: []string{CauseUnexplained},
		wantText: []string{"unexplained: truth m1 50 (2 events, m2 5), engine m1 47 (2 events, m2 5), delta 3",
			"1 re-sends in the window (m1 30), 0 late or out-of-order events (m1 0): no combination reconciles"},
	}, {
		name:   "m2 beyond the tolerance alone is an exception",
		preset: "exact",
		build: func(f *fixture) []Result {
			f.send("d1", "c1", PatternNormal, t0+100, t0+100, 30, 3)
			return []Result{result("d1", "c1", 0, 30, 3.01, 1, t0+10*sec)}
		},
		wantKind: KindMismatch, wantCodes: []string{CauseUnexplained},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			results := tt.build(f)
			c := New(f.truth(), Options{M2Tolerance: DefaultM2Tolerance})
			rep := c.Compare(JobData{Job: preset(t, tt.preset), Results: results})
			require.Empty(t, rep.Problem)
			r := rowAt(t, rep, "d1", "c1", tt.window)
			require.True(t, r.Exception)
			require.Equal(t, tt.wantKind, r.Kind)
			require.Equal(t, tt.wantCodes, codes(r), "%+v", r.Causes)
			var ids []string
			for _, c := range r.Causes {
				ids = append(ids, c.MessageIDs...)
			}
			require.ElementsMatch(t, tt.wantIDs, ids)
			for _, want := range tt.wantText {
				found := false
				for _, c := range r.Causes {
					if strings.Contains(c.Text, want) {
						found = true
					}
				}
				require.True(t, found, "no cause text contains %q in %+v", want, r.Causes)
			}
			for _, code := range tt.wantCodes {
				require.GreaterOrEqual(t, rep.ByCause[code], 1)
			}
		})
	}
}

// TestReportCounts checks the headline numbers of a run with one of each
// kind, the delta sign of the original (truth − engine) and the not-final
// count.
func TestReportCounts(t *testing.T) {
	f := newFixture(t)
	a := f.send("d1", "c1", PatternNormal, t0+100, t0+100, 10, 1)
	f.resend(a, t0+200)
	f.send("d1", "c1", PatternNormal, t0+5100, t0+5100, 20, 2)
	f.send("d1", "c2", PatternNormal, t0+5100, t0+5100, 5, 0.5)
	f.send("d2", "c1", PatternLate, t0+100, t0+2*minute, 7, 0.7)
	results := []Result{
		result("d1", "c1", 0, 20, 2, 2, t0+6*sec), // duplicate
		result("d1", "c1", 1, 20, 2, 1, t0+11*sec),
		result("d1", "c2", 1, 5, 0.5, 1, t0+11*sec),
		result("d2", "c1", 4, 1, 1, 1, t0+30*sec), // extra
	}
	results[2].Final = false
	c := New(f.truth(), Options{M2Tolerance: DefaultM2Tolerance})
	j := preset(t, "storm")
	j.RunID, j.State = "", "running" // a job of every run, still running: its windows may still change
	rep := c.Compare(JobData{Job: j, Results: results})
	require.Equal(t, 5, rep.Windows)
	require.Equal(t, 3, rep.Exceptions)
	require.Equal(t, 3, rep.M1Exceptions)
	require.Equal(t, 1, rep.NotFinal)
	require.Equal(t, map[string]int{CauseDuplicateCounted: 1, CauseLateDropped: 1, CauseExtraWindow: 1,
		CauseOtherWindow: 0, CauseNotFinal: 0, CauseMissingWindow: 0, CauseUnexplained: 0}, rep.ByCause)
	dup := rowAt(t, rep, "d1", "c1", 0)
	require.Equal(t, int64(-10), dup.DeltaM1, "delta is truth − engine")
	require.Equal(t, "2026-01-01 00:00:05", dup.WindowEndUTC)
	require.Equal(t, int64(4), rep.Events.Truth)
	require.Equal(t, int64(5), rep.Events.Engine)
	require.Contains(t, rep.Notes[0], "1 of 5 engine windows are not final yet")
	exc := rep.ExceptionRows()
	require.Len(t, exc, 3)
	require.Equal(t, "d1", exc[0].DeviceID) // window ending 00:00:05, d1 before d2
	require.Equal(t, "d2", exc[1].DeviceID)
}

func TestProblems(t *testing.T) {
	f := newFixture(t)
	f.send("d1", "c1", PatternNormal, t0+100, t0+100, 10, 1)
	run := f.truth()
	c := New(run, Options{})
	rep := c.Compare(JobData{Job: preset(t, "exact")})
	require.Contains(t, rep.Problem, "has no results for run run-1 yet")
	j := preset(t, "exact")
	j.Engine.WindowSize, j.Engine.WindowSlide = 10_000_000_000, 10_000_000_000
	rep = c.Compare(JobData{Job: j, Results: []Result{result("d1", "c1", 0, 10, 1, 1, t0)}})
	require.Contains(t, rep.Problem, "uses 10s windows; the truth of run run-1 has 5s windows")
	j.Engine.WindowSlide = 5_000_000_000
	rep = c.Compare(JobData{Job: j, Results: []Result{result("d1", "c1", 0, 10, 1, 1, t0)}})
	require.Contains(t, rep.Problem, "sliding windows")
}

func TestNoRawEventsStillExplainsFromTables(t *testing.T) {
	f := newFixture(t)
	f.send("d1", "c1", PatternNormal, t0+1000, t0+1000, 1, 0.5)
	f.send("d1", "c1", PatternNormal, t0+4900, t0+5100, 2, 0.5)
	run := f.truth()
	run.Raw = nil
	run.Run.Flags["record"] = "none"
	c := New(run, Options{M2Tolerance: DefaultM2Tolerance})
	rep := c.Compare(JobData{Job: preset(t, "flink-processing"), Results: []Result{
		result("d1", "c1", 0, 1, 0.5, 1, t0+5*sec), result("d1", "c1", 1, 2, 0.5, 1, t0+10*sec)}})
	r := rowAt(t, rep, "d1", "c1", 0)
	require.Equal(t, []string{CauseOtherWindow}, codes(r))
	require.Empty(t, r.Causes[0].MessageIDs)
	require.Contains(t, rep.Notes[0], "--record none")
}

func TestM2Tolerance(t *testing.T) {
	tests := []struct {
		tol      float64
		a, b     float64
		wantSame bool
	}{
		{1e-6, 1000, 1000.0005, true},
		{1e-6, 1000, 1000.002, false},
		{1e-6, 0, 5e-7, true}, // relative to at least 1
		{0, 1, 1, true},
		{0, 1, 1.0000000001, false},
	}
	for _, tt := range tests {
		c := New(&RunData{}, Options{M2Tolerance: tt.tol})
		require.Equal(t, tt.wantSame, c.m2Close(tt.a, tt.b), "%v", tt)
	}
}

func TestSubsetMatchingPrefersFewestThenSendOrder(t *testing.T) {
	ev := func(id string, m1 int64) *RawEvent { return &RawEvent{MessageID: id, M1: m1, M2: 1} }
	items := []item{
		{ev: ev("a", 5), sign: 1}, {ev: ev("b", 3), sign: 1}, {ev: ev("c", 2), sign: 1}, {ev: ev("d", 5), sign: 1},
	}
	target := Agg{M1: 5, M2: 1, Count: 1}
	got, ok := subsetMatching(items, Agg{}, func(p Agg) bool { return p == target })
	require.True(t, ok)
	require.Equal(t, "a", got[0].ev.MessageID)
	target = Agg{M1: 5, M2: 2, Count: 2}
	got, ok = subsetMatching(items, Agg{}, func(p Agg) bool { return p == target })
	require.True(t, ok)
	require.Equal(t, []string{"b", "c"}, []string{got[0].ev.MessageID, got[1].ev.MessageID})
	_, ok = subsetMatching(items, Agg{}, func(p Agg) bool { return p.M1 == 100 })
	require.False(t, ok)
}

// TestNonFiniteSumsAreReported: an engine under test may write an infinite
// or NaN measure2 sum (its own parser may accept what this platform's codec
// refuses); the comparison flags it and every output still encodes.
func TestNonFiniteSumsAreReported(t *testing.T) {
	f := newFixture(t)
	f.send("d1", "c1", PatternNormal, t0+100, t0+100, 10, 1)
	f.send("d1", "c1", PatternNormal, t0+5100, t0+5100, 20, 2)
	c := New(f.truth(), Options{M2Tolerance: DefaultM2Tolerance})
	inf, nan := result("d1", "c1", 0, 10, 1, 1, t0+5*sec), result("d1", "c1", 1, 20, 2, 1, t0+10*sec)
	inf.M2, nan.M2 = math.Inf(1), math.NaN()
	rep := c.Compare(JobData{Job: preset(t, "exact"), Results: []Result{inf, nan}})
	require.Equal(t, 2, rep.Exceptions)
	require.True(t, rowAt(t, rep, "d1", "c1", 0).M2Differs)
	require.True(t, rowAt(t, rep, "d1", "c1", 1).M2Differs)
	b, err := json.Marshal(rep)
	require.NoError(t, err)
	require.Contains(t, string(b), `"m2_sum":"+Inf"`)
	require.Contains(t, string(b), `"delta_m2":"-Inf"`)
	require.Contains(t, string(b), `"m2_sum":"NaN"`)
	var back Report
	require.NoError(t, json.Unmarshal(b, &back))
	require.True(t, math.IsInf(back.Rows[0].Engine.M2, 1))
	require.Equal(t, int64(10), back.Rows[0].Engine.M1)
}

// TestConformance: a real engine's job is compared window by window with
// the preset's job of the same run; each difference carries both sides'
// causes against the truth.
func TestConformance(t *testing.T) {
	f := newFixture(t)
	f.send("d1", "c1", PatternNormal, t0+100, t0+100, 10, 1)
	f.send("d1", "c1", PatternLate, t0+200, t0+2*minute, 20, 2)
	f.send("d1", "c1", PatternNormal, t0+5100, t0+5100, 5, 1)
	c := New(f.truth(), Options{M2Tolerance: DefaultM2Tolerance})
	ours := preset(t, "structured")
	ours.EngineName = "boontadata"
	spark := preset(t, "structured")
	spark.ID, spark.EngineName = "job-structured-spark", "spark"
	a := c.Compare(JobData{Job: ours, Results: []Result{result("d1", "c1", 0, 10, 1, 1, t0+sec), result("d1", "c1", 1, 5, 1, 1, t0+sec)}})
	b := c.Compare(JobData{Job: spark, Results: []Result{result("d1", "c1", 0, 30, 3, 2, t0+sec), result("d1", "c1", 1, 5, 1, 1, t0+sec)}})
	cfs := Conform([]Report{a, b}, DefaultM2Tolerance)
	require.Len(t, cfs, 1)
	cf := cfs[0]
	require.Equal(t, "job-structured-spark", cf.Job)
	require.Equal(t, "job-structured", cf.Against)
	require.Equal(t, 2, cf.Windows)
	require.Equal(t, 1, cf.Differ)
	row := cf.Rows[0]
	require.Equal(t, &Agg{M1: 30, M2: 3, Count: 2}, row.Engine)
	require.Equal(t, &Agg{M1: 10, M2: 1, Count: 1}, row.Against)
	require.Empty(t, row.EngineCauses, "spark answered the truth")
	require.Equal(t, CauseLateDropped, row.AgainstCauses[0].Code)
	require.Contains(t, row.Describe("spark", "boontadata"), "spark: m1 30 from 2 events (as the truth) | boontadata: m1 10 from 1 events (late event dropped")
	require.Empty(t, Conform([]Report{a}, DefaultM2Tolerance), "nothing to pair")
}
