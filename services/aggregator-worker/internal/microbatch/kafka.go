package microbatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/IBM/sarama"
	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"go.uber.org/zap"

	"github.com/boontadata/boontadata/pkg/job"
	"github.com/boontadata/boontadata/pkg/logging"
	"github.com/boontadata/boontadata/pkg/retry"
	"github.com/boontadata/boontadata/services/aggregator-worker/internal/stream"
)

// KafkaReader reads partition ranges of the events topic.
type KafkaReader struct {
	Client sarama.Client
	Topic  string
}

// Read calls fn with every record of [start, end). Offsets missing at the
// end of the range (transaction markers, compaction) end it once the
// partition's high watermark is past end. Each read has a consumer of its
// own over the shared client: a sarama consumer reads a partition once at a
// time, and tasks of several jobs read the same partition at once.
func (r KafkaReader) Read(ctx context.Context, partition int32, start, end int64, fn func(*sarama.ConsumerMessage) error) error {
	consumer, err := sarama.NewConsumerFromClient(r.Client)
	if err != nil {
		return fmt.Errorf("events consumer: %w", err)
	}
	defer func() { _ = consumer.Close() }() // reading only
	pc, err := consumer.ConsumePartition(r.Topic, partition, start)
	if err != nil {
		return fmt.Errorf("consume %s/%d from %d: %w", r.Topic, partition, start, err)
	}
	defer func() { _ = pc.Close() }() // reading only
	idle := time.NewTicker(time.Second)
	defer idle.Stop()
	for {
		select {
		case m, ok := <-pc.Messages():
			if !ok {
				return fmt.Errorf("consume %s/%d: closed at offset < %d", r.Topic, partition, end)
			}
			if m.Offset >= end {
				return nil
			}
			if err := fn(m); err != nil {
				return err
			}
			if m.Offset >= end-1 {
				return nil
			}
		case e := <-pc.Errors():
			if e != nil {
				return fmt.Errorf("consume %s/%d: %w", r.Topic, partition, e.Err)
			}
		case <-idle.C:
			if hw := pc.HighWaterMarkOffset(); hw >= end && len(pc.Messages()) == 0 {
				// Nothing more below end will come (gaps are markers).
				select {
				case m := <-pc.Messages():
					if m.Offset < end {
						if err := fn(m); err != nil {
							return err
						}
						if m.Offset < end-1 {
							continue
						}
					}
				case <-time.After(2 * time.Second):
				}
				return nil
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// CassandraStore keeps states in state_checkpoints and acks in
// microbatch_tasks.
type CassandraStore struct {
	Session *gocql.Session
	Now     func() time.Time
}

// LoadState implements Store.
func (s CassandraStore) LoadState(ctx context.Context, jobID string, partition int32, before int64) (State, bool, error) {
	var raw []byte
	var st State
	err := s.Session.Query(`SELECT state FROM state_checkpoints WHERE job_id = ? AND partition = ? AND batch_id < ? LIMIT 1`,
		jobID, int(partition), before).ScanContext(ctx, &raw)
	if errors.Is(err, gocql.ErrNotFound) {
		return st, false, nil
	}
	if err != nil {
		return st, false, fmt.Errorf("read state of %s/%d: %w", jobID, partition, err)
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		return st, false, fmt.Errorf("decode state of %s/%d: %w", jobID, partition, err)
	}
	return st, true, nil
}

// SaveState implements Store.
func (s CassandraStore) SaveState(ctx context.Context, jobID string, partition int32, st State) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return s.Session.Query(`INSERT INTO state_checkpoints (job_id, partition, batch_id, next_offset, state, written_at) VALUES (?, ?, ?, ?, ?, ?)`,
		jobID, int(partition), st.BatchID, st.MinOffset, b, s.Now()).Idempotent(true).ExecContext(ctx)
}

// Ack implements Store.
func (s CassandraStore) Ack(ctx context.Context, a job.TaskAck) error {
	return s.Session.Query(`INSERT INTO microbatch_tasks (job_id, batch_id, partition, worker_id, attempt, input_rows, results, late, duplicates,
processing_ms, watermark_ms, partition_watermark_ms, ended, run_records, acked_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, a.JobID, a.BatchID, int(a.Partition), a.WorkerID, a.Attempt, a.InputRows, a.Results,
		a.Late, a.Duplicates, a.ProcessingMs, a.Watermark, a.PartitionWatermark, a.Ended, a.RunRecords, s.Now()).Idempotent(true).ExecContext(ctx)
}

// Service consumes the tasks topic in its consumer group and runs each task
// with the executor, one tasks partition per goroutine.
type Service struct {
	Group    string
	Topic    string
	Executor *Executor
	// Retry paces the rejoins of the group after a failed session.
	Retry retry.Policy
	Log   *zap.Logger
}

// GroupID is the consumer group of the workers on a tasks topic.
func GroupID(tasksTopic string) string { return "boontadata-microbatch-" + tasksTopic }

// Run consumes until ctx ends.
func (s *Service) Run(ctx context.Context, client sarama.Client) error {
	group, err := sarama.NewConsumerGroupFromClient(s.Group, client)
	if err != nil {
		return fmt.Errorf("join consumer group %s: %w", s.Group, err)
	}
	forgetCtx, stopForgetting := context.WithCancel(ctx)
	defer stopForgetting()
	go func() {
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			select {
			case <-forgetCtx.Done():
				return
			case now := <-t.C:
				s.Executor.Forget(now.Add(-10 * time.Minute))
			}
		}
	}()
	_, closeErr := stream.GroupLoop{
		Group: group, Name: s.Group, Topics: []string{s.Topic}, Handler: s,
		Retry: s.Retry, Log: s.Log, What: "consume tasks",
	}.Run(ctx)
	return closeErr
}

// Setup implements sarama.ConsumerGroupHandler.
func (s *Service) Setup(sarama.ConsumerGroupSession) error { return nil }

// Cleanup implements sarama.ConsumerGroupHandler.
func (s *Service) Cleanup(sarama.ConsumerGroupSession) error { return nil }

// ConsumeClaim runs the tasks of one tasks partition in order.
func (s *Service) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	ctx := sess.Context()
	for {
		select {
		case <-ctx.Done():
			return nil
		case m, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			var t job.Task
			if err := json.Unmarshal(m.Value, &t); err != nil {
				s.Log.Warn("unreadable task skipped", zap.Error(err), zap.Int64(logging.KeyOffset, m.Offset))
				sess.MarkMessage(m, "")
				continue
			}
			t0 := time.Now()
			a, err := s.Executor.Run(ctx, t)
			if err != nil && ctx.Err() != nil {
				// The session ended (a rebalance, a stop) before the task
				// was done: not marked, so the next owner of the tasks
				// partition runs it.
				s.Log.Info("task interrupted; its tasks partition's next owner runs it", zap.String(logging.KeyJobID, t.JobID),
					zap.Int64("batch_id", t.BatchID), zap.Int32(logging.KeyPartition, t.Partition))
				return nil
			}
			if errors.Is(err, ErrStale) {
				s.Log.Info("stale task skipped", zap.Error(err))
			} else if err != nil {
				// The master re-issues the task after its timeout.
				s.Log.Warn("task failed", zap.String(logging.KeyJobID, t.JobID), zap.Int64("batch_id", t.BatchID),
					zap.Int32(logging.KeyPartition, t.Partition), zap.Error(err))
			} else {
				s.Log.Debug("task done", zap.Duration("took", time.Since(t0)), zap.String(logging.KeyJobID, t.JobID), zap.Int64("batch_id", t.BatchID),
					zap.Int32(logging.KeyPartition, t.Partition), zap.Int64("rows", a.InputRows))
			}
			sess.MarkMessage(m, "")
			sess.Commit() // auto-commit is off: a task done is not run again
		}
	}
}
