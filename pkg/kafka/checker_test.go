package kafka

import (
	"context"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.uber.org/zap/zaptest"
)

func TestChecker(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	require.NoError(t, err)
	c := DefaultConfig()
	c.Brokers = cluster.ListenAddrs()

	k, err := NewChecker(&c, "check-test", time.Second, c.Topics.Events)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, k.Close()) })
	require.ErrorIs(t, k.Check(), sarama.ErrUnknownTopicOrPartition, "the topic does not exist yet")

	require.NoError(t, Provision(context.Background(), &c, "check-test", zaptest.NewLogger(t)))
	require.NoError(t, k.Check())

	cluster.Close()
	require.Error(t, k.Check(), "the broker is gone")
}
