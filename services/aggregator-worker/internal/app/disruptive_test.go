package app

import (
	"context"
	"fmt"
	"os/exec"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/boontadata/boontadata/pkg/kafka"
	"github.com/boontadata/boontadata/pkg/testutil"
)

// TestDisruptiveWorkerSurvivesCassandraOutage stops the real Cassandra under a
// running worker: the worker retries its writes without committing past them
// and, once Cassandra is back, writes what it aggregated meanwhile.
func TestDisruptiveWorkerSurvivesCassandraOutage(t *testing.T) {
	testutil.Disruptive(t)
	infra := testutil.InfraScript(t)
	cfg, session, producer := integrationSetup(t)
	log := zaptest.NewLogger(t)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()

	w := New(cfg, log)
	done := make(chan error, 1)
	runCtx, stop := context.WithCancel(ctx)
	go func() { done <- w.Run(runCtx) }()

	base := int64(1_767_225_600_000)
	send := func(from, to int) {
		var msgs []*sarama.ProducerMessage
		for i := from; i < to; i++ {
			line := fmt.Sprintf("dev-0-%d|dev-0|%d|cat-1|%d|0.5", i, base+int64(i)*5000, i)
			msgs = append(msgs, &sarama.ProducerMessage{Topic: cfg.Kafka.Topics.Events, Key: sarama.StringEncoder("dev-0"),
				Value: sarama.StringEncoder(line), Headers: []sarama.RecordHeader{{Key: []byte(kafka.HeaderRunID), Value: []byte("run-it")}}})
		}
		require.NoError(t, producer.SendMessages(msgs))
	}
	windows := func() int {
		got, err := m1Sums(session, "dev-0")
		if err != nil {
			return -1
		}
		return len(got)
	}

	send(0, 3) // one event per window
	require.Eventually(t, func() bool { return windows() == 3 }, 90*time.Second, 250*time.Millisecond)

	t.Cleanup(func() { _ = exec.Command(infra, "start", "cassandra").Run() }) // whatever happens below
	out, err := exec.Command(infra, "stop", "cassandra").CombinedOutput()
	require.NoError(t, err, "%s", out)
	send(3, 6)
	time.Sleep(5 * time.Second) // the worker meets the outage: its writes fail and are retried
	out, err = exec.Command(infra, "start", "cassandra").CombinedOutput()
	require.NoError(t, err, "%s", out)

	require.Eventually(t, func() bool { return windows() == 6 }, 3*time.Minute, time.Second,
		"the windows aggregated during the outage were never written")
	stop()
	require.NoError(t, <-done)
}
