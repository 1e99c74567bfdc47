package master

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/boontadata/boontadata/pkg/job"
	"github.com/boontadata/boontadata/services/aggregator-master/internal/api"
)

func running(id string) job.Spec {
	return job.Spec{ID: id, Preset: "exact", State: job.StateRunning}
}

func snapOf(records, written, watermark int64, rate float64) Snapshot {
	return Snapshot{Workers: []api.Worker{{WorkerID: "w1"}}, Progress: api.Progress{Workers: 1, Partitions: 2,
		EventsPerSecond: rate, Records: records, Lag: 7, Watermark: watermark, ResultsWritten: written, Poison: 1}}
}

func TestHistorySamples(t *testing.T) {
	h := NewHistory(time.Second, newClock())
	now := t0
	h.Record(now, []job.Spec{running("j1")}, map[string]Snapshot{"j1": snapOf(10, 0, 0, 5)})
	now = now.Add(2 * time.Second)
	h.Record(now, []job.Spec{running("j1")}, map[string]Snapshot{"j1": snapOf(30, 8, now.UnixMilli()-1500, 6)})

	got, ok := h.Job("j1")
	require.True(t, ok)
	require.Len(t, got.Recent, 2)
	require.Equal(t, got.Recent, got.Life)
	first, second := got.Recent[0], got.Recent[1]
	require.Equal(t, t0.UnixMilli(), first.TimeMs)
	require.Nil(t, first.WatermarkDelayMs, "no watermark yet: no delay")
	require.Equal(t, int64(30), second.Records)
	require.Equal(t, 6.0, second.EventsPerSecond)
	require.Equal(t, int64(7), second.Lag)
	require.Equal(t, int64(1), second.DeadLetters)
	require.NotNil(t, second.WatermarkDelayMs)
	require.Equal(t, int64(1500), *second.WatermarkDelayMs)
	require.Equal(t, 4.0, second.ResultsPerSecond, "8 results in 2 s")
	require.Equal(t, int64(1000), got.IntervalMs)

	_, ok = h.Job("nope")
	require.False(t, ok)
}

func TestHistoryExternalEngine(t *testing.T) {
	h := NewHistory(time.Second, newClock())
	snap := Snapshot{Progress: api.Progress{External: &job.ExternalProgress{Lines: 12, Results: 10, BadLines: 2, Late: 4}}}
	h.Record(t0, []job.Spec{running("spark-1")}, map[string]Snapshot{"spark-1": snap})
	got, _ := h.Job("spark-1")
	require.Equal(t, int64(10), got.Recent[0].ResultsWritten, "the results ingestion's results")
	require.Equal(t, int64(2), got.Recent[0].DeadLetters, "bad result lines are dead letters")
	require.Equal(t, int64(4), got.Recent[0].Late, "the late drops the engine reported")
}

func TestHistoryIsBounded(t *testing.T) {
	h := NewHistory(time.Second, newClock())
	n := LifeSamples*2 + 10
	for i := range n {
		h.Record(t0.Add(time.Duration(i)*time.Second), []job.Spec{running("j1")},
			map[string]Snapshot{"j1": snapOf(int64(i), 0, 0, 1)})
	}
	got, _ := h.Job("j1")
	require.Len(t, got.Recent, RecentSamples)
	require.Equal(t, int64(n-1), got.Recent[RecentSamples-1].Records, "recent keeps the newest")
	require.LessOrEqual(t, len(got.Life), LifeSamples+1)
	require.Greater(t, len(got.Life), LifeSamples/2)
	require.Equal(t, int64(4000), got.StepMs, "thinned twice: every 4th sample")
	require.Equal(t, int64(n-1), got.Life[len(got.Life)-1].Records, "the life ends with the latest sample")
	require.Less(t, got.Life[0].TimeMs, t0.Add(10*time.Second).UnixMilli(), "the life starts at the job's start")
	for i := 1; i < len(got.Life); i++ {
		require.Greater(t, got.Life[i].TimeMs, got.Life[i-1].TimeMs, "in time order")
	}
}

func TestHistoryKeepsEndedJobsAndEvicts(t *testing.T) {
	h := NewHistory(time.Second, newClock())
	specs := make([]job.Spec, 0, MaxHistoryJobs)
	snaps := map[string]Snapshot{}
	for i := range MaxHistoryJobs {
		id := fmt.Sprintf("j%03d", i)
		specs = append(specs, running(id))
		snaps[id] = snapOf(1, 0, 0, 1)
	}
	h.Record(t0, specs, snaps)
	require.Equal(t, MaxHistoryJobs, h.Jobs())

	// j050 ends: no more samples, its history stays.
	specs[50].State = job.StateCancelled
	delete(snaps, "j050")
	h.Record(t0.Add(time.Second), specs, snaps)
	got, ok := h.Job("j050")
	require.True(t, ok)
	require.Len(t, got.Recent, 1, "not sampled once ended")

	// A new job evicts the ended one first.
	specs = append(specs, running("new"))
	snaps["new"] = snapOf(1, 0, 0, 1)
	h.Record(t0.Add(2*time.Second), specs, snaps)
	require.Equal(t, MaxHistoryJobs, h.Jobs())
	_, ok = h.Job("j050")
	require.False(t, ok, "the ended job's history made room")
	_, ok = h.Job("new")
	require.True(t, ok)
}

func TestHistorySamplesTheLastReportsOfAnEndedJob(t *testing.T) {
	h := NewHistory(time.Second, newClock())
	s := running("j1")
	h.Record(t0, []job.Spec{s}, map[string]Snapshot{"j1": snapOf(1, 0, 0, 1)})
	s.State = job.StateFinished
	h.Record(t0.Add(time.Second), []job.Spec{s}, map[string]Snapshot{"j1": snapOf(9, 0, 0, 1)})
	got, _ := h.Job("j1")
	require.Len(t, got.Recent, 2, "a worker still reports it")
	require.Equal(t, int64(9), got.Recent[1].Records)
}

func TestHistoryRecentErrors(t *testing.T) {
	h := NewHistory(time.Second, newClock())
	e1 := api.WorkerError{WorkerID: "w1", Error: "cassandra down", Time: t0}
	e2 := api.WorkerError{WorkerID: "w2", Error: "kafka down", Time: t0.Add(time.Second)}
	snap := snapOf(1, 0, 0, 1)
	snap.Progress.Errors = []api.WorkerError{e1}
	h.Record(t0, []job.Spec{running("j1")}, map[string]Snapshot{"j1": snap})
	snap.Progress.Errors = []api.WorkerError{e1, e2}
	snap.Progress.LastError = &e2
	h.Record(t0.Add(time.Second), []job.Spec{running("j1")}, map[string]Snapshot{"j1": snap})
	got, _ := h.Job("j1")
	require.Equal(t, []api.WorkerError{e2, e1}, got.Errors, "each once, newest first")

	for i := range maxRecentErrors + 5 {
		snap.Progress.Errors = []api.WorkerError{{WorkerID: "w1", Error: fmt.Sprint("error ", i), Time: t0.Add(time.Duration(i+2) * time.Second)}}
		h.Record(t0.Add(time.Duration(i+2)*time.Second), []job.Spec{running("j1")}, map[string]Snapshot{"j1": snap})
	}
	got, _ = h.Job("j1")
	require.Len(t, got.Errors, maxRecentErrors)
	require.Equal(t, fmt.Sprint("error ", maxRecentErrors+4), got.Errors[0].Error)
}

func TestHistoryRecentWindow(t *testing.T) {
	h := NewHistory(time.Second, newClock())
	for i := range 10 {
		h.Record(t0.Add(time.Duration(i)*time.Minute), []job.Spec{running("j1")}, map[string]Snapshot{"j1": snapOf(int64(i), 0, 0, 1)})
	}
	got := h.Recent(t0.Add(9*time.Minute), 5*time.Minute)
	require.Len(t, got["j1"], 6, "minutes 4 to 9")
	require.Equal(t, int64(4), got["j1"][0].Records)
}

func TestBatchHistograms(t *testing.T) {
	var b batchHistograms
	b.observe(api.Batch{InputRows: 50, SchedulingDelayMs: 20, ProcessingMs: 300, TotalDelayMs: 320})
	b.observe(api.Batch{InputRows: 5000, SchedulingDelayMs: 1200, ProcessingMs: 100, TotalDelayMs: 1300})
	require.Equal(t, uint64(2), b.count)
	require.Equal(t, map[float64]uint64{0: 0, 10: 0, 100: 1, 1000: 1, 1e4: 2, 1e5: 2, 1e6: 2, 1e7: 2}, b.inputRows.cumulative())
	require.Equal(t, uint64(1), b.processing.cumulative()[0.1], "le is inclusive")
	require.InDelta(t, 1.62, b.total.sum, 1e-9)
	c := b.clone()
	c.processing.observe(1)
	require.Equal(t, uint64(2), b.processing.cumulative()[60], "a clone does not share its counts")
}

func TestDriverReportsCompletedBatches(t *testing.T) {
	ctx := context.Background()
	clock := newClock()
	store, offs := newFakeBatches(), &fakeOffsets{newest: map[int32]int64{0: 10, 1: 4}}
	d, _ := newTestDriver(t, store, offs, clock)
	var got []api.Batch
	d.onBatch = func(id string, b api.Batch) {
		require.Equal(t, "s1", id)
		got = append(got, b)
	}
	_, err := d.step(ctx)
	require.NoError(t, err)
	clock.Add(5*time.Second + 300*time.Millisecond) // planned 300 ms after its trigger
	_, err = d.step(ctx)
	require.NoError(t, err)
	clock.Add(700 * time.Millisecond)
	store.ack(1, 0, 1)
	_, err = d.step(ctx)
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, int64(14), got[0].InputRows)
	require.Equal(t, int64(300), got[0].SchedulingDelayMs)
	require.Equal(t, int64(700), got[0].ProcessingMs)
	require.Equal(t, int64(1000), got[0].TotalDelayMs)
}
