// Package setup provisions what the platform needs before it runs: the Kafka
// topics and the Cassandra schema. Every service may call it at start; it is
// idempotent, so the first one creates and the others find everything in place.
package setup

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/boontadata/boontadata/pkg/cassandra"
	"github.com/boontadata/boontadata/pkg/kafka"
)

// Options says what to provision.
type Options struct {
	Kafka     *kafka.Config // nil: leave Kafka alone
	Cassandra *cassandra.Config
	ClientID  string
	// Wait bounds how long to wait for servers that are not reachable yet.
	Wait time.Duration
}

// Run creates the topics and applies the schema migrations.
func Run(ctx context.Context, o Options, log *zap.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, o.Wait)
	defer cancel()
	if o.Kafka != nil {
		if err := retry(ctx, log, "kafka", func() error { return kafka.Provision(ctx, o.Kafka, o.ClientID, log) }); err != nil {
			return fmt.Errorf("provision Kafka topics: %w", err)
		}
	}
	if o.Cassandra != nil {
		s, err := cassandra.WaitSession(ctx, o.Cassandra, log, false)
		if err != nil {
			return err
		}
		defer s.Close()
		res, err := cassandra.Migrate(ctx, s, o.Cassandra, log)
		if err != nil {
			return fmt.Errorf("apply Cassandra schema: %w", err)
		}
		log.Info("cassandra schema ready", zap.String("keyspace", o.Cassandra.Keyspace),
			zap.Int("version", res.Current), zap.Strings("applied", res.Applied))
	}
	return nil
}

func retry(ctx context.Context, log *zap.Logger, what string, f func() error) error {
	delay := 500 * time.Millisecond
	for {
		err := f()
		if err == nil {
			return nil
		}
		log.Warn(what+" not ready yet; retrying", zap.Error(err), zap.Duration("retry_in", delay))
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (gave up after waiting: %v)", err, ctx.Err())
		case <-time.After(delay):
		}
		delay = min(delay*2, 10*time.Second)
	}
}
