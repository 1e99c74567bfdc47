package master

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/boontadata/boontadata/pkg/cassandra"
	"github.com/boontadata/boontadata/pkg/job"
	"github.com/boontadata/boontadata/pkg/job/jobkafka"
	"github.com/boontadata/boontadata/pkg/job/jobstore"
	"github.com/boontadata/boontadata/pkg/kafka"
	"github.com/boontadata/boontadata/pkg/testutil"
	"github.com/boontadata/boontadata/services/aggregator-master/internal/api"
	"github.com/boontadata/boontadata/services/aggregator-master/internal/client"
)

// startMaster runs ServeListener in-process on a free port and returns a
// client of it and a function that stops it and returns Run's error.
func startMaster(t *testing.T, cfg Config, log *zap.Logger) (*client.Client, func() error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ServeListener(ctx, cfg, ln, log) }()
	hc := &http.Client{Timeout: 10 * time.Second}
	url := "http://" + ln.Addr().String()
	c, err := client.New(url, hc)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		resp, err := hc.Get(url + api.ReadyzPath)
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 2*time.Minute, 100*time.Millisecond, "master not ready")
	var once sync.Once
	var runErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("master did not stop")
			}
			hc.CloseIdleConnections()
		})
		return runErr
	}
	t.Cleanup(func() { _ = stop() })
	return c, stop
}

// TestIntegrationMaster runs the master against the real Kafka and
// Cassandra: a job submitted with the CLI's client lands in Cassandra and on
// the jobs topic, a worker report on the progress topic shows in the job's
// status, a cancel reaches the topic, and a new master instance on the same
// keyspace lists the jobs.
func TestIntegrationMaster(t *testing.T) {
	testutil.Integration(t)
	cfg := DefaultConfig()
	prefix := testutil.Unique("itm-")
	cfg.Kafka.Brokers = testutil.KafkaBrokers()
	cfg.Kafka.Topics = kafka.PrefixedTopics(prefix)
	cfg.Kafka.Partitions = 2
	cfg.Cassandra.Hosts = testutil.CassandraHosts()
	cfg.Cassandra.Keyspace = testutil.Unique("itm_")
	cfg.ShutdownTimeout = 10 * time.Second
	require.NoError(t, cfg.Validate())
	log := zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel))
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	t.Cleanup(func() { cleanup(t, cfg, log) })

	c, stop := startMaster(t, cfg, log)

	// Submit through the client the CLI uses.
	spec := job.Spec{ID: "it-exact", RunID: "run-it", Preset: "exact", Overrides: job.Overrides{Window: job.Duration(10 * time.Second)}}
	stored, created, err := c.Submit(ctx, spec)
	require.NoError(t, err)
	require.True(t, created)
	require.Equal(t, job.StateRunning, stored.State)
	again, created, err := c.Submit(ctx, spec)
	require.NoError(t, err)
	require.False(t, created, "the same spec again changes nothing")
	require.Equal(t, stored, again)
	_, _, err = c.Submit(ctx, job.Spec{ID: "it-exact", Preset: "storm"})
	var se *client.StatusError
	require.ErrorAs(t, err, &se)
	require.Equal(t, http.StatusConflict, se.Code)
	// Micro-batch presets run with the master's micro-batch driver.
	_, created, err = c.Submit(ctx, job.Spec{ID: "it-dstream", Preset: "dstream"})
	require.NoError(t, err)
	require.True(t, created)

	// In Cassandra.
	session, err := cassandra.NewSession(&cfg.Cassandra, log, true)
	require.NoError(t, err)
	defer session.Close()
	fromDB, err := jobstore.New(session).Get(ctx, "it-exact")
	require.NoError(t, err)
	require.Equal(t, stored, fromDB)
	_, err = jobstore.New(session).Get(ctx, "it-dstream")
	require.NoError(t, err, "a micro-batch job is stored")

	// On the jobs topic, as a worker reads it.
	require.Equal(t, stored, watchFor(ctx, t, cfg, log, "it-exact", job.StateRunning))

	// A worker report on the progress topic shows in the status.
	sc, err := cfg.Kafka.Sarama("itm-worker")
	require.NoError(t, err)
	producer, err := sarama.NewSyncProducer(cfg.Kafka.BrokerList(), sc)
	require.NoError(t, err)
	defer func() { require.NoError(t, producer.Close()) }()
	r := job.WorkerReport{WorkerID: "w1", JobID: "it-exact", Partitions: []job.PartitionProgress{
		{Partition: 0, NextOffset: 40, HighWatermark: 50, Lag: 10, Watermark: 1_767_225_600_000, EventsPerSecond: 20, Records: 40, Late: 2, Duplicates: 3},
		{Partition: 1, NextOffset: 30, HighWatermark: 35, Lag: 5, Watermark: 1_767_225_590_000, EventsPerSecond: 10, Records: 30, Poison: 1},
	}}
	var d api.JobDetail
	// The master reads from the newest offset once it started: report
	// again until it is seen, as a worker does every second.
	require.Eventually(t, func() bool {
		r.Time = time.Now()
		b, err := json.Marshal(r)
		require.NoError(t, err)
		_, _, err = producer.SendMessage(&sarama.ProducerMessage{Topic: cfg.Kafka.Topics.Progress,
			Key: sarama.StringEncoder(r.WorkerID + "/" + r.JobID), Value: sarama.ByteEncoder(b)})
		require.NoError(t, err)
		d, _, err = c.Status(ctx, "it-exact")
		require.NoError(t, err)
		return d.Progress.Workers == 1
	}, 30*time.Second, 250*time.Millisecond)
	require.Equal(t, 2, d.Progress.Partitions)
	require.Equal(t, int64(15), d.Progress.Lag)
	require.InDelta(t, 30.0, d.Progress.EventsPerSecond, 1e-9)
	require.Equal(t, int64(1_767_225_590_000), d.Progress.Watermark)
	require.Equal(t, int64(2), d.Progress.Late)
	require.Equal(t, int64(3), d.Progress.Duplicates)
	require.Equal(t, int64(1), d.Progress.Poison)
	require.Equal(t, []int32{0, 1}, d.Workers[0].Partitions)
	require.Len(t, d.Partitions, 2)

	// A second job, then cancel the first.
	_, _, err = c.Submit(ctx, job.Spec{ID: "it-storm", Preset: "storm"})
	require.NoError(t, err)
	cancelled, err := c.Cancel(ctx, "it-exact")
	require.NoError(t, err)
	require.Equal(t, job.StateCancelled, cancelled.State)
	require.Equal(t, cancelled, watchFor(ctx, t, cfg, log, "it-exact", job.StateCancelled))
	require.NoError(t, stop())

	// A new master on the same keyspace knows every job, and republishes.
	c2, stop2 := startMaster(t, cfg, log)
	jobs, err := c2.List(ctx)
	require.NoError(t, err)
	require.Len(t, jobs, 3)
	require.Equal(t, "it-storm", jobs[0].Spec.ID)
	require.Equal(t, job.StateRunning, jobs[0].Spec.State)
	require.Equal(t, "it-dstream", jobs[1].Spec.ID)
	require.Equal(t, "it-exact", jobs[2].Spec.ID)
	require.Equal(t, job.StateCancelled, jobs[2].Spec.State)
	require.Equal(t, "10s", jobs[2].Semantics.Window)
	require.NoError(t, stop2())
}

// watchFor reads the jobs topic as a worker does until the job is seen in
// the given state, and returns it.
func watchFor(ctx context.Context, t *testing.T, cfg Config, log *zap.Logger, id, state string) job.Spec {
	t.Helper()
	sc, err := cfg.Kafka.Sarama("itm-watch")
	require.NoError(t, err)
	consumer, err := sarama.NewConsumer(cfg.Kafka.BrokerList(), sc)
	require.NoError(t, err)
	defer func() { require.NoError(t, consumer.Close()) }()
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var found job.Spec
	err = jobkafka.Watch(wctx, consumer, cfg.Kafka.Topics.Jobs, log, func(s job.Spec) {
		if s.ID == id && s.State == state {
			found = s
			cancel()
		}
	})
	require.NoError(t, err)
	require.Equal(t, id, found.ID, "job %s %s not seen on the jobs topic", id, state)
	return found
}

// cleanup drops the keyspace and the topics of the test: best effort, the
// names are unique anyway.
func cleanup(t *testing.T, cfg Config, log *zap.Logger) {
	t.Helper()
	if s, err := cassandra.NewSession(&cfg.Cassandra, log, false); err == nil {
		_ = s.Query("DROP KEYSPACE IF EXISTS " + cfg.Cassandra.Keyspace).Exec()
		s.Close()
	}
	sc, err := cfg.Kafka.Sarama("itm-cleanup")
	if err != nil {
		return
	}
	admin, err := sarama.NewClusterAdmin(cfg.Kafka.BrokerList(), sc)
	if err != nil {
		return
	}
	defer func() { _ = admin.Close() }()
	for _, ts := range cfg.Kafka.TopicSpecs() {
		_ = admin.DeleteTopic(ts.Name)
	}
}
