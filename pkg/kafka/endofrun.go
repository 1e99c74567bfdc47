package kafka

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/IBM/sarama"
)

// Control records share the events topic with the events: a record with a
// HeaderControl header is not an event, whatever its value, and everything
// that is not an engine skips it.
const (
	// HeaderControl names the kind of a control record.
	HeaderControl = "boontadata-control"
	// ControlEndOfRun marks the end of a run's input on one partition: the
	// producer of the run wrote it after every event of the run on that
	// partition was acknowledged, so nothing of the run follows it there.
	// Its HeaderRunID names the run; its value is EndOfRunPrefix + run id.
	ControlEndOfRun = "end-of-run"
	// EndOfRunPrefix starts the value of an end-of-run record. The value has
	// two '|'-separated fields, so it never parses as an event either.
	EndOfRunPrefix = "end-of-run|"
)

// Control returns the kind of a control record (HeaderControl), or nil for
// an event.
func Control(headers []*sarama.RecordHeader) []byte { return Header(headers, HeaderControl) }

// EndOfRun reports whether the record is the end-of-run marker of a run,
// and which run.
func EndOfRun(headers []*sarama.RecordHeader) (runID string, ok bool) {
	if !bytes.Equal(Control(headers), []byte(ControlEndOfRun)) {
		return "", false
	}
	return string(Header(headers, HeaderRunID)), true
}

// EndOfRunMessages returns one end-of-run marker per partition, each aimed
// at its partition: send them with a producer whose partitioner is
// sarama.NewManualPartitioner (SendEndOfRun does).
func EndOfRunMessages(topic, runID, source string, partitions []int32, now time.Time) []*sarama.ProducerMessage {
	ms := now.UnixMilli()
	msgs := make([]*sarama.ProducerMessage, 0, len(partitions))
	for _, p := range partitions {
		msgs = append(msgs, &sarama.ProducerMessage{
			Topic: topic, Partition: p, Timestamp: now,
			Value: sarama.StringEncoder(EndOfRunPrefix + runID),
			Headers: []sarama.RecordHeader{
				{Key: []byte(HeaderControl), Value: []byte(ControlEndOfRun)},
				{Key: []byte(HeaderRunID), Value: []byte(runID)},
				{Key: []byte(HeaderSource), Value: []byte(source)},
				{Key: []byte(HeaderIngestTime), Value: strconv.AppendInt(nil, ms, 10)},
			},
		})
	}
	return msgs
}

// SendEndOfRun writes the end-of-run marker of runID to every partition of
// topic and returns how many it wrote, once Kafka acknowledged them all. Call
// it only after every event of the run was acknowledged: per partition the
// marker then follows them. sc is copied; its partitioner is replaced.
func SendEndOfRun(ctx context.Context, brokers []string, sc *sarama.Config, topic, runID, source string) (int, error) {
	cfg := *sc
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Producer.Return.Successes = true
	client, err := sarama.NewClient(brokers, &cfg)
	if err != nil {
		return 0, fmt.Errorf("connect to Kafka at %v: %w", brokers, err)
	}
	defer func() { _ = client.Close() }() // the producer below closes first
	partitions, err := client.Partitions(topic)
	if err != nil {
		return 0, fmt.Errorf("partitions of %s: %w", topic, err)
	}
	producer, err := sarama.NewSyncProducerFromClient(client)
	if err != nil {
		return 0, fmt.Errorf("end-of-run producer: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- producer.SendMessages(EndOfRunMessages(topic, runID, source, partitions, time.Now())) }()
	select {
	case err = <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if cerr := producer.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return 0, fmt.Errorf("write end-of-run markers of run %s to %s: %w", runID, topic, err)
	}
	return len(partitions), nil
}
