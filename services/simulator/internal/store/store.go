// Package store writes a simulator run to Cassandra: the runs row, the
// devices, every send (raw_events) and the truth aggregates. Every write is a
// prepared statement with bound values; rows of one partition go together in
// UNLOGGED batches, with a bounded number of batches in flight. A write
// Cassandra cannot take now (down, restarting, timed out) is retried with
// backoff, so that a Cassandra restart during a run loses nothing of the
// truth.
package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/boontadata/boontadata/pkg/retry"
	"github.com/boontadata/boontadata/services/simulator/internal/gen"
	"github.com/boontadata/boontadata/services/simulator/internal/truth"
)

// Tables of the truth.
const (
	TableByDeviceTime = "truth_by_device_time"
	TableBySendTime   = "truth_by_send_time"
)

const (
	insertRun = `INSERT INTO runs (run_id, started_at, ended_at, input_ended_at, seed, devices, window_ms, resend_horizon_ms, flags, counts, status)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	insertRunDevice = `INSERT INTO run_devices (run_id, device_id) VALUES (?, ?)`
	insertDevice    = `INSERT INTO simulator_devices (run_id, device_id, device_index, clock_skew_ms, sends, distinct_events)
VALUES (?, ?, ?, ?, ?, ?)`
	insertRaw = `INSERT INTO raw_events (run_id, device_id, send_seq, message_id, device_time, send_time, category, measure1, measure2, pattern)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	insertTruth = `INSERT INTO %s (run_id, device_id, category, window_start, window_end, m1_sum, m2_sum, event_count)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)`
)

// ErrClosed is returned by a RawWriter used after Close.
var ErrClosed = errors.New("raw event writer closed")

// Options tune the writes.
type Options struct {
	// BatchRows is the number of rows per UNLOGGED batch (one partition).
	BatchRows int
	// Concurrency bounds the batches in flight.
	Concurrency int
	// Retry paces the retries of a write that failed; RetryTimeout bounds
	// them (0: until the write's context ends).
	Retry        retry.Policy
	RetryTimeout time.Duration
}

// Store writes runs to a keyspace-bound session.
type Store struct {
	s    *gocql.Session
	opts Options
	log  *zap.Logger
}

// New returns a store over s.
func New(s *gocql.Session, opts Options, log *zap.Logger) *Store {
	opts.BatchRows = max(opts.BatchRows, 1)
	opts.Concurrency = max(opts.Concurrency, 1)
	return &Store{s: s, opts: opts, log: log}
}

// Run is the runs row.
type Run struct {
	ID             string
	Started, Ended time.Time
	// InputEnded is when the end-of-run markers were acknowledged.
	InputEnded      time.Time
	Seed            int64
	Devices         int
	WindowMs        int64
	ResendHorizonMs int64
	Flags           map[string]string
	Counts          map[string]int64
	Status          string
}

// PutRun upserts the runs row.
func (st *Store) PutRun(ctx context.Context, r Run) error {
	var ended, inputEnded any
	if !r.Ended.IsZero() {
		ended = r.Ended
	}
	if !r.InputEnded.IsZero() {
		inputEnded = r.InputEnded
	}
	err := st.retry(ctx, "runs", func(ctx context.Context) error {
		return st.s.Query(insertRun, r.ID, r.Started, ended, inputEnded, r.Seed, r.Devices, r.WindowMs, r.ResendHorizonMs,
			r.Flags, r.Counts, r.Status).Idempotent(true).ExecContext(ctx)
	})
	if err != nil {
		return fmt.Errorf("write run %s: %w", r.ID, err)
	}
	return nil
}

// Device is one simulator_devices row.
type Device struct {
	ID       string
	Index    int32
	SkewMs   int64
	Sends    int64
	Distinct int64
}

// PutDevices writes run_devices and simulator_devices, both partitioned by
// the run.
func (st *Store) PutDevices(ctx context.Context, runID string, devices []Device) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(st.opts.Concurrency)
	for lo := 0; lo < len(devices); lo += st.opts.BatchRows {
		chunk := devices[lo:min(lo+st.opts.BatchRows, len(devices))]
		g.Go(func() error {
			b := st.s.Batch(gocql.UnloggedBatch)
			for _, d := range chunk {
				b.Entries = append(b.Entries, gocql.BatchEntry{Stmt: insertRunDevice, Args: []any{runID, d.ID}, Idempotent: true})
			}
			return st.exec(ctx, b, "run_devices")
		})
		g.Go(func() error {
			b := st.s.Batch(gocql.UnloggedBatch)
			for _, d := range chunk {
				b.Entries = append(b.Entries, gocql.BatchEntry{Stmt: insertDevice,
					Args: []any{runID, d.ID, d.Index, d.SkewMs, d.Sends, d.Distinct}, Idempotent: true})
			}
			return st.exec(ctx, b, "simulator_devices")
		})
	}
	return g.Wait()
}

func (st *Store) exec(ctx context.Context, b *gocql.Batch, what string) error {
	if err := st.retry(ctx, what, b.ExecContext); err != nil {
		return fmt.Errorf("write %d rows of %s: %w", len(b.Entries), what, err)
	}
	return nil
}

// retry runs the write f of table until it succeeds, fails for good (a
// statement Cassandra rejects), or the retry timeout passes. Every write is
// idempotent: an attempt that timed out after Cassandra applied it does no
// harm when repeated.
func (st *Store) retry(ctx context.Context, table string, f func(context.Context) error) error {
	if st.opts.RetryTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, st.opts.RetryTimeout)
		defer cancel()
	}
	return st.opts.Retry.Do(ctx, st.log.With(zap.String("table", table)), "record the run in cassandra", func() error {
		return permanent(f(ctx))
	})
}

// permanent marks the errors no retry can fix: a statement Cassandra
// rejects, refused credentials.
func permanent(err error) error {
	var re gocql.RequestError
	if errors.As(err, &re) {
		switch re.Code() {
		case gocql.ErrCodeSyntax, gocql.ErrCodeInvalid, gocql.ErrCodeUnauthorized, gocql.ErrCodeConfig,
			gocql.ErrCodeCredentials, gocql.ErrCodeAlreadyExists, gocql.ErrCodeProtocol:
			return retry.Permanent(err)
		}
	}
	return err
}

// PutTruth writes the rows of one truth table, batched per device.
func (st *Store) PutTruth(ctx context.Context, runID, table string, rows []truth.Row, deviceIDs []string) error {
	if table != TableByDeviceTime && table != TableBySendTime {
		return fmt.Errorf("unknown truth table %q", table)
	}
	stmt := fmt.Sprintf(insertTruth, table)
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(st.opts.Concurrency)
	// Rows are sorted by device: cut them into per-device chunks.
	for lo := 0; lo < len(rows); {
		hi := lo + 1
		for hi < len(rows) && hi-lo < st.opts.BatchRows && rows[hi].Device == rows[lo].Device {
			hi++
		}
		chunk := rows[lo:hi]
		lo = hi
		g.Go(func() error {
			b := st.s.Batch(gocql.UnloggedBatch)
			for _, r := range chunk {
				b.Entries = append(b.Entries, gocql.BatchEntry{Stmt: stmt, Args: []any{
					runID, deviceIDs[r.Device], gen.CategoryName(int(r.Category)),
					time.UnixMilli(r.Window.Start), time.UnixMilli(r.Window.End), r.M1Sum, r.M2Sum, r.Count,
				}, Idempotent: true})
			}
			return st.exec(ctx, b, table)
		})
	}
	return g.Wait()
}

// RawWriter buffers sends per device and writes them to raw_events in
// batches, in the background, with bounded concurrency.
type RawWriter struct {
	st        *Store
	runID     string
	deviceIDs []string
	ctx       context.Context
	cancel    context.CancelFunc
	bufs      [][]gen.Send
	sem       chan struct{}
	wg        sync.WaitGroup
	mu        sync.Mutex
	err       error
	written   int64
	closed    bool
}

// NewRawWriter returns a writer for a run. Writes use ctx, which should
// outlive an interruption of the run so that acknowledged sends get recorded.
func (st *Store) NewRawWriter(ctx context.Context, runID string, deviceIDs []string) *RawWriter {
	ctx, cancel := context.WithCancel(ctx)
	return &RawWriter{
		st: st, runID: runID, deviceIDs: deviceIDs, ctx: ctx, cancel: cancel,
		bufs: make([][]gen.Send, len(deviceIDs)),
		sem:  make(chan struct{}, st.opts.Concurrency),
	}
}

// Add buffers one send, and starts the write of its device's batch when full;
// it blocks while Concurrency batches are in flight. It returns the first
// error of a background write. Not safe for concurrent use.
func (w *RawWriter) Add(s *gen.Send) error {
	if w.closed {
		return ErrClosed
	}
	b := w.bufs[s.Device]
	if b == nil {
		b = make([]gen.Send, 0, w.st.opts.BatchRows)
	}
	b = append(b, *s)
	if len(b) < w.st.opts.BatchRows {
		w.bufs[s.Device] = b
		return nil
	}
	w.bufs[s.Device] = nil
	return w.flush(b)
}

func (w *RawWriter) flush(rows []gen.Send) error {
	select {
	case w.sem <- struct{}{}:
	case <-w.ctx.Done():
		return w.firstErr(w.ctx.Err())
	}
	if err := w.firstErr(nil); err != nil {
		<-w.sem
		return err
	}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		defer func() { <-w.sem }()
		b := w.st.s.Batch(gocql.UnloggedBatch)
		b.Entries = make([]gocql.BatchEntry, 0, len(rows))
		for i := range rows {
			r := &rows[i]
			b.Entries = append(b.Entries, gocql.BatchEntry{Stmt: insertRaw, Args: []any{
				w.runID, w.deviceIDs[r.Device], r.SendSeq, r.Event.MessageID,
				time.UnixMilli(r.Event.DeviceTime), time.UnixMilli(r.SendTime), r.Event.Category,
				r.Event.Measure1, r.Event.Measure2, r.Pattern.String(),
			}, Idempotent: true})
		}
		err := w.st.exec(w.ctx, b, "raw_events")
		w.mu.Lock()
		defer w.mu.Unlock()
		if err != nil {
			if w.err == nil {
				w.err = err
				w.cancel()
			}
			return
		}
		w.written += int64(len(rows))
	}()
	return nil
}

func (w *RawWriter) firstErr(fallback error) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	return fallback
}

// Written is the number of rows written so far.
func (w *RawWriter) Written() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.written
}

// Close writes what is buffered and waits for every write.
func (w *RawWriter) Close() error {
	if w.closed {
		return w.firstErr(nil)
	}
	w.closed = true
	var err error
	for i, b := range w.bufs {
		if len(b) > 0 {
			w.bufs[i] = nil
			if err = w.flush(b); err != nil {
				break
			}
		}
	}
	w.wg.Wait()
	w.cancel()
	return w.firstErr(err)
}
