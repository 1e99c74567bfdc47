package kafka

import (
	"context"
	"testing"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.uber.org/zap/zaptest"
)

// TestProvisionIsIdempotent runs provisioning twice against kfake, a Kafka
// wire-protocol fake that sarama talks to as to a broker.
func TestProvisionIsIdempotent(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	require.NoError(t, err)
	t.Cleanup(cluster.Close)

	c := DefaultConfig()
	c.Brokers = cluster.ListenAddrs()
	c.Partitions = 8
	require.NoError(t, c.Validate())
	ctx := context.Background()
	log := zaptest.NewLogger(t)

	require.NoError(t, Provision(ctx, &c, "provision-test", log))
	require.NoError(t, Provision(ctx, &c, "provision-test", log))

	sc, err := c.Sarama("provision-check")
	require.NoError(t, err)
	admin, err := sarama.NewClusterAdmin(c.BrokerList(), sc)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, admin.Close()) })
	topics, err := admin.ListTopics()
	require.NoError(t, err)
	for _, s := range c.TopicSpecs() {
		d, ok := topics[s.Name]
		require.True(t, ok, "topic %s missing", s.Name)
		require.Equal(t, s.Partitions, d.NumPartitions, s.Name)
	}
	require.Equal(t, int32(8), topics[c.Topics.Events].NumPartitions)
}

type fakeAdmin struct {
	topics  map[string]sarama.TopicDetail
	created []string
}

func (f *fakeAdmin) ListTopics() (map[string]sarama.TopicDetail, error) { return f.topics, nil }

func (f *fakeAdmin) CreateTopic(name string, d *sarama.TopicDetail, _ bool) error {
	if _, ok := f.topics[name]; ok {
		return sarama.ErrTopicAlreadyExists
	}
	f.topics[name] = *d
	f.created = append(f.created, name)
	return nil
}

func TestEnsureTopicsLeavesExistingTopicsAlone(t *testing.T) {
	c := DefaultConfig()
	f := &fakeAdmin{topics: map[string]sarama.TopicDetail{c.Topics.Events: {NumPartitions: 4}}}
	require.NoError(t, EnsureTopics(context.Background(), f, c.TopicSpecs(), zaptest.NewLogger(t)))
	require.NotContains(t, f.created, c.Topics.Events)
	require.Len(t, f.created, len(c.TopicSpecs())-1)
	require.Equal(t, int32(4), f.topics[c.Topics.Events].NumPartitions, "an existing topic is never changed")
	require.Equal(t, "compact", *f.topics[c.Topics.Jobs].ConfigEntries["cleanup.policy"])
}
