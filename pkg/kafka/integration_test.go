package kafka

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/boontadata/boontadata/pkg/testutil"
)

func integrationConfig(t *testing.T) Config {
	t.Helper()
	testutil.Integration(t)
	c := DefaultConfig()
	c.Brokers = testutil.KafkaBrokers()
	prefix := testutil.Unique("it-")
	c.Topics = PrefixedTopics(prefix)
	require.NoError(t, c.Validate())
	return c
}

func TestIntegrationProvisionRealBroker(t *testing.T) {
	c := integrationConfig(t)
	ctx := context.Background()
	log := zaptest.NewLogger(t)
	require.NoError(t, Provision(ctx, &c, "it-provision", log))
	require.NoError(t, Provision(ctx, &c, "it-provision", log), "provisioning twice is a no-op")

	sc, err := c.Sarama("it-provision-check")
	require.NoError(t, err)
	admin, err := sarama.NewClusterAdmin(c.BrokerList(), sc)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, admin.Close()) })
	// A new topic's leaders are elected a moment after creation.
	var metas []*sarama.TopicMetadata
	require.Eventually(t, func() bool {
		metas, err = admin.DescribeTopics([]string{c.Topics.Events, c.Topics.Jobs})
		if err != nil {
			return false
		}
		for _, m := range metas {
			if m.Err != sarama.ErrNoError {
				return false
			}
		}
		return true
	}, 30*time.Second, 100*time.Millisecond, "topics have no leader")
	require.Len(t, metas[0].Partitions, 16)

	described, err := admin.DescribeConfigs([]*sarama.ConfigResource{{Type: sarama.TopicResource, Name: c.Topics.Jobs}}, sarama.DescribeConfigsOptions{})
	require.NoError(t, err)
	require.Len(t, described, 1)
	require.Equal(t, sarama.ErrNoError, described[0].ErrorCode, described[0].ErrorMsg)
	policy := ""
	for _, e := range described[0].Configs {
		if e.Name == "cleanup.policy" {
			policy = e.Value
		}
	}
	require.Equal(t, "compact", policy)
}

// groupHandler consumes until it has seen want messages, marking and committing
// each one, then reports the offsets it saw.
type groupHandler struct {
	want   int
	seen   []int64
	values []string
	done   chan struct{}
}

func (h *groupHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *groupHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (h *groupHandler) ConsumeClaim(s sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for {
		select {
		case msg, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			if len(h.seen) == h.want {
				continue // not marked: it must be delivered again after a restart
			}
			h.seen = append(h.seen, msg.Offset)
			h.values = append(h.values, string(msg.Value))
			s.MarkMessage(msg, "")
			if len(h.seen) == h.want {
				s.Commit()
				close(h.done)
			}
		case <-s.Context().Done():
			return nil
		}
	}
}

// consumeN joins the group, consumes n messages of topic, commits and leaves.
func consumeN(t *testing.T, c *Config, group, topic string, n int) *groupHandler {
	t.Helper()
	sc, err := c.Sarama("it-consumer")
	require.NoError(t, err)
	cg, err := sarama.NewConsumerGroup(c.BrokerList(), group, sc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	h := &groupHandler{want: n, done: make(chan struct{})}
	errc := make(chan error, 1)
	go func() {
		for ctx.Err() == nil {
			if err := cg.Consume(ctx, []string{topic}, h); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	select {
	case <-h.done:
	case <-ctx.Done():
		t.Fatalf("consumed %d of %d messages before the deadline", len(h.seen), n)
	}
	cancel()
	require.NoError(t, <-errc)
	require.NoError(t, cg.Close())
	return h
}

func TestIntegrationCommittedOffsetSurvivesConsumerRestart(t *testing.T) {
	c := integrationConfig(t)
	c.Partitions = 1 // one partition, so offsets give a total order to check
	ctx := context.Background()
	require.NoError(t, Provision(ctx, &c, "it-offsets", zaptest.NewLogger(t)))

	sc, err := c.Sarama("it-producer")
	require.NoError(t, err)
	producer, err := sarama.NewSyncProducer(c.BrokerList(), sc)
	require.NoError(t, err)
	const total = 20
	for i := range total {
		_, _, err := producer.SendMessage(&sarama.ProducerMessage{
			Topic: c.Topics.Events, Key: sarama.StringEncoder("device-1"),
			Value: sarama.StringEncoder(fmt.Sprintf("m-%d|device-1|1472209316326|cat-1|%d|1.5", i, i)),
		})
		require.NoError(t, err)
	}
	require.NoError(t, producer.Close())

	group := testutil.Unique("it-group-")
	first := consumeN(t, &c, group, c.Topics.Events, 12)
	require.Equal(t, int64(0), first.seen[0])
	require.Equal(t, int64(11), first.seen[11])

	second := consumeN(t, &c, group, c.Topics.Events, total-12)
	require.Equal(t, int64(12), second.seen[0], "a restarted consumer resumes at the committed offset")
	require.Equal(t, "m-12|device-1|1472209316326|cat-1|12|1.5", second.values[0])
	require.Equal(t, int64(total-1), second.seen[len(second.seen)-1])
}
