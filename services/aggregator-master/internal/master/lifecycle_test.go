package master

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/boontadata/boontadata/pkg/job"
)

// TestLifecycleFinishesAJobWhenItsLastPartitionEnds: a job bound to a run
// finishes once every partition of the events topic reported its end, and
// is checked when such a report arrives, not only on the lifecycle's tick
// (an hour here: never during the test).
func TestLifecycleFinishesAJobWhenItsLastPartitionEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clk := newClock()
	jobs := NewJobs(newFakeStore(), &fakePublisher{}, clk, zap.NewNop())
	_, _, err := jobs.Submit(ctx, job.Spec{ID: "j1", Preset: "exact", RunID: "r1"})
	require.NoError(t, err)
	tracker := NewTracker(clk, time.Minute)
	ends := make(chan struct{}) // unbuffered: a second send waits for the first check to end
	lc := &lifecycle{jobs: jobs, tracker: tracker, log: zap.NewNop(), ends: ends,
		partitions: func() ([]int32, error) { return []int32{0, 1}, nil }}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		lc.run(ctx, time.Hour)
	}()
	checked := func() {
		for range 2 {
			select {
			case ends <- struct{}{}:
			case <-time.After(10 * time.Second):
				t.Fatal("the lifecycle does not wake on an end report")
			}
		}
	}
	state := func() string {
		s, ok := jobs.Get("j1")
		require.True(t, ok)
		return s.State
	}

	tracker.Observe(job.WorkerReport{WorkerID: "w1", JobID: "j1", Time: t0,
		Partitions: []job.PartitionProgress{{Partition: 0, Ended: true}, {Partition: 1}}})
	checked()
	require.Equal(t, job.StateRunning, state(), "partition 1 has not ended")

	tracker.Observe(job.WorkerReport{WorkerID: "w1", JobID: "j1", Time: t0,
		Partitions: []job.PartitionProgress{{Partition: 0, Ended: true}, {Partition: 1, Ended: true}}})
	checked()
	require.Equal(t, job.StateFinished, state())
	cancel()
	<-stopped
}

// TestObserveWakesTheLifecycleOnAnEnd: a report that says a partition or an
// engine under test ended asks for a check; others do not.
func TestObserveWakesTheLifecycleOnAnEnd(t *testing.T) {
	f := newFixtureWith(t, func(*Config) {})
	for _, tc := range []struct {
		name string
		rep  job.WorkerReport
		wake bool
	}{
		{"no partition ended", job.WorkerReport{Partitions: []job.PartitionProgress{{Partition: 0}}}, false},
		{"a partition ended", job.WorkerReport{Partitions: []job.PartitionProgress{{Partition: 0}, {Partition: 1, Ended: true}}}, true},
		{"an engine under test ended", job.WorkerReport{External: &job.ExternalProgress{Ended: true}}, true},
		{"an engine under test runs", job.WorkerReport{External: &job.ExternalProgress{Started: true}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.rep.WorkerID, tc.rep.JobID, tc.rep.Time = "w1", "j1", t0
			f.m.Observe(tc.rep)
			select {
			case <-f.m.ends:
				require.True(t, tc.wake, "woken")
			default:
				require.False(t, tc.wake, "not woken")
			}
		})
	}
}
