// Package kafka holds the Kafka plumbing shared by the boontadata services: the
// client configuration (sarama), the topics the platform uses and their
// idempotent provisioning. It knows nothing of events or the engine.
package kafka

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/IBM/sarama"
)

// MinVersion is the oldest Kafka protocol version the services speak. Kafka 4
// removed the older request versions, and idempotent production needs 0.11+.
var MinVersion = sarama.V2_1_0_0

// Sentinel errors returned by Config.Validate.
var (
	ErrNoBrokers      = errors.New("no Kafka broker given (--kafka-brokers)")
	ErrOldVersion     = errors.New("the Kafka protocol version must be 2.1.0 or newer")
	ErrBadPartitions  = errors.New("the events topic needs at least one partition")
	ErrBadReplication = errors.New("the replication factor must be at least 1")
	ErrBadTopicName   = errors.New("topic names must be non-empty and use only letters, digits, '.', '_' and '-'")
)

// Config is the Kafka part of every service's configuration. It is plain data:
// cliapp.KafkaFlags binds it to command-line flags.
type Config struct {
	// Brokers are the bootstrap brokers, host:port; a value may hold several,
	// comma-separated.
	Brokers []string
	// Version is the Kafka protocol version to speak, as sarama parses it.
	Version string
	// Topics and how to create them.
	Topics Topics
	// Partitions of the events topic.
	Partitions int
	// ReplicationFactor of every topic the software creates: 1 on a single node.
	ReplicationFactor int
	// DialTimeout bounds a connection attempt to a broker.
	DialTimeout time.Duration
}

// Topics names the topics of the platform.
type Topics struct {
	// Events carries the device events, keyed by device id.
	Events string
	// DeadLetter carries what could not be processed, with the reason in headers.
	DeadLetter string
	// Jobs is the compacted topic of job specifications, keyed by job id.
	Jobs string
	// Tasks carries work from the aggregator-master to the workers.
	Tasks string
	// Progress carries worker progress reports to the aggregator-master.
	Progress string
	// Results carries the window results of engines under test (the engine
	// contract, docs/engines.md), keyed by device id.
	Results string
	// Watermarks carries the partition watermarks the continuous runtime's
	// workers share, for watermark scopes wider than one partition.
	Watermarks string
}

// DefaultConfig returns the configuration that works against the local
// infrastructure of scripts/infra.
func DefaultConfig() Config {
	return Config{
		Brokers: []string{"127.0.0.1:9092"},
		Version: "3.6.0",
		Topics: Topics{
			Events:     "boontadata-events",
			DeadLetter: "boontadata-deadletter",
			Jobs:       "boontadata-jobs",
			Tasks:      "boontadata-tasks",
			Progress:   "boontadata-progress",
			Results:    "boontadata-results",
			Watermarks: "boontadata-watermarks",
		},
		Partitions:        16,
		ReplicationFactor: 1,
		DialTimeout:       10 * time.Second,
	}
}

// PrefixedTopics names every topic PREFIX-<role> (PREFIX-events, ...): tests
// and side-by-side platforms use it to keep to their own topics.
func PrefixedTopics(prefix string) Topics {
	return Topics{
		Events: prefix + "-events", DeadLetter: prefix + "-deadletter", Jobs: prefix + "-jobs",
		Tasks: prefix + "-tasks", Progress: prefix + "-progress", Results: prefix + "-results",
		Watermarks: prefix + "-watermarks",
	}
}

// Validate reports the first problem of the configuration.
func (c *Config) Validate() error {
	if len(c.BrokerList()) == 0 {
		return ErrNoBrokers
	}
	v, err := sarama.ParseKafkaVersion(c.Version)
	if err != nil {
		return fmt.Errorf("kafka version %q: %w", c.Version, err)
	}
	if !v.IsAtLeast(MinVersion) {
		return fmt.Errorf("%w, got %s", ErrOldVersion, c.Version)
	}
	if c.Partitions < 1 {
		return ErrBadPartitions
	}
	if c.ReplicationFactor < 1 {
		return ErrBadReplication
	}
	for _, t := range []string{c.Topics.Events, c.Topics.DeadLetter, c.Topics.Jobs, c.Topics.Tasks, c.Topics.Progress, c.Topics.Results, c.Topics.Watermarks} {
		if !validTopic(t) {
			return fmt.Errorf("%w: %q", ErrBadTopicName, t)
		}
	}
	return nil
}

// BrokerList returns the brokers with each value also split at commas and
// blanks removed: "a:1, b:2" and two values give the same list.
func (c *Config) BrokerList() []string { return splitList(c.Brokers) }

func splitList(values []string) []string {
	var out []string
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			if p := strings.TrimSpace(part); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

func validTopic(t string) bool {
	if t == "" || len(t) > 249 || t == "." || t == ".." {
		return false
	}
	for _, r := range t {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// Sarama returns the sarama configuration for one client of a service. The
// producer is idempotent with acks=all, so a retried send never duplicates a
// record; consumers never auto-commit, so offsets move only when results are
// durable.
func (c *Config) Sarama(clientID string) (*sarama.Config, error) {
	v, err := sarama.ParseKafkaVersion(c.Version)
	if err != nil {
		return nil, fmt.Errorf("kafka version %q: %w", c.Version, err)
	}
	sc := sarama.NewConfig()
	sc.ClientID = clientID
	sc.Version = v
	sc.Net.DialTimeout = c.DialTimeout
	sc.Net.ReadTimeout = 30 * time.Second
	sc.Net.WriteTimeout = 30 * time.Second
	sc.Metadata.Retry.Max = 5
	sc.Metadata.Retry.Backoff = 500 * time.Millisecond

	// Idempotence requires acks=all, at most one in-flight request per broker
	// connection in sarama, and retries.
	sc.Producer.Idempotent = true
	sc.Producer.RequiredAcks = sarama.WaitForAll
	sc.Net.MaxOpenRequests = 1
	sc.Producer.Retry.Max = 10
	sc.Producer.Retry.Backoff = 250 * time.Millisecond
	sc.Producer.Return.Successes = true
	sc.Producer.Return.Errors = true
	sc.Producer.Partitioner = sarama.NewHashPartitioner
	sc.Producer.Compression = sarama.CompressionLZ4
	sc.Producer.Flush.Frequency = 5 * time.Millisecond
	sc.Producer.Flush.Bytes = 256 << 10

	sc.Consumer.Offsets.AutoCommit.Enable = false
	sc.Consumer.Offsets.Initial = sarama.OffsetOldest
	sc.Consumer.Return.Errors = true
	sc.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategySticky()}
	// A killed member's partitions move after the session timeout; the
	// rebalance waits at most Rebalance.Timeout for members to rejoin. Both
	// are short so that recovery takes seconds, not a minute.
	sc.Consumer.Group.Session.Timeout = 10 * time.Second
	sc.Consumer.Group.Heartbeat.Interval = time.Second
	sc.Consumer.Group.Rebalance.Timeout = 20 * time.Second

	if err := sc.Validate(); err != nil {
		return nil, fmt.Errorf("sarama configuration: %w", err)
	}
	return sc, nil
}
