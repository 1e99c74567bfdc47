package master

import (
	"context"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/boontadata/boontadata/pkg/job"
)

// fakeBatches is a BatchStore in memory; acks are set by the test.
type fakeBatches struct {
	mu      sync.Mutex
	batches map[int64]Batch
	acks    map[int64]map[int32]job.TaskAck
	saves   []Batch
}

func newFakeBatches() *fakeBatches {
	return &fakeBatches{batches: map[int64]Batch{}, acks: map[int64]map[int32]job.TaskAck{}}
}

func (f *fakeBatches) Latest(_ context.Context, _ string, n int) ([]Batch, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Batch
	for id := int64(len(f.batches)); id >= 1 && len(out) < n; id-- {
		out = append(out, f.batches[id])
	}
	return out, nil
}

func (f *fakeBatches) Save(_ context.Context, b Batch) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.batches[b.ID] = b
	f.saves = append(f.saves, b)
	return nil
}

func (f *fakeBatches) Acks(_ context.Context, _ string, id int64) (map[int32]job.TaskAck, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[int32]job.TaskAck{}
	for p, a := range f.acks[id] {
		out[p] = a
	}
	return out, nil
}

func (f *fakeBatches) ack(id int64, parts ...int32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.acks[id] == nil {
		f.acks[id] = map[int32]job.TaskAck{}
	}
	for _, p := range parts {
		f.acks[id][p] = job.TaskAck{BatchID: id, Partition: p, PartitionWatermark: math.MinInt64}
	}
}

// ackMark acknowledges one partition's task with its mark.
func (f *fakeBatches) ackMark(id int64, p int32, wm int64, ended bool, records int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.acks[id] == nil {
		f.acks[id] = map[int32]job.TaskAck{}
	}
	f.acks[id][p] = job.TaskAck{BatchID: id, Partition: p, PartitionWatermark: wm, Ended: ended, RunRecords: records}
}

type fakeOffsets struct{ newest map[int32]int64 }

func (f *fakeOffsets) Partitions() ([]int32, error) { return []int32{0, 1}, nil }
func (f *fakeOffsets) Offset(p int32, which int64) (int64, error) {
	if which == sarama.OffsetOldest {
		return 0, nil
	}
	return f.newest[p], nil
}

// fakeTasks records the tasks and checks the plan was saved first.
type fakeTasks struct {
	store *fakeBatches
	sent  []job.Task
	t     *testing.T
}

func (f *fakeTasks) Send(ts []job.Task) error {
	for _, tk := range ts {
		f.store.mu.Lock()
		_, planned := f.store.batches[tk.BatchID]
		f.store.mu.Unlock()
		require.True(f.t, planned, "task of batch %d sent before its plan was saved", tk.BatchID)
	}
	f.sent = append(f.sent, ts...)
	return nil
}

func newTestDriver(t *testing.T, store *fakeBatches, offs *fakeOffsets, clock *manualClock) (*driver, *fakeTasks) {
	return newRunDriver(t, store, offs, clock, "")
}

func newRunDriver(t *testing.T, store *fakeBatches, offs *fakeOffsets, clock *manualClock, runID string) (*driver, *fakeTasks) {
	tasks := &fakeTasks{store: store, t: t}
	d, err := newDriver(job.Spec{ID: "s1", RunID: runID, Preset: "structured"}.WithDefaults(),
		MicroBatchDeps{Batches: store, Offsets: offs, Tasks: tasks, TaskTimeout: 10 * time.Second}, clock, zaptest.NewLogger(t))
	require.NoError(t, err)
	return d, tasks
}

func TestDriverPlansBatchesWithoutOverlap(t *testing.T) {
	ctx := context.Background()
	clock := newClock() // t0 is on a 5 s boundary
	store, offs := newFakeBatches(), &fakeOffsets{newest: map[int32]int64{0: 10, 1: 4}}
	d, tasks := newTestDriver(t, store, offs, clock)

	wait, err := d.step(ctx)
	require.NoError(t, err)
	require.Equal(t, 5*time.Second, wait, "the first batch waits for the next trigger")
	require.Empty(t, tasks.sent)

	clock.Add(5 * time.Second)
	_, err = d.step(ctx)
	require.NoError(t, err)
	require.Len(t, tasks.sent, 2)
	b1 := store.batches[1]
	require.Equal(t, job.BatchPlanned, b1.State)
	require.Equal(t, t0.Add(5*time.Second).UnixMilli(), b1.Time)
	require.Equal(t, map[int32][2]int64{0: {0, 10}, 1: {0, 4}}, b1.Ranges)

	// Not complete until every partition acknowledged.
	store.ack(1, 0)
	_, err = d.step(ctx)
	require.NoError(t, err)
	require.Equal(t, job.BatchPlanned, store.batches[1].State)
	store.ack(1, 1)
	_, err = d.step(ctx)
	require.NoError(t, err)
	require.Equal(t, job.BatchCompleted, store.batches[1].State)

	// The next batch starts where the last ended, at its trigger.
	offs.newest[0] = 15
	wait, err = d.step(ctx)
	require.NoError(t, err)
	require.Equal(t, 5*time.Second, wait)
	clock.Add(5 * time.Second)
	_, err = d.step(ctx)
	require.NoError(t, err)
	b2 := store.batches[2]
	require.Equal(t, map[int32][2]int64{0: {10, 15}, 1: {4, 4}}, b2.Ranges)
	require.Equal(t, b1.Time, tasks.sent[2].PrevBatchTime)
}

func TestDriverLateBatchTakesEverythingPending(t *testing.T) {
	ctx := context.Background()
	clock := newClock()
	store, offs := newFakeBatches(), &fakeOffsets{newest: map[int32]int64{0: 10, 1: 4}}
	d, _ := newTestDriver(t, store, offs, clock)
	_, err := d.step(ctx)
	require.NoError(t, err)
	clock.Add(5 * time.Second)
	_, err = d.step(ctx)
	require.NoError(t, err)
	_, err = d.step(ctx)
	require.NoError(t, err)

	// Batch 1 takes 12 s: two triggers pass while it runs.
	clock.Add(12 * time.Second)
	offs.newest[0], offs.newest[1] = 40, 9
	store.ack(1, 0, 1)
	_, err = d.step(ctx)
	require.NoError(t, err)
	_, err = d.step(ctx)
	require.NoError(t, err)
	b2 := store.batches[2]
	require.Equal(t, t0.Add(15*time.Second).UnixMilli(), b2.Time, "the batch time is the last trigger passed")
	require.Equal(t, map[int32][2]int64{0: {10, 40}, 1: {4, 9}}, b2.Ranges, "everything pending, no overlap")
	info := BatchInfo([]Batch{b2, store.batches[1]}, 5000)
	require.True(t, info[0].Late)
	require.Equal(t, int64(7000), info[0].SchedulingDelayMs, "due at t0+10s, started at t0+17s")
	require.Equal(t, int64(35), info[0].InputRows)
	require.False(t, info[1].Late)
}

func TestDriverReissuesTimedOutTasksAndResumesAfterRestart(t *testing.T) {
	ctx := context.Background()
	clock := newClock()
	store, offs := newFakeBatches(), &fakeOffsets{newest: map[int32]int64{0: 10, 1: 4}}
	d, tasks := newTestDriver(t, store, offs, clock)
	_, err := d.step(ctx)
	require.NoError(t, err)
	clock.Add(5 * time.Second)
	_, err = d.step(ctx)
	require.NoError(t, err)
	store.ack(1, 0)
	clock.Add(11 * time.Second)
	_, err = d.step(ctx)
	require.NoError(t, err)
	require.Len(t, tasks.sent, 3, "the unacknowledged task is sent again")
	require.Equal(t, int32(1), tasks.sent[2].Partition)
	require.Equal(t, 1, tasks.sent[2].Attempt)

	// A new master (a restart) re-runs the incomplete batch with the same
	// ranges, then goes on.
	d2, tasks2 := newTestDriver(t, store, offs, clock)
	offs.newest[0] = 99
	_, err = d2.step(ctx)
	require.NoError(t, err)
	require.Len(t, tasks2.sent, 1, "only the task not acknowledged")
	none := int64(math.MinInt64)
	require.Equal(t, job.Task{JobID: "s1", Spec: tasks2.sent[0].Spec, BatchID: 1, BatchTime: store.batches[1].Time,
		Partition: 1, Start: 0, End: 4, Watermark: &none}, tasks2.sent[0])
	store.ack(1, 1)
	_, err = d2.step(ctx)
	require.NoError(t, err)
	require.Equal(t, job.BatchCompleted, store.batches[1].State)
	_, err = d2.step(ctx)
	require.NoError(t, err)
	require.Equal(t, map[int32][2]int64{0: {10, 99}, 1: {4, 4}}, store.batches[2].Ranges)
}

// TestDriverCombinesTheGlobalWatermarkAndEndsTheRun: Spark's driver takes
// max(event time) − delay over every partition of the earlier batches for
// the next batch (structured: 60 s); once every partition read the run's
// end, one last batch runs at once with the final watermark, and the driver
// plans no more.
func TestDriverCombinesTheGlobalWatermarkAndEndsTheRun(t *testing.T) {
	ctx := context.Background()
	clock := newClock()
	store, offs := newFakeBatches(), &fakeOffsets{newest: map[int32]int64{0: 10, 1: 4}}
	d, tasks := newRunDriver(t, store, offs, clock, "r1")
	step := func() {
		t.Helper()
		_, err := d.step(ctx)
		require.NoError(t, err)
	}
	step()
	clock.Add(5 * time.Second)
	step()
	require.Len(t, tasks.sent, 2)
	require.Equal(t, int64(math.MinInt64), *tasks.sent[0].Watermark, "no watermark before any batch")

	// Partition 0 is far ahead of partition 1: the max wins, for both.
	store.ackMark(1, 0, 70_000, false, 10)
	store.ackMark(1, 1, 5_000, false, 4)
	step()
	clock.Add(5 * time.Second)
	step()
	require.Len(t, tasks.sent, 4)
	require.Equal(t, int64(70_000), *tasks.sent[2].Watermark)
	require.Equal(t, int64(70_000), *tasks.sent[3].Watermark)

	// Both partitions read the end of the run: the next batch does not
	// wait for its trigger, and runs under the final watermark.
	store.ackMark(2, 0, 70_000, true, 0)
	store.ackMark(2, 1, 6_000, true, 1)
	step()
	step()
	require.Len(t, tasks.sent, 6, "the last batch is planned at once")
	require.Equal(t, int64(math.MaxInt64), *tasks.sent[4].Watermark)
	store.ack(3, 0, 1)
	step()
	require.Equal(t, job.BatchCompleted, store.batches[3].State)
	clock.Add(time.Minute)
	step()
	require.Len(t, tasks.sent, 6, "no batch after the last")
}
