// Package setup provisions what the platform needs before it runs: the Kafka
// topics and the Cassandra schema. Every service may call it at start; it is
// idempotent, so the first one creates and the others find everything in place.
package setup

import (
	"context"
	"fmt"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"go.uber.org/zap"

	"github.com/boontadata/boontadata/pkg/cassandra"
	"github.com/boontadata/boontadata/pkg/kafka"
	"github.com/boontadata/boontadata/pkg/retry"
)

// Options says what to provision.
type Options struct {
	Kafka     *kafka.Config // nil: leave Kafka alone
	Cassandra *cassandra.Config
	ClientID  string
	// Wait bounds how long to wait for servers that are not reachable yet.
	Wait time.Duration
	// Retry paces the attempts while they are not (the service's policy,
	// which counts its retries).
	Retry retry.Policy
}

// Run creates the topics and applies the schema migrations.
func Run(ctx context.Context, o Options, log *zap.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, o.Wait)
	defer cancel()
	if o.Kafka != nil {
		if err := o.Retry.Do(ctx, log, "provision kafka topics", func() error { return kafka.Provision(ctx, o.Kafka, o.ClientID, log) }); err != nil {
			return err
		}
	}
	if o.Cassandra != nil {
		var s *gocql.Session
		err := o.Retry.Do(ctx, log, "open cassandra session", func() (err error) {
			s, err = cassandra.NewSession(o.Cassandra, log, false)
			return err
		})
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
