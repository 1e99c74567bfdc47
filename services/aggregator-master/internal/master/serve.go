package master

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/IBM/sarama"
	"go.uber.org/zap"

	"github.com/boontadata/boontadata/pkg/cassandra"
	"github.com/boontadata/boontadata/pkg/job/jobstore"
	"github.com/boontadata/boontadata/pkg/probe"
	"github.com/boontadata/boontadata/pkg/retry"
	"github.com/boontadata/boontadata/pkg/setup"
)

// ClientID names the master's Kafka clients.
const ClientID = "aggregator-master"

// Serve provisions the topics and schema, connects to Cassandra and Kafka and
// runs the master on cfg.Listen until ctx is cancelled. After Run stopped the
// HTTP server and the progress consumer, it closes the Kafka clients, then
// the Cassandra session.
// It listens only once Kafka and Cassandra are set up and connected, so that
// a probe does not wait minutes on a socket nobody serves.
func Serve(ctx context.Context, cfg Config, log *zap.Logger) error {
	return ServeListener(ctx, cfg, nil, log)
}

// ServeListener is Serve on a listener already open (tests listen on port 0);
// a nil ln listens on cfg.Listen. It closes the listener.
func ServeListener(ctx context.Context, cfg Config, ln net.Listener, log *zap.Logger) (err error) {
	var closers []func() error // in the order of closing
	defer func() {
		for _, c := range closers {
			err = errors.Join(err, c())
		}
	}()
	closeListener := func(e error) error {
		if ln == nil {
			return e
		}
		return errors.Join(e, ln.Close())
	}
	if err := cfg.Validate(); err != nil {
		return closeListener(err)
	}
	retries := retry.NewCounter(namespace) // the setup's retries are counted too
	err = setup.Run(ctx, setup.Options{Kafka: &cfg.Kafka, Cassandra: &cfg.Cassandra, ClientID: ClientID + "-setup", Wait: cfg.SetupWait,
		Retry: retry.Default().Counting(retries)}, log)
	if err != nil {
		if ctx.Err() != nil {
			return closeListener(ctx.Err()) // stopped while waiting for the servers
		}
		return closeListener(err)
	}
	session, err := cassandra.NewSession(&cfg.Cassandra, log, true)
	if err != nil {
		return closeListener(err)
	}
	closers = append(closers, func() error { session.Close(); return nil }) // the last to go

	sc, err := cfg.Kafka.Sarama(ClientID)
	if err != nil {
		return closeListener(err)
	}
	// Two connections: one request is in flight per connection, and the
	// progress consumer's fetch waits up to its MaxWaitTime for records;
	// on a connection of their own, the job specs, the micro-batch tasks
	// and the offsets they are planned from do not wait behind it.
	client, err := sarama.NewClient(cfg.Kafka.BrokerList(), sc)
	if err != nil {
		return closeListener(fmt.Errorf("connect to Kafka at %v: %w", cfg.Kafka.BrokerList(), err))
	}
	cclient, err := sarama.NewClient(cfg.Kafka.BrokerList(), sc)
	if err != nil {
		return closeListener(errors.Join(fmt.Errorf("connect to Kafka at %v: %w", cfg.Kafka.BrokerList(), err), client.Close()))
	}
	producer, err := sarama.NewSyncProducerFromClient(client)
	if err != nil {
		return closeListener(errors.Join(fmt.Errorf("create Kafka producer: %w", err), cclient.Close(), client.Close()))
	}
	consumer, err := sarama.NewConsumerFromClient(cclient)
	if err != nil {
		return closeListener(errors.Join(fmt.Errorf("create Kafka consumer: %w", err), producer.Close(), cclient.Close(), client.Close()))
	}
	checker, err := NewKafkaChecker(&cfg.Kafka)
	if err != nil {
		return closeListener(errors.Join(err, consumer.Close(), producer.Close(), cclient.Close(), client.Close()))
	}
	// Before the session: the Kafka clients close first.
	closers = append([]func() error{
		wrapClose("close progress consumer", consumer.Close),
		wrapClose("close jobs producer", producer.Close),
		wrapClose("close readiness client", checker.Close),
		wrapClose("close progress client", cclient.Close),
		wrapClose("close Kafka client", client.Close),
	}, closers...)

	m, err := New(cfg, Deps{
		Store:     jobstore.New(session),
		Publisher: KafkaPublisher{Producer: producer, Topic: cfg.Kafka.Topics.Jobs},
		Consumer:  consumer,
		Checkers:  map[string]probe.Checker{"cassandra": probe.Cassandra(session), "kafka": probe.Kafka(checker)},
		MicroBatch: MicroBatchDeps{
			Batches:     CassandraBatches{Session: session},
			Offsets:     KafkaOffsets{Client: client, Topic: cfg.Kafka.Topics.Events},
			Tasks:       KafkaTasks{Producer: producer, Topic: cfg.Kafka.Topics.Tasks},
			TaskTimeout: cfg.TaskTimeout,
		},
		Retries: retries,
		Log:     log,
	})
	if err != nil {
		return closeListener(err)
	}
	if ln == nil {
		if ln, err = net.Listen("tcp", cfg.Listen); err != nil {
			return fmt.Errorf("listen: %w", err)
		}
	}
	return m.Run(ctx, ln)
}

func wrapClose(what string, f func() error) func() error {
	return func() error {
		if err := f(); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	}
}
