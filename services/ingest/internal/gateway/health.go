package gateway

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/boontadata/boontadata/pkg/kafka"
	"github.com/boontadata/boontadata/pkg/probe"
)

// Checker tells whether Kafka can take records now.
type Checker interface {
	Check() error
}

// NewKafkaChecker returns a checker of the brokers and of the gateway's
// topics; timeout bounds one check's dial, read and write. It only looks: a
// missing topic makes the gateway not ready (the gateway creates its topics
// when it starts); a check never creates one.
func NewKafkaChecker(cfg *kafka.Config, timeout time.Duration) (*kafka.Checker, error) {
	return kafka.NewChecker(cfg, "ingest-ready", timeout, cfg.Topics.Events, cfg.Topics.DeadLetter)
}

// newProbe is the gateway's readiness: Kafka reachable and not stopping.
// Every check sets the kafka_reachable gauge.
func newProbe(c Checker, m *metrics, log *zap.Logger) *probe.Probe {
	p := probe.New(map[string]probe.Checker{"kafka": probe.CheckerFunc(func(context.Context) error { return c.Check() })}, nil, log)
	p.Observe(func(_ string, err error) { m.kafkaReachable.Set(boolGauge(err == nil)) })
	return p
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
