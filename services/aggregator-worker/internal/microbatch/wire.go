package microbatch

import (
	"context"
	"fmt"
	"time"

	"github.com/IBM/sarama"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"go.uber.org/zap"

	"github.com/boontadata/boontadata/pkg/kafka"
	"github.com/boontadata/boontadata/pkg/retry"
	"github.com/boontadata/boontadata/services/aggregator-worker/internal/stream"
)

// Env is what the micro-batch runtime runs on; the worker's composition
// root builds it.
type Env struct {
	WorkerID string
	Kafka    *kafka.Config
	Session  *gocql.Session
	Writer   stream.ResultWriter
	DLQ      stream.DeadLetter
	Retry    retry.Policy
	Log      *zap.Logger
}

// Run joins the tasks consumer group and runs the tasks it is given until
// ctx ends.
func Run(ctx context.Context, env Env) error {
	sc, err := env.Kafka.Sarama("aggregator-worker-tasks-" + env.WorkerID)
	if err != nil {
		return err
	}
	// A group that never committed starts at the oldest task: tasks sent
	// before the first worker joined are not lost (stale ones are skipped).
	sc.Consumer.Offsets.Initial = sarama.OffsetOldest
	// Tasks are small and latency is the batch's processing time.
	sc.Consumer.MaxWaitTime = 50 * time.Millisecond
	sc.Consumer.Retry.Backoff = 100 * time.Millisecond
	brokers := env.Kafka.BrokerList()
	client, err := sarama.NewClient(brokers, sc)
	if err != nil {
		return fmt.Errorf("connect to Kafka at %v: %w", brokers, err)
	}
	defer func() { _ = client.Close() }() // the group and consumer close first
	ex := &Executor{
		WorkerID: env.WorkerID, Reader: KafkaReader{Client: client, Topic: env.Kafka.Topics.Events},
		Store: CassandraStore{Session: env.Session, Now: time.Now}, Writer: env.Writer, DLQ: env.DLQ,
		DeadTopic: env.Kafka.Topics.DeadLetter, Retry: env.Retry, Log: env.Log.Named("microbatch"), Now: time.Now,
	}
	svc := &Service{Group: GroupID(env.Kafka.Topics.Tasks), Topic: env.Kafka.Topics.Tasks, Executor: ex, Retry: env.Retry, Log: ex.Log}
	return svc.Run(ctx, client)
}
