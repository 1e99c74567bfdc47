package master

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/IBM/sarama"
	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"go.uber.org/zap"

	"github.com/boontadata/boontadata/pkg/kafka"
)

// checkTimeout bounds one readiness check.
const checkTimeout = 3 * time.Second

// Checker tells whether a dependency answers now.
type Checker interface {
	Check(ctx context.Context) error
}

// CheckerFunc adapts a function to Checker.
type CheckerFunc func(ctx context.Context) error

// Check calls f.
func (f CheckerFunc) Check(ctx context.Context) error { return f(ctx) }

// CassandraChecker asks the node the session is connected to for its version.
func CassandraChecker(s *gocql.Session) Checker {
	return CheckerFunc(func(ctx context.Context) error {
		var v string
		if err := s.Query(`SELECT release_version FROM system.local`).ScanContext(ctx, &v); err != nil {
			return fmt.Errorf("cassandra: %w", err)
		}
		return nil
	})
}

// ErrNoLeader means the metadata names no leader for a partition of a topic.
var ErrNoLeader = errors.New("no partition with a leader")

// KafkaChecker refreshes the metadata of the control topics with a client of
// its own and short timeouts, so that a check ends within seconds even when
// the brokers are gone. A failed client is dropped and a new one made at the
// next check, so that a restarted broker is found again.
type KafkaChecker struct {
	brokers []string
	sc      *sarama.Config
	topics  []string

	mu     sync.Mutex
	client sarama.Client
}

// NewKafkaChecker returns a checker of the jobs and progress topics.
func NewKafkaChecker(cfg *kafka.Config) (*KafkaChecker, error) {
	sc, err := cfg.Sarama("aggregator-master-ready")
	if err != nil {
		return nil, err
	}
	sc.Net.DialTimeout, sc.Net.ReadTimeout, sc.Net.WriteTimeout = checkTimeout, checkTimeout, checkTimeout
	sc.Metadata.Retry.Max = 0
	sc.Metadata.Full = false
	sc.Metadata.RefreshFrequency = 0 // refreshed by Check only
	return &KafkaChecker{brokers: cfg.BrokerList(), sc: sc, topics: []string{cfg.Topics.Jobs, cfg.Topics.Progress}}, nil
}

// Check requires a leader for some partition of each topic.
func (k *KafkaChecker) Check(context.Context) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.client == nil {
		c, err := sarama.NewClient(k.brokers, k.sc)
		if err != nil {
			return fmt.Errorf("kafka: connect to %v: %w", k.brokers, err)
		}
		k.client = c
	}
	err := k.client.RefreshMetadata(k.topics...)
	for _, t := range k.topics {
		if err != nil {
			break
		}
		var ps []int32
		if ps, err = k.client.WritablePartitions(t); err == nil && len(ps) == 0 {
			err = fmt.Errorf("topic %s: %w", t, ErrNoLeader)
		}
	}
	if err == nil {
		return nil
	}
	_ = k.client.Close() // a fresh client next time; this one is of no use
	k.client = nil
	return fmt.Errorf("kafka: %w", err)
}

// Close releases the checker's client.
func (k *KafkaChecker) Close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.client == nil {
		return nil
	}
	err := k.client.Close()
	k.client = nil
	return err
}

// readiness holds what /readyz answers: every dependency answered its last
// check, and the master is not stopping.
type readiness struct {
	checkers map[string]Checker
	log      *zap.Logger

	mu       sync.Mutex
	problems map[string]error // by dependency; nil entry: reachable
	checked  bool
	stopping bool
}

func newReadiness(checkers map[string]Checker, log *zap.Logger) *readiness {
	return &readiness{checkers: checkers, log: log, problems: map[string]error{}}
}

// check runs every check once, one after the other, and logs changes.
func (r *readiness) check(ctx context.Context) {
	for name, c := range r.checkers {
		cctx, cancel := context.WithTimeout(ctx, checkTimeout)
		err := c.Check(cctx)
		cancel()
		r.mu.Lock()
		was, known := r.problems[name]
		r.problems[name] = err
		r.mu.Unlock()
		switch {
		case err == nil && (was != nil || !known):
			r.log.Info("dependency reachable", zap.String("dependency", name))
		case err != nil && (was == nil):
			r.log.Warn("dependency unreachable: not ready", zap.String("dependency", name), zap.Error(err))
		}
	}
	r.mu.Lock()
	r.checked = true
	r.mu.Unlock()
}

// run checks on every tick until ctx ends.
func (r *readiness) run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.check(ctx)
		}
	}
}

func (r *readiness) setStopping() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopping = true
}

// status returns nil when ready, else the reason.
func (r *readiness) status() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopping {
		return errors.New("stopping")
	}
	if !r.checked {
		return errors.New("not checked yet")
	}
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(r.problems)) {
		if err := r.problems[name]; err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
