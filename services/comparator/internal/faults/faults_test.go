package faults

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/boontadata/boontadata/services/comparator/internal/compare"
)

// own is what one worker reports in a sample: its partitions and their lag,
// and when the master received its report.
type own struct {
	worker   string
	received int64
	lags     map[int32]int64
}

func sample(t int64, state string, owners ...own) Sample {
	s := Sample{TimeMs: t, State: state}
	for _, o := range owners {
		w := Worker{ID: o.worker, ReceivedMs: o.received}
		for p, l := range o.lags {
			w.Partitions = append(w.Partitions, p)
			s.Partitions = append(s.Partitions, Partition{ID: p, Worker: o.worker, Lag: l})
		}
		s.Workers = append(s.Workers, w)
	}
	return s
}

// steady is two workers sharing four partitions, each one record behind,
// reporting at t.
func steady(t int64) Sample {
	return sample(t, "running",
		own{"w1", t, map[int32]int64{0: 1, 1: 1}},
		own{"w2", t, map[int32]int64{2: 1, 3: 1}})
}

// every returns samples every 500 ms from a to b (inclusive) made by f.
func every(a, b int64, f func(int64) Sample) []Sample {
	var out []Sample
	for t := a; t <= b; t += 500 {
		out = append(out, f(t))
	}
	return out
}

func TestMeasure(t *testing.T) {
	killW1 := Fault{Kind: KillWorker, Target: "aggregator-worker-1", WorkerID: "w1", AtMs: 10_000, DoneMs: 10_500, OK: true}
	// After the kill: w1's last report stays (received before the kill)
	// until the rebalance gives its partitions back at 20 s, behind by 50.
	afterKill := func(t int64) Sample {
		switch {
		case t < 15_000:
			return sample(t, "running", own{"w1", 9_500, map[int32]int64{0: 1, 1: 1}}, own{"w2", t, map[int32]int64{2: 1, 3: 1}})
		case t < 20_000:
			return sample(t, "running", own{"w1", t, nil}, own{"w2", t, map[int32]int64{2: 1, 3: 1}})
		case t < 22_000:
			return sample(t, "running", own{"w1", t, map[int32]int64{0: 50}}, own{"w2", t, map[int32]int64{1: 8, 2: 1, 3: 1}})
		}
		return sample(t, "running", own{"w1", t, map[int32]int64{0: 1}}, own{"w2", t, map[int32]int64{1: 1, 2: 1, 3: 1}})
	}
	for _, tc := range []struct {
		name      string
		samples   []Sample
		fault     Fault
		recovered int64
		peak      int64
		note      string
	}{{
		name:      "killed worker: back once its partitions are reported again at the lag before",
		samples:   append(every(4_000, 9_500, steady), every(10_000, 30_000, afterKill)...),
		fault:     killW1,
		recovered: 22_000, peak: 60,
	}, {
		name: "a lag that rises again within the settle time does not count",
		samples: append(every(4_000, 9_500, steady), every(10_000, 30_000, func(t int64) Sample {
			if t == 22_500 {
				return sample(t, "running", own{"w1", t, map[int32]int64{0: 9}}, own{"w2", t, map[int32]int64{1: 1, 2: 1, 3: 1}})
			}
			return afterKill(t)
		})...),
		fault:     killW1,
		recovered: 23_000, peak: 60,
	}, {
		name: "the master's view before the action ended does not count",
		samples: append(every(4_000, 9_500, steady), every(10_000, 30_000, func(t int64) Sample {
			return steady(t) // a master restarted at 12 s: reports from before do not count
		})...),
		fault:     Fault{Kind: KillMaster, Target: "aggregator-master", AtMs: 10_000, DoneMs: 12_000, OK: true},
		recovered: 12_000, peak: 4,
	}, {
		name: "an added worker must own partitions",
		samples: append(every(4_000, 9_500, steady), every(10_000, 30_000, func(t int64) Sample {
			if t < 16_000 {
				return sample(t, "running", own{"w1", t, map[int32]int64{0: 1, 1: 1}}, own{"w2", t, map[int32]int64{2: 1, 3: 1}}, own{"w3", t, nil})
			}
			return sample(t, "running", own{"w1", t, map[int32]int64{0: 1}}, own{"w2", t, map[int32]int64{2: 1, 3: 1}}, own{"w3", t, map[int32]int64{1: 1}})
		})...),
		fault:     Fault{Kind: AddWorker, Target: "aggregator-worker-3", WorkerID: "w3", AtMs: 10_000, DoneMs: 10_200, OK: true},
		recovered: 16_000, peak: 4,
	}, {
		name: "a job that finished is back",
		samples: append(every(4_000, 9_500, steady), every(10_000, 30_000, func(t int64) Sample {
			if t < 18_000 {
				return sample(t, "running", own{"w2", t, map[int32]int64{2: 1}})
			}
			return sample(t, "finished")
		})...),
		fault:     killW1,
		recovered: 18_000, peak: 1,
	}, {
		name:    "never back",
		samples: append(every(4_000, 9_500, steady), every(10_000, 19_500, afterKill)...),
		fault:   killW1, peak: 4,
		note: "not back to its level before the fault within the samples",
	}, {
		name:      "finished before the fault",
		samples:   []Sample{steady(8_000), sample(9_000, "finished"), sample(11_000, "finished")},
		fault:     killW1,
		recovered: 10_000,
		note:      "the job had finished before the fault",
	}, {
		name:      "no sample before the fault: the level is 0",
		samples:   every(10_000, 20_000, func(t int64) Sample { return sample(t, "running", own{"w1", t, map[int32]int64{0: 0}}) }),
		fault:     Fault{Kind: RestartKafka, Target: "kafka", AtMs: 10_000, DoneMs: 14_000, OK: true},
		recovered: 14_000,
		note:      "no sample in the 5s before the fault: level 0",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			r := Measure(tc.samples, tc.fault)
			require.Equal(t, tc.recovered, r.RecoveredMs)
			require.Equal(t, tc.peak, r.PeakLag)
			require.Equal(t, tc.note, r.Note)
		})
	}
}

const timeline = `{"type":"run","run_id":"run-1","send_started_ms":1000}
{"type":"sample","time_ms":9000,"job":{
  "spec": {"job_id": "exact-1", "state": "running"},
  "workers": [{"worker_id": "worker-1", "received_at": "1970-01-01T00:00:08.900Z", "partitions": [0, 1]}],
  "partitions": [{"worker_id": "worker-1", "partition": 0, "lag": 3}, {"worker_id": "worker-1", "partition": 1, "lag": 0}]
}}
{"type":"fault","kind":"restart-kafka","target":"kafka","offset_s":9,"at_ms":10000,"done_ms":14000,"ok":true}
{"type":"sample","time_ms":15000,"job":{"spec":{"job_id":"exact-1","state":"running"},"workers":[{"worker_id":"worker-1","received_at":"1970-01-01T00:00:14.500Z","partitions":[0,1]}],"partitions":[{"worker_id":"worker-1","partition":0,"lag":1},{"worker_id":"worker-1","partition":1,"lag":2}]}}
{"type":"fault","kind":"kill-worker","target":"aggregator-worker-1","worker_id":"worker-1","offset_s":4,"at_ms":5000,"done_ms":5100,"ok":true}
`

func TestReadTimeline(t *testing.T) {
	tl, err := Read(strings.NewReader(timeline))
	require.NoError(t, err)
	require.Equal(t, "run-1", tl.RunID)
	require.Equal(t, int64(1000), tl.SendStartedMs)
	require.Len(t, tl.Faults, 2)
	require.Equal(t, KillWorker, tl.Faults[0].Kind, "faults in time order")
	require.Equal(t, "worker-1", tl.Faults[0].WorkerID)
	require.Len(t, tl.Samples["exact-1"], 2)
	s := tl.Samples["exact-1"][0]
	require.Equal(t, int64(8900), s.Workers[0].ReceivedMs)
	require.Equal(t, []Partition{{ID: 0, Worker: "worker-1", Lag: 3}, {ID: 1, Worker: "worker-1", Lag: 0}}, s.Partitions)

	r := Measure(tl.Samples["exact-1"], tl.Faults[1])
	require.Equal(t, int64(3), r.LagBefore)
	require.Equal(t, int64(15_000), r.RecoveredMs)

	for _, bad := range []struct{ in, want string }{
		{`{"type":"sample","time_ms":1,"job":{"spec":{"job_id":"j"}}}`, "no run line"},
		{`{"type":"run"} {"type":"weather"}`, `unknown type "weather"`},
		{`{"type":"run"} {"type":"fault","kind":"unplug"}`, `unknown fault kind "unplug"`},
		{`{"type":"run"} {"type":"sample","time_ms":1}`, "a sample without a job"},
		{`{"type":"run"} {"type":`, "value 2"},
	} {
		_, err := Read(strings.NewReader(bad.in))
		require.ErrorContains(t, err, bad.want)
	}
}

func TestAssess(t *testing.T) {
	tl := Timeline{
		Faults: []Fault{{Kind: KillWorker, Target: "aggregator-worker-1", WorkerID: "w1", AtMs: 10_000, DoneMs: 10_500, OK: true}},
		Samples: map[string][]Sample{"exact-1": append(every(4_000, 9_500, steady), every(10_000, 14_000, func(t int64) Sample {
			return sample(t, "running", own{"w1", t, map[int32]int64{0: 1, 1: 1}}, own{"w2", t, map[int32]int64{2: 1, 3: 1}})
		})...)},
	}
	row := func(end int64, exception bool, causes ...string) compare.Row {
		r := compare.Row{WindowEnd: end, Exception: exception}
		for _, c := range causes {
			r.Causes = append(r.Causes, compare.Cause{Code: c})
		}
		return r
	}
	reports := []compare.Report{{
		JobID: "exact-1", WatermarkDelayMs: 1_000,
		Rows: []compare.Row{
			row(8_000, true, compare.CauseUnexplained), // closed before the fault
			row(9_500, true, compare.CauseLateDropped), // open at the fault: explained
			row(12_000, true, compare.CauseDuplicateCounted, compare.CauseUnexplained),
			row(13_000, false),
		},
	}, {JobID: "storm-1", Problem: "no results"}}
	got := Assess(tl, reports)
	require.Len(t, got, 1)
	require.Equal(t, int64(500), got[0].ActionMs)
	require.Equal(t, "1970-01-01 00:00:10.000", got[0].AtUTC)
	require.Len(t, got[0].Jobs, 2)
	e := got[0].Jobs[0]
	require.NotNil(t, e.RecoveryMs)
	require.Equal(t, int64(500), *e.RecoveryMs, "back at 10.5 s, when w1 reports again")
	require.Equal(t, int64(4), e.LagBefore)
	require.Equal(t, 2, e.Exceptions)
	require.Equal(t, 1, e.Unexplained)
	require.True(t, e.ResultsChanged)
	s := got[0].Jobs[1]
	require.Nil(t, s.RecoveryMs)
	require.Equal(t, "no progress sample of the job; nothing compared: no results", s.Note)
	require.False(t, s.ResultsChanged)
}
