package microbatch

import (
	"context"
	"errors"
	"fmt"

	"github.com/IBM/sarama"
	"go.uber.org/zap"

	"github.com/boontadata/boontadata/pkg/event"
	"github.com/boontadata/boontadata/pkg/kafka"
	"github.com/boontadata/boontadata/pkg/logging"
	"github.com/boontadata/boontadata/pkg/retry"
)

// deadLetter sends a poison record to the dead-letter topic, as the
// continuous runtime does, and returns once Kafka has it.
func (e *Executor) deadLetter(ctx context.Context, jobID string, msg *sarama.ConsumerMessage, perr error) error {
	field := ""
	var pe *event.ParseError
	if errors.As(perr, &pe) {
		field = pe.Field
	}
	dead := kafka.DeadLetter(e.DeadTopic, msg, perr, field, "aggregator-worker/"+jobID, e.now().UnixMilli())
	what := fmt.Sprintf("dead-letter poison record %s/%d@%d", msg.Topic, msg.Partition, msg.Offset)
	if err := retry.Default().Do(ctx, e.Log, what, func() error { return e.DLQ.Send(dead) }); err != nil {
		return err
	}
	e.Log.Warn("poison record sent to the dead-letter topic", zap.Error(perr), zap.Int32(logging.KeyPartition, msg.Partition),
		zap.Int64(logging.KeyOffset, msg.Offset), zap.String("deadletter_topic", e.DeadTopic))
	return nil
}
