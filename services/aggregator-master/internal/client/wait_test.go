package client

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/boontadata/boontadata/pkg/job"
	"github.com/boontadata/boontadata/services/aggregator-master/internal/api"
)

func waitDetail(preset string, written int64, wm int64, lags ...int64) api.JobDetail {
	d := api.JobDetail{Job: api.Job{Spec: job.Spec{ID: "j", Preset: preset}.WithDefaults()}}
	d.Progress.Workers = 1
	d.Progress.ResultsWritten = written
	d.Progress.Watermark = wm
	for i, l := range lags {
		pp := api.Partition{WorkerID: "w"}
		pp.Partition, pp.Lag = int32(i), l
		d.Partitions = append(d.Partitions, pp)
		d.Progress.Lag += l
	}
	return d
}

func TestWaiter(t *testing.T) {
	t0 := time.UnixMilli(1_767_225_600_000)
	end := t0.Add(12 * time.Second) // last window [10s, 15s)
	tests := []struct {
		name  string
		d     api.JobDetail
		want  bool
		state string
	}{
		{"a partition unclaimed", waitDetail("exact", 5, 0, 0), false, "not claimed yet: 1"},
		{"lagging", waitDetail("exact", 5, 0, 0, 3), false, "partitions behind: 1 (lag 3)"},
		{"append before the watermark", waitDetail("flink-event", 5, t0.Add(14*time.Second).UnixMilli(), 0, 0), false, "waiting for the watermark"},
		{"append after the watermark", waitDetail("flink-event", 5, t0.Add(15*time.Second).UnixMilli(), 0, 0), true, ""},
		{"update needs no watermark", waitDetail("exact", 5, 0, 0, 0), true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &Waiter{Partitions: 2, EventsEnd: end, Settle: time.Second}
			done, state, err := w.Check(tt.d, t0)
			require.NoError(t, err)
			require.False(t, done, "results must settle first")
			done, state2, err := w.Check(tt.d, t0.Add(2*time.Second))
			require.NoError(t, err)
			require.Equal(t, tt.want, done, state2)
			require.Contains(t, state+state2, tt.state)
		})
	}
}

func TestWaiterSettlesOnlyWhenResultsStopChanging(t *testing.T) {
	t0 := time.Now()
	w := &Waiter{Partitions: 1, Settle: time.Second}
	for i := range 5 {
		done, _, err := w.Check(waitDetail("exact", int64(i), 0, 0), t0.Add(time.Duration(i)*time.Second))
		require.NoError(t, err)
		require.False(t, done, "results still change")
	}
	done, _, err := w.Check(waitDetail("exact", 4, 0, 0), t0.Add(6*time.Second))
	require.NoError(t, err)
	require.True(t, done)
}

func TestWaiterWaitsWhileWorkersReportErrors(t *testing.T) {
	d := waitDetail("exact", 0, 0, 0)
	d.Progress.Errors = []api.WorkerError{{WorkerID: "w1", Error: "broker down"}}
	w := &Waiter{Partitions: 1}
	done, state, err := w.Check(d, time.Now())
	require.NoError(t, err)
	require.False(t, done)
	require.Contains(t, state, "w1: broker down")
	d.Progress.Errors = nil
	done, _, err = w.Check(d, time.Now().Add(time.Second))
	require.NoError(t, err)
	require.True(t, done)
}

func TestWaiterMicroBatch(t *testing.T) {
	t0 := time.UnixMilli(1_767_225_600_000)
	d := api.JobDetail{Job: api.Job{Spec: job.Spec{ID: "j", Preset: "structured"}.WithDefaults()}}
	w := &Waiter{Partitions: 2, Settle: 2 * time.Second}
	done, state, err := w.Check(d, t0)
	require.NoError(t, err)
	require.False(t, done)
	require.Contains(t, state, "no batch completed yet")

	d.Batches = []api.Batch{{BatchID: 2, State: "planned"}, {BatchID: 1, State: "completed", InputRows: 10}}
	done, state, _ = w.Check(d, t0)
	require.False(t, done)
	require.Contains(t, state, "waiting for a batch with no new input")

	d.Batches = append([]api.Batch{{BatchID: 2, State: "completed"}}, d.Batches[1:]...)
	done, state, _ = w.Check(d, t0.Add(time.Second))
	require.False(t, done)
	require.Contains(t, state, "waiting for the results to settle")
	done, _, _ = w.Check(d, t0.Add(2*time.Second))
	require.True(t, done)
}
