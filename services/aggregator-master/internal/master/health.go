package master

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

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

// KafkaChecker checks the brokers and the control topics of the master.
type KafkaChecker struct{ *kafka.Checker }

// NewKafkaChecker returns a checker of the jobs and progress topics.
func NewKafkaChecker(cfg *kafka.Config) (*KafkaChecker, error) {
	c, err := kafka.NewChecker(cfg, "aggregator-master-ready", checkTimeout, cfg.Topics.Jobs, cfg.Topics.Progress)
	if err != nil {
		return nil, err
	}
	return &KafkaChecker{c}, nil
}

// Check requires a leader for some partition of each topic.
func (k *KafkaChecker) Check(context.Context) error {
	if err := k.Checker.Check(); err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	return nil
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
