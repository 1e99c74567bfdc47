package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/IBM/sarama"
	"go.uber.org/zap"

	"github.com/boontadata/boontadata/pkg/kafka"
	"github.com/boontadata/boontadata/pkg/retry"
	"github.com/boontadata/boontadata/pkg/setup"
)

// checkTimeout bounds one readiness check of Kafka.
const checkTimeout = 3 * time.Second

// ProducerConfig is the sarama configuration of the gateway's producer:
// kafka.Config.Sarama's idempotent acks=all producer, with a deeper input
// channel so that handlers enqueue whole batches without waiting on sarama's
// pipeline at every record.
func ProducerConfig(c *kafka.Config) (*sarama.Config, error) {
	sc, err := c.Sarama(Source)
	if err != nil {
		return nil, err
	}
	sc.ChannelBufferSize = 4096
	return sc, nil
}

// Serve provisions the topics, connects to Kafka and runs the gateway on
// cfg.Listen until ctx is cancelled.
func Serve(ctx context.Context, cfg Config, log *zap.Logger) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	retries := retry.NewCounter(namespace)
	err := setup.Run(ctx, setup.Options{Kafka: &cfg.Kafka, ClientID: Source + "-setup", Wait: cfg.SetupWait,
		Retry: retry.Default().Counting(retries)}, log)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err() // stopped while waiting for Kafka
		}
		return err
	}
	sc, err := ProducerConfig(&cfg.Kafka)
	if err != nil {
		return err
	}
	checker, err := NewKafkaChecker(&cfg.Kafka, checkTimeout)
	if err != nil {
		return err
	}
	p, err := sarama.NewAsyncProducer(cfg.Kafka.BrokerList(), sc)
	if err != nil {
		return fmt.Errorf("create Kafka producer: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return errors.Join(fmt.Errorf("listen: %w", err), p.Close())
	}
	endRun := func(ctx context.Context, runID string) (int, error) {
		return kafka.SendEndOfRun(ctx, cfg.Kafka.BrokerList(), sc, cfg.Kafka.Topics.Events, runID, Source)
	}
	g, err := New(cfg, Deps{Producer: p, Checker: checker, Log: log, EndOfRun: endRun, Retries: retries})
	if err != nil {
		return errors.Join(err, ln.Close(), p.Close())
	}
	err = g.Run(ctx, ln)
	if cerr := checker.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("close readiness client: %w", cerr))
	}
	return err
}
