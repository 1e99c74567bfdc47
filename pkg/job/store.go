package job

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/IBM/sarama"
	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"go.uber.org/zap"

	"github.com/boontadata/boontadata/pkg/logging"
)

// ErrNotFound is returned for a job id that no store knows.
var ErrNotFound = errors.New("no such job")

// Store keeps job specs in Cassandra, the master's durable record of them.
type Store struct {
	session *gocql.Session
}

// NewStore returns a store over a session bound to the boontadata keyspace.
func NewStore(s *gocql.Session) *Store { return &Store{session: s} }

// Save inserts or replaces a job.
func (st *Store) Save(ctx context.Context, s Spec) error {
	b, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("encode job %s: %w", s.ID, err)
	}
	err = st.session.Query(`INSERT INTO jobs (job_id, run_id, preset, spec, state, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		s.ID, s.RunID, s.Preset, string(b), s.State, s.CreatedAt, s.UpdatedAt).ExecContext(ctx)
	if err != nil {
		return fmt.Errorf("save job %s: %w", s.ID, err)
	}
	return nil
}

// Get returns one job, or ErrNotFound.
func (st *Store) Get(ctx context.Context, id string) (Spec, error) {
	var raw string
	err := st.session.Query(`SELECT spec FROM jobs WHERE job_id = ?`, id).ScanContext(ctx, &raw)
	if errors.Is(err, gocql.ErrNotFound) {
		return Spec{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return Spec{}, fmt.Errorf("read job %s: %w", id, err)
	}
	return decode([]byte(raw))
}

// List returns every job.
func (st *Store) List(ctx context.Context) ([]Spec, error) {
	iter := st.session.Query(`SELECT spec FROM jobs`).IterContext(ctx)
	var out []Spec
	var raw string
	for iter.Scan(&raw) {
		s, err := decode([]byte(raw))
		if err != nil {
			_ = iter.Close()
			return nil, err
		}
		out = append(out, s)
	}
	if err := iter.Close(); err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	return out, nil
}

func decode(b []byte) (Spec, error) {
	var s Spec
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("decode job spec: %w", err)
	}
	return s.WithDefaults(), nil
}

// Message returns the record that shares a job on the compacted jobs topic:
// keyed by job id, so compaction keeps its latest spec.
func Message(topic string, s Spec) (*sarama.ProducerMessage, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("encode job %s: %w", s.ID, err)
	}
	return &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(s.ID), Value: sarama.ByteEncoder(b)}, nil
}

// Watch reads the jobs topic from its beginning and calls fn with every spec,
// in order, until ctx ends. A record that is not a valid spec is logged and
// skipped: one bad control record must not stop every job.
func Watch(ctx context.Context, consumer sarama.Consumer, topic string, log *zap.Logger, fn func(Spec)) error {
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
			s, err := decode(m.Value)
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
