package microbatch

import (
	"context"
	"fmt"

	"github.com/IBM/sarama"
	"go.uber.org/zap"

	"github.com/boontadata/boontadata/pkg/event"
	"github.com/boontadata/boontadata/pkg/kafka"
	"github.com/boontadata/boontadata/pkg/logging"
)

// deadLetter sends a poison record to the dead-letter topic, as the
// continuous runtime does, and returns once Kafka has it.
func (e *Executor) deadLetter(ctx context.Context, jobID string, msg *sarama.ConsumerMessage, perr error) error {
	field := ""
	if pe, ok := perr.(*event.ParseError); ok {
		field = pe.Field
	}
	value := msg.Value
	if len(value) > 64<<10 {
		value = value[:64<<10]
	}
	headers := []sarama.RecordHeader{
		{Key: []byte(kafka.HeaderError), Value: []byte(perr.Error())},
		{Key: []byte(kafka.HeaderErrorField), Value: []byte(field)},
		{Key: []byte(kafka.HeaderOriginTopic), Value: []byte(msg.Topic)},
		kafka.Int64Header(kafka.HeaderOriginPartition, int64(msg.Partition)),
		kafka.Int64Header(kafka.HeaderOriginOffset, msg.Offset),
		{Key: []byte(kafka.HeaderRejectedBy), Value: []byte("aggregator-worker/" + jobID)},
		kafka.Int64Header(kafka.HeaderRejectedAt, e.now().UnixMilli()),
	}
	if run := kafka.Header(msg.Headers, kafka.HeaderRunID); run != nil {
		headers = append(headers, sarama.RecordHeader{Key: []byte(kafka.HeaderRunID), Value: run})
	}
	dead := &sarama.ProducerMessage{Topic: e.DeadTopic, Key: sarama.ByteEncoder(msg.Key),
		Value: sarama.ByteEncoder(value), Headers: headers}
	if err := retry(ctx, e.Log, "dead-letter a poison record", func() error { return e.DLQ.Send(dead) }); err != nil {
		return fmt.Errorf("dead-letter poison record %s/%d@%d: %w", msg.Topic, msg.Partition, msg.Offset, err)
	}
	e.Log.Warn("poison record sent to the dead-letter topic", zap.Error(perr), zap.Int32(logging.KeyPartition, msg.Partition),
		zap.Int64(logging.KeyOffset, msg.Offset), zap.String("deadletter_topic", e.DeadTopic))
	return nil
}
