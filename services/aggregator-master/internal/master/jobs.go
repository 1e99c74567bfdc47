// Package master is the aggregator-master: it holds the job specs (durably in
// Cassandra, shared with the workers on the compacted jobs topic), follows the
// workers' progress reports, and serves the JSON API, the status page and the
// Prometheus metrics.
package master

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"go.uber.org/zap"

	"github.com/boontadata/boontadata/pkg/engine"
	"github.com/boontadata/boontadata/pkg/job"
	"github.com/boontadata/boontadata/pkg/job/jobkafka"
	"github.com/boontadata/boontadata/pkg/logging"
	"github.com/boontadata/boontadata/services/aggregator-master/internal/api"
)

// Errors of Jobs; the HTTP layer maps them to status codes.
var (
	// ErrInvalid: the spec does not validate (400).
	ErrInvalid = errors.New("invalid job")
	// ErrNotRunnable: a valid spec this runtime cannot run (422).
	ErrNotRunnable = errors.New("job not runnable")
	// ErrConflict: the job id is taken by another spec (409).
	ErrConflict = errors.New("job id already used")
	// ErrNotFound: no such job (404).
	ErrNotFound = job.ErrNotFound
	// ErrNotPublished: the spec is saved but the jobs topic did not take it
	// (503); submitting again, or a restart of the master, publishes it.
	ErrNotPublished = errors.New("job saved but not published to the workers")
)

// Store keeps job specs durably; *jobstore.Store over Cassandra is the real one.
type Store interface {
	Save(ctx context.Context, s job.Spec) error
	Get(ctx context.Context, id string) (job.Spec, error)
	List(ctx context.Context) ([]job.Spec, error)
}

// Publisher shares a spec with the workers.
type Publisher interface {
	Publish(ctx context.Context, s job.Spec) error
}

// KafkaPublisher publishes specs to the compacted jobs topic, keyed by job id.
type KafkaPublisher struct {
	Producer sarama.SyncProducer
	Topic    string
}

// Publish sends the spec and waits for Kafka's acknowledgement.
func (p KafkaPublisher) Publish(_ context.Context, s job.Spec) error {
	msg, err := jobkafka.Message(p.Topic, s)
	if err != nil {
		return err
	}
	if _, _, err := p.Producer.SendMessage(msg); err != nil {
		return fmt.Errorf("publish job %s to %s: %w", s.ID, p.Topic, err)
	}
	return nil
}

// Jobs is the master's registry of jobs. The Cassandra row is the source of
// truth: every change is saved first, then published to the workers, then
// cached. Reads come from the cache, which Load fills at start; the master is
// the only writer of job specs.
type Jobs struct {
	store Store
	pub   Publisher
	clock Clock
	log   *zap.Logger
	// newID makes the random part of a generated job id.
	newID func() string

	// write serialises submits and cancels: they read, compare and write.
	write sync.Mutex
	// microBatch: the master drives micro-batch jobs, so they are runnable.
	microBatch bool
	mu         sync.RWMutex
	cache      map[string]job.Spec
}

// NewJobs returns an empty registry; Load fills it.
func NewJobs(store Store, pub Publisher, clock Clock, log *zap.Logger) *Jobs {
	return &Jobs{store: store, pub: pub, clock: clock, log: log, newID: randomSuffix, cache: map[string]job.Spec{}}
}

// NewJobID returns a job id for a preset: the preset and a random suffix.
func NewJobID(preset string) string { return GenerateID(preset, randomSuffix()) }

func randomSuffix() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux
	return hex.EncodeToString(b)
}

// GenerateID returns a job id made of a preset and a suffix, keeping only
// the characters a job id allows.
func GenerateID(preset string, suffix string) string {
	p := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return -1
	}, preset)
	if len(p) > 48 {
		p = p[:48]
	}
	if p == "" {
		return "job-" + suffix
	}
	return p + "-" + suffix
}

// Load reads every job from the store into the cache and publishes each
// again, so that the jobs topic holds what Cassandra holds even if the
// master stopped between a save and its publication. Publishing a spec twice
// is harmless: the workers see the same spec again.
func (j *Jobs) Load(ctx context.Context) (int, error) {
	specs, err := j.store.List(ctx)
	if err != nil {
		return 0, fmt.Errorf("load jobs: %w", err)
	}
	j.write.Lock()
	defer j.write.Unlock()
	j.mu.Lock()
	for _, s := range specs {
		j.cache[s.ID] = s
	}
	j.mu.Unlock()
	for _, s := range specs {
		if err := j.pub.Publish(ctx, s); err != nil {
			return 0, fmt.Errorf("republish jobs: %w", err)
		}
	}
	return len(specs), nil
}

// Runnable reports why a valid spec cannot run in the continuous runtime.
func Runnable(s job.Spec) error {
	es, err := s.Engine()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if es.Trigger == engine.MicroBatch && s.EngineUnderTest() == job.Boontadata {
		return fmt.Errorf("%w: preset %s: %s", ErrNotRunnable, s.Preset, api.MicroBatchNote())
	}
	return nil
}

// normal is the spec as two submits of the same job compare it.
func normal(s job.Spec) job.Spec {
	s = s.WithDefaults()
	s.State, s.CreatedAt, s.UpdatedAt = "", time.Time{}, time.Time{}
	return s
}

// Submit saves and publishes a new job. It returns the stored spec and
// whether it was created: submitting the same spec under an existing id
// changes nothing (and publishes it again), another spec is ErrConflict.
func (j *Jobs) Submit(ctx context.Context, s job.Spec) (job.Spec, bool, error) {
	if s.ID == "" {
		s.ID = GenerateID(s.Preset, j.newID())
	}
	if s.State != "" && s.State != job.StateRunning {
		return s, false, fmt.Errorf("%w: state %q: a job is submitted running (leave state out); cancel it with POST %s",
			ErrInvalid, s.State, api.CancelPath(s.ID))
	}
	s = s.WithDefaults()
	s.CreatedAt, s.UpdatedAt = time.Time{}, time.Time{}
	if err := s.Validate(); err != nil {
		return s, false, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := Runnable(s); err != nil && !(j.microBatch && errors.Is(err, ErrNotRunnable)) {
		return s, false, err
	}

	j.write.Lock()
	defer j.write.Unlock()
	old, err := j.store.Get(ctx, s.ID)
	switch {
	case err == nil:
		if !reflect.DeepEqual(normal(old), normal(s)) { // overrides that may be zero are pointers
			return old, false, fmt.Errorf("%w: %s has another spec (preset %s, run %q, created %s); submit under another job id",
				ErrConflict, s.ID, old.Preset, old.RunID, old.CreatedAt.Format(time.RFC3339))
		}
		if old.State != job.StateRunning {
			return old, false, fmt.Errorf("%w: %s is %s since %s; a job that ended does not restart, submit under another job id",
				ErrConflict, s.ID, old.State, old.UpdatedAt.Format(time.RFC3339))
		}
		j.put(old)
		if err := j.pub.Publish(ctx, old); err != nil {
			return old, false, fmt.Errorf("%w: %w", ErrNotPublished, err)
		}
		return old, false, nil
	case !errors.Is(err, job.ErrNotFound):
		return s, false, err
	}
	// Cassandra keeps milliseconds: the spec read back must be the same.
	now := j.clock.Now().UTC().Truncate(time.Millisecond)
	s.CreatedAt, s.UpdatedAt = now, now
	if err := j.store.Save(ctx, s); err != nil {
		return s, false, err
	}
	j.put(s)
	j.log.Info("job submitted", zap.String(logging.KeyJobID, s.ID), zap.String("preset", s.Preset),
		zap.String(logging.KeyRunID, s.RunID))
	if err := j.pub.Publish(ctx, s); err != nil {
		return s, true, fmt.Errorf("%w: %w", ErrNotPublished, err)
	}
	return s, true, nil
}

// Cancel marks a job cancelled, saves and publishes it: the workers stop it.
// Cancelling a cancelled job publishes it again and changes nothing else.
func (j *Jobs) Cancel(ctx context.Context, id string) (job.Spec, error) {
	j.write.Lock()
	defer j.write.Unlock()
	s, err := j.store.Get(ctx, id)
	if err != nil {
		return s, err
	}
	if s.State != job.StateCancelled {
		s.State = job.StateCancelled
		s.UpdatedAt = j.clock.Now().UTC().Truncate(time.Millisecond)
		if err := j.store.Save(ctx, s); err != nil {
			return s, err
		}
		j.log.Info("job cancelled", zap.String(logging.KeyJobID, s.ID))
	}
	j.put(s)
	if err := j.pub.Publish(ctx, s); err != nil {
		return s, fmt.Errorf("%w: %w", ErrNotPublished, err)
	}
	return s, nil
}

// End moves a running job to a final state (finished or failed) with its
// reason, saves and publishes it: the workers stop it and free its state. A
// job that is no longer running is left as it is.
func (j *Jobs) End(ctx context.Context, id, state, reason string) (job.Spec, error) {
	if !job.Ended(state) {
		return job.Spec{}, fmt.Errorf("%w: end job %s in state %q", ErrInvalid, id, state)
	}
	j.write.Lock()
	defer j.write.Unlock()
	s, err := j.store.Get(ctx, id)
	if err != nil {
		return s, err
	}
	if s.State != job.StateRunning {
		return s, nil
	}
	s.State, s.Reason = state, reason
	s.UpdatedAt = j.clock.Now().UTC().Truncate(time.Millisecond)
	if err := j.store.Save(ctx, s); err != nil {
		return s, err
	}
	j.log.Info("job ended", zap.String(logging.KeyJobID, s.ID), zap.String("state", state), zap.String("reason", reason))
	j.put(s)
	if err := j.pub.Publish(ctx, s); err != nil {
		return s, fmt.Errorf("%w: %w", ErrNotPublished, err)
	}
	return s, nil
}

func (j *Jobs) put(s job.Spec) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.cache[s.ID] = s
}

// Get returns a job from the cache.
func (j *Jobs) Get(id string) (job.Spec, bool) {
	j.mu.RLock()
	defer j.mu.RUnlock()
	s, ok := j.cache[id]
	return s, ok
}

// List returns every job, the newest first.
func (j *Jobs) List() []job.Spec {
	j.mu.RLock()
	out := make([]job.Spec, 0, len(j.cache))
	for _, s := range j.cache {
		out = append(out, s)
	}
	j.mu.RUnlock()
	slices.SortFunc(out, func(a, b job.Spec) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}
