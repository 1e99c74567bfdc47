package master

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/boontadata/boontadata/pkg/job"
	"github.com/boontadata/boontadata/services/aggregator-master/internal/api"
)

func part(p int32, lag, wm int64, rate float64) job.PartitionProgress {
	return job.PartitionProgress{Partition: p, Lag: lag, Watermark: wm, EventsPerSecond: rate,
		Records: 10, Accepted: 8, Late: 1, Duplicates: 1, Poison: 1, OtherRuns: 1,
		ResultsEmitted: 3, ResultsWritten: 2, OpenWindows: 1, OffsetResets: 1}
}

func report(worker, jobID string, parts ...job.PartitionProgress) job.WorkerReport {
	return job.WorkerReport{WorkerID: worker, JobID: jobID, Time: t0, Partitions: parts}
}

func TestTrackerAggregates(t *testing.T) {
	// step is a report observed after the clock moved by wait.
	type step struct {
		wait time.Duration
		r    job.WorkerReport
	}
	tests := []struct {
		name      string
		steps     []step
		readAfter time.Duration
		want      api.Progress // LastReport and errors compared apart
		workers   []string
		parts     map[int32]string // partition -> reporting worker
		errors    int
		lastError string
	}{
		{
			name:  "no report",
			steps: nil,
			want:  api.Progress{},
		},
		{
			name: "sums over workers and partitions",
			steps: []step{
				{r: report("w1", "j", part(0, 5, 1000, 1.5), part(1, 7, 900, 2))},
				{r: report("w2", "j", part(2, 11, 0, 0.5))},
				{r: report("w3", "other", part(0, 100, 1, 100))},
			},
			want: api.Progress{Workers: 2, Partitions: 3, Lag: 23, EventsPerSecond: 4, Watermark: 900,
				Records: 30, Accepted: 24, Late: 3, Duplicates: 3, Poison: 3, OtherRuns: 3,
				ResultsEmitted: 9, ResultsWritten: 6, OffsetResets: 3, OpenWindows: 3},
			workers: []string{"w1", "w2"},
			parts:   map[int32]string{0: "w1", 1: "w1", 2: "w2"},
		},
		{
			name: "a newer report replaces the worker's previous one",
			steps: []step{
				{r: report("w1", "j", part(0, 50, 1000, 1), part(1, 50, 1000, 1))},
				{wait: time.Second, r: report("w1", "j", part(0, 5, 2000, 3))},
			},
			want: api.Progress{Workers: 1, Partitions: 1, Lag: 5, EventsPerSecond: 3, Watermark: 2000,
				Records: 10, Accepted: 8, Late: 1, Duplicates: 1, Poison: 1, OtherRuns: 1,
				ResultsEmitted: 3, ResultsWritten: 2, OffsetResets: 1, OpenWindows: 1},
			workers: []string{"w1"},
			parts:   map[int32]string{0: "w1"},
		},
		{
			name: "a partition reported by two workers counts once, from the freshest",
			steps: []step{
				{r: report("w1", "j", part(0, 50, 1000, 1))},
				{wait: time.Second, r: report("w2", "j", part(0, 5, 2000, 2))},
			},
			want: api.Progress{Workers: 2, Partitions: 1, Lag: 5, EventsPerSecond: 2, Watermark: 2000,
				Records: 10, Accepted: 8, Late: 1, Duplicates: 1, Poison: 1, OtherRuns: 1,
				ResultsEmitted: 3, ResultsWritten: 2, OffsetResets: 1, OpenWindows: 1},
			workers: []string{"w1", "w2"},
			parts:   map[int32]string{0: "w2"},
		},
		{
			name: "a silent worker expires",
			steps: []step{
				{r: report("w1", "j", part(0, 5, 1000, 1))},
				{wait: 6 * time.Second, r: report("w2", "j", part(1, 7, 1000, 1))},
			},
			readAfter: 5 * time.Second, // w1 silent 11s, w2 5s
			want: api.Progress{Workers: 1, Partitions: 1, Lag: 7, EventsPerSecond: 1, Watermark: 1000,
				Records: 10, Accepted: 8, Late: 1, Duplicates: 1, Poison: 1, OtherRuns: 1,
				ResultsEmitted: 3, ResultsWritten: 2, OffsetResets: 1, OpenWindows: 1},
			workers: []string{"w2"},
			parts:   map[int32]string{1: "w2"},
		},
		{
			name: "a worker at the expiry exactly is kept",
			steps: []step{
				{r: report("w1", "j", part(0, 5, 1000, 1))},
			},
			readAfter: 10 * time.Second,
			want: api.Progress{Workers: 1, Partitions: 1, Lag: 5, EventsPerSecond: 1, Watermark: 1000,
				Records: 10, Accepted: 8, Late: 1, Duplicates: 1, Poison: 1, OtherRuns: 1,
				ResultsEmitted: 3, ResultsWritten: 2, OffsetResets: 1, OpenWindows: 1},
			workers: []string{"w1"},
			parts:   map[int32]string{0: "w1"},
		},
		{
			name: "a stopping worker leaves at once",
			steps: []step{
				{r: report("w1", "j", part(0, 5, 1000, 1))},
				{r: report("w2", "j", part(1, 7, 1000, 1))},
				{r: job.WorkerReport{WorkerID: "w1", JobID: "j", Time: t0, Stopping: true}},
			},
			want: api.Progress{Workers: 1, Partitions: 1, Lag: 7, EventsPerSecond: 1, Watermark: 1000,
				Records: 10, Accepted: 8, Late: 1, Duplicates: 1, Poison: 1, OtherRuns: 1,
				ResultsEmitted: 3, ResultsWritten: 2, OffsetResets: 1, OpenWindows: 1},
			workers: []string{"w2"},
			parts:   map[int32]string{1: "w2"},
		},
		{
			name: "errors of live workers, and the last error kept after its worker left",
			steps: []step{
				{r: job.WorkerReport{WorkerID: "w1", JobID: "j", Time: t0, Error: "offsets out of range"}},
				{r: job.WorkerReport{WorkerID: "w2", JobID: "j", Time: t0, Error: "cassandra timeout"}},
				{r: job.WorkerReport{WorkerID: "w2", JobID: "j", Time: t0, Error: "cassandra timeout", Stopping: true}},
			},
			want:      api.Progress{Workers: 1},
			workers:   []string{"w1"},
			parts:     map[int32]string{},
			errors:    1,
			lastError: "cassandra timeout",
		},
		{
			name: "the watermark ignores partitions without one",
			steps: []step{
				{r: report("w1", "j", part(0, 0, 0, 0), part(1, 0, 3000, 0))},
			},
			want: api.Progress{Workers: 1, Partitions: 2, Watermark: 3000,
				Records: 20, Accepted: 16, Late: 2, Duplicates: 2, Poison: 2, OtherRuns: 2,
				ResultsEmitted: 6, ResultsWritten: 4, OffsetResets: 2, OpenWindows: 2},
			workers: []string{"w1"},
			parts:   map[int32]string{0: "w1", 1: "w1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newClock()
			tr := NewTracker(clock, 10*time.Second)
			var last time.Time
			for _, s := range tt.steps {
				clock.Add(s.wait)
				require.True(t, tr.Observe(s.r))
				if s.r.JobID == "j" && !s.r.Stopping {
					last = clock.Now()
				}
			}
			clock.Add(tt.readAfter)
			snap := tr.Job("j")
			got := snap.Progress
			require.Len(t, got.Errors, tt.errors)
			if tt.lastError == "" {
				require.Nil(t, got.LastError)
			} else {
				require.NotNil(t, got.LastError)
				require.Equal(t, tt.lastError, got.LastError.Error)
			}
			if got.Workers > 0 {
				require.Equal(t, last, got.LastReport)
			}
			got.LastReport, got.Errors, got.LastError = time.Time{}, nil, nil
			require.Equal(t, tt.want, got)

			var workers []string
			for _, w := range snap.Workers {
				workers = append(workers, w.WorkerID)
			}
			require.Equal(t, tt.workers, workers)
			parts := map[int32]string{}
			for _, p := range snap.Partitions {
				parts[p.Partition] = p.WorkerID
			}
			if tt.parts != nil {
				require.Equal(t, tt.parts, parts)
			}
			_, listed := tr.All()["j"]
			require.Equal(t, len(snap.Workers) > 0 || tt.lastError != "", listed)
		})
	}
}

func TestTrackerForgetsJobsWithoutWorkers(t *testing.T) {
	clock := newClock()
	tr := NewTracker(clock, 10*time.Second)
	tr.Observe(report("w1", "j", part(0, 1, 1, 1)))
	require.Len(t, tr.All(), 1)
	clock.Add(11 * time.Second)
	require.Empty(t, tr.All())
	require.Zero(t, tr.tracked)
}

func TestTrackerIsBounded(t *testing.T) {
	clock := newClock()
	tr := NewTracker(clock, 10*time.Second)
	for i := range MaxTrackedWorkers {
		require.True(t, tr.Observe(report(fmt.Sprintf("w%d", i), "j")))
	}
	require.False(t, tr.Observe(report("one-too-many", "j")))
	require.False(t, tr.Observe(report("w", "another-job")))
	require.Equal(t, int64(2), tr.Dropped())
	require.True(t, tr.Observe(report("w0", "j")), "a known worker still reports")
	require.NotContains(t, tr.All(), "another-job")

	clock.Add(11 * time.Second)
	require.True(t, tr.Observe(report("w-new", "j")), "expired workers free their places")
	require.Equal(t, 1, tr.Job("j").Progress.Workers)
}
