package worker

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.uber.org/zap/zaptest"

	"github.com/boontadata/boontadata/pkg/job"
	"github.com/boontadata/boontadata/pkg/kafka"
)

// eventsTopic produces n records of spec's run to a one-partition topic of
// a fake broker, then the run's end-of-run marker when end is set. It
// returns the worker's configuration for that broker and a client of it,
// closed with the test.
func eventsTopic(t *testing.T, spec job.Spec, n int, end bool) (Config, sarama.Client) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "events"))
	require.NoError(t, err)
	t.Cleanup(c.Close)
	cfg := DefaultConfig()
	cfg.WorkerID = "w1"
	cfg.Kafka.Brokers = c.ListenAddrs()
	cfg.Kafka.Topics.Events = "events"
	sc, err := cfg.Kafka.Sarama("test")
	require.NoError(t, err)
	sc.Producer.Return.Successes = true
	sc.Producer.Partitioner = sarama.NewManualPartitioner
	client, err := sarama.NewClient(c.ListenAddrs(), sc)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, client.Close()) })
	prod, err := sarama.NewSyncProducerFromClient(client)
	require.NoError(t, err)
	msgs := []*sarama.ProducerMessage{}
	for i := range n {
		msgs = append(msgs, &sarama.ProducerMessage{Topic: "events", Partition: 0,
			Value:   sarama.StringEncoder(fmt.Sprintf("m-%d|d1|%d|c1|1|1", i, t0+int64(i)*1000)),
			Headers: []sarama.RecordHeader{{Key: []byte(kafka.HeaderRunID), Value: []byte(spec.RunID)}}})
	}
	if end {
		msgs = append(msgs, kafka.EndOfRunMessages("events", spec.RunID, "test", []int32{0}, time.UnixMilli(t0))...)
	}
	require.NoError(t, prod.SendMessages(msgs))
	require.NoError(t, prod.Close())
	return cfg, client
}

// outOfRangeTopic produces ten records of run r1 to a one-partition topic of
// a fake broker, commits offset 2 for the job's group, then deletes the
// records below offset 5: the committed offset points to deleted data, as
// after retention passed a stopped job.
func outOfRangeTopic(t *testing.T, spec job.Spec) Config {
	t.Helper()
	cfg, client := eventsTopic(t, spec, 10, false)
	// A commit outside any group generation, as an admin tool writes one.
	coord, err := client.Coordinator(spec.GroupID())
	require.NoError(t, err)
	req := &sarama.OffsetCommitRequest{Version: 2, ConsumerGroup: spec.GroupID(), ConsumerGroupGeneration: -1,
		RetentionTime: -1}
	req.AddBlock("events", 0, 2, 0, "")
	resp, err := coord.CommitOffset(req)
	require.NoError(t, err)
	require.Equal(t, sarama.ErrNoError, resp.Errors["events"][0])
	admin, err := sarama.NewClusterAdminFromClient(client)
	require.NoError(t, err)
	require.NoError(t, admin.DeleteRecords("events", map[int32]int64{0: 5}))
	oldest, err := client.GetOffset("events", 0, sarama.OffsetOldest)
	require.NoError(t, err)
	require.Equal(t, int64(5), oldest, "records below 5 deleted")
	return cfg
}

// TestRunnerOutOfRangePolicy: a job whose committed offset points to deleted
// records stops on this worker with ErrOutOfRange under "fail" (and its run
// returns: the job does not hang on it), and under "skip" reads on from the
// oldest record left, counting the reset.
func TestRunnerOutOfRangePolicy(t *testing.T) {
	for _, policy := range []string{job.OutOfRangeFail, job.OutOfRangeSkip} {
		t.Run(policy, func(t *testing.T) {
			spec := job.Spec{ID: "j-" + policy, RunID: "r1", Preset: "flink-event", OnOutOfRange: policy}.WithDefaults()
			cfg := outOfRangeTopic(t, spec)
			var mu sync.Mutex
			var last job.WorkerReport
			r, err := newRunner(&cfg, spec, partitionDeps{writer: &fakeWriter{}, dlq: &fakeDLQ{}, deadTopic: "dead",
				log: zaptest.NewLogger(t), now: time.Now}, func(rep job.WorkerReport) {
				mu.Lock()
				last = rep
				mu.Unlock()
			})
			require.NoError(t, err)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- r.run(ctx) }()
			if policy == job.OutOfRangeFail {
				select {
				case err := <-done:
					require.ErrorIs(t, err, ErrOutOfRange)
				case <-time.After(30 * time.Second):
					t.Fatal("run did not return after the job stopped on an out-of-range offset")
				}
				mu.Lock()
				defer mu.Unlock()
				require.Contains(t, last.Error, "out of range", "the last report says why")
				require.True(t, last.Stopping, "the last report says the worker left the job")
				return
			}
			require.Eventually(t, func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(last.Partitions) == 1 && last.Partitions[0].Records == 5 && last.Partitions[0].OffsetResets == 1
			}, 30*time.Second, 50*time.Millisecond, "the five records left are read, after one reset")
			cancel()
			require.NoError(t, <-done)
		})
	}
}

// TestRunnerReportsTheEndAtOnce: the report that says a partition ended, its
// last windows written, goes as soon as they are written, not at the next
// progress interval (an hour here, as is the tick: neither comes during the
// test).
func TestRunnerReportsTheEndAtOnce(t *testing.T) {
	spec := job.Spec{ID: "j-end", RunID: "r1", Preset: "exact"}.WithDefaults()
	cfg, _ := eventsTopic(t, spec, 3, true)
	cfg.Tick, cfg.ProgressInterval = time.Hour, time.Hour

	w := &fakeWriter{}
	var mu sync.Mutex
	var ended *job.PartitionProgress
	r, err := newRunner(&cfg, spec, partitionDeps{writer: w, dlq: &fakeDLQ{}, deadTopic: "dead",
		log: zaptest.NewLogger(t), now: time.Now}, func(rep job.WorkerReport) {
		mu.Lock()
		defer mu.Unlock()
		for _, p := range rep.Partitions {
			if p.Ended && ended == nil {
				ended = &p
			}
		}
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- r.run(ctx) }()
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return ended != nil
	}, 30*time.Second, 20*time.Millisecond, "the partition's end is reported when its last windows are written")
	mu.Lock()
	require.Equal(t, int64(3), ended.Records)
	require.Equal(t, int64(1), ended.ResultsWritten, "the one window, written final")
	require.False(t, ended.LastWriteTime.IsZero(), "the report says when the last write was acknowledged")
	mu.Unlock()
	cancel()
	require.NoError(t, <-done)
}
