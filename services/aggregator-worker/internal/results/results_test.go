package results

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/boontadata/boontadata/pkg/contract"
	"github.com/boontadata/boontadata/pkg/engine"
	"github.com/boontadata/boontadata/pkg/engine/window"
	"github.com/boontadata/boontadata/pkg/job"
	"github.com/boontadata/boontadata/services/aggregator-worker/internal/stream"
)

func TestTurnsWriteEachWindowOncePerCall(t *testing.T) {
	r := func(dev string, start, rev int64) engine.Result {
		return engine.Result{DeviceID: dev, Category: "c", Window: window.Window{Start: start, End: start + 5}, Revision: rev}
	}
	got := turns([]engine.Result{r("a", 0, 1), r("b", 0, 1), r("a", 0, 2), r("a", 5, 1), r("a", 0, 3)})
	require.Equal(t, [][]engine.Result{
		{r("a", 0, 1), r("b", 0, 1), r("a", 5, 1)},
		{r("a", 0, 2)},
		{r("a", 0, 3)},
	}, got)
}

// recorder is a ResultWriter and DeadLetter that records what it is given,
// in order.
type recorder struct {
	calls []string
	ds    []stream.Decision
	dead  int
}

func (r *recorder) Write(_ context.Context, runID, jobID string, rs []engine.Result, _ int64) error {
	r.calls = append(r.calls, fmt.Sprintf("results %s %s %d", runID, jobID, len(rs)))
	return nil
}

func (r *recorder) WriteDecisions(_ context.Context, runID, jobID string, ds []stream.Decision) error {
	r.calls = append(r.calls, fmt.Sprintf("decisions %s %s %d", runID, jobID, len(ds)))
	r.ds = append(r.ds, ds...)
	return nil
}

func (r *recorder) Send(*sarama.ProducerMessage) error { r.dead++; return nil }

func TestLateLinesGoToTheDecisionLogBeforeTheEnd(t *testing.T) {
	rec := &recorder{}
	var reports []job.WorkerReport
	in := &Ingester{WorkerID: "w", Topic: "results", Writer: rec, DLQ: rec, DeadTopic: "dead",
		Report: func(r job.WorkerReport) {
			rec.calls = append(rec.calls, "report")
			reports = append(reports, r)
		},
		Log: zap.NewNop(), Now: time.Now, partitions: 1}
	late := contract.Late{DeviceID: "d", Category: "c", MessageID: "d-7", Window: window.Window{Start: 5000, End: 10000},
		Partition: 2, Offset: 41, Time: 6000, DeviceTime: 5990, Measure1: 12, Measure2: 3.5}
	r := engine.Result{DeviceID: "d", Category: "c", Window: window.Window{Start: 10000, End: 15000},
		SumMeasure1: 1, SumMeasure2: 1, Count: 1, Revision: 1, Final: true, EmitTime: 16000}
	var msgs []*sarama.ConsumerMessage
	for i, line := range []string{
		contract.FormatResult("j", "run-1", &r),
		contract.FormatLate("j", "run-1", &late, 15500),
		"late|j|run-1|d|c|0|5000|m|x|0|1|1|1|1|1", // bad partition: dead-lettered
		contract.FormatEnd("j", "run-1", 17000),
	} {
		msgs = append(msgs, &sarama.ConsumerMessage{Topic: "results", Offset: int64(i), Value: []byte(line)})
	}
	require.NoError(t, in.ingest(context.Background(), msgs))
	require.Equal(t, []string{"decisions run-1 j 1", "results run-1 j 1", "report"}, rec.calls,
		"the late drop and the result are written before the end is reported")
	require.Equal(t, 1, rec.dead)
	require.Equal(t, []stream.Decision{{Kind: "late_dropped", Reason: ReasonReported, MessageID: "d-7", DeviceID: "d", Category: "c",
		Partition: 2, Offset: 41, Time: 6000, DeviceTime: 5990, WindowStart: 5000, WindowEnd: 10000, Emit: 15500,
		Measure1: 12, Measure2: 3.5}}, rec.ds)
	require.Len(t, reports, 1)
	require.Equal(t, int64(1), reports[0].External.Late)
	require.Equal(t, int64(1), reports[0].External.Results)
	require.True(t, reports[0].External.Ended)
}
