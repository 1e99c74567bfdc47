package app

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/boontadata/boontadata/pkg/cassandra"
	"github.com/boontadata/boontadata/pkg/contract"
	"github.com/boontadata/boontadata/pkg/engine"
	"github.com/boontadata/boontadata/pkg/engine/window"
	"github.com/boontadata/boontadata/pkg/job"
	"github.com/boontadata/boontadata/pkg/job/jobkafka"
	"github.com/boontadata/boontadata/pkg/kafka"
	"github.com/boontadata/boontadata/pkg/setup"
	"github.com/boontadata/boontadata/pkg/testutil"
	"github.com/boontadata/boontadata/services/aggregator-worker/internal/worker"
)

// integrationSetup gives a worker configuration with topics and a keyspace of
// its own, provisioned, a session on that keyspace and a producer, and
// publishes the job storm-it (run run-it) on the jobs topic.
func integrationSetup(t *testing.T) (worker.Config, *gocql.Session, sarama.SyncProducer) {
	t.Helper()
	cfg := worker.DefaultConfig()
	cfg.WorkerID = "it-worker"
	prefix := testutil.Unique("itw-")
	cfg.Kafka.Brokers = testutil.KafkaBrokers()
	cfg.Kafka.Topics = kafka.PrefixedTopics(prefix)
	cfg.Kafka.Partitions = 4
	cfg.Cassandra.Hosts = testutil.CassandraHosts()
	cfg.Cassandra.Keyspace = testutil.Unique("itw_")
	require.NoError(t, cfg.Validate())
	log := zaptest.NewLogger(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	require.NoError(t, setup.Run(ctx, setup.Options{Cassandra: &cfg.Cassandra, Wait: time.Minute}, log))
	session, err := cassandra.NewSession(&cfg.Cassandra, log, true)
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = session.Query("DROP KEYSPACE IF EXISTS " + cfg.Cassandra.Keyspace).Exec() // best effort
		session.Close()
	})
	require.NoError(t, kafka.Provision(ctx, &cfg.Kafka, "it-worker-setup", log))

	sc, err := cfg.Kafka.Sarama("it-worker-producer")
	require.NoError(t, err)
	producer, err := sarama.NewSyncProducer(cfg.Kafka.BrokerList(), sc)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, producer.Close()) })

	spec := job.Spec{ID: "storm-it", RunID: "run-it", Preset: "storm"}.WithDefaults()
	msg, err := jobkafka.Message(cfg.Kafka.Topics.Jobs, spec)
	require.NoError(t, err)
	_, _, err = producer.SendMessage(msg)
	require.NoError(t, err)
	return cfg, session, producer
}

// m1Sums reads the m1 sum and count of each window of a device of storm-it.
func m1Sums(session *gocql.Session, device string) (map[int64][2]int64, error) {
	answers, err := cassandra.Answers(context.Background(), session, "run-it", "storm-it")
	got := map[int64][2]int64{}
	for k, a := range answers {
		if k.DeviceID == device && k.Category == "cat-1" {
			got[k.WindowStart] = [2]int64{a.M1, a.Count}
		}
	}
	return got, err
}

// TestIntegrationWorkerAggregatesAJob runs a worker in-process against the
// real Kafka and Cassandra: a job published on the jobs topic, events
// produced by hand, results read back from Cassandra.
func TestIntegrationWorkerAggregatesAJob(t *testing.T) {
	testutil.Integration(t)
	cfg, session, producer := integrationSetup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	log := zaptest.NewLogger(t)

	// Three devices, two windows each; one line of another run, one poison.
	base := int64(1_767_225_600_000)
	var sent []*sarama.ProducerMessage
	for d := range 3 {
		for i := range 6 {
			dev := fmt.Sprintf("dev-%d", d)
			line := fmt.Sprintf("%s-%d|%s|%d|cat-1|%d|0.5", dev, i, dev, base+int64(i)*2000, i)
			sent = append(sent, &sarama.ProducerMessage{Topic: cfg.Kafka.Topics.Events, Key: sarama.StringEncoder(dev),
				Value: sarama.StringEncoder(line), Headers: []sarama.RecordHeader{{Key: []byte(kafka.HeaderRunID), Value: []byte("run-it")}}})
		}
	}
	sent = append(sent,
		&sarama.ProducerMessage{Topic: cfg.Kafka.Topics.Events, Key: sarama.StringEncoder("dev-0"),
			Value: sarama.StringEncoder(fmt.Sprintf("x|dev-0|%d|cat-1|100|1", base)), Headers: []sarama.RecordHeader{{Key: []byte(kafka.HeaderRunID), Value: []byte("other")}}},
		&sarama.ProducerMessage{Topic: cfg.Kafka.Topics.Events, Key: sarama.StringEncoder("dev-0"),
			Value: sarama.StringEncoder("broken line"), Headers: []sarama.RecordHeader{{Key: []byte(kafka.HeaderRunID), Value: []byte("run-it")}}})
	require.NoError(t, producer.SendMessages(sent))

	w := New(cfg, log)
	done := make(chan error, 1)
	runCtx, stop := context.WithCancel(ctx)
	go func() { done <- w.Run(runCtx) }()

	// Window [base, base+5s) holds i = 0, 1, 2 (sum 3); [base+5s, base+10s) holds 3, 4 (sum 7); i = 5 is in the third.
	want := map[int64][2]int64{base: {3, 3}, base + 5000: {7, 2}, base + 10000: {5, 1}}
	require.Eventually(t, func() bool {
		for d := range 3 {
			got, err := m1Sums(session, fmt.Sprintf("dev-%d", d))
			if err != nil || len(got) != len(want) {
				return false
			}
			for k, v := range want {
				if got[k] != v {
					return false
				}
			}
		}
		return true
	}, 90*time.Second, 250*time.Millisecond, "results of the job never matched")

	stop()
	require.NoError(t, <-done, "a graceful stop is not an error")
}

// TestIntegrationResultsOfAnEngineUnderTestAreIngested: lines of the engine
// contract on the results topic become rows of engine_results_by_bucket; a line that
// does not parse goes to the dead-letter topic; the end line is reported to
// the master as the job's end, after the results before it are written.
func TestIntegrationResultsOfAnEngineUnderTestAreIngested(t *testing.T) {
	testutil.Integration(t)
	cfg, session, producer := integrationSetup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	base := int64(1_767_225_600_000)
	lines := []string{
		contract.FormatResult("spark-it", "run-it", &engine.Result{Window: window.Window{Start: base, End: base + 5000},
			DeviceID: "dev-0", Category: "cat-1", SumMeasure1: 3, SumMeasure2: 1.5, Count: 3, Revision: 3, Final: false, EmitTime: base + 6000}),
		contract.FormatResult("spark-it", "run-it", &engine.Result{Window: window.Window{Start: base, End: base + 5000},
			DeviceID: "dev-0", Category: "cat-1", SumMeasure1: 7, SumMeasure2: 2.5, Count: 4, Revision: 4, Final: true, EmitTime: base + 11000}),
		"result|spark-it|run-it|dev-0|cat-1|not-a-time|5000|1|1|1|1|0|5",
	}
	var msgs []*sarama.ProducerMessage
	for _, l := range lines {
		msgs = append(msgs, &sarama.ProducerMessage{Topic: cfg.Kafka.Topics.Results, Key: sarama.StringEncoder("dev-0"), Value: sarama.StringEncoder(l)})
	}
	require.NoError(t, producer.SendMessages(msgs))
	// The end line goes to every partition of the results topic.
	sc0, err := cfg.Kafka.Sarama("it-results-end")
	require.NoError(t, err)
	sc0.Producer.Partitioner = sarama.NewManualPartitioner
	ender, err := sarama.NewSyncProducer(cfg.Kafka.BrokerList(), sc0)
	require.NoError(t, err)
	defer func() { require.NoError(t, ender.Close()) }()
	var ends []*sarama.ProducerMessage
	for p := range int32(cfg.Kafka.Partitions) {
		ends = append(ends, &sarama.ProducerMessage{Topic: cfg.Kafka.Topics.Results, Partition: p, Key: sarama.StringEncoder("spark-it"),
			Value: sarama.StringEncoder(contract.FormatEnd("spark-it", "run-it", base+12000))})
	}
	require.NoError(t, ender.SendMessages(ends))

	sc, err := cfg.Kafka.Sarama("it-results-check")
	require.NoError(t, err)
	consumer, err := sarama.NewConsumer(cfg.Kafka.BrokerList(), sc)
	require.NoError(t, err)
	t.Cleanup(func() { _ = consumer.Close() })
	progress, err := consumer.ConsumePartition(cfg.Kafka.Topics.Progress, 0, sarama.OffsetOldest)
	require.NoError(t, err)

	a := New(cfg, zaptest.NewLogger(t))
	done := make(chan error, 1)
	runCtx, stop := context.WithCancel(ctx)
	go func() { done <- a.Run(runCtx) }()

	var ext job.ExternalProgress
	require.Eventually(t, func() bool {
		for {
			select {
			case m := <-progress.Messages():
				var r job.WorkerReport
				if json.Unmarshal(m.Value, &r) == nil && r.JobID == "spark-it" && r.External != nil {
					ext = *r.External
				}
			default:
				return ext.Ended
			}
		}
	}, 90*time.Second, 50*time.Millisecond, "the end of the run was never reported on every partition")
	require.Equal(t, int64(2), ext.Results)
	require.Equal(t, cfg.Kafka.Partitions, ext.ResultsPartitions)
	require.Len(t, ext.EndedPartitions, cfg.Kafka.Partitions)

	answers, err := cassandra.Answers(ctx, session, "run-it", "spark-it")
	require.NoError(t, err)
	require.Len(t, answers, 1)
	for _, a := range answers {
		require.Equal(t, []any{"dev-0", int64(7), int64(4), true}, []any{a.DeviceID, a.M1, a.Count, a.Final},
			"the latest revision, written before the end was reported")
	}
	require.Equal(t, 2, countEmissions(ctx, t, session, "run-it", "spark-it"), "every revision has its row")

	var reasons []string
	parts, err := consumer.Partitions(cfg.Kafka.Topics.DeadLetter)
	require.NoError(t, err)
	for _, p := range parts {
		pc, err := consumer.ConsumePartition(cfg.Kafka.Topics.DeadLetter, p, sarama.OffsetOldest)
		require.NoError(t, err)
		select {
		case m := <-pc.Messages():
			reasons = append(reasons, string(kafka.Header(m.Headers, kafka.HeaderError)))
		case <-time.After(time.Second):
		}
		require.NoError(t, pc.Close())
	}
	require.Len(t, reasons, 1, "the bad line is dead-lettered")
	require.Contains(t, reasons[0], "window_start: not an integer")

	stop()
	require.NoError(t, <-done)
}

// countEmissions counts a job's rows of engine_emissions_by_bucket.
func countEmissions(ctx context.Context, t *testing.T, session *gocql.Session, runID, jobID string) int {
	t.Helper()
	n := 0
	require.NoError(t, cassandra.ReadEmissions(ctx, session, runID, jobID, 1000, func(*cassandra.Emission) { n++ }))
	return n
}
