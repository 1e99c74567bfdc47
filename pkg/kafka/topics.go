package kafka

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/IBM/sarama"
	"go.uber.org/zap"

	"github.com/boontadata/boontadata/pkg/logging"
)

// TopicSpec describes a topic the software creates.
type TopicSpec struct {
	Name              string
	Partitions        int32
	ReplicationFactor int16
	Config            map[string]string
}

// TopicSpecs returns every topic of the platform, as the configuration asks.
func (c *Config) TopicSpecs() []TopicSpec {
	rf := int16(c.ReplicationFactor)
	minISR := "1"
	if rf >= 3 {
		minISR = "2"
	}
	day := strconv.FormatInt((24 * time.Hour).Milliseconds(), 10)
	return []TopicSpec{
		{Name: c.Topics.Events, Partitions: int32(c.Partitions), ReplicationFactor: rf, Config: map[string]string{
			"retention.ms": strconv.FormatInt((7 * 24 * time.Hour).Milliseconds(), 10), "min.insync.replicas": minISR,
		}},
		{Name: c.Topics.DeadLetter, Partitions: 4, ReplicationFactor: rf, Config: map[string]string{
			"retention.ms": strconv.FormatInt((30 * 24 * time.Hour).Milliseconds(), 10), "min.insync.replicas": minISR,
		}},
		// Job specs are state: compaction keeps the latest spec of every job.
		{Name: c.Topics.Jobs, Partitions: 1, ReplicationFactor: rf, Config: map[string]string{
			"cleanup.policy": "compact", "min.insync.replicas": minISR,
		}},
		{Name: c.Topics.Tasks, Partitions: int32(c.Partitions), ReplicationFactor: rf, Config: map[string]string{
			"retention.ms": day, "min.insync.replicas": minISR,
		}},
		{Name: c.Topics.Progress, Partitions: 1, ReplicationFactor: rf, Config: map[string]string{
			"retention.ms": strconv.FormatInt(time.Hour.Milliseconds(), 10),
		}},
		{Name: c.Topics.Results, Partitions: int32(c.Partitions), ReplicationFactor: rf, Config: map[string]string{
			"retention.ms": strconv.FormatInt((7 * 24 * time.Hour).Milliseconds(), 10), "min.insync.replicas": minISR,
		}},
		// Watermarks are read from the newest offset: an hour is plenty.
		{Name: c.Topics.Watermarks, Partitions: 1, ReplicationFactor: rf, Config: map[string]string{
			"retention.ms": strconv.FormatInt(time.Hour.Milliseconds(), 10),
		}},
	}
}

// Admin is the part of sarama.ClusterAdmin that provisioning needs.
type Admin interface {
	ListTopics() (map[string]sarama.TopicDetail, error)
	CreateTopic(topic string, detail *sarama.TopicDetail, validateOnly bool) error
}

// EnsureTopics creates the topics that do not exist yet and leaves the others
// as they are: running it twice changes nothing. An existing topic with fewer
// partitions than asked is reported, not changed, because adding partitions
// would move device keys to other partitions.
func EnsureTopics(ctx context.Context, admin Admin, specs []TopicSpec, log *zap.Logger) error {
	existing, err := admin.ListTopics()
	if err != nil {
		return fmt.Errorf("list topics: %w", err)
	}
	for _, s := range specs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if d, ok := existing[s.Name]; ok {
			if d.NumPartitions < s.Partitions {
				log.Warn("topic has fewer partitions than configured; leaving it as it is",
					zap.String(logging.KeyTopic, s.Name),
					zap.Int32("partitions", d.NumPartitions), zap.Int32("configured_partitions", s.Partitions))
			}
			continue
		}
		cfg := make(map[string]*string, len(s.Config))
		for k, v := range s.Config {
			cfg[k] = &v
		}
		err := admin.CreateTopic(s.Name, &sarama.TopicDetail{
			NumPartitions: s.Partitions, ReplicationFactor: s.ReplicationFactor, ConfigEntries: cfg,
		}, false)
		if errors.Is(err, sarama.ErrTopicAlreadyExists) {
			continue // created meanwhile by another service
		}
		if err != nil {
			return fmt.Errorf("create topic %s: %w", s.Name, err)
		}
		log.Info("created topic", zap.String(logging.KeyTopic, s.Name),
			zap.Int32("partitions", s.Partitions), zap.Int16("replication_factor", s.ReplicationFactor))
	}
	return nil
}

// Provision connects to the cluster and creates the platform's topics.
func Provision(ctx context.Context, c *Config, clientID string, log *zap.Logger) error {
	sc, err := c.Sarama(clientID)
	if err != nil {
		return err
	}
	admin, err := sarama.NewClusterAdmin(c.BrokerList(), sc)
	if err != nil {
		return fmt.Errorf("connect to Kafka at %v: %w", c.BrokerList(), err)
	}
	defer func() { _ = admin.Close() }() // nothing was written through it
	return EnsureTopics(ctx, admin, c.TopicSpecs(), log)
}
