package compare

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// decide is a decision of the engine on message id, as the worker writes it.
func decide(f *fixture, id, kind string, window, watermark int64) Decision {
	for _, e := range f.run.Raw {
		if e.MessageID == id {
			start := t0 + window*size
			return Decision{DeviceID: e.DeviceID, Category: e.Category, MessageID: id, Kind: kind,
				Time: e.DeviceTime, DeviceTime: e.DeviceTime, WindowStart: start, WindowEnd: start + size,
				Watermark: watermark, EmitTime: e.SendTime, M1: e.M1, M2: e.M2}
		}
	}
	f.t.Fatalf("no send %s", id)
	return Decision{}
}

// TestExplainFromDecisionLog: one case per cause boundary, for a job whose
// engine keeps a decision log. The rules checked are the presets' of
// docs/engine.md: a record is late only when its window's end plus the
// allowed lateness is at or below the watermark; dedup within a window
// never counts two copies in one window; a window not final of a job still
// running may change; what no decision accounts for is unexplained.
func TestExplainFromDecisionLog(t *testing.T) {
	tests := []struct {
		name      string
		preset    string
		state     string
		window    int64
		build     func(f *fixture) ([]Result, []Decision)
		wantCodes []string
		wantIDs   []string
		wantText  []string
	}{{
		name: "late beyond the preset's lateness: late event dropped", preset: "flink-event",
		build: func(f *fixture) ([]Result, []Decision) {
			f.send("d1", "c1", PatternNormal, t0+100, t0+100, 30, 3)
			f.send("d1", "c1", PatternLate, t0+1000, t0+2*minute, 31, 4)
			return []Result{result("d1", "c1", 0, 30, 3, 1, t0+11*sec)},
				[]Decision{decide(f, "d1-2", DecisionLate, 0, t0+2*minute-5*sec)}
		},
		wantCodes: []string{CauseLateDropped}, wantIDs: []string{"d1-2"},
		wantText: []string{"late event dropped: d1-2 (m1 31", "allowed lateness 0s <= watermark 00:01:55.000"},
	}, {
		name: "dropped within the preset's lateness: not the preset's rule", preset: "exact",
		build: func(f *fixture) ([]Result, []Decision) {
			f.send("d1", "c1", PatternNormal, t0+100, t0+100, 30, 3)
			f.send("d1", "c1", PatternLate, t0+1000, t0+2*minute, 31, 4)
			// 5 minutes of allowed lateness keep the window open at 1m55s.
			return []Result{result("d1", "c1", 0, 30, 3, 1, t0+11*sec)},
				[]Decision{decide(f, "d1-2", DecisionLate, 0, t0+2*minute-5*sec)}
		},
		wantCodes: []string{CauseUnexplained},
		wantText:  []string{"do not follow the preset exact: d1-2 dropped as late, but its window ends at 00:00:05.000 and with 5m0s of allowed lateness stays open"},
	}, {
		name: "pending: a window not final of a running job", preset: "exact", state: "running",
		build: func(f *fixture) ([]Result, []Decision) {
			f.send("d1", "c1", PatternNormal, t0+100, t0+100, 30, 3)
			f.send("d1", "c1", PatternNormal, t0+200, t0+200, 5, 1)
			r := result("d1", "c1", 0, 30, 3, 1, t0+1*sec)
			r.Final = false
			return []Result{r}, nil
		},
		wantCodes: []string{CauseNotFinal}, wantText: []string{"not final yet: the engine's latest revision (m1 30 from 1 events) is not final and the job is running"},
	}, {
		name: "pending: a window a running job has not emitted yet", preset: "flink-event", state: "running", window: 1,
		build: func(f *fixture) ([]Result, []Decision) {
			f.send("d1", "c1", PatternNormal, t0+100, t0+100, 30, 3)
			f.send("d1", "c1", PatternNormal, t0+5100, t0+5100, 5, 1)
			return []Result{result("d1", "c1", 0, 30, 3, 1, t0+11*sec)}, nil
		},
		wantCodes: []string{CauseNotFinal}, wantText: []string{"not final yet: the job is running and the engine has not closed this window yet"},
	}, {
		name: "lost: a window a finished job never emitted", preset: "flink-event", state: "finished", window: 1,
		build: func(f *fixture) ([]Result, []Decision) {
			f.send("d1", "c1", PatternNormal, t0+100, t0+100, 30, 3)
			f.send("d1", "c1", PatternNormal, t0+5100, t0+5100, 5, 1)
			return []Result{result("d1", "c1", 0, 30, 3, 1, t0+11*sec)}, nil
		},
		wantCodes: []string{CauseUnexplained}, wantText: []string{"records the engine never counted nor decided on (lost)", "(no engine result for this window)"},
	}, {
		name: "lost: nothing decided, yet missing from a final window", preset: "exact",
		build: func(f *fixture) ([]Result, []Decision) {
			f.send("d1", "c1", PatternNormal, t0+100, t0+100, 30, 3)
			f.send("d1", "c1", PatternNormal, t0+200, t0+200, 5, 1)
			return []Result{result("d1", "c1", 0, 30, 3, 1, t0+16*sec)}, nil
		},
		wantCodes: []string{CauseUnexplained},
		wantText:  []string{"the decision log gives m1 35 from 2 events", "records the engine never counted nor decided on (lost)"},
	}, {
		name: "a re-send with no dedup: duplicate counted", preset: "storm",
		build: func(f *fixture) ([]Result, []Decision) {
			a := f.send("d1", "c1", PatternNormal, t0+100, t0+100, 10, 1)
			f.resend(a, t0+3*sec)
			return []Result{result("d1", "c1", 0, 20, 2, 2, t0+4*sec)}, nil
		},
		wantCodes: []string{CauseDuplicateCounted}, wantIDs: []string{"d1-1"},
		wantText: []string{"d1-1 (m1 10, 2 copies counted); the preset does not dedup"},
	}, {
		name: "two copies in one window under within-window dedup: not the preset's", preset: "flink-event",
		build: func(f *fixture) ([]Result, []Decision) {
			a := f.send("d1", "c1", PatternNormal, t0+100, t0+100, 10, 1)
			f.resend(a, t0+3*sec)
			return []Result{result("d1", "c1", 0, 20, 2, 2, t0+11*sec)}, nil
		},
		wantCodes: []string{CauseUnexplained},
		wantText:  []string{"d1-1 counted 2 times, but dedup within the window drops every copy after the first in a window"},
	}, {
		name: "the copy the engine dropped explains the truth exactly: no exception", preset: "flink-event",
		build: func(f *fixture) ([]Result, []Decision) {
			a := f.send("d1", "c1", PatternNormal, t0+100, t0+100, 10, 1)
			f.send("d1", "c1", PatternLate, t0+200, t0+time3m, 31, 4)
			f.resend(a, t0+3*sec)
			return []Result{result("d1", "c1", 0, 10, 1, 1, t0+11*sec)},
				[]Decision{decide(f, "d1-1", DecisionDuplicate, 0, t0), decide(f, "d1-2", DecisionLate, 0, t0+time3m-5*sec)}
		},
		wantCodes: []string{CauseLateDropped}, wantIDs: []string{"d1-2"},
	}, {
		name: "placed by processing time: out of its window", preset: "flink-processing",
		build: func(f *fixture) ([]Result, []Decision) {
			f.send("d1", "c1", PatternNormal, t0+1000, t0+1000, 1, 0.5)
			f.send("d1", "c1", PatternNormal, t0+4900, t0+5100, 2, 0.5)
			return []Result{result("d1", "c1", 0, 1, 0.5, 1, t0+5*sec), result("d1", "c1", 1, 2, 0.5, 1, t0+10*sec)},
				[]Decision{decide(f, "d1-2", DecisionPlaced, 1, 0)}
		},
		wantCodes: []string{CauseOtherWindow}, wantIDs: []string{"d1-2"},
		wantText: []string{"d1-2 out (m1 2, device time 00:00:04.900, counted in the window ending 00:00:10.000)", "windows by processing time"},
	}, {
		name: "placed by processing time: into another window", preset: "flink-processing", window: 1,
		build: func(f *fixture) ([]Result, []Decision) {
			f.send("d1", "c1", PatternNormal, t0+1000, t0+1000, 1, 0.5)
			f.send("d1", "c1", PatternNormal, t0+4900, t0+5100, 2, 0.5)
			return []Result{result("d1", "c1", 0, 1, 0.5, 1, t0+5*sec), result("d1", "c1", 1, 2, 0.5, 1, t0+10*sec)},
				[]Decision{decide(f, "d1-2", DecisionPlaced, 1, 0)}
		},
		wantCodes: []string{CauseOtherWindow}, wantIDs: []string{"d1-2"},
		wantText: []string{"d1-2 in (m1 2", "(no truth for this window)"},
	}, {
		name: "a re-send in a later micro-batch counts again there", preset: "dstream", window: 2,
		build: func(f *fixture) ([]Result, []Decision) {
			a := f.send("d1", "c1", PatternNormal, t0+1000, t0+1000, 4, 0.5)
			f.resend(a, t0+11*sec)
			d := decide(f, a, DecisionPlaced, 2, 0)
			d.Time = t0 + 10*sec
			return []Result{result("d1", "c1", 0, 4, 0.5, 1, t0+5*sec), result("d1", "c1", 2, 4, 0.5, 1, t0+15*sec)},
				[]Decision{d}
		},
		wantCodes: []string{CauseDuplicateCounted}, wantIDs: []string{"d1-1"},
		wantText: []string{"a copy counted again in the window of its processing time 00:00:10.000", "a copy in a later batch counts again"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			results, decisions := tt.build(f)
			j := preset(t, tt.preset)
			j.DecisionLog = true
			if tt.state != "" {
				j.State = tt.state
			}
			c := New(f.truth(), Options{M2Tolerance: DefaultM2Tolerance})
			rep := c.Compare(JobData{Job: j, Results: results, Decisions: decisions})
			requireCauses(t, rep, tt.window, tt.wantCodes, tt.wantIDs, tt.wantText...)
		})
	}
}

const time3m = 3 * minute

// requireCauses checks the exception of d1/c1's window: its cause codes, the
// message ids they name, and that each text is in one of them.
func requireCauses(t *testing.T, rep Report, window int64, wantCodes, wantIDs []string, texts ...string) {
	t.Helper()
	require.Empty(t, rep.Problem)
	r := rowAt(t, rep, "d1", "c1", window)
	require.True(t, r.Exception)
	require.Equal(t, wantCodes, codes(r), "%+v", r.Causes)
	var ids []string
	for _, c := range r.Causes {
		ids = append(ids, c.MessageIDs...)
	}
	require.ElementsMatch(t, wantIDs, ids)
	for _, want := range texts {
		found := false
		for _, c := range r.Causes {
			found = found || strings.Contains(c.Text, want)
		}
		require.True(t, found, "no cause text contains %q in %+v", want, r.Causes)
	}
}

// TestExplainFromDecisionLogWithoutRawEvents: with --record none the
// comparator knows the truth and the decision log, not how many copies of a
// message were sent. A copy Flink drops as late ("late elements are dropped"
// with zero allowed lateness: nightlies.apache.org/flink/flink-docs-stable/
// docs/dev/datastream/operators/windows/#allowed-lateness) may be a re-send
// of an event counted earlier, or one of several copies of an event never
// counted: neither is a loss, and neither may be called unexplained.
func TestExplainFromDecisionLogWithoutRawEvents(t *testing.T) {
	tests := []struct {
		name      string
		build     func(f *fixture) ([]Result, []Decision)
		wantCodes []string
		wantIDs   []string
		wantText  string
	}{{
		name: "a late re-send of a counted event, and a late event",
		build: func(f *fixture) ([]Result, []Decision) {
			a := f.send("d1", "c1", PatternNormal, t0+100, t0+100, 10, 1)
			f.send("d1", "c1", PatternLate, t0+1000, t0+2*minute, 31, 4)
			f.resend(a, t0+2*minute)
			return []Result{result("d1", "c1", 0, 10, 1, 1, t0+11*sec)},
				[]Decision{decide(f, "d1-1", DecisionLate, 0, t0+2*minute-5*sec), decide(f, "d1-2", DecisionLate, 0, t0+2*minute-5*sec)}
		},
		wantCodes: []string{CauseLateDropped}, wantIDs: []string{"d1-2"},
		wantText: "raw events not recorded: d1-1 had a copy counted",
	}, {
		name: "two late copies of one event",
		build: func(f *fixture) ([]Result, []Decision) {
			f.send("d1", "c1", PatternNormal, t0+100, t0+100, 10, 1)
			b := f.send("d1", "c1", PatternLate, t0+1000, t0+2*minute, 31, 4)
			f.resend(b, t0+2*minute+sec)
			d := decide(f, b, DecisionLate, 0, t0+2*minute-5*sec)
			return []Result{result("d1", "c1", 0, 10, 1, 1, t0+11*sec)}, []Decision{d, d}
		},
		wantCodes: []string{CauseLateDropped}, wantIDs: []string{"d1-2"},
	}, {
		name: "an event neither counted nor decided on is still lost",
		build: func(f *fixture) ([]Result, []Decision) {
			f.send("d1", "c1", PatternNormal, t0+100, t0+100, 10, 1)
			f.send("d1", "c1", PatternNormal, t0+200, t0+200, 5, 1)
			return []Result{result("d1", "c1", 0, 10, 1, 1, t0+11*sec)}, nil
		},
		wantCodes: []string{CauseUnexplained},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			results, decisions := tt.build(f)
			run := f.truth()
			run.Raw, run.Run.Flags["record"] = nil, "none"
			j := preset(t, "flink-event")
			j.DecisionLog = true
			rep := New(run, Options{M2Tolerance: DefaultM2Tolerance}).Compare(JobData{Job: j, Results: results, Decisions: decisions})
			var texts []string
			if tt.wantText != "" {
				texts = append(texts, tt.wantText)
			}
			requireCauses(t, rep, 0, tt.wantCodes, tt.wantIDs, texts...)
		})
	}
}
