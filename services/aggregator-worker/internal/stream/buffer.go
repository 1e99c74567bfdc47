package stream

import (
	"context"

	"go.uber.org/zap"

	"github.com/boontadata/boontadata/pkg/engine"
	"github.com/boontadata/boontadata/pkg/retry"
)

type resultKey struct {
	device, category string
	start            int64
}

// Buffer is an engine.Sink that keeps what an engine emitted until it is
// written: the latest result of each window, and every decision. A runtime
// marks or acknowledges input only after Write returned nil.
type Buffer struct {
	pending   map[resultKey]engine.Result
	decisions []Decision
	batch     []engine.Result
	// OnDecision, when set, sees every decision as it is made.
	OnDecision func(*engine.Decision)
	// Version, when positive, is the write version of the results
	// (ResultWriter.Write).
	Version int64
}

// NewBuffer returns an empty buffer.
func NewBuffer() *Buffer { return &Buffer{pending: map[resultKey]engine.Result{}} }

// Result implements engine.Sink: a window's newer emission replaces the
// older one not written yet.
func (b *Buffer) Result(r *engine.Result) {
	b.pending[resultKey{r.DeviceID, r.Category, r.Window.Start}] = *r
}

// Decision implements engine.Sink.
func (b *Buffer) Decision(d *engine.Decision) {
	if b.OnDecision != nil {
		b.OnDecision(d)
	}
	b.decisions = append(b.decisions, DecisionOf(d))
}

// Results returns the number of results waiting.
func (b *Buffer) Results() int { return len(b.pending) }

// Reset drops what waits (it was written before: a rebuild replayed it).
func (b *Buffer) Reset() {
	clear(b.pending)
	b.decisions = b.decisions[:0]
}

// Len returns the number of results and decisions waiting.
func (b *Buffer) Len() int { return len(b.pending) + len(b.decisions) }

// Write makes the decisions, then the results, durable, retrying with p
// until ctx ends; emitAtLeast, when positive, raises each result's emit time to it
// (the write time of a micro-batch). It returns the number of results
// written; on error nothing is dropped.
func (b *Buffer) Write(ctx context.Context, w ResultWriter, runID, jobID string, emitAtLeast int64, p retry.Policy, log *zap.Logger) (int, error) {
	if err := writeDecisions(ctx, w, runID, jobID, &b.decisions, p, log); err != nil {
		return 0, err
	}
	if len(b.pending) == 0 {
		return 0, nil
	}
	b.batch = b.batch[:0]
	for _, r := range b.pending {
		r.EmitTime = max(r.EmitTime, emitAtLeast)
		b.batch = append(b.batch, r)
	}
	if err := writeResults(ctx, w, runID, jobID, b.batch, b.Version, p, log); err != nil {
		return 0, err
	}
	clear(b.pending)
	return len(b.batch), nil
}

// Taken is what Take moved out of a Buffer: it is written while the buffer
// fills again, so that a runtime goes on reading during a write.
type Taken struct {
	decisions []Decision
	results   []engine.Result
	version   int64
}

// Take moves what waits into t, replacing what t held; the buffer is then
// empty.
func (b *Buffer) Take(t *Taken) {
	t.decisions = append(t.decisions[:0], b.decisions...)
	clear(b.decisions)
	b.decisions = b.decisions[:0]
	clear(t.results)
	t.results = t.results[:0]
	for _, r := range b.pending {
		t.results = append(t.results, r)
	}
	clear(b.pending)
	t.version = b.Version
}

// Results returns the number of results taken.
func (t *Taken) Results() int { return len(t.results) }

// Empty reports whether nothing was taken.
func (t *Taken) Empty() bool { return len(t.results) == 0 && len(t.decisions) == 0 }

// Write makes the decisions, then the results, durable, retrying with p
// until ctx ends. It returns the number of results written; on error what
// is not written stays in t, to be written again.
func (t *Taken) Write(ctx context.Context, w ResultWriter, runID, jobID string, p retry.Policy, log *zap.Logger) (int, error) {
	if err := writeDecisions(ctx, w, runID, jobID, &t.decisions, p, log); err != nil {
		return 0, err
	}
	if len(t.results) == 0 {
		return 0, nil
	}
	if err := writeResults(ctx, w, runID, jobID, t.results, t.version, p, log); err != nil {
		return 0, err
	}
	n := len(t.results)
	clear(t.results)
	t.results = t.results[:0]
	return n, nil
}

// writeDecisions writes *ds and empties it.
func writeDecisions(ctx context.Context, w ResultWriter, runID, jobID string, ds *[]Decision, p retry.Policy, log *zap.Logger) error {
	if len(*ds) == 0 {
		return nil
	}
	run := ResultsRun(runID)
	err := p.Do(ctx, log, "write the decision log", func() error {
		return w.WriteDecisions(ctx, run, jobID, *ds)
	})
	if err != nil {
		return err
	}
	clear(*ds)
	*ds = (*ds)[:0]
	return nil
}

func writeResults(ctx context.Context, w ResultWriter, runID, jobID string, rs []engine.Result, version int64, p retry.Policy, log *zap.Logger) error {
	run := ResultsRun(runID)
	return p.Do(ctx, log, "write results", func() error { return w.Write(ctx, run, jobID, rs, version) })
}
