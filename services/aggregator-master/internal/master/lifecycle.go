package master

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/boontadata/boontadata/pkg/engine"
	"github.com/boontadata/boontadata/pkg/job"
	"github.com/boontadata/boontadata/pkg/logging"
)

// lifecycle ends the jobs whose work is over, from what the workers report:
// a job bound to a run finishes once every partition of the events topic
// read the run's end-of-run marker and closed and wrote its windows (or an
// engine under test wrote the run's end); a job a worker cannot run at all
// fails. Jobs not bound to a run run until they are cancelled.
type lifecycle struct {
	jobs    *Jobs
	tracker *Tracker
	// partitions lists the partitions of the events topic; nil leaves
	// continuous jobs to be ended by hand.
	partitions func() ([]int32, error)
	log        *zap.Logger
	// ends is signalled by reports that say a partition (or an engine
	// under test) ended: the job is checked at once, not at the next tick,
	// so that it is seen finished as soon as its last results are written.
	ends <-chan struct{}
}

func (l *lifecycle) run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-l.ends:
		}
		l.check(ctx)
	}
}

// check ends what is over; a failure to save is retried at the next check.
func (l *lifecycle) check(ctx context.Context) {
	var parts []int32
	for _, s := range l.jobs.List() {
		if s.State != job.StateRunning {
			continue
		}
		snap := l.tracker.Job(s.ID)
		state, reason := l.over(s, snap, &parts)
		if state == "" {
			continue
		}
		if _, err := l.jobs.End(ctx, s.ID, state, reason); err != nil {
			l.log.Warn("job not ended yet; trying again", zap.String(logging.KeyJobID, s.ID), zap.Error(err))
		}
	}
}

// over says whether a running job is over, and how. parts caches the
// partitions of the events topic across one check.
func (l *lifecycle) over(s job.Spec, snap Snapshot, parts *[]int32) (state, reason string) {
	if snap.Failed != nil {
		return job.StateFailed, fmt.Sprintf("worker %s: %s", snap.Failed.WorkerID, snap.Failed.Error)
	}
	if ext := snap.Progress.External; ext != nil && ext.Ended {
		return job.StateFinished, fmt.Sprintf("the %s engine wrote the end of run %s on the %d partitions of the results topic, and its results before",
			s.EngineUnderTest(), s.RunID, ext.ResultsPartitions)
	}
	es, err := s.Engine()
	if err != nil || s.RunID == "" || es.Trigger == engine.MicroBatch || s.EngineUnderTest() != job.Boontadata ||
		l.partitions == nil || len(snap.Partitions) == 0 {
		return "", "" // micro-batch jobs are ended by their driver, other engines by their end line
	}
	if *parts == nil {
		if *parts, err = l.partitions(); err != nil {
			l.log.Debug("partitions of the events topic unknown", zap.Error(err))
			return "", ""
		}
	}
	ended := map[int32]bool{}
	for _, p := range snap.Partitions {
		ended[p.Partition] = p.Ended
	}
	for _, p := range *parts {
		if !ended[p] {
			return "", ""
		}
	}
	return job.StateFinished, fmt.Sprintf("run %s ended on its %d partitions and every window is final", s.RunID, len(*parts))
}
