package worker

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/stretchr/testify/require"
	"github.com/urfave/cli/v2"
	"go.uber.org/zap/zaptest"

	"github.com/boontadata/boontadata/pkg/cassandra"
	"github.com/boontadata/boontadata/pkg/job"
	"github.com/boontadata/boontadata/pkg/kafka"
	"github.com/boontadata/boontadata/pkg/testutil"
)

// integrationSetup gives a worker configuration with topics and a keyspace of
// its own, provisioned, a session on that keyspace and a producer, and
// publishes the job storm-it (run run-it) on the jobs topic.
func integrationSetup(t *testing.T) (Config, *gocql.Session, sarama.SyncProducer) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.WorkerID = "it-worker"
	prefix := testutil.Unique("itw-")
	cfg.Kafka.Brokers = *cli.NewStringSlice(testutil.KafkaBrokers()...)
	cfg.Kafka.Topics = kafka.PrefixedTopics(prefix)
	cfg.Kafka.Partitions = 4
	cfg.Cassandra.Hosts = *cli.NewStringSlice(testutil.CassandraHosts()...)
	cfg.Cassandra.Keyspace = testutil.Unique("itw_")
	require.NoError(t, cfg.Validate())
	log := zaptest.NewLogger(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	session, err := cassandra.Setup(ctx, &cfg.Cassandra, log)
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
	msg, err := job.Message(cfg.Kafka.Topics.Jobs, spec)
	require.NoError(t, err)
	_, _, err = producer.SendMessage(msg)
	require.NoError(t, err)
	return cfg, session, producer
}

// m1Sums reads the m1 sum and count of each window of a device of storm-it.
func m1Sums(session *gocql.Session, device string) (map[int64][2]int64, error) {
	iter := session.Query(`SELECT window_start, m1_sum, event_count FROM engine_results WHERE run_id = ? AND job_id = ? AND device_id = ? AND category = ?`,
		"run-it", "storm-it", device, "cat-1").Iter()
	var (
		start time.Time
		m1, n int64
		got   = map[int64][2]int64{}
	)
	for iter.Scan(&start, &m1, &n) {
		got[start.UnixMilli()] = [2]int64{m1, n}
	}
	return got, iter.Close()
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
