package master

import (
	"github.com/boontadata/boontadata/pkg/kafka"
	"github.com/boontadata/boontadata/pkg/probe"
)

// NewKafkaChecker returns a checker of the brokers and of the jobs and
// progress topics (probe.Kafka makes it a readiness check); close it when
// done.
func NewKafkaChecker(cfg *kafka.Config) (*kafka.Checker, error) {
	return kafka.NewChecker(cfg, "aggregator-master-ready", probe.CheckTimeout, cfg.Topics.Jobs, cfg.Topics.Progress)
}
