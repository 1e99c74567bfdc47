package gateway

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"go.uber.org/zap"

	"github.com/boontadata/boontadata/pkg/kafka"
)

// Checker tells whether Kafka can take records now.
type Checker interface {
	Check() error
}

// KafkaChecker checks the brokers and the gateway's topics. A topic that has
// gone missing (a broker reset to empty) is created again, so the gateway
// recovers without a restart.
type KafkaChecker struct {
	*kafka.Checker
	cfg *kafka.Config
	log *zap.Logger
}

// NewKafkaChecker returns a checker of the brokers and topics of cfg; timeout
// bounds one check's dial, read and write.
func NewKafkaChecker(cfg *kafka.Config, timeout time.Duration, log *zap.Logger) (*KafkaChecker, error) {
	c, err := kafka.NewChecker(cfg, "ingest-ready", timeout, cfg.Topics.Events, cfg.Topics.DeadLetter)
	if err != nil {
		return nil, err
	}
	return &KafkaChecker{Checker: c, cfg: cfg, log: log}, nil
}

// Check requires a leader for some partition of each topic.
func (k *KafkaChecker) Check() error {
	err := k.Checker.Check()
	if errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
		k.log.Warn("a topic of the gateway is missing: creating it again", zap.Error(err))
		if perr := kafka.Provision(context.Background(), k.cfg, Source+"-setup", k.log); perr != nil {
			return fmt.Errorf("%w; create the topics: %w", err, perr)
		}
	}
	return err
}

// readiness holds what /readyz answers: Kafka reachable and not stopping.
type readiness struct {
	kafkaOK  atomic.Bool
	stopping atomic.Bool
	// recheck asks the loop for a check now (after a failed record).
	recheck chan struct{}
	checker Checker
	log     *zap.Logger
	metrics *metrics
}

func newReadiness(c Checker, log *zap.Logger, m *metrics) *readiness {
	return &readiness{recheck: make(chan struct{}, 1), checker: c, log: log, metrics: m}
}

func (r *readiness) ready() bool { return r.kafkaOK.Load() && !r.stopping.Load() }

// trigger asks for a check soon without waiting for it.
func (r *readiness) trigger() {
	select {
	case r.recheck <- struct{}{}:
	default:
	}
}

// check runs one check and records its outcome, logging changes.
func (r *readiness) check() {
	err := r.checker.Check()
	ok := err == nil
	was := r.kafkaOK.Swap(ok)
	r.metrics.kafkaReachable.Set(boolGauge(ok))
	switch {
	case ok && !was:
		r.log.Info("kafka is reachable: ready")
	case !ok && was:
		r.log.Warn("kafka is unreachable: not ready, answering 503", zap.Error(err))
	case !ok:
		r.log.Debug("kafka still unreachable", zap.Error(err))
	}
}

// run checks on every tick and on trigger until stop is closed.
func (r *readiness) run(stop <-chan struct{}, tick <-chan time.Time) {
	for {
		select {
		case <-stop:
			return
		case <-tick:
		case <-r.recheck:
		}
		r.check()
	}
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
