package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"github.com/boontadata/boontadata/pkg/engine"
)

// commitMeta is the metadata committed with a partition's offset, for the
// partition's next owner (after a rebalance or a crash): the engine's
// checkpoint (exactly-once delivery only) and what the partition counted so
// far. The checkpoint's fields sit at the top level, as they did before the
// tally existed, so older commits still restore.
type commitMeta struct {
	*engine.Checkpoint
	Tally *tally `json:"tally,omitempty"`
}

// tally is what the owners of a partition counted, up to the offset Next:
// each record counts once in the progress of the job, whichever owner read
// it and however often it was replayed.
type tally struct {
	// Next is the offset after the last record counted.
	Next       int64 `json:"next"`
	Records    int64 `json:"records,omitempty"`
	Accepted   int64 `json:"accepted,omitempty"`
	Late       int64 `json:"late,omitempty"`
	Duplicates int64 `json:"duplicates,omitempty"`
	Placed     int64 `json:"placed,omitempty"`
	Poison     int64 `json:"poison,omitempty"`
	OtherRuns  int64 `json:"other_runs,omitempty"`
	Results    int64 `json:"results_emitted,omitempty"`
	Written    int64 `json:"results_written,omitempty"`
	// Ended: the partition read the end-of-run marker of the job's run.
	Ended bool `json:"ended,omitempty"`
}

// parseCommitMeta reads committed metadata: a tally with or without a
// checkpoint, or a checkpoint alone (commits of older workers).
func parseCommitMeta(s string) (commitMeta, error) {
	var m commitMeta
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return commitMeta{}, fmt.Errorf("commit metadata: %w", err)
	}
	return m, nil
}

// startOffset returns the offset a claim reads from: the committed one, or
// the job's start offsets resolved against the partition. -1 when Kafka
// cannot say.
func (h *handler) startOffset(claim sarama.ConsumerGroupClaim) int64 {
	off := claim.InitialOffset()
	if off >= 0 {
		return off
	}
	resolved, err := h.client.GetOffset(claim.Topic(), claim.Partition(), off)
	if err != nil {
		return -1
	}
	return resolved
}

// ErrFenced is returned by a partition's writes once this worker stood
// still (SIGSTOP, a paused VM) longer than its consumer group session lasts
// without heartbeats, after the partition was claimed: the group may have
// given the partition to another worker meanwhile, which wrote newer
// results that the ones pending here would overwrite. The claim ends
// without writing; whoever owns the partition next rebuilds what was
// pending from the committed offset.
var ErrFenced = errors.New("this worker stood still longer than its consumer group session lasts: the partition may belong to another worker now, so it writes nothing more")

// freezeWatch notices that the process stood still: a goroutine that wakes
// up often, and finds the gap since its last wake-up longer than the limit.
// A goroutine blocked on a write does not count; only the whole process
// standing still does.
type freezeWatch struct {
	limit time.Duration
	now   func() time.Time

	mu     sync.Mutex
	beat   time.Time     // the last wake-up
	frozen time.Time     // when a freeze was last noticed
	gap    time.Duration // how long it stood still then
}

func newFreezeWatch(limit time.Duration, now func() time.Time) *freezeWatch {
	return &freezeWatch{limit: limit, now: now, beat: now()}
}

// run wakes up every 100 ms until ctx ends.
func (w *freezeWatch) run(ctx context.Context) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.observe()
		}
	}
}

func (w *freezeWatch) observe() {
	now := w.now()
	w.mu.Lock()
	defer w.mu.Unlock()
	if gap := now.Sub(w.beat); gap > w.limit {
		w.frozen, w.gap = now, gap
	}
	w.beat = now
}

// frozeSince says whether the process stood still after since, and how
// long. Right after a freeze, before the watch woke up, the gap since its
// last wake-up says so.
func (w *freezeWatch) frozeSince(since time.Time) (bool, time.Duration) {
	if w == nil {
		return false, 0
	}
	now := w.now()
	w.mu.Lock()
	defer w.mu.Unlock()
	if gap := now.Sub(w.beat); gap > w.limit {
		return true, gap
	}
	if w.frozen.After(since) {
		return true, w.gap
	}
	return false, 0
}
