package master

import (
	"slices"
	"sync"
	"time"

	"github.com/boontadata/boontadata/pkg/clock"
	"github.com/boontadata/boontadata/pkg/job"
	"github.com/boontadata/boontadata/services/aggregator-master/internal/api"
)

// MaxTrackedWorkers bounds the (job, worker) pairs the tracker holds, so that
// a flood of reports with made-up ids cannot grow the master's memory.
const MaxTrackedWorkers = 10000

// Clock gives the master's time. Tests inject a manual one.
type Clock = clock.Clock

type workerEntry struct {
	report   job.WorkerReport
	received time.Time
}

type jobEntry struct {
	workers   map[string]workerEntry
	lastError *api.WorkerError
	// failed keeps a worker's word that the job cannot run, even after it
	// stopped reporting.
	failed *api.WorkerError
	// external keeps the latest results ingestion figures of each worker.
	external map[string]job.ExternalProgress
}

// Tracker keeps the latest report of every worker of every job. A worker is
// forgotten when its last report is older than the expiry, or at once when it
// says it is stopping. Expiry is judged by the master's clock when it read the
// report, not the worker's clock, which may be skewed.
type Tracker struct {
	clock  Clock
	expiry time.Duration

	mu      sync.Mutex
	jobs    map[string]*jobEntry
	tracked int
	dropped int64
	pruned  time.Time
}

// NewTracker returns an empty tracker.
func NewTracker(clock Clock, expiry time.Duration) *Tracker {
	return &Tracker{clock: clock, expiry: expiry, jobs: map[string]*jobEntry{}}
}

// Observe records a report. It returns false when the report was dropped
// because the tracker is full.
func (t *Tracker) Observe(r job.WorkerReport) bool {
	now := t.clock.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	// Pruning walks every entry: at most once a second on this hot path.
	if now.Sub(t.pruned) >= time.Second {
		t.pruneLocked(now)
	}
	je := t.jobs[r.JobID]
	if je == nil {
		je = &jobEntry{workers: map[string]workerEntry{}}
		t.jobs[r.JobID] = je
	}
	if r.Error != "" {
		je.lastError = &api.WorkerError{WorkerID: r.WorkerID, Error: r.Error, Time: r.Time}
	}
	if r.Failed {
		je.failed = &api.WorkerError{WorkerID: r.WorkerID, Error: r.Error, Time: r.Time}
	}
	if r.External != nil {
		if je.external == nil {
			je.external = map[string]job.ExternalProgress{}
		}
		je.external[r.WorkerID] = *r.External
		if len(r.Partitions) == 0 && !r.Stopping {
			return true // the results ingestion reads no partition of the job
		}
	}
	_, known := je.workers[r.WorkerID]
	if r.Stopping {
		if known {
			delete(je.workers, r.WorkerID)
			t.tracked--
		}
		t.dropEmptyLocked(r.JobID, je)
		return true
	}
	if !known {
		if t.tracked >= MaxTrackedWorkers {
			t.pruneLocked(now)
		}
		if t.tracked >= MaxTrackedWorkers {
			t.dropped++
			t.dropEmptyLocked(r.JobID, je)
			return false
		}
		t.tracked++
	}
	je.workers[r.WorkerID] = workerEntry{report: r, received: now}
	return true
}

// Dropped returns how many reports were dropped because the tracker was full.
func (t *Tracker) Dropped() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.dropped
}

func (t *Tracker) dropEmptyLocked(id string, je *jobEntry) {
	if len(je.workers) == 0 && je.lastError == nil && je.failed == nil && je.external == nil {
		delete(t.jobs, id)
	}
}

func (t *Tracker) pruneLocked(now time.Time) {
	t.pruned = now
	for id, je := range t.jobs {
		for w, e := range je.workers {
			if now.Sub(e.received) > t.expiry {
				delete(je.workers, w)
				t.tracked--
			}
		}
		t.dropEmptyLocked(id, je)
	}
}

// Snapshot is what the tracker knows of one job at one time.
type Snapshot struct {
	Progress   api.Progress
	Workers    []api.Worker
	Partitions []api.Partition
	// Failed is set once a worker reported that the job cannot run.
	Failed *api.WorkerError
}

// Job returns the snapshot of one job; the zero Progress when no live worker
// reports it.
func (t *Tracker) Job(id string) Snapshot {
	now := t.clock.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pruneLocked(now)
	return snapshot(t.jobs[id])
}

// All returns the snapshots of every job some worker reports, by job id.
func (t *Tracker) All() map[string]Snapshot {
	now := t.clock.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pruneLocked(now)
	out := make(map[string]Snapshot, len(t.jobs))
	for id, je := range t.jobs {
		out[id] = snapshot(je)
	}
	return out
}

// snapshot aggregates the entries of one job. The caller holds the lock.
func snapshot(je *jobEntry) Snapshot {
	var s Snapshot
	if je == nil {
		return s
	}
	if je.lastError != nil {
		e := *je.lastError
		s.Progress.LastError = &e
	}
	if je.failed != nil {
		e := *je.failed
		s.Failed = &e
	}
	if len(je.external) > 0 {
		var ext job.ExternalProgress
		for _, e := range je.external {
			ext.Add(e)
		}
		s.Progress.External = &ext
	}
	ids := make([]string, 0, len(je.workers))
	for id := range je.workers {
		ids = append(ids, id)
	}
	slices.Sort(ids)

	// Each partition counts once, from the freshest report naming it.
	type owner struct {
		worker string
		at     time.Time
		p      job.PartitionProgress
	}
	owners := map[int32]owner{}
	for _, id := range ids {
		e := je.workers[id]
		w := api.Worker{WorkerID: id, Time: e.report.Time, ReceivedAt: e.received, Error: e.report.Error,
			Partitions: make([]int32, 0, len(e.report.Partitions))}
		for _, p := range e.report.Partitions {
			w.Partitions = append(w.Partitions, p.Partition)
			w.Lag += p.Lag
			w.EventsPerSecond += p.EventsPerSecond
			if o, ok := owners[p.Partition]; !ok || e.received.After(o.at) {
				owners[p.Partition] = owner{worker: id, at: e.received, p: p}
			}
		}
		slices.Sort(w.Partitions)
		s.Workers = append(s.Workers, w)
		if e.received.After(s.Progress.LastReport) {
			s.Progress.LastReport = e.received
		}
		if e.report.Error != "" {
			s.Progress.Errors = append(s.Progress.Errors, api.WorkerError{WorkerID: id, Error: e.report.Error, Time: e.report.Time})
		}
	}
	s.Progress.Workers = len(s.Workers)
	s.Progress.Partitions = len(owners)
	for _, o := range owners {
		p := o.p
		s.Partitions = append(s.Partitions, api.Partition{WorkerID: o.worker, PartitionProgress: p})
		g := &s.Progress
		g.Lag += p.Lag
		g.EventsPerSecond += p.EventsPerSecond
		g.Records += p.Records
		g.Accepted += p.Accepted
		g.Late += p.Late
		g.Duplicates += p.Duplicates
		g.Poison += p.Poison
		g.OtherRuns += p.OtherRuns
		g.ResultsEmitted += p.ResultsEmitted
		g.ResultsWritten += p.ResultsWritten
		g.OffsetResets += p.OffsetResets
		g.OpenWindows += p.OpenWindows
		if p.Watermark > 0 && (g.Watermark == 0 || p.Watermark < g.Watermark) {
			g.Watermark = p.Watermark
		}
	}
	slices.SortFunc(s.Partitions, func(a, b api.Partition) int { return int(a.Partition) - int(b.Partition) })
	return s
}
