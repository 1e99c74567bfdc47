package master

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"go.uber.org/zap"

	"github.com/boontadata/boontadata/pkg/job"
	"github.com/boontadata/boontadata/pkg/logging"
	"github.com/boontadata/boontadata/pkg/retry"
)

// ErrBadReport is wrapped by DecodeReport's errors.
var ErrBadReport = errors.New("bad progress report")

// DecodeReport reads one progress record.
func DecodeReport(b []byte) (job.WorkerReport, error) {
	var r job.WorkerReport
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("%w: %w", ErrBadReport, err)
	}
	if r.WorkerID == "" || r.JobID == "" {
		return r, fmt.Errorf("%w: worker_id and job_id are required", ErrBadReport)
	}
	return r, nil
}

// ConsumeProgress reads the progress topic from its newest offsets, every
// partition, with plain partition consumers (no group: every master instance
// sees every report and commits nothing), and calls observe with each valid
// report until ctx ends. A partition consumer that stops (offsets out of
// range after a broker reset) starts again from the newest offset; one that
// cannot start is retried with p. bad is called for every record that is not
// a report. It returns an error only when the topic's partitions cannot be
// listed at start.
func ConsumeProgress(ctx context.Context, consumer sarama.Consumer, topic string, p retry.Policy, log *zap.Logger,
	observe func(job.WorkerReport), bad func(error)) error {
	partitions, err := consumer.Partitions(topic)
	if err != nil {
		return fmt.Errorf("partitions of %s: %w", topic, err)
	}
	// One goroutine per partition (the topic has one), each feeding observe
	// directly: observe is quick and safe for concurrent use.
	var wg sync.WaitGroup
	for _, part := range partitions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			consumePartition(ctx, consumer, topic, part, p, log, observe, bad)
		}()
	}
	log.Info("following worker progress", zap.String(logging.KeyTopic, topic), zap.Int("partitions", len(partitions)))
	wg.Wait()
	return nil
}

func consumePartition(ctx context.Context, consumer sarama.Consumer, topic string, part int32, p retry.Policy, log *zap.Logger,
	observe func(job.WorkerReport), bad func(error)) {
	log = log.With(zap.String(logging.KeyTopic, topic), zap.Int32(logging.KeyPartition, part))
	for ctx.Err() == nil {
		var pc sarama.PartitionConsumer
		err := p.Do(ctx, log, "read progress partition", func() (err error) {
			pc, err = consumer.ConsumePartition(topic, part, sarama.OffsetNewest)
			return err
		})
		if err != nil {
			return // ctx ended
		}
		readPartition(ctx, pc, log, observe, bad)
		_ = pc.Close() // reading only: nothing to flush, its errors were logged
	}
}

func readPartition(ctx context.Context, pc sarama.PartitionConsumer, log *zap.Logger,
	observe func(job.WorkerReport), bad func(error)) {
	errs := pc.Errors()
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-pc.Messages():
			if !ok {
				log.Warn("progress partition consumer stopped; starting again from the newest offset")
				return
			}
			r, err := DecodeReport(m.Value)
			if err != nil {
				bad(err)
				log.Debug("skipping a record that is not a progress report", zap.Error(err), zap.Int64(logging.KeyOffset, m.Offset))
				continue
			}
			observe(r)
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			log.Warn("progress topic read error", zap.Error(err))
		}
	}
}

// sleep waits d or until ctx ends; it returns false if ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
