package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/boontadata/boontadata/pkg/engine"
	"github.com/boontadata/boontadata/pkg/job"
	"github.com/boontadata/boontadata/pkg/kafka"
	"github.com/boontadata/boontadata/services/aggregator-worker/internal/stream"
)

type marked struct {
	offset   int64
	metadata string
}

type fakeMarker struct{ last map[int32]marked }

func (f *fakeMarker) MarkOffset(_ string, p int32, off int64, meta string) {
	if f.last == nil {
		f.last = map[int32]marked{}
	}
	if cur, ok := f.last[p]; !ok || off > cur.offset {
		f.last[p] = marked{off, meta}
	}
}

func (f *fakeMarker) ResetOffset(_ string, p int32, off int64, meta string) {
	if cur, ok := f.last[p]; ok && off <= cur.offset {
		f.last[p] = marked{off, meta}
	}
}

type resultKey struct {
	device, category string
	start            int64
}

type fakeWriter struct {
	mu        sync.Mutex
	failing   int
	calls     int
	written   map[resultKey]engine.Result
	decisions []stream.Decision
}

func (f *fakeWriter) WriteDecisions(_ context.Context, _, _ string, ds []stream.Decision) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.decisions = append(f.decisions, ds...)
	return nil
}

func (f *fakeWriter) Write(_ context.Context, runID, jobID string, rs []engine.Result, _ int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.failing > 0 {
		f.failing--
		return errors.New("cassandra unavailable")
	}
	if f.written == nil {
		f.written = map[resultKey]engine.Result{}
	}
	for _, r := range rs {
		f.written[resultKey{runID + "/" + jobID + "/" + r.DeviceID, r.Category, r.Window.Start}] = r
	}
	return nil
}

type fakeDLQ struct {
	msgs []*sarama.ProducerMessage
	err  error
}

func (f *fakeDLQ) Send(m *sarama.ProducerMessage) error {
	if f.err != nil {
		return f.err
	}
	f.msgs = append(f.msgs, m)
	return nil
}

// handleOne hands one record to p, as a batch of one.
func handleOne(ctx context.Context, p *partition, msg *sarama.ConsumerMessage) error {
	_, err := p.handle(ctx, []*sarama.ConsumerMessage{msg})
	return err
}

const t0 = 1_700_000_000_000 // a window boundary: divisible by 5,000 ms

func record(offset int64, line, run string) *sarama.ConsumerMessage {
	return &sarama.ConsumerMessage{Topic: "events", Partition: 3, Offset: offset, Value: []byte(line),
		Timestamp: time.UnixMilli(t0),
		Headers:   []*sarama.RecordHeader{{Key: []byte(kafka.HeaderRunID), Value: []byte(run)}}}
}

func newTestPartition(t *testing.T, preset, runID string) (*partition, *fakeWriter, *fakeDLQ, *time.Time) {
	t.Helper()
	spec := job.Spec{ID: "j1", RunID: runID, Preset: preset}.WithDefaults()
	espec, err := spec.Engine()
	require.NoError(t, err)
	now := time.UnixMilli(t0)
	w, d := &fakeWriter{}, &fakeDLQ{}
	p, err := newPartition(spec, espec, "events", 3, partitionDeps{
		writer: w, dlq: d, deadTopic: "dead", log: zaptest.NewLogger(t), now: func() time.Time { return now },
	})
	require.NoError(t, err)
	return p, w, d, &now
}

func TestPartitionExactlyOnceMarksFirstOffsetStillNeeded(t *testing.T) {
	p, w, _, now := newTestPartition(t, "exact", "r1")
	ctx := context.Background()
	m := &fakeMarker{}
	for i := range 3 {
		line := fmt.Sprintf("m%d|dev-1|%d|cat-1|%d|1.5", i, t0+int64(i)*100, i+1)
		require.NoError(t, handleOne(ctx, p, record(int64(10+i), line, "r1")))
	}
	*now = now.Add(time.Second)
	require.NoError(t, p.tick(ctx, m))
	// The window is open (watermark 10 s behind): offset 10 is still needed.
	require.Equal(t, int64(10), m.last[3].offset)
	var cp engine.Checkpoint
	require.NoError(t, json.Unmarshal([]byte(m.last[3].metadata), &cp))
	require.Equal(t, int64(13), cp.NextOffset)
	// Update output: the open window was written with its revision.
	r := w.written[resultKey{"r1/j1/dev-1", "cat-1", t0}]
	require.Equal(t, int64(6), r.SumMeasure1)
	require.Equal(t, int64(3), r.Count)
	require.False(t, r.Final)
}

func TestPartitionAtLeastOnceMarksAfterLastRecord(t *testing.T) {
	p, w, _, _ := newTestPartition(t, "storm", "")
	m := &fakeMarker{}
	require.NoError(t, handleOne(context.Background(), p, record(41, fmt.Sprintf("m1|dev-1|%d|cat-1|1|1", t0), "any-run")))
	require.NoError(t, p.tick(context.Background(), m))
	require.Equal(t, int64(42), m.last[3].offset)
	meta, err := parseCommitMeta(m.last[3].metadata)
	require.NoError(t, err)
	require.Nil(t, meta.Checkpoint, "at-least-once: no engine checkpoint")
	require.Equal(t, &tally{Next: 42, Records: 1, Accepted: 1, Results: 1, Written: 1}, meta.Tally)
	require.Len(t, w.written, 1)
	for k := range w.written {
		require.Equal(t, stream.AnyRun+"/j1/dev-1", k.device, "a job of every run stores its results under the run any")
	}
}

func TestPartitionRetriesWritesAndNeverMarksUnwrittenResults(t *testing.T) {
	p, w, _, _ := newTestPartition(t, "storm", "r1")
	m := &fakeMarker{}
	require.NoError(t, handleOne(context.Background(), p, record(5, fmt.Sprintf("m1|dev-1|%d|cat-1|1|1", t0), "r1")))

	w.failing = 100
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	require.Error(t, p.tick(ctx, m))
	require.Empty(t, m.last, "nothing is marked while results are not written")

	w.failing = 1
	require.NoError(t, p.flush(context.Background(), m))
	require.Equal(t, int64(6), m.last[3].offset)
	require.Len(t, w.written, 1)
}

func TestPartitionPoisonGoesToDeadLetter(t *testing.T) {
	p, _, d, _ := newTestPartition(t, "exact", "r1")
	require.NoError(t, handleOne(context.Background(), p, record(7, "m1|dev-1|not-a-time|cat-1|1|1", "r1")))
	require.Len(t, d.msgs, 1)
	msg := d.msgs[0]
	require.Equal(t, "dead", msg.Topic)
	var headers = map[string]string{}
	for _, h := range msg.Headers {
		headers[string(h.Key)] = string(h.Value)
	}
	require.Contains(t, headers[kafka.HeaderError], "device_time_ms")
	require.Equal(t, "device_time_ms", headers[kafka.HeaderErrorField])
	require.Equal(t, "7", headers[kafka.HeaderOriginOffset])
	require.Equal(t, "3", headers[kafka.HeaderOriginPartition])
	require.Equal(t, "r1", headers[kafka.HeaderRunID])
	require.Equal(t, int64(1), p.progress().Poison)
	require.Equal(t, int64(8), p.nextOffset, "the poison record is handled")
}

func TestPartitionBatchKeepsRecordsAroundPoison(t *testing.T) {
	p, w, d, _ := newTestPartition(t, "storm", "r1")
	batch := []*sarama.ConsumerMessage{
		record(20, fmt.Sprintf("m1|dev-1|%d|cat-1|1|1", t0), "r1"),
		record(21, "m2|dev-1|not-a-time|cat-1|1|1", "r1"),
		record(22, fmt.Sprintf("m3|dev-1|%d|cat-1|2|1", t0+1), "r1"),
		record(23, fmt.Sprintf("m4|dev-1|%d|cat-1|4|1", t0+2), "r2"),
	}
	_, err := p.handle(context.Background(), batch)
	require.NoError(t, err)
	require.Len(t, d.msgs, 1)
	require.NoError(t, p.tick(context.Background(), &fakeMarker{}))
	r := w.written[resultKey{"r1/j1/dev-1", "cat-1", t0}]
	require.Equal(t, int64(3), r.SumMeasure1, "both valid records of the run count, around the poison")
	require.Equal(t, int64(2), r.Count)
	require.Equal(t, int64(1), p.progress().OtherRuns)
	require.Equal(t, int64(24), p.nextOffset)

	// A poison record that cannot be dead-lettered before the session ends
	// stops the batch at its own offset: nothing past it is handled.
	d.err = errors.New("kafka down")
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	at, err := p.handle(ended, []*sarama.ConsumerMessage{
		record(24, fmt.Sprintf("m5|dev-1|%d|cat-1|8|1", t0+3), "r1"),
		record(25, "m6|dev-1|not-a-time|cat-1|1|1", "r1"),
		record(26, fmt.Sprintf("m7|dev-1|%d|cat-1|16|1", t0+4), "r1"),
	})
	require.Error(t, err)
	require.Equal(t, int64(25), at)
	require.Equal(t, int64(3), p.eng.Stats().Accepted, "the record before the poison counts, the one after waits")
}

func TestPartitionSkipsOtherRuns(t *testing.T) {
	p, w, _, _ := newTestPartition(t, "storm", "r1")
	m := &fakeMarker{}
	require.NoError(t, handleOne(context.Background(), p, record(0, fmt.Sprintf("m1|dev-1|%d|cat-1|1|1", t0), "r2")))
	require.NoError(t, p.tick(context.Background(), m))
	require.Empty(t, w.written)
	require.Equal(t, int64(1), p.progress().OtherRuns)
	require.Equal(t, int64(1), m.last[3].offset)
}

func TestConfigStopDeadline(t *testing.T) {
	now := time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)
	c := DefaultConfig()
	d, err := c.StopDeadline(now)
	require.NoError(t, err)
	require.True(t, d.IsZero())
	c.StopAt = "09:30"
	d, err = c.StopDeadline(now)
	require.NoError(t, err)
	require.Equal(t, time.Date(2026, 1, 3, 9, 30, 0, 0, time.UTC), d, "a time already past today means tomorrow")
	c.RunFor = time.Hour
	d, err = c.StopDeadline(now)
	require.NoError(t, err)
	require.Equal(t, now.Add(time.Hour), d, "the earlier of the two")
	c.StopAt = "25:99"
	_, err = c.StopDeadline(now)
	require.ErrorIs(t, err, ErrBadStopAt)
}

func TestRunnerRefusesMicroBatch(t *testing.T) {
	c := DefaultConfig()
	_, err := newRunner(&c, job.Spec{ID: "j", Preset: "dstream"}.WithDefaults(), partitionDeps{log: zaptest.NewLogger(t)}, nil)
	require.ErrorIs(t, err, ErrMicroBatch)
}

// gateWriter holds every write of results until released.
type gateWriter struct {
	fakeWriter
	entered chan struct{}
	release chan struct{}
}

func (g *gateWriter) Write(ctx context.Context, runID, jobID string, rs []engine.Result, v int64) error {
	g.entered <- struct{}{}
	select {
	case <-g.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return g.fakeWriter.Write(ctx, runID, jobID, rs, v)
}

// A write in flight does not hold the partition: the end-of-run marker read
// meanwhile closes the last windows at once (their emit time is the
// marker's), they are written once the write before them is, and each
// offset is marked only after what it covers is written, in order.
func TestPartitionReadsOnDuringAWrite(t *testing.T) {
	p, _, _, now := newTestPartition(t, "exact", "r1")
	g := &gateWriter{entered: make(chan struct{}, 2), release: make(chan struct{})}
	p.writer = g
	ctx := context.Background()
	m := &fakeMarker{}
	require.NoError(t, handleOne(ctx, p, record(10, fmt.Sprintf("m1|dev-1|%d|cat-1|1|1", t0), "r1")))
	*now = now.Add(time.Second)
	p.advance()
	require.NoError(t, p.write(ctx, m))
	<-g.entered // the first revision of the window is being written

	require.NoError(t, handleOne(ctx, p, record(11, fmt.Sprintf("m2|dev-1|%d|cat-1|2|1", t0+100), "r1")))
	*now = now.Add(time.Second)
	_, err := p.handle(ctx, []*sarama.ConsumerMessage{endOfRun(12, "r1")})
	require.NoError(t, err)
	require.True(t, p.ended)
	p.advance()
	require.NoError(t, p.write(ctx, m))
	require.True(t, p.due, "the next write waits for the one in flight")
	require.Empty(t, m.last, "nothing is marked before the first write ends")
	require.Equal(t, 1, p.out.Results())
	emitted := now.UnixMilli()
	*now = now.Add(5 * time.Second) // the write in flight takes its time

	g.release <- struct{}{}
	require.NoError(t, p.written(ctx, <-p.done, m))
	require.Equal(t, int64(10), m.last[3].offset, "the first write covered a window still open: offset 10 is still needed")
	require.True(t, p.inflight, "the write that became due started")
	<-g.entered
	g.release <- struct{}{}
	require.NoError(t, p.written(ctx, <-p.done, m))
	require.Equal(t, int64(12), m.last[3].offset, "all written: the engine needs no record before the marker (its checkpoint says the input ended)")
	w := g.written[resultKey{"r1/j1/dev-1", "cat-1", t0}]
	require.True(t, w.Final, "the end of input closed the window")
	require.Equal(t, int64(3), w.SumMeasure1)
	require.Equal(t, emitted, w.EmitTime, "emitted when the marker was read, not when the write before it ended")
	p.updateProgress(13)
	require.True(t, p.progress().Ended)
}

// A write that stopped with its context (the session ended) is written
// again, whole, by the flush that releases the partition.
func TestPartitionRewritesAStoppedWrite(t *testing.T) {
	p, _, _, now := newTestPartition(t, "storm", "r1")
	g := &gateWriter{entered: make(chan struct{}, 2), release: make(chan struct{})}
	p.writer = g
	m := &fakeMarker{}
	session, end := context.WithCancel(context.Background())
	require.NoError(t, handleOne(session, p, record(5, fmt.Sprintf("m1|dev-1|%d|cat-1|1|1", t0), "r1")))
	*now = now.Add(time.Second)
	p.advance()
	require.NoError(t, p.write(session, m))
	<-g.entered
	end()
	require.NoError(t, handleOne(context.Background(), p, record(6, fmt.Sprintf("m2|dev-1|%d|cat-1|2|1", t0+1), "r1")))

	done := make(chan error, 1)
	go func() { done <- p.flush(context.Background(), m) }()
	<-g.entered // written again
	require.Empty(t, m.last, "nothing marked while it is not written")
	close(g.release)
	require.NoError(t, <-done)
	require.Equal(t, int64(7), m.last[3].offset)
	require.Equal(t, int64(3), g.written[resultKey{"r1/j1/dev-1", "cat-1", t0}].SumMeasure1)
}

// tick advances processing time and makes what the engine emitted durable
// before it returns: the runner's tick, with its write awaited.
func (p *partition) tick(ctx context.Context, m Marker) error {
	p.advance()
	return p.flush(ctx, m)
}
