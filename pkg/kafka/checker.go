package kafka

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/IBM/sarama"
)

// ErrNoWritablePartition means the metadata names no leader for any
// partition of a topic.
var ErrNoWritablePartition = errors.New("no writable partition")

// Checker tells whether the brokers answer and topics can take records, for
// readiness endpoints. It has a client of its own with short timeouts, so a
// check ends within seconds even when the brokers are gone; a failed client
// is dropped and a new one made at the next check, so that a restarted broker
// is found again.
type Checker struct {
	brokers []string
	sc      *sarama.Config
	topics  []string

	mu     sync.Mutex
	client sarama.Client
}

// NewChecker returns a checker of topics; timeout bounds one check's dial,
// read and write.
func NewChecker(c *Config, clientID string, timeout time.Duration, topics ...string) (*Checker, error) {
	sc, err := c.Sarama(clientID)
	if err != nil {
		return nil, err
	}
	sc.Net.DialTimeout, sc.Net.ReadTimeout, sc.Net.WriteTimeout = timeout, timeout, timeout
	sc.Metadata.Retry.Max = 0
	sc.Metadata.Full = false
	sc.Metadata.RefreshFrequency = 0 // refreshed by Check only
	return &Checker{brokers: c.BrokerList(), sc: sc, topics: topics}, nil
}

// Check refreshes the metadata of the topics and requires a leader for at
// least one partition of each. A missing topic gives an error that wraps
// sarama.ErrUnknownTopicOrPartition.
func (k *Checker) Check() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.client == nil {
		c, err := sarama.NewClient(k.brokers, k.sc)
		if err != nil {
			return fmt.Errorf("connect to Kafka at %v: %w", k.brokers, err)
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
	return fmt.Errorf("kafka metadata: %w", err)
}

// Close releases the checker's client.
func (k *Checker) Close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.client == nil {
		return nil
	}
	err := k.client.Close()
	k.client = nil
	return err
}
