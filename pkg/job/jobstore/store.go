// Package jobstore keeps job specs in Cassandra (table jobs), the master's
// durable record of them. The specs themselves are package job's.
package jobstore

import (
	"context"
	"errors"
	"fmt"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/boontadata/boontadata/pkg/job"
)

// Store keeps job specs in Cassandra.
type Store struct {
	session *gocql.Session
}

// New returns a store over a session bound to the boontadata keyspace.
func New(s *gocql.Session) *Store { return &Store{session: s} }

// Save inserts or replaces a job.
func (st *Store) Save(ctx context.Context, s job.Spec) error {
	b, err := job.Encode(s)
	if err != nil {
		return err
	}
	err = st.session.Query(`INSERT INTO jobs (job_id, run_id, preset, spec, state, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		s.ID, s.RunID, s.Preset, string(b), s.State, s.CreatedAt, s.UpdatedAt).ExecContext(ctx)
	if err != nil {
		return fmt.Errorf("save job %s: %w", s.ID, err)
	}
	return nil
}

// Get returns one job, or job.ErrNotFound.
func (st *Store) Get(ctx context.Context, id string) (job.Spec, error) {
	var raw string
	err := st.session.Query(`SELECT spec FROM jobs WHERE job_id = ?`, id).ScanContext(ctx, &raw)
	if errors.Is(err, gocql.ErrNotFound) {
		return job.Spec{}, fmt.Errorf("%w: %s", job.ErrNotFound, id)
	}
	if err != nil {
		return job.Spec{}, fmt.Errorf("read job %s: %w", id, err)
	}
	return job.Decode([]byte(raw))
}

// List returns every job.
func (st *Store) List(ctx context.Context) ([]job.Spec, error) {
	iter := st.session.Query(`SELECT spec FROM jobs`).IterContext(ctx)
	var out []job.Spec
	var raw string
	for iter.Scan(&raw) {
		s, err := job.Decode([]byte(raw))
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
