package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"

	"github.com/boontadata/boontadata/pkg/engine"
	"github.com/boontadata/boontadata/pkg/kafka"
)

// endOfRun is the end-of-run marker of run at offset.
func endOfRun(offset int64, run string) *sarama.ConsumerMessage {
	msg := kafka.EndOfRunMessages("events", run, "test", []int32{3}, time.UnixMilli(t0))[0]
	headers := make([]*sarama.RecordHeader, len(msg.Headers))
	for i := range msg.Headers {
		headers[i] = &msg.Headers[i]
	}
	return &sarama.ConsumerMessage{Topic: "events", Partition: 3, Offset: offset, Value: []byte(kafka.EndOfRunPrefix + run), Headers: headers}
}

// handOver gives the metadata p committed last to a fresh partition of the
// same job, as the partition's next owner reads it, claiming from the
// committed offset.
func handOver(t *testing.T, m *fakeMarker, preset, run string, highWatermark int64) (*partition, *fakeDLQ) {
	t.Helper()
	next, _, d, _ := newTestPartition(t, preset, run)
	meta, err := parseCommitMeta(m.last[3].metadata)
	require.NoError(t, err)
	require.NoError(t, next.restore(meta))
	next.begin(m.last[3].offset, highWatermark)
	return next, d
}

func TestHandOverCountsReplayedRecordsOnce(t *testing.T) {
	p, _, _, _ := newTestPartition(t, "exact", "r1")
	ctx := context.Background()
	m := &fakeMarker{}
	line := func(i int) string { return fmt.Sprintf("m%d|dev-1|%d|cat-1|%d|1.5", i, t0+int64(i)*100, i+1) }
	for i := range 3 {
		require.NoError(t, handleOne(ctx, p, record(int64(10+i), line(i), "r1")))
	}
	require.NoError(t, p.tick(ctx, m))
	require.Equal(t, int64(10), m.last[3].offset, "the open window still needs offset 10")

	next, _ := handOver(t, m, "exact", "r1", 15)
	pp := next.progress()
	require.Equal(t, int64(3), pp.Records, "the count of the previous owner, before anything is read")
	require.Equal(t, int64(5), pp.Lag, "the lag from the committed offset")
	require.Equal(t, int64(10), pp.NextOffset)
	batch := []*sarama.ConsumerMessage{}
	for i := range 5 {
		batch = append(batch, record(int64(10+i), line(i), "r1"))
	}
	_, err := next.handle(ctx, batch)
	require.NoError(t, err)
	next.updateProgress(15)
	pp = next.progress()
	require.Equal(t, int64(5), pp.Records, "three replayed records count once, two new ones once")
	require.Equal(t, int64(5), pp.Accepted)
	require.Zero(t, pp.Lag)

	// And a third owner, from what the second committed.
	m2 := &fakeMarker{}
	require.NoError(t, next.tick(ctx, m2))
	third, _ := handOver(t, m2, "exact", "r1", 15)
	require.Equal(t, int64(5), third.progress().Records)
}

func TestHandOverOfAPartitionReadToItsEnd(t *testing.T) {
	for _, preset := range []string{"storm", "flink-processing", "exact"} {
		t.Run(preset, func(t *testing.T) {
			p, _, _, _ := newTestPartition(t, preset, "r1")
			ctx := context.Background()
			m := &fakeMarker{}
			msgs := []*sarama.ConsumerMessage{
				record(0, fmt.Sprintf("m1|dev-1|%d|cat-1|1|1", t0), "r1"),
				record(1, fmt.Sprintf("m2|dev-1|%d|cat-1|2|1", t0+1), "r1"),
				endOfRun(2, "r1"),
			}
			_, err := p.handle(ctx, msgs)
			require.NoError(t, err)
			require.NoError(t, p.tick(ctx, m))
			committed := m.last[3].offset
			require.GreaterOrEqual(t, committed, int64(2), "nothing open after the end of the run")

			// The next owner reads what is left from the committed offset
			// (the end-of-run marker at most, replayed): then nothing.
			next, _ := handOver(t, m, preset, "r1", 3)
			_, err = next.handle(ctx, msgs[committed:])
			require.NoError(t, err)
			require.NoError(t, next.tick(ctx, &fakeMarker{}))
			next.updateProgress(3)
			pp := next.progress()
			require.Zero(t, pp.Lag)
			require.Equal(t, int64(2), pp.Records)
			require.True(t, pp.Ended, "the end of the run was read by the previous owner")
		})
	}
}

func TestHandOverDoesNotDeadLetterAReplayedPoisonRecord(t *testing.T) {
	p, _, d, _ := newTestPartition(t, "exact", "r1")
	ctx := context.Background()
	m := &fakeMarker{}
	batch := []*sarama.ConsumerMessage{
		record(10, fmt.Sprintf("m1|dev-1|%d|cat-1|1|1", t0), "r1"),
		record(11, "m2|dev-1|not-a-time|cat-1|1|1", "r1"),
		record(12, fmt.Sprintf("m3|dev-1|%d|cat-1|2|1", t0+1), "r2"),
	}
	_, err := p.handle(ctx, batch)
	require.NoError(t, err)
	require.Len(t, d.msgs, 1)
	require.NoError(t, p.tick(ctx, m))
	require.Equal(t, int64(10), m.last[3].offset)

	next, nd := handOver(t, m, "exact", "r1", 14)
	_, err = next.handle(ctx, append(batch, record(13, "m4|dev-1|broken|cat-1|1|1", "r1")))
	require.NoError(t, err)
	next.updateProgress(14)
	require.Len(t, nd.msgs, 1, "the replayed poison record was dead-lettered by the previous owner; the new one is sent")
	pp := next.progress()
	require.Equal(t, int64(2), pp.Poison)
	require.Equal(t, int64(1), pp.OtherRuns)
	require.Equal(t, int64(1), pp.Records)
}

func TestCommitMetaReadsOlderCheckpoints(t *testing.T) {
	b, err := json.Marshal(engine.Checkpoint{Watermark: 7, Seen: true, NextOffset: 12})
	require.NoError(t, err)
	meta, err := parseCommitMeta(string(b))
	require.NoError(t, err)
	require.NotNil(t, meta.Checkpoint)
	require.Equal(t, int64(12), meta.Checkpoint.NextOffset)
	require.Nil(t, meta.Tally, "a commit of a worker without tallies")

	_, err = parseCommitMeta("{not json")
	require.Error(t, err)
}

func TestAPartitionOfAWorkerThatStoodStillWritesNothingMore(t *testing.T) {
	p, w, _, now := newTestPartition(t, "exact", "r1")
	clock := func() time.Time { return *now }
	watch := newFreezeWatch(9*time.Second, clock)
	p.watch, p.claimed = watch, clock()
	ctx := context.Background()
	m := &fakeMarker{}
	require.NoError(t, handleOne(ctx, p, record(10, fmt.Sprintf("m1|dev-1|%d|cat-1|1|1", t0), "r1")))
	require.NoError(t, p.tick(ctx, m))
	require.Len(t, w.written, 1)

	// Busy, not frozen: the watch wakes up all along.
	for range 50 {
		*now = now.Add(200 * time.Millisecond)
		watch.observe()
	}
	require.NoError(t, handleOne(ctx, p, record(11, fmt.Sprintf("m2|dev-1|%d|cat-1|2|1", t0+1), "r1")))
	require.NoError(t, p.tick(ctx, m))
	require.Equal(t, int64(3), w.written[resultKey{"r1/j1/dev-1", "cat-1", t0}].SumMeasure1)

	// Frozen for 15 s: the partition learns it before the watch wakes up,
	// and after.
	require.NoError(t, handleOne(ctx, p, record(12, fmt.Sprintf("m3|dev-1|%d|cat-1|4|1", t0+2), "r1")))
	*now = now.Add(15 * time.Second)
	require.ErrorIs(t, p.tick(ctx, m), ErrFenced)
	watch.observe()
	require.ErrorIs(t, p.flush(ctx, m), ErrFenced)
	require.Equal(t, int64(3), w.written[resultKey{"r1/j1/dev-1", "cat-1", t0}].SumMeasure1, "the pending revision is not written")
	require.Equal(t, int64(10), m.last[3].offset, "nor marked")

	// A partition claimed after the freeze writes.
	*now = now.Add(time.Second)
	watch.observe()
	next, nw, _, nnow := newTestPartition(t, "exact", "r1")
	*nnow = *now
	next.watch, next.claimed = watch, clock()
	require.NoError(t, handleOne(ctx, next, record(10, fmt.Sprintf("m1|dev-1|%d|cat-1|1|1", t0), "r1")))
	require.NoError(t, next.tick(ctx, &fakeMarker{}))
	require.Len(t, nw.written, 1)
}
