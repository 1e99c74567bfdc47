package microbatch

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/boontadata/boontadata/pkg/engine"
	"github.com/boontadata/boontadata/pkg/job"
	"github.com/boontadata/boontadata/services/aggregator-worker/internal/replay"
	"github.com/boontadata/boontadata/services/aggregator-worker/internal/stream"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeReader serves one partition's records, offsets from 0.
type fakeReader struct{ lines []string }

func (f *fakeReader) Read(_ context.Context, partition int32, start, end int64, fn func(*sarama.ConsumerMessage) error) error {
	for o := start; o < end; o++ {
		if err := fn(&sarama.ConsumerMessage{Partition: partition, Offset: o, Value: []byte(f.lines[o])}); err != nil {
			return err
		}
	}
	return nil
}

type fakeStore struct {
	mu     sync.Mutex
	states map[int64]State
	acks   []job.TaskAck
}

func (f *fakeStore) LoadState(_ context.Context, _ string, _ int32, before int64) (State, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	best, ok := State{}, false
	for id, s := range f.states {
		if id < before && (!ok || id > best.BatchID) {
			// Through JSON, as Cassandra keeps it.
			b, _ := json.Marshal(s)
			var back State
			_ = json.Unmarshal(b, &back)
			best, ok = back, true
		}
	}
	return best, ok, nil
}

func (f *fakeStore) SaveState(_ context.Context, _ string, _ int32, s State) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.states[s.BatchID] = s
	return nil
}

func (f *fakeStore) Ack(_ context.Context, a job.TaskAck) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.acks = append(f.acks, a)
	return nil
}

// fakeWriter keeps the latest row of each window, as the upsert does.
type fakeWriter struct {
	rows      map[string]engine.Result
	versions  map[string]int64
	decisions []stream.Decision
}

func (f *fakeWriter) WriteDecisions(_ context.Context, _, _ string, ds []stream.Decision) error {
	f.decisions = append(f.decisions, ds...)
	return nil
}

// Write keeps the row of the highest version, as Cassandra keeps the cell
// of the highest timestamp.
func (f *fakeWriter) Write(_ context.Context, _, _ string, rs []engine.Result, version int64) error {
	if f.versions == nil {
		f.versions = map[string]int64{}
	}
	for _, r := range rs {
		k := fmt.Sprintf("%s/%s/%d", r.DeviceID, r.Category, r.Window.Start)
		if v, ok := f.versions[k]; ok && v > version {
			continue
		}
		f.rows[k], f.versions[k] = r, version
	}
	return nil
}

type plannedBatch struct {
	time       int64
	start, end int64
}

// genInput makes a partition's records and batch plan: duplicates, events
// late by 70 s (behind the 60 s watermark), an empty batch and a batch that
// started late (two triggers missed).
func genInput() ([]string, []plannedBatch) {
	r := rand.New(rand.NewPCG(7, 8))
	base := int64(1_767_225_600_000)
	times := []int64{base + 5000, base + 10000, base + 15000, base + 20000, base + 35000, base + 40000, base + 45000, base + 50000, base + 55000}
	var lines []string
	var plan []plannedBatch
	n := 0
	for i, bt := range times {
		start := int64(len(lines))
		count := 20 + r.IntN(40)
		if i == 3 {
			count = 0
		}
		for range count {
			switch k := r.IntN(20); {
			case k == 0 && len(lines) > 0:
				lines = append(lines, lines[r.IntN(len(lines))]) // a re-send
			default:
				ts := bt - 1 - r.Int64N(6000)
				if k == 1 {
					ts -= 70_000 // late
				}
				dev := r.IntN(3)
				lines = append(lines, fmt.Sprintf("m-%d|dev-%d|%d|cat-%d|%d|%d.5", n, dev, ts, r.IntN(2), r.IntN(100), r.IntN(10)))
				n++
			}
		}
		plan = append(plan, plannedBatch{time: bt, start: start, end: int64(len(lines))})
	}
	return lines, plan
}

type decision struct {
	Decision  string `json:"decision"`
	Reason    string `json:"reason"`
	Offset    int64  `json:"offset"`
	Time      int64  `json:"time"`
	Watermark *int64 `json:"watermark"`
	EmitTime  int64  `json:"emit_time"`
}

func newExecutor(t *testing.T, rd Reader, st Store, w *fakeWriter, decs *[]decision) *Executor {
	return &Executor{WorkerID: "w", Reader: rd, Store: st, Writer: w, Log: zaptest.NewLogger(t),
		OnDecision: func(_ job.Task, d *engine.Decision) {
			var wm *int64
			if d.Watermark != math.MinInt64 {
				v := d.Watermark
				wm = &v
			}
			*decs = append(*decs, decision{Decision: d.Kind.String(), Reason: d.Reason.String(), Offset: d.Offset,
				Time: d.Time, Watermark: wm, EmitTime: d.EmitTime})
		}}
}

func tasksOf(spec job.Spec, plan []plannedBatch) []job.Task {
	var out []job.Task
	for i, b := range plan {
		tk := job.Task{JobID: spec.ID, Spec: spec, BatchID: int64(i + 1), BatchTime: b.time, Start: b.start, End: b.end}
		if i > 0 {
			tk.PrevBatchTime = plan[i-1].time
		}
		out = append(out, tk)
	}
	return out
}

// TestExecutorMatchesReplayAndSurvivesTakeover: the distributed execution
// of a partition's batches makes the decisions and results of the replay
// command on the same input and batch boundaries, and a worker that takes
// over in the middle (rebuilding from the checkpoint) changes nothing.
func TestExecutorMatchesReplayAndSurvivesTakeover(t *testing.T) {
	lines, plan := genInput()
	for _, preset := range []string{"structured", "dstream"} {
		t.Run(preset, func(t *testing.T) {
			spec := job.Spec{ID: "j1", Preset: preset}.WithDefaults()
			espec, err := spec.Engine()
			require.NoError(t, err)
			tasks := tasksOf(spec, plan)

			// The replay command on the same batches.
			var in strings.Builder
			for _, b := range plan {
				fmt.Fprintf(&in, "@%d\n", b.time-1)
				for _, l := range lines[b.start:b.end] {
					in.WriteString(l + "\n")
				}
			}
			var out bytes.Buffer
			_, err = replay.Run(context.Background(), strings.NewReader(in.String()), &out, espec, replay.Options{Flush: false})
			require.NoError(t, err)
			var wantDecs []decision
			wantRows := map[string]int64{}
			sc := bufio.NewScanner(&out)
			for sc.Scan() {
				var line struct {
					Type string `json:"type"`
					decision
					DeviceID    string `json:"device_id"`
					Category    string `json:"category"`
					WindowStart int64  `json:"window_start"`
					Count       int64  `json:"count"`
				}
				require.NoError(t, json.Unmarshal(sc.Bytes(), &line))
				if line.Type == "decision" {
					wantDecs = append(wantDecs, line.decision)
				} else {
					wantRows[fmt.Sprintf("%s/%s/%d", line.DeviceID, line.Category, line.WindowStart)] = line.Count
				}
			}
			require.NotEmpty(t, wantDecs)

			rows := func(w *fakeWriter) map[string]int64 {
				out := map[string]int64{}
				for k, r := range w.rows {
					out[k] = r.Count
				}
				return out
			}
			ctx := context.Background()
			rd := &fakeReader{lines: lines}

			// One worker runs every batch, each task with the watermark the
			// driver combines from the acks before it.
			var decs []decision
			w := &fakeWriter{rows: map[string]engine.Result{}}
			ex := newExecutor(t, rd, &fakeStore{states: map[int64]State{}}, w, &decs)
			wm := int64(math.MinInt64)
			for i := range tasks {
				if espec.Scope == engine.ScopeGlobal {
					v := wm
					tasks[i].Watermark = &v
				}
				a, err := ex.Run(ctx, tasks[i])
				require.NoError(t, err)
				wm = engine.Combine(espec.Scope, wm, []engine.PartitionMark{{Watermark: a.PartitionWatermark, Ended: a.Ended}})
			}
			require.Equal(t, wantDecs, decs)
			require.Equal(t, wantRows, rows(w))

			// Worker A dies after batch 5; worker B takes over from the
			// checkpoint, and batch 6 is run twice (a re-issued task).
			for cut := 1; cut < len(tasks); cut++ {
				var decsA, decsB []decision
				w2 := &fakeWriter{rows: map[string]engine.Result{}}
				st := &fakeStore{states: map[int64]State{}}
				runAll(t, newExecutor(t, rd, st, w2, &decsA), tasks[:cut])
				runAll(t, newExecutor(t, rd, st, w2, &decsB), tasks[cut:])
				require.Equal(t, wantDecs, append(decsA, decsB...), "take-over after batch %d", cut)
				require.Equal(t, wantRows, rows(w2), "take-over after batch %d", cut)
			}
		})
	}
}

func TestExecutorSkipsStaleTask(t *testing.T) {
	lines, plan := genInput()
	spec := job.Spec{ID: "j1", Preset: "structured"}.WithDefaults()
	tasks := tasksOf(spec, plan)
	var decs []decision
	st := &fakeStore{states: map[int64]State{}}
	rd := &fakeReader{lines: lines}
	a := newExecutor(t, rd, st, &fakeWriter{rows: map[string]engine.Result{}}, &decs)
	for _, tk := range tasks[:4] {
		_, err := a.Run(context.Background(), tk)
		require.NoError(t, err)
	}
	b := newExecutor(t, rd, st, &fakeWriter{rows: map[string]engine.Result{}}, &decs)
	_, err := b.Run(context.Background(), tasks[1])
	require.ErrorIs(t, err, ErrStale)
	keys := make([]int, 0)
	for id := range st.states {
		keys = append(keys, int(id))
	}
	sort.Ints(keys)
	require.Equal(t, []int{1, 2, 3, 4}, keys)
}

// TestExecutorStaleAttemptCannotOverwrite: worker A runs batches up to cut-1
// and starts batch cut, then loses its tasks partition (paused past its
// session timeout). Worker B reruns batch cut as attempt 1 and every batch
// after it. A's attempt of batch cut then ends and writes: with the write
// versions of job.Task.WriteVersion (Cassandra keeps the highest
// timestamp), the rows stay those of the last batch.
func TestExecutorStaleAttemptCannotOverwrite(t *testing.T) {
	lines, plan := genInput()
	spec := job.Spec{ID: "j1", Preset: "structured"}.WithDefaults()
	tasks := tasksOf(spec, plan)
	ctx := context.Background()
	rd := &fakeReader{lines: lines}

	var decs []decision
	want := &fakeWriter{rows: map[string]engine.Result{}}
	runAll(t, newExecutor(t, rd, &fakeStore{states: map[int64]State{}}, want, &decs), tasks)

	reverted := 0
	for cut := 1; cut < len(tasks)-1; cut++ {
		w := &fakeWriter{rows: map[string]engine.Result{}}
		st := &fakeStore{states: map[int64]State{}}
		a := newExecutor(t, rd, st, w, &decs)
		runAll(t, a, tasks[:cut])
		rerun := slices.Clone(tasks[cut:])
		rerun[0].Attempt = 1
		runAll(t, newExecutor(t, rd, st, w, &decs), rerun)
		late := &fakeWriter{rows: map[string]engine.Result{}}
		a.Writer = multiWriter{w, late}
		_, err := a.Run(ctx, tasks[cut])
		require.NoError(t, err, "A still holds the state of the batch before: it runs the task")
		wantAnswers := answers(want)
		for k, a := range answers(late) {
			if wantAnswers[k] != a {
				reverted++ // a row the late write would have reverted
			}
		}
		require.Equal(t, answers(want), answers(w), "the late attempt of batch %d changed nothing", cut)
	}
	require.Positive(t, reverted, "the scenario has rows a late write would revert without versions")
}

// runAll runs tasks on ex, in order, each to success.
func runAll(t *testing.T, ex *Executor, tasks []job.Task) {
	t.Helper()
	for _, tk := range tasks {
		_, err := ex.Run(context.Background(), tk)
		require.NoError(t, err)
	}
}

// answers are a writer's rows without their emit times (a write's time).
func answers(w *fakeWriter) map[string]string {
	out := map[string]string{}
	for k, r := range w.rows {
		out[k] = fmt.Sprintf("n=%d m1=%d m2=%g final=%v", r.Count, r.SumMeasure1, r.SumMeasure2, r.Final)
	}
	return out
}

// multiWriter writes to each writer.
type multiWriter []*fakeWriter

func (m multiWriter) WriteDecisions(ctx context.Context, run, job string, ds []stream.Decision) error {
	for _, w := range m {
		_ = w.WriteDecisions(ctx, run, job, ds)
	}
	return nil
}

func (m multiWriter) Write(ctx context.Context, run, job string, rs []engine.Result, version int64) error {
	for _, w := range m {
		_ = w.Write(ctx, run, job, rs, version)
	}
	return nil
}
