package microbatch

import (
	"context"
	"fmt"
	"time"

	"github.com/IBM/sarama"

	"github.com/boontadata/boontadata/services/aggregator-worker/internal/worker"
)

// Run is worker.Worker.Tasks: it joins the tasks consumer group and runs
// the tasks it is given until ctx ends.
func Run(ctx context.Context, env worker.TasksEnv) error {
	cfg := env.Config
	sc, err := cfg.Kafka.Sarama("aggregator-worker-tasks-" + cfg.WorkerID)
	if err != nil {
		return err
	}
	// A group that never committed starts at the oldest task: tasks sent
	// before the first worker joined are not lost (stale ones are skipped).
	sc.Consumer.Offsets.Initial = sarama.OffsetOldest
	// Tasks are small and latency is the batch's processing time.
	sc.Consumer.MaxWaitTime = 50 * time.Millisecond
	sc.Consumer.Retry.Backoff = 100 * time.Millisecond
	brokers := cfg.Kafka.BrokerList()
	client, err := sarama.NewClient(brokers, sc)
	if err != nil {
		return fmt.Errorf("connect to Kafka at %v: %w", brokers, err)
	}
	defer func() { _ = client.Close() }() // the group and consumer close first
	ex := &Executor{
		WorkerID: cfg.WorkerID, Reader: KafkaReader{Client: client, Topic: cfg.Kafka.Topics.Events},
		Store: CassandraStore{Session: env.Session, Now: time.Now}, Writer: env.Writer, DLQ: env.DLQ,
		DeadTopic: env.DeadTopic, Log: env.Log.Named("microbatch"), Now: time.Now,
	}
	svc := &Service{Group: GroupID(cfg.Kafka.Topics.Tasks), Topic: cfg.Kafka.Topics.Tasks, Executor: ex, Log: ex.Log}
	return svc.Run(ctx, client)
}
