package jobkafka

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.uber.org/zap/zaptest"

	"github.com/boontadata/boontadata/pkg/job"
)

func TestMessages(t *testing.T) {
	s := job.Spec{ID: "j1", Preset: "exact"}
	m, err := Message("jobs", s)
	require.NoError(t, err)
	require.Equal(t, "jobs", m.Topic)
	require.Equal(t, sarama.StringEncoder("j1"), m.Key, "keyed by job id for compaction")
	b, err := m.Value.Encode()
	require.NoError(t, err)
	got, err := job.Decode(b)
	require.NoError(t, err)
	require.Equal(t, s.WithDefaults(), got)

	tm, err := TaskMessage("tasks", job.Task{JobID: "j1", Spec: s, BatchID: 3, Partition: 5})
	require.NoError(t, err)
	require.Equal(t, sarama.StringEncoder(job.TaskKey("j1", 5)), tm.Key)
}

// TestWatchSkipsBadRecords reads a jobs topic on kfake holding a valid spec,
// a record that is not a spec, an invalid spec and a tombstone: only the valid
// specs reach fn, in order.
func TestWatchSkipsBadRecords(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "jobs"))
	require.NoError(t, err)
	t.Cleanup(cluster.Close)
	sc := sarama.NewConfig()
	sc.Version = sarama.V2_1_0_0
	sc.Producer.Return.Successes = true
	client, err := sarama.NewClient(cluster.ListenAddrs(), sc)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, client.Close()) })
	producer, err := sarama.NewSyncProducerFromClient(client)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, producer.Close()) })

	first, err := Message("jobs", job.Spec{ID: "j1", Preset: "exact"})
	require.NoError(t, err)
	last, err := Message("jobs", job.Spec{ID: "j2", Preset: "storm"})
	require.NoError(t, err)
	for _, m := range []*sarama.ProducerMessage{
		first,
		{Topic: "jobs", Key: sarama.StringEncoder("x"), Value: sarama.StringEncoder("{not json")},
		{Topic: "jobs", Key: sarama.StringEncoder("bad"), Value: sarama.StringEncoder(`{"job_id":"a b","preset":"exact"}`)},
		{Topic: "jobs", Key: sarama.StringEncoder("j1")},
		last,
	} {
		_, _, err := producer.SendMessage(m)
		require.NoError(t, err)
	}

	consumer, err := sarama.NewConsumerFromClient(client)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, consumer.Close()) })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var mu sync.Mutex
	var ids []string
	err = Watch(ctx, consumer, "jobs", zaptest.NewLogger(t), func(s job.Spec) {
		mu.Lock()
		defer mu.Unlock()
		ids = append(ids, s.ID)
		if s.ID == "j2" {
			cancel()
		}
	})
	require.NoError(t, err)
	require.Equal(t, []string{"j1", "j2"}, ids)
}
