package gateway

import (
	"context"
	"errors"
	"fmt"
	"sync"
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

// ErrNoWritablePartition means the metadata names no leader for a topic.
var ErrNoWritablePartition = errors.New("no writable partition")

// KafkaChecker asks a broker for the metadata of the gateway's topics with a
// client of its own and short timeouts, so that a check answers within
// seconds even when the brokers are gone. A failed client is dropped and a
// new one made at the next check: a restarted broker is found again. A topic
// that has gone missing (a broker reset to empty) is created again, so the
// gateway recovers without a restart.
type KafkaChecker struct {
	cfg    *kafka.Config
	sc     *sarama.Config
	topics []string
	log    *zap.Logger

	mu     sync.Mutex
	client sarama.Client
}

// NewKafkaChecker returns a checker of the brokers and topics of cfg; timeout
// bounds one check's dial, read and write.
func NewKafkaChecker(cfg *kafka.Config, timeout time.Duration, log *zap.Logger) (*KafkaChecker, error) {
	sc, err := cfg.Sarama("ingest-ready")
	if err != nil {
		return nil, err
	}
	sc.Net.DialTimeout, sc.Net.ReadTimeout, sc.Net.WriteTimeout = timeout, timeout, timeout
	sc.Metadata.Retry.Max = 0
	sc.Metadata.Full = false
	sc.Metadata.RefreshFrequency = 0 // refreshed by Check only
	return &KafkaChecker{cfg: cfg, sc: sc, topics: []string{cfg.Topics.Events, cfg.Topics.DeadLetter}, log: log}, nil
}

// Check refreshes the metadata of the topics and requires a leader for at
// least one partition of each.
func (k *KafkaChecker) Check() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.client == nil {
		c, err := sarama.NewClient(k.cfg.BrokerList(), k.sc)
		if err != nil {
			return fmt.Errorf("connect to Kafka at %v: %w", k.cfg.BrokerList(), err)
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
			err = fmt.Errorf("topic %s: %w", t, ErrNoWritablePartition)
		}
	}
	if err == nil {
		return nil
	}
	_ = k.client.Close() // a fresh client next time; this one is of no use
	k.client = nil
	if errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
		k.log.Warn("a topic of the gateway is missing: creating it again", zap.Error(err))
		if perr := kafka.Provision(context.Background(), k.cfg, Source+"-setup", k.log); perr != nil {
			return fmt.Errorf("kafka metadata: %w; create the topics: %w", err, perr)
		}
	}
	return fmt.Errorf("kafka metadata: %w", err)
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
