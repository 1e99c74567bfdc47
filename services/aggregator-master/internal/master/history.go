package master

import (
	"cmp"
	"slices"
	"sync"
	"time"

	"github.com/boontadata/boontadata/pkg/job"
	"github.com/boontadata/boontadata/services/aggregator-master/internal/api"
)

// Bounds of the history the master keeps in memory for the dashboard.
const (
	// RecentSamples is how many samples at the sampling interval a job
	// keeps: 5 minutes at the default 1 s.
	RecentSamples = 300
	// LifeSamples bounds the thinned samples of a job's whole life: when
	// full, every other one is dropped and the step doubles.
	LifeSamples = 720
	// MaxHistoryJobs bounds the jobs with a history; beyond it the history
	// of the job that ended first (or, if none ended, the one sampled least
	// recently) is dropped.
	MaxHistoryJobs = 100
	// maxRecentErrors bounds the distinct errors kept per job.
	maxRecentErrors = 20
)

// History keeps, for the dashboard, a bounded history of every job's
// progress (one sample per sampling interval), the recent errors of its
// workers, and the figures of its completed micro-batches (as histograms for
// /metrics). It lives in memory only: a restarted master starts it anew.
type History struct {
	interval time.Duration
	clock    Clock

	mu   sync.Mutex
	jobs map[string]*series
}

// series is the history of one job.
type series struct {
	recent []api.Sample // oldest first, at most RecentSamples
	life   []api.Sample // oldest first, at most LifeSamples, every stride-th sample
	stride int
	// skipped counts the samples since the last one kept in life.
	skipped int
	last    time.Time
	// ended: the job is no longer running; its history is kept, frozen,
	// until room is needed.
	ended  bool
	errors []api.WorkerError // newest first
	// batch figures of the completed micro-batches seen by this master.
	batches batchHistograms
}

// NewHistory returns an empty history sampled every interval.
func NewHistory(interval time.Duration, clock Clock) *History {
	return &History{interval: interval, clock: clock, jobs: map[string]*series{}}
}

// Interval is the sampling interval.
func (h *History) Interval() time.Duration { return h.interval }

// Record takes one sample of every job that runs, or that ended but still
// has live workers (their last reports), from the tracker's snapshots.
func (h *History) Record(now time.Time, specs []job.Spec, snaps map[string]Snapshot) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range specs {
		snap, reported := snaps[s.ID]
		running := s.State == job.StateRunning
		if !running && (!reported || len(snap.Workers) == 0) {
			if sr := h.jobs[s.ID]; sr != nil {
				sr.ended = true
			}
			continue
		}
		sr := h.seriesLocked(s.ID, now)
		sr.ended = !running
		sr.add(sampleOf(now, snap.Progress, sr.latest()))
		sr.noteErrors(snap.Progress)
	}
}

// seriesLocked returns the series of a job, making room for it.
func (h *History) seriesLocked(id string, now time.Time) *series {
	if sr := h.jobs[id]; sr != nil {
		sr.last = now
		return sr
	}
	if len(h.jobs) >= MaxHistoryJobs {
		h.evictLocked()
	}
	sr := &series{stride: 1, last: now}
	h.jobs[id] = sr
	return sr
}

// evictLocked drops one history: of the ended jobs, the one sampled least
// recently; if none ended, the one sampled least recently.
func (h *History) evictLocked() {
	victim, victimEnded := "", false
	var at time.Time
	for id, sr := range h.jobs {
		better := victim == "" || (sr.ended && !victimEnded) ||
			(sr.ended == victimEnded && sr.last.Before(at))
		if better {
			victim, victimEnded, at = id, sr.ended, sr.last
		}
	}
	delete(h.jobs, victim)
}

// sampleOf turns a job's aggregate progress into a sample; prev (nil for the
// first) gives the results written per second.
func sampleOf(now time.Time, p api.Progress, prev *api.Sample) api.Sample {
	s := api.Sample{
		TimeMs:          now.UnixMilli(),
		Workers:         p.Workers,
		Partitions:      p.Partitions,
		EventsPerSecond: p.EventsPerSecond,
		Records:         p.Records,
		Lag:             p.Lag,
		Late:            p.Late,
		Duplicates:      p.Duplicates,
		DeadLetters:     p.Poison,
		ResultsWritten:  p.ResultsWritten,
		OpenWindows:     p.OpenWindows,
	}
	if p.External != nil {
		s.ResultsWritten += p.External.Results
		s.DeadLetters += p.External.BadLines
		s.Late += p.External.Late
	}
	if p.Watermark > 0 {
		d := now.UnixMilli() - p.Watermark
		s.WatermarkDelayMs = &d
	}
	if prev != nil && s.TimeMs > prev.TimeMs && s.ResultsWritten > prev.ResultsWritten {
		s.ResultsPerSecond = float64(s.ResultsWritten-prev.ResultsWritten) * 1000 / float64(s.TimeMs-prev.TimeMs)
	}
	return s
}

func (sr *series) latest() *api.Sample {
	if len(sr.recent) == 0 {
		return nil
	}
	return &sr.recent[len(sr.recent)-1]
}

func (sr *series) add(s api.Sample) {
	if len(sr.recent) == RecentSamples {
		copy(sr.recent, sr.recent[1:])
		sr.recent[len(sr.recent)-1] = s
	} else {
		sr.recent = append(sr.recent, s)
	}
	sr.skipped++
	if sr.skipped < sr.stride && len(sr.life) > 0 {
		return
	}
	sr.skipped = 0
	if len(sr.life) == LifeSamples {
		// Keep every other sample, the later of each pair: the counters
		// are cumulative, so the later one loses nothing of the total.
		n := 0
		for i := 1; i < len(sr.life); i += 2 {
			sr.life[n] = sr.life[i]
			n++
		}
		sr.life = sr.life[:n]
		sr.stride *= 2
	}
	sr.life = append(sr.life, s)
}

// noteErrors keeps the errors of the live workers and the job's last error,
// newest first, each (worker, error) once.
func (sr *series) noteErrors(p api.Progress) {
	errs := slices.Clone(p.Errors)
	if p.LastError != nil {
		errs = append(errs, *p.LastError)
	}
	for _, e := range errs {
		i := slices.IndexFunc(sr.errors, func(o api.WorkerError) bool { return o.WorkerID == e.WorkerID && o.Error == e.Error })
		if i >= 0 {
			if !e.Time.After(sr.errors[i].Time) {
				continue
			}
			sr.errors = slices.Delete(sr.errors, i, i+1)
		}
		sr.errors = slices.Insert(sr.errors, 0, e)
	}
	slices.SortStableFunc(sr.errors, func(a, b api.WorkerError) int { return b.Time.Compare(a.Time) })
	if len(sr.errors) > maxRecentErrors {
		sr.errors = sr.errors[:maxRecentErrors]
	}
}

// ObserveBatch records the figures of a completed micro-batch of a job.
func (h *History) ObserveBatch(jobID string, b api.Batch) {
	h.mu.Lock()
	defer h.mu.Unlock()
	sr := h.jobs[jobID]
	if sr == nil {
		// The driver may complete a batch before the first sample.
		sr = h.seriesLocked(jobID, h.clock.Now())
	}
	sr.batches.observe(b)
}

// Job returns the history of one job; ok is false when the master keeps
// none.
func (h *History) Job(id string) (api.History, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := api.History{JobID: id, IntervalMs: h.interval.Milliseconds(), StepMs: h.interval.Milliseconds(),
		Recent: []api.Sample{}, Life: []api.Sample{}, Errors: []api.WorkerError{}}
	sr := h.jobs[id]
	if sr == nil {
		return out, false
	}
	out.StepMs *= int64(sr.stride)
	out.Recent = slices.Clone(sr.recent)
	out.Life = slices.Clone(sr.life)
	if l := sr.latest(); l != nil && (len(out.Life) == 0 || out.Life[len(out.Life)-1].TimeMs < l.TimeMs) {
		out.Life = append(out.Life, *l) // the life's last point is the latest sample
	}
	out.Errors = slices.Clone(sr.errors)
	return out, true
}

// Recent returns the samples of every job at most window old, by job id.
func (h *History) Recent(now time.Time, window time.Duration) map[string][]api.Sample {
	from := now.Add(-window).UnixMilli()
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string][]api.Sample, len(h.jobs))
	for id, sr := range h.jobs {
		i, _ := slices.BinarySearchFunc(sr.recent, from, func(s api.Sample, t int64) int { return cmp.Compare(s.TimeMs, t) })
		out[id] = slices.Clone(sr.recent[i:])
	}
	return out
}

// Jobs returns how many jobs have a history.
func (h *History) Jobs() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.jobs)
}

// batchFigures returns a copy of a job's micro-batch histograms.
func (h *History) batchFigures(id string) (batchHistograms, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	sr := h.jobs[id]
	if sr == nil || sr.batches.count == 0 {
		return batchHistograms{}, false
	}
	return sr.batches.clone(), true
}

// Buckets of the micro-batch histograms: seconds for the delays, rows for
// the input size.
var (
	delayBuckets = []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300}
	rowsBuckets  = []float64{0, 10, 100, 1000, 1e4, 1e5, 1e6, 1e7}
)

// histogram counts observations in fixed buckets, cumulative in the
// Prometheus way when exported.
type histogram struct {
	bounds []float64
	counts []uint64 // per bucket, not cumulative; one more for +Inf
	sum    float64
}

func newHistogram(bounds []float64) histogram {
	return histogram{bounds: bounds, counts: make([]uint64, len(bounds)+1)}
}

func (h *histogram) observe(v float64) {
	i, _ := slices.BinarySearch(h.bounds, v) // the first bound >= v: le is inclusive
	h.counts[i]++
	h.sum += v
}

// cumulative returns the buckets as Prometheus wants them: upper bound ->
// observations at or below it.
func (h histogram) cumulative() map[float64]uint64 {
	out := make(map[float64]uint64, len(h.bounds))
	var n uint64
	for i, b := range h.bounds {
		n += h.counts[i]
		out[b] = n
	}
	return out
}

// batchHistograms are the figures of the completed micro-batches of a job,
// those of Spark's streaming tab.
type batchHistograms struct {
	count                                    uint64
	inputRows, scheduling, processing, total histogram
}

func (b *batchHistograms) observe(x api.Batch) {
	if b.count == 0 {
		b.inputRows, b.scheduling = newHistogram(rowsBuckets), newHistogram(delayBuckets)
		b.processing, b.total = newHistogram(delayBuckets), newHistogram(delayBuckets)
	}
	b.count++
	b.inputRows.observe(float64(x.InputRows))
	b.scheduling.observe(float64(x.SchedulingDelayMs) / 1000)
	b.processing.observe(float64(x.ProcessingMs) / 1000)
	b.total.observe(float64(x.TotalDelayMs) / 1000)
}

func (b batchHistograms) clone() batchHistograms {
	c := b
	for _, h := range []*histogram{&c.inputRows, &c.scheduling, &c.processing, &c.total} {
		h.counts = slices.Clone(h.counts)
	}
	return c
}
