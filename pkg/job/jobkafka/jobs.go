// Package jobkafka carries the contract of package job on Kafka: job specs on
// the compacted jobs topic and micro-batch tasks on the tasks topic.
package jobkafka

import (
	"context"
	"fmt"
	"sync"

	"github.com/IBM/sarama"
	"go.uber.org/zap"

	"github.com/boontadata/boontadata/pkg/job"
	"github.com/boontadata/boontadata/pkg/logging"
)

// Message returns the record that shares a job on the compacted jobs topic:
// keyed by job id, so compaction keeps its latest spec.
func Message(topic string, s job.Spec) (*sarama.ProducerMessage, error) {
	b, err := job.Encode(s)
	if err != nil {
		return nil, err
	}
	return &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(s.ID), Value: sarama.ByteEncoder(b)}, nil
}

// Watch reads the jobs topic from its beginning and calls fn with every spec,
// in order, until ctx ends. A record that is not a valid spec is logged and
// skipped: one bad control record must not stop every job.
func Watch(ctx context.Context, consumer sarama.Consumer, topic string, log *zap.Logger, fn func(job.Spec)) error {
	partitions, err := consumer.Partitions(topic)
	if err != nil {
		return fmt.Errorf("partitions of %s: %w", topic, err)
	}
	msgs := make(chan *sarama.ConsumerMessage)
	var pcs []sarama.PartitionConsumer
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(ctx)
	defer func() {
		cancel()
		for _, pc := range pcs {
			_ = pc.Close() // reading only; nothing to flush
		}
		wg.Wait()
	}()
	for _, p := range partitions {
		pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			return fmt.Errorf("consume %s/%d: %w", topic, p, err)
		}
		pcs = append(pcs, pc)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case m, ok := <-pc.Messages():
					if !ok {
						return
					}
					select {
					case msgs <- m:
					case <-ctx.Done():
						return
					}
				case e, ok := <-pc.Errors():
					if ok {
						log.Warn("jobs topic read error", zap.Error(e))
					}
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case m := <-msgs:
			if m.Value == nil {
				continue // a tombstone: the job was deleted
			}
			s, err := job.Decode(m.Value)
			if err == nil {
				err = s.Validate()
			}
			if err != nil {
				log.Error("skipping an invalid job spec on the jobs topic", zap.Error(err),
					zap.String(logging.KeyTopic, topic), zap.Int32(logging.KeyPartition, m.Partition), zap.Int64(logging.KeyOffset, m.Offset))
				continue
			}
			fn(s)
		}
	}
}
