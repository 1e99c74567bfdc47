package stream

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/IBM/sarama"
	"go.uber.org/zap"

	"github.com/boontadata/boontadata/pkg/engine"
	"github.com/boontadata/boontadata/pkg/event"
	"github.com/boontadata/boontadata/pkg/kafka"
	"github.com/boontadata/boontadata/pkg/logging"
	"github.com/boontadata/boontadata/pkg/retry"
)

// AnyRun is the run id under which a job without a run id stores results.
const AnyRun = "any"

// ResultsRun is the run id a job's results and decisions are stored under.
func ResultsRun(runID string) string {
	if runID == "" {
		return AnyRun
	}
	return runID
}

// Kind says what a consumed record of the events topic is to a job.
type Kind uint8

const (
	// Event: a record of the job's run, parsed into the Record.
	Event Kind = iota + 1
	// OtherRun: an event of another run, skipped and counted.
	OtherRun
	// EndOfRun: the end-of-run marker of the job's run.
	EndOfRun
	// Control: another control record, skipped.
	Control
	// Poison: a record of the run whose value does not parse.
	Poison
)

// Decode classifies msg for a job bound to runID (empty: every run) and, for
// an event, fills rec (its text fields point into msg.Value) with its
// partition, offset, processing time and ingestion time (the ingest header,
// else the record timestamp). For a poison record, err says why.
func Decode(msg *sarama.ConsumerMessage, runID string, processingTime int64, rec *engine.Record) (Kind, error) {
	if kafka.Control(msg.Headers) != nil {
		if run, ok := kafka.EndOfRun(msg.Headers); ok && runID != "" && run == runID {
			return EndOfRun, nil
		}
		return Control, nil
	}
	if runID != "" {
		if run := kafka.Header(msg.Headers, kafka.HeaderRunID); string(run) != runID {
			return OtherRun, nil
		}
	}
	if err := event.ParseView(msg.Value, &rec.Event); err != nil {
		return Poison, err
	}
	rec.Partition, rec.Offset, rec.ProcessingTime = msg.Partition, msg.Offset, processingTime
	ingest, ok := kafka.HeaderInt64(msg.Headers, kafka.HeaderIngestTime)
	if !ok {
		ingest = msg.Timestamp.UnixMilli()
	}
	rec.IngestionTime = ingest
	return Event, nil
}

// DeadLetter sends a record that cannot be processed to the dead-letter
// topic and returns once Kafka has it, so that committing past it loses
// nothing.
type DeadLetter interface {
	Send(msg *sarama.ProducerMessage) error
}

// SyncProducer adapts a sarama.SyncProducer to DeadLetter.
type SyncProducer struct{ P sarama.SyncProducer }

// Send implements DeadLetter.
func (s SyncProducer) Send(m *sarama.ProducerMessage) error {
	_, _, err := s.P.SendMessage(m)
	return err
}

// Poisoner dead-letters the poison records of one job.
type Poisoner struct {
	DLQ       DeadLetter
	DeadTopic string
	// RejectedBy names the job in the dead-letter record.
	RejectedBy string
	Retry      retry.Policy
	Log        *zap.Logger
	Now        func() time.Time
}

// Send dead-letters msg with the error perr, retrying with p.Retry until
// ctx ends; an error means msg is not on the dead-letter topic and must not
// be committed past.
func (p Poisoner) Send(ctx context.Context, msg *sarama.ConsumerMessage, perr error) error {
	field := ""
	var pe *event.ParseError
	if errors.As(perr, &pe) {
		field = pe.Field
	}
	dead := kafka.DeadLetter(p.DeadTopic, msg, perr, field, p.RejectedBy, p.Now().UnixMilli())
	log := p.Log.With(zap.String(logging.KeyTopic, msg.Topic), zap.Int32(logging.KeyPartition, msg.Partition), zap.Int64(logging.KeyOffset, msg.Offset))
	if err := p.Retry.Do(ctx, log, "dead-letter a poison record", func() error { return p.DLQ.Send(dead) }); err != nil {
		return fmt.Errorf("record %s/%d@%d: %w", msg.Topic, msg.Partition, msg.Offset, err)
	}
	p.Log.Warn("poison record sent to the dead-letter topic", zap.Error(perr), zap.Int32(logging.KeyPartition, msg.Partition),
		zap.Int64(logging.KeyOffset, msg.Offset), zap.String("deadletter_topic", p.DeadTopic))
	return nil
}
