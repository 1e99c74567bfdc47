package client

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/boontadata/boontadata/pkg/engine"
	"github.com/boontadata/boontadata/pkg/job"
	"github.com/boontadata/boontadata/services/aggregator-master/internal/api"
)

// Waiter decides when a job has consumed a run: every partition reported
// with no lag, results no longer changing, and, for append output, the
// watermark past the last window of the run plus the allowed lateness (the
// only way its last windows are emitted at all).
type Waiter struct {
	// Partitions of the events topic, all of which must be reported.
	Partitions int
	// EventsEnd is the latest time an event of the run carries, in the
	// job's time domain; zero skips the watermark condition.
	EventsEnd time.Time
	// Settle is how long results must stay unchanged once caught up.
	Settle time.Duration
	// UntilStarted waits only until the engine under test of the job reads
	// the events topic (its start line), not until the job finished.
	UntilStarted bool

	lastWritten int64
	stableSince time.Time
	lastBatch   int64 // micro-batch: the newest batch that had input rows
}

// ErrJobEnded is returned by Check for a job that was cancelled or failed:
// it will not finish.
var ErrJobEnded = errors.New("job will not finish")

// Check says whether the job is done, and if not, what it waits for.
// Errors reported by workers end the wait at once. A job bound to a run is
// done when the master marked it finished (every partition read the run's
// end and every window is final); the other conditions are for jobs that
// read every run.
func (w *Waiter) Check(d api.JobDetail, now time.Time) (done bool, state string, err error) {
	if w.UntilStarted {
		if ext := d.Progress.External; ext != nil && ext.Started {
			return true, "the engine reads the events topic", nil
		}
		if job.Ended(d.Spec.State) {
			return false, "", fmt.Errorf("%w: %s is %s before its engine started: %s", ErrJobEnded, d.Spec.ID, d.Spec.State, d.Spec.Reason)
		}
		return false, fmt.Sprintf("waiting for the %s engine to start reading (its start line on the results topic)", d.Spec.EngineUnderTest()), nil
	}
	switch d.Spec.State {
	case job.StateFinished:
		return true, "finished: " + d.Spec.Reason, nil
	case job.StateCancelled, job.StateFailed:
		return false, "", fmt.Errorf("%w: %s is %s: %s", ErrJobEnded, d.Spec.ID, d.Spec.State, d.Spec.Reason)
	}
	if d.Spec.RunID != "" {
		return false, w.runStatus(d), nil
	}
	if es, err := d.Spec.Engine(); err == nil && es.Trigger == engine.MicroBatch {
		return w.checkBatches(d, now)
	}
	p := d.Progress
	// Worker errors may be passing (a broker restarting): they are shown,
	// and the timeout ends a wait they never stop blocking.
	var errs string
	if len(p.Errors) > 0 {
		var msgs []string
		for _, e := range p.Errors {
			msgs = append(msgs, e.WorkerID+": "+e.Error)
		}
		errs = "; worker errors: " + strings.Join(msgs, "; ")
	}
	if p.ResultsWritten != w.lastWritten || w.stableSince.IsZero() {
		w.lastWritten, w.stableSince = p.ResultsWritten, now
	}
	reported := map[int32]bool{}
	var lagging []string
	for _, part := range d.Partitions {
		reported[part.Partition] = true
		if part.Lag > 0 {
			lagging = append(lagging, fmt.Sprintf("%d (lag %d)", part.Partition, part.Lag))
		}
	}
	var missing []string
	for i := range w.Partitions {
		if !reported[int32(i)] {
			missing = append(missing, fmt.Sprint(i))
		}
	}
	sort.Strings(lagging)
	status := fmt.Sprintf("workers %d, partitions %d/%d, lag %d, records %d, results written %d, watermark %s",
		p.Workers, len(d.Partitions), w.Partitions, p.Lag, p.Records, p.ResultsWritten, api.FormatWatermark(p.Watermark))
	switch {
	case errs != "":
		return false, status + errs, nil
	case p.Workers == 0:
		return false, status + "; no worker runs the job yet (start one: aggregator-worker run)", nil
	case len(missing) > 0:
		return false, status + "; partitions not claimed yet: " + strings.Join(missing, ","), nil
	case len(lagging) > 0:
		return false, status + "; partitions behind: " + strings.Join(lagging, ", "), nil
	}
	es, err := d.Spec.Engine()
	if err != nil {
		return false, "", err
	}
	if es.Output == engine.Append && !w.EventsEnd.IsZero() {
		size := es.WindowSize.Milliseconds()
		end := w.EventsEnd.UnixMilli()
		lastWindowEnd := end - end%size + size
		need := lastWindowEnd + es.AllowedLateness.Milliseconds()
		if p.Watermark < need {
			return false, status + fmt.Sprintf("; append output: waiting for the watermark to reach %s so the last windows are emitted",
				api.FormatWatermark(need)), nil
		}
	}
	if now.Sub(w.stableSince) < w.Settle {
		return false, status + "; caught up, waiting for the last results to be written", nil
	}
	return true, status, nil
}

// runStatus says how far a job bound to a run is from its end.
func (w *Waiter) runStatus(d api.JobDetail) string {
	p := d.Progress
	ended := 0
	for _, part := range d.Partitions {
		if part.Ended {
			ended++
		}
	}
	if len(d.Batches) > 0 {
		b := d.Batches[0]
		return fmt.Sprintf("micro-batch: batch %d %s at %s, %d input rows; waiting for the end of run %s",
			b.BatchID, b.State, b.BatchTime.UTC().Format("15:04:05"), b.InputRows, d.Spec.RunID)
	}
	return fmt.Sprintf("workers %d, lag %d, records %d, results written %d, watermark %s; %d of %d partitions read the end of run %s",
		p.Workers, p.Lag, p.Records, p.ResultsWritten, api.FormatWatermark(p.Watermark), ended, w.Partitions, d.Spec.RunID)
}

// checkBatches is Check for a micro-batch job: done once a completed batch
// found no new input (it covers the newest offsets of every partition, and
// the batch before emitted what the last records changed, including the
// windows they closed) and no batch with input completed for Settle.
func (w *Waiter) checkBatches(d api.JobDetail, now time.Time) (bool, string, error) {
	var last *api.Batch
	for i := range d.Batches {
		b := &d.Batches[i]
		if b.InputRows > 0 && b.BatchID > w.lastBatch {
			w.lastBatch, w.stableSince = b.BatchID, now
		}
		if last == nil && b.State == "completed" {
			last = b
		}
	}
	if w.stableSince.IsZero() {
		w.stableSince = now
	}
	if last == nil {
		return false, "micro-batch: no batch completed yet (the master plans one every trigger interval; start a worker: aggregator-worker run)", nil
	}
	status := fmt.Sprintf("micro-batch: last completed batch %d at %s, %d input rows, processing %dms, scheduling delay %dms",
		last.BatchID, last.BatchTime.UTC().Format("15:04:05"), last.InputRows, last.ProcessingMs, last.SchedulingDelayMs)
	switch {
	case last.InputRows > 0:
		return false, status + "; waiting for a batch with no new input", nil
	case now.Sub(w.stableSince) < w.Settle:
		return false, status + "; caught up, waiting for the results to settle", nil
	}
	return true, status, nil
}
