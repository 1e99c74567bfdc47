package app

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
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
	"github.com/boontadata/boontadata/pkg/kafka"
	"github.com/boontadata/boontadata/pkg/setup"
	"github.com/boontadata/boontadata/pkg/testutil"
	"github.com/boontadata/boontadata/services/aggregator-worker/internal/worker"
)

// Sizes of the start-up rebalance test: small runs on 16 partitions, the
// second worker a second after the first.
const (
	rebalancePartitions = 16
	rebalanceDevices    = 8
	rebalancePerDevice  = 40
	rebalanceJoinGap    = time.Second
	// rebalanceBound is how long a run may take from the first worker's
	// start until every partition reports lag 0, the run's end and every
	// record counted: past it, the run hangs.
	rebalanceBound = 30 * time.Second
)

// TestIntegrationStartupRebalanceRepeated repeats the start-up rebalance of a
// job: two fresh workers join its consumer group a second apart, so the
// first claims all 16 partitions and hands half of them over to the second
// one second later. Every run must end with every partition at lag 0, the
// run's end read on each, and every record of the run counted exactly once
// (the records the progress reports count equal the records of the run in
// the topic), within a bound. Even runs are in the topic before the first
// worker starts (it reads whole partitions, end-of-run marker included,
// before it hands them over); odd runs arrive while the workers start.
// BOONTADATA_REBALANCE_RUNS changes the number of runs (default 10).
func TestIntegrationStartupRebalanceRepeated(t *testing.T) {
	testutil.Integration(t)
	runs := 10
	if v := os.Getenv("BOONTADATA_REBALANCE_RUNS"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(t, err, "BOONTADATA_REBALANCE_RUNS")
		runs = n
	}
	cfg := worker.DefaultConfig()
	prefix := testutil.Unique("itrb-")
	cfg.Kafka.Brokers = testutil.KafkaBrokers()
	cfg.Kafka.Topics = kafka.PrefixedTopics(prefix)
	cfg.Kafka.Partitions = rebalancePartitions
	cfg.Cassandra.Hosts = testutil.CassandraHosts()
	cfg.Cassandra.Keyspace = testutil.Unique("itrb_")
	require.NoError(t, cfg.Validate())
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	require.NoError(t, setup.Run(ctx, setup.Options{Kafka: &cfg.Kafka, Cassandra: &cfg.Cassandra, ClientID: "itrb-setup", Wait: time.Minute}, log))
	session, err := cassandra.NewSession(&cfg.Cassandra, log, true)
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = session.Query("DROP KEYSPACE IF EXISTS " + cfg.Cassandra.Keyspace).Exec() // best effort
		session.Close()
	})
	sc, err := cfg.Kafka.Sarama("itrb-producer")
	require.NoError(t, err)
	producer, err := sarama.NewSyncProducer(cfg.Kafka.BrokerList(), sc)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, producer.Close()) })

	view := watchProgress(ctx, t, &cfg)
	var hangs []string
	for i := range runs {
		preset := []string{"exact", "flink-processing"}[i%2]
		spec := job.Spec{ID: fmt.Sprintf("rb-%d", i), RunID: fmt.Sprintf("run-rb-%d", i), Preset: preset}.WithDefaults()
		publishJob(t, producer, &cfg, spec)
		sent := rebalanceEvents(spec.RunID, &cfg)
		if i%2 == 0 {
			sendRun(ctx, t, producer, sc, &cfg, spec.RunID, sent)
		}
		start := time.Now()
		stopA := startWorker(ctx, t, cfg, fmt.Sprintf("rb-%d-a", i), log)
		time.Sleep(rebalanceJoinGap)
		stopB := startWorker(ctx, t, cfg, fmt.Sprintf("rb-%d-b", i), log)
		if i%2 == 1 {
			sendRun(ctx, t, producer, sc, &cfg, spec.RunID, sent)
		}
		state, ok := view.await(spec.ID, len(sent), rebalanceBound)
		took := time.Since(start).Round(100 * time.Millisecond)
		if ok {
			t.Logf("run %d (%s): every partition at lag 0 with every record counted once %v after the first worker started", i, preset, took)
		} else {
			hangs = append(hangs, fmt.Sprintf("run %d (%s): %s", i, preset, state))
			t.Logf("run %d (%s): HANG after %v: %s", i, preset, took, state)
		}
		spec.State = job.StateFinished
		publishJob(t, producer, &cfg, spec)
		stopA()
		stopB()
	}
	require.Empty(t, hangs, "%d of %d runs did not reach lag 0 with every record counted once within %v", len(hangs), runs, rebalanceBound)
}

func publishJob(t *testing.T, producer sarama.SyncProducer, cfg *worker.Config, spec job.Spec) {
	t.Helper()
	msg, err := jobkafka.Message(cfg.Kafka.Topics.Jobs, spec)
	require.NoError(t, err)
	_, _, err = producer.SendMessage(msg)
	require.NoError(t, err)
}

// rebalanceEvents returns the events of a run: devices keyed to their
// partitions, device time near now.
func rebalanceEvents(runID string, cfg *worker.Config) []*sarama.ProducerMessage {
	base := time.Now().UnixMilli()
	var out []*sarama.ProducerMessage
	for i := range rebalancePerDevice {
		for d := range rebalanceDevices {
			dev := fmt.Sprintf("%s-dev-%d", runID, d)
			line := fmt.Sprintf("%s-%d|%s|%d|cat-%d|%d|0.5", dev, i, dev, base+int64(i)*50, 1+i%3, i)
			out = append(out, &sarama.ProducerMessage{Topic: cfg.Kafka.Topics.Events, Key: sarama.StringEncoder(dev),
				Value: sarama.StringEncoder(line), Headers: []sarama.RecordHeader{{Key: []byte(kafka.HeaderRunID), Value: []byte(runID)}}})
		}
	}
	return out
}

// sendRun writes the events of a run in four parts a quarter of a second
// apart, then its end-of-run marker on every partition.
func sendRun(ctx context.Context, t *testing.T, producer sarama.SyncProducer, sc *sarama.Config, cfg *worker.Config, runID string, msgs []*sarama.ProducerMessage) {
	t.Helper()
	const parts = 4
	for p := range parts {
		require.NoError(t, producer.SendMessages(msgs[p*len(msgs)/parts:(p+1)*len(msgs)/parts]))
		time.Sleep(250 * time.Millisecond)
	}
	n, err := kafka.SendEndOfRun(ctx, cfg.Kafka.BrokerList(), sc, cfg.Kafka.Topics.Events, runID, "itrb")
	require.NoError(t, err)
	require.Equal(t, rebalancePartitions, n)
}

// startWorker runs a worker in-process; the function returned stops it and
// requires a clean stop.
func startWorker(ctx context.Context, t *testing.T, cfg worker.Config, id string, log *zap.Logger) func() {
	t.Helper()
	cfg.WorkerID = id
	a := New(cfg, log.With(zap.String("worker", id)))
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(runCtx) }()
	var once sync.Once
	stopFn := func() {
		once.Do(func() {
			stop()
			require.NoError(t, <-done, "worker %s stops cleanly", id)
		})
	}
	t.Cleanup(stopFn)
	return stopFn
}

// progressView is what the master's tracker makes of the progress topic,
// for the jobs of this test: the latest report of every worker still in a
// job, and each partition from the latest report naming it.
type progressView struct {
	mu   sync.Mutex
	jobs map[string]map[string]jobReport // job, worker
	seq  int64
}

type jobReport struct {
	seq int64
	rep job.WorkerReport
}

func watchProgress(ctx context.Context, t *testing.T, cfg *worker.Config) *progressView {
	t.Helper()
	sc, err := cfg.Kafka.Sarama("itrb-progress")
	require.NoError(t, err)
	consumer, err := sarama.NewConsumer(cfg.Kafka.BrokerList(), sc)
	require.NoError(t, err)
	pc, err := consumer.ConsumePartition(cfg.Kafka.Topics.Progress, 0, sarama.OffsetOldest)
	require.NoError(t, err)
	v := &progressView{jobs: map[string]map[string]jobReport{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case m, ok := <-pc.Messages():
				if !ok {
					return
				}
				var r job.WorkerReport
				if json.Unmarshal(m.Value, &r) == nil {
					v.observe(r)
				}
			}
		}
	}()
	t.Cleanup(func() {
		_ = pc.Close()
		<-done
		_ = consumer.Close()
	})
	return v
}

func (v *progressView) observe(r job.WorkerReport) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.seq++
	ws := v.jobs[r.JobID]
	if ws == nil {
		ws = map[string]jobReport{}
		v.jobs[r.JobID] = ws
	}
	if r.Stopping {
		delete(ws, r.WorkerID)
		return
	}
	ws[r.WorkerID] = jobReport{seq: v.seq, rep: r}
}

// check says whether both workers own partitions of the job (the rebalance
// happened), every partition reports lag 0 and the run's end, and the
// records of the partitions add up to want; state describes what it saw.
func (v *progressView) check(jobID string, want int) (ok bool, state string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	type owner struct {
		seq    int64
		worker string
		p      job.PartitionProgress
	}
	owners := map[int32]owner{}
	for w, jr := range v.jobs[jobID] {
		for _, p := range jr.rep.Partitions {
			if o, ok := owners[p.Partition]; !ok || jr.seq > o.seq {
				owners[p.Partition] = owner{seq: jr.seq, worker: w, p: p}
			}
		}
	}
	var records int64
	var behind []string
	workers := map[string]bool{}
	for part, o := range owners {
		workers[o.worker] = true
		records += o.p.Records
		if o.p.Lag != 0 || !o.p.Ended {
			behind = append(behind, fmt.Sprintf("%d on %s (next %d, high watermark %d, lag %d, ended %t, records %d)",
				part, o.worker, o.p.NextOffset, o.p.HighWatermark, o.p.Lag, o.p.Ended, o.p.Records))
		}
	}
	sort.Strings(behind)
	state = fmt.Sprintf("%d workers own partitions, %d of %d partitions reported, records %d of %d", len(workers), len(owners), rebalancePartitions, records, want)
	if len(behind) > 0 {
		state += "; partitions behind: " + strings.Join(behind, ", ")
	}
	// Both workers own partitions: the state is the one after the rebalance.
	return len(workers) == 2 && len(owners) == rebalancePartitions && len(behind) == 0 && records == int64(want), state
}

// await polls check until it holds or the bound passes.
func (v *progressView) await(jobID string, want int, bound time.Duration) (state string, ok bool) {
	deadline := time.Now().Add(bound)
	for {
		ok, state = v.check(jobID, want)
		if ok || time.Now().After(deadline) {
			return state, ok
		}
		time.Sleep(100 * time.Millisecond)
	}
}
