package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"

	"github.com/boontadata/boontadata/pkg/job"
	"github.com/boontadata/boontadata/pkg/kafka"
	"github.com/boontadata/boontadata/pkg/testutil"
)

// simulate runs the simulator straight to Kafka in live mode and returns
// once it has sent everything and recorded the truth.
func (p *platform) simulate(runID string, seconds, ratePerDevice int) *proc {
	return p.start("simulator", "simulator", "--target", "kafka", "--clock", "live", "--devices", "10",
		"--rate", fmt.Sprint(ratePerDevice), "--duration", fmt.Sprintf("%ds", seconds), "--seed", "7",
		"--run-id", runID, "--progress", "log", "--progress-interval", "2s")
}

// awaitExit waits for a process that must end by itself with status 0.
func (p *platform) awaitExit(pr *proc, timeout time.Duration) {
	p.t.Helper()
	select {
	case <-pr.done:
		require.NoError(p.t, pr.err, "%s:\n%s", pr.name, tail(pr.logPath, 30))
	case <-time.After(timeout):
		p.t.Fatalf("%s still running after %v:\n%s", pr.name, timeout, tail(pr.logPath, 30))
	}
}

// awaitTruth waits until the job's results equal the truth of the run.
func (p *platform) awaitTruth(runID, jobID string, timeout time.Duration) {
	p.t.Helper()
	truth := p.truth(runID)
	require.NotEmpty(p.t, truth, "the simulator recorded no truth")
	p.waitFor(timeout, "results equal to the truth", func() (bool, string) {
		res, err := p.results(runID, jobID)
		if err != nil {
			return false, err.Error()
		}
		d := diff(truth, res)
		return d == "", d
	})
}

// produceRaw writes a record straight into the events topic.
func (p *platform) produceRaw(runID string, key, value string) {
	p.t.Helper()
	c := kafka.DefaultConfig()
	sc, err := c.Sarama("e2e-poison")
	require.NoError(p.t, err)
	prod, err := sarama.NewSyncProducer(testutil.KafkaBrokers(), sc)
	require.NoError(p.t, err)
	defer func() { require.NoError(p.t, prod.Close()) }()
	_, _, err = prod.SendMessage(&sarama.ProducerMessage{Topic: p.prefix + "-events", Key: sarama.StringEncoder(key),
		Value: sarama.StringEncoder(value), Headers: []sarama.RecordHeader{{Key: []byte(kafka.HeaderRunID), Value: []byte(runID)}}})
	require.NoError(p.t, err)
}

// deadLetters returns the values and errors of the dead-letter topic.
func (p *platform) deadLetters() map[string]string {
	p.t.Helper()
	out := map[string]string{}
	eachRecord(p.t, p.prefix+"-deadletter", func(m *sarama.ConsumerMessage) {
		out[string(m.Value)] = string(kafka.Header(m.Headers, kafka.HeaderError))
	})
	return out
}

// eachRecord reads every partition of topic from its start to its end.
func eachRecord(t *testing.T, topic string, f func(*sarama.ConsumerMessage)) {
	t.Helper()
	c := kafka.DefaultConfig()
	sc, err := c.Sarama("e2e-read")
	require.NoError(t, err)
	client, err := sarama.NewClient(testutil.KafkaBrokers(), sc)
	require.NoError(t, err)
	defer func() { _ = client.Close() }()
	consumer, err := sarama.NewConsumerFromClient(client)
	require.NoError(t, err)
	defer func() { _ = consumer.Close() }()
	parts, err := consumer.Partitions(topic)
	require.NoError(t, err)
	for _, part := range parts {
		newest, err := client.GetOffset(topic, part, sarama.OffsetNewest)
		require.NoError(t, err)
		if newest == 0 {
			continue
		}
		pc, err := consumer.ConsumePartition(topic, part, sarama.OffsetOldest)
		require.NoError(t, err)
		for m := range pc.Messages() {
			f(m)
			if m.Offset >= newest-1 {
				break
			}
		}
		_ = pc.Close()
	}
}

func TestIntegrationExactMatchesTruthAndDeadLettersPoison(t *testing.T) {
	p := newPlatform(t)
	p.startMaster("master", "")
	p.startWorker("worker-1")
	p.startWorker("worker-2")
	runID := testutil.Unique("run-")
	p.submit(job.Spec{ID: "exact-1", RunID: runID, Preset: "exact"})
	sim := p.simulate(runID, 8, 50)
	time.Sleep(2 * time.Second) // let the run start, so the poison lands among real events
	poison := "m-poison|dev-x|not-a-time|cat-1|1|1.0"
	p.produceRaw(runID, "dev-x", poison)
	p.awaitExit(sim, 2*time.Minute)
	p.awaitTruth(runID, "exact-1", 2*time.Minute)
	dead := p.deadLetters()
	require.Contains(t, dead, poison)
	require.Contains(t, dead[poison], "device_time_ms")
}

func TestIntegrationExactSurvivesKilledWorkerJoiningWorkerAndMasterRestart(t *testing.T) {
	p := newPlatform(t)
	addr := freeAddr(t)
	master := p.startMaster("master", addr)
	w1 := p.startWorker("worker-1")
	p.startWorker("worker-2")
	runID := testutil.Unique("run-")
	p.submit(job.Spec{ID: "exact-kill", RunID: runID, Preset: "exact"})
	sim := p.simulate(runID, 24, 40)

	time.Sleep(6 * time.Second)
	w1.kill()
	killedAt := time.Now()
	t.Logf("worker-1 killed with SIGKILL")
	time.Sleep(2 * time.Second)
	p.startWorker("worker-1b")
	time.Sleep(3 * time.Second)
	p.startWorker("worker-3")
	t.Logf("worker-3 joined")
	time.Sleep(2 * time.Second)
	master.kill()
	p.startMaster("master-2", addr)
	t.Logf("master killed and restarted")

	p.awaitExit(sim, 3*time.Minute)
	p.awaitTruth(runID, "exact-kill", 3*time.Minute)
	t.Logf("results equal to the truth %v after the worker kill", time.Since(killedAt).Round(time.Second))

	// The restarted master still knows the job.
	resp := p.run(30*time.Second, "aggregator-master", "list", "--master-url", p.masterURL)
	require.True(t, strings.Contains(resp, "exact-kill"), "job missing from the restarted master's list:\n%s", resp)
}
