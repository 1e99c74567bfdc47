package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/boontadata/boontadata/pkg/job"
	"github.com/boontadata/boontadata/pkg/testutil"
)

// structuredCoveringLateness is the structured preset with a watermark delay
// that covers the simulator's events late by up to 5 minutes (plus clock
// skew): structured drops records at or below the watermark, so the delay
// itself must cover them.
func structuredCoveringLateness(id, runID string) job.Spec {
	return job.Spec{ID: id, RunID: runID, Preset: "structured", Overrides: job.Overrides{
		Watermark: job.DurationOf(6 * time.Minute), AllowedLateness: job.DurationOf(6 * time.Minute)}}
}

// batches reads the micro-batch figures of a job from the master's API.
func (p *platform) batches(jobID string) []map[string]any {
	p.t.Helper()
	resp, err := http.Get(p.masterURL + "/api/jobs/" + jobID)
	if err != nil {
		return nil
	}
	defer func() { _ = resp.Body.Close() }()
	var d struct {
		Batches []map[string]any `json:"batches"`
	}
	if json.NewDecoder(resp.Body).Decode(&d) != nil {
		return nil
	}
	return d.Batches
}

func TestIntegrationStructuredMicroBatchMatchesTruth(t *testing.T) {
	p := newPlatform(t)
	p.showWarnings()
	p.startMaster("master", "")
	p.startWorker("worker-1")
	p.startWorker("worker-2")
	runID := testutil.Unique("run-")
	p.showBatches("structured-1")
	p.submit(structuredCoveringLateness("structured-1", runID))
	sim := p.simulate(runID, 10, 20)
	p.awaitExit(sim, 2*time.Minute)
	p.awaitTruth(runID, "structured-1", time.Minute)

	bs := p.batches("structured-1")
	require.NotEmpty(t, bs, "the master shows the job's batches")
	for _, k := range []string{"batch_id", "batch_time", "input_rows", "processing_ms", "scheduling_delay_ms", "state"} {
		require.Contains(t, bs[0], k)
	}
	out := p.run(30*time.Second, "aggregator-master", "status", "--master-url", p.masterURL, "structured-1")
	require.Contains(t, out, "structured-1")
	require.Contains(t, out, "SCHEDULING DELAY")
}

func TestIntegrationStructuredMicroBatchSurvivesKilledWorkerAndMaster(t *testing.T) {
	p := newPlatform(t)
	p.showWarnings()
	p.env = append(p.env, "BOONTADATA_TASK_TIMEOUT=4s")
	addr := freeAddr(t)
	master := p.startMaster("master", addr)
	w1 := p.startWorker("worker-1")
	p.startWorker("worker-2")
	runID := testutil.Unique("run-")
	p.submit(structuredCoveringLateness("structured-kill", runID))
	sim := p.simulate(runID, 20, 20)

	time.Sleep(7 * time.Second)
	w1.kill()
	t.Logf("worker-1 killed with SIGKILL")
	time.Sleep(4 * time.Second)
	master.kill()
	time.Sleep(time.Second)
	p.startMaster("master-2", addr)
	t.Logf("master killed and restarted")

	p.awaitExit(sim, 2*time.Minute)
	p.awaitTruth(runID, "structured-kill", 90*time.Second)
}

func TestIntegrationDStreamShowsProcessingTimeExceptions(t *testing.T) {
	p := newPlatform(t)
	p.showWarnings()
	p.startMaster("master", "")
	p.startWorker("worker-1")
	runID := testutil.Unique("run-")
	p.submit(job.Spec{ID: "dstream-1", RunID: runID, Preset: "dstream"})
	sim := p.simulate(runID, 10, 20)
	p.awaitExit(sim, 2*time.Minute)
	truth := p.truth(runID)
	var want int64
	for _, a := range truth {
		want += a.count
	}
	// Every distinct event lands in the window of its batch time; re-sends
	// in other batches count again: at least as many events as the truth.
	var last string
	p.waitFor(time.Minute, "every event counted by a batch", func() (bool, string) {
		res, err := p.results(runID, "dstream-1")
		if err != nil {
			return false, err.Error()
		}
		var got int64
		for _, a := range res {
			got += a.count
		}
		last = diff(truth, res)
		return got >= want, fmt.Sprintf("counted %d of at least %d", got, want)
	})
	require.NotEmpty(t, last, "processing-time batches put events in other windows than their device time")
	require.True(t, strings.Contains(last, "differs") || strings.Contains(last, "extra") || strings.Contains(last, "missing"), last)
	t.Logf("dstream exceptions as expected: %.300s", last)
}

// showWarnings logs the warnings of every process when the test failed.
func (p *platform) showWarnings() {
	p.t.Cleanup(func() {
		if !p.t.Failed() {
			return
		}
		p.mu.Lock()
		procs := p.procs
		p.mu.Unlock()
		for _, pr := range procs {
			b, err := os.ReadFile(pr.logPath)
			if err != nil {
				continue
			}
			var lines []string
			for _, l := range strings.Split(string(b), "\n") {
				if strings.Contains(l, `"level":"warn"`) || strings.Contains(l, `"level":"error"`) {
					lines = append(lines, l)
				}
			}
			p.t.Logf("--- warnings of %s ---\n%s", pr.name, lastLines(strings.Join(lines, "\n"), 20))
		}
	})
}

// showBatches logs the last batch and the state of every partition of a job
// when the test failed.
func (p *platform) showBatches(jobID string) {
	p.t.Cleanup(func() {
		if !p.t.Failed() {
			return
		}
		s := p.cql()
		var id int64
		var ranges map[int][]int64
		var state string
		if err := s.Query(`SELECT batch_id, ranges, state FROM microbatches WHERE job_id = ? LIMIT 1`, jobID).Scan(&id, &ranges, &state); err != nil {
			p.t.Logf("no batch: %v", err)
			return
		}
		p.t.Logf("last batch %d %s ranges %v", id, state, ranges)
		for part := range ranges {
			var bid, next int64
			var raw []byte
			err := s.Query(`SELECT batch_id, next_offset, state FROM state_checkpoints WHERE job_id = ? AND partition = ? LIMIT 1`, jobID, part).Scan(&bid, &next, &raw)
			p.t.Logf("partition %d: state of batch %d, min offset %d, err %v: %.400s", part, bid, next, err, raw)
		}
	})
}
