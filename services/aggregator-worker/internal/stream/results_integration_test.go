package stream

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/boontadata/boontadata/pkg/cassandra"
	"github.com/boontadata/boontadata/pkg/engine"
	"github.com/boontadata/boontadata/pkg/engine/window"
	"github.com/boontadata/boontadata/pkg/job"
	"github.com/boontadata/boontadata/pkg/setup"
	"github.com/boontadata/boontadata/pkg/testutil"
)

// keyspace provisions a keyspace of its own with the project's schema and
// returns a session on it with the project's driver settings.
func keyspace(tb testing.TB) (*gocql.Session, string) {
	tb.Helper()
	testutil.Integration(tb)
	cfg := cassandra.DefaultConfig()
	cfg.Hosts = testutil.CassandraHosts()
	cfg.Keyspace = testutil.Unique("itr_")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	log := zap.NewNop()
	require.NoError(tb, setup.Run(ctx, setup.Options{Cassandra: &cfg, Wait: time.Minute}, log))
	s, err := cassandra.NewSession(&cfg, log, true)
	require.NoError(tb, err)
	tb.Cleanup(func() {
		_ = s.Query("DROP KEYSPACE IF EXISTS " + cfg.Keyspace).Exec() // best effort
		s.Close()
	})
	return s, cfg.Keyspace
}

// results gives n results of devices dev-0..dev-(devices-1), one per
// device and window in turn, from the first-th on (device first%devices of
// window first/devices): a sequence of calls continues one sequence of
// results, each of its own window.
func results(n, devices, first int) []engine.Result {
	out := make([]engine.Result, n)
	for i := range out {
		j := first + i
		w := int64(j / devices)
		out[i] = engine.Result{
			Window:   window.Window{Start: w * 5000, End: w*5000 + 5000},
			DeviceID: fmt.Sprintf("dev-%d", j%devices), Category: "cat-1",
			SumMeasure1: int64(i), SumMeasure2: float64(i) / 2, Count: 3, Revision: 3, EmitTime: 1_700_000_000_000,
		}
	}
	return out
}

// TestIntegrationWriterBatches writes more results of a device than a
// batch holds, among other devices' results, then a later revision of one
// window: every revision has its row in engine_emissions_by_bucket, and the
// window's answer is the last. dev-0 and another device share a bucket, so
// their rows go in the same batches.
func TestIntegrationWriterBatches(t *testing.T) {
	s, _ := keyspace(t)
	w := NewCassandraWriter(s, 4, 1)
	w.batchStatements = 10
	other := 1
	for cassandra.ResultBucket(fmt.Sprintf("dev-%d", other)) != cassandra.ResultBucket("dev-0") {
		other++
	}
	devices := []string{"dev-0", "dev-1", "dev-2", fmt.Sprintf("dev-%d", other)}
	ctx := context.Background()
	var rs []engine.Result
	for _, r := range results(16*(other+1), other+1, 0) { // 16 windows of each device
		if slices.Contains(devices, r.DeviceID) {
			rs = append(rs, r)
		}
	}
	require.NoError(t, w.Write(ctx, "run-w", "job", rs, 0))
	require.NoError(t, w.Write(ctx, "run-w", "job", []engine.Result{{Window: window.Window{Start: 0, End: 5000},
		DeviceID: "dev-0", Category: "cat-1", SumMeasure1: 100, Count: 4, Revision: 4, Final: true, EmitTime: 1_700_000_000_001}}, 0))

	answers, err := cassandra.Answers(ctx, s, "run-w", "job")
	require.NoError(t, err)
	a := answers[cassandra.WindowKey{DeviceID: "dev-0", Category: "cat-1", WindowStart: 0}]
	require.Equal(t, []any{int64(100), true, 4, int64(5000)}, []any{a.M1, a.Final, a.Revision, a.WindowEnd},
		"the later revision is the answer")
	for _, r := range rs {
		a := answers[cassandra.WindowKey{DeviceID: r.DeviceID, Category: r.Category, WindowStart: r.Window.Start}]
		if r.DeviceID == "dev-0" && r.Window.Start == 0 {
			continue
		}
		require.Equal(t, []any{r.SumMeasure1, r.SumMeasure2, r.Count, int(r.Revision), r.Window.End, r.EmitTime},
			[]any{a.M1, a.M2, a.Count, a.Revision, a.WindowEnd, a.EmitTime}, "%s %d", r.DeviceID, r.Window.Start)
	}
	require.Len(t, answers, len(rs))
	for _, dev := range devices {
		extra := 0
		if dev == "dev-0" {
			extra = 1
		}
		require.Equal(t, 16+extra, countRows(t, s, cassandra.EmissionsTable, "run-w", "job", dev), "%s: every revision is kept", dev)
	}
}

// countRows counts a device's rows of a job in one of the *_by_bucket tables.
func countRows(t *testing.T, s *gocql.Session, table, runID, jobID, device string) int {
	t.Helper()
	var n int
	require.NoError(t, s.Query(`SELECT COUNT(*) FROM `+table+` WHERE run_id = ? AND job_id = ? AND bucket = ? AND device_id = ?`,
		runID, jobID, cassandra.ResultBucket(device), device).Scan(&n))
	return n
}

// decisions gives n decisions of devices dev-0..dev-(devices-1) in turn,
// each of its own record, from the first-th on (as results).
func decisions(n, devices, first int) []Decision {
	out := make([]Decision, n)
	for k := range out {
		i := first + k
		out[k] = Decision{Kind: "duplicate_dropped", Reason: "seen_before_watermark",
			MessageID: fmt.Sprintf("m-%d", i), DeviceID: fmt.Sprintf("dev-%d", i%devices), Category: "cat-1",
			Partition: int32(i % 16), Offset: int64(i), Time: 1_700_000_000_000 + int64(i), DeviceTime: 1_700_000_000_000,
			WindowStart: 0, WindowEnd: 5000, Watermark: 4000, OriginalOffset: int64(i) - 1, Emit: 1_700_000_000_100,
			Measure1: int64(i), Measure2: 0.5}
	}
	return out
}

// TestIntegrationWriterDecisionBatches writes more decisions of a device
// than a batch holds, among other devices': every row is there with its
// values. A record decided twice in a row (a duplicate in two sliding
// windows) keeps the later decision, even where the earlier one's values
// are greater (statements of one batch share a timestamp, which Cassandra
// settles by value).
func TestIntegrationWriterDecisionBatches(t *testing.T) {
	s, _ := keyspace(t)
	w := NewCassandraWriter(s, 4, 1)
	w.batchStatements = 10
	ds := decisions(3*25, 3, 0)
	twice := ds[len(ds)-1]
	twice.MessageID, twice.DeviceID, twice.Partition, twice.Offset = "m-twice", "dev-0", 3, 9999
	first, later := twice, twice
	first.WindowStart, first.WindowEnd, first.OriginalOffset = 10_000, 15_000, 70
	later.WindowStart, later.WindowEnd, later.OriginalOffset = 5_000, 10_000, 30
	ds = append(ds, first, later)
	require.NoError(t, w.WriteDecisions(context.Background(), "run-d", "job", ds))

	for _, dev := range []string{"dev-0", "dev-1", "dev-2"} {
		want := 25
		if dev == "dev-0" {
			want++
		}
		require.Equal(t, want, countRows(t, s, "engine_decisions_by_bucket", "run-d", "job", dev), dev)
	}
	var kind, reason, cat string
	var offset, m1 int64
	require.NoError(t, s.Query(`SELECT decision, reason, category, kafka_offset, measure1 FROM engine_decisions_by_bucket
WHERE run_id = ? AND job_id = ? AND bucket = ? AND device_id = ? AND message_id = ?`,
		"run-d", "job", cassandra.ResultBucket("dev-1"), "dev-1", "m-31").Scan(&kind, &reason, &cat, &offset, &m1))
	require.Equal(t, []any{"duplicate_dropped", "seen_before_watermark", "cat-1", int64(31), int64(31)},
		[]any{kind, reason, cat, offset, m1})
	var start, end, orig int64
	require.NoError(t, s.Query(`SELECT window_start, window_end, original_offset FROM engine_decisions_by_bucket
WHERE run_id = ? AND job_id = ? AND bucket = ? AND device_id = ? AND message_id = ?`,
		"run-d", "job", cassandra.ResultBucket("dev-0"), "dev-0", "m-twice").Scan(&start, &end, &orig))
	require.Equal(t, []int64{5_000, 10_000, 30}, []int64{start, end, orig}, "the later decision of the record stands")
}

// TestIntegrationWriterStaysUnderBatchWarnings writes results and
// decisions with long identifiers (a 64-character job id, 36-character
// device and message ids, 24-character categories) through the writer, in
// a keyspace of its own: its batches of MaxBatchStatements rows of one
// partition are 10–30 KB, and Cassandra's log has no warning about a batch
// of that keyspace. The same results in batches of 30 partitions, in
// another keyspace, are warned about: the check sees warnings. It reads the
// log of the server scripts/infra runs (the driver does not pass on a
// warning about a batch that succeeded).
func TestIntegrationWriterStaysUnderBatchWarnings(t *testing.T) {
	logPath := cassandraLog(t)
	long := func(prefix string, n int) string { return prefix + strings.Repeat("x", n-len(prefix)) }
	rs := results(2000, 300, 0)
	ds := decisions(2000, 300, 0)
	for i := range rs {
		rs[i].DeviceID = long(rs[i].DeviceID+"-", 36)
		rs[i].Category = long("category-", 24)
	}
	for i := range ds {
		ds[i].DeviceID = long(ds[i].DeviceID+"-", 36)
		ds[i].MessageID = long(ds[i].MessageID+"-", 36)
		ds[i].Category = long("category-", 24)
	}
	jobID := long("job-", 64)
	s, ks := keyspace(t)
	w := NewCassandraWriter(s, 16, 1)
	require.NoError(t, w.Write(context.Background(), "run", jobID, rs, 0))
	require.NoError(t, w.WriteDecisions(context.Background(), "run", jobID, ds))

	s30, ks30 := keyspace(t)
	buckets := map[int]bool{}
	batch := s30.Batch(gocql.UnloggedBatch)
	for _, r := range rs {
		if b := cassandra.ResultBucket(r.DeviceID); !buckets[b] && len(buckets) < 30 {
			buckets[b] = true
			batch.Entries = append(batch.Entries, gocql.BatchEntry{Stmt: cassandra.InsertEmission, Args: []any{"run", jobID, b,
				r.DeviceID, r.Category, time.UnixMilli(r.Window.Start), int(r.Revision), time.UnixMilli(r.Window.End),
				r.SumMeasure1, r.SumMeasure2, r.Count, int(r.Revision), r.Final, time.UnixMilli(r.EmitTime)}})
		}
	}
	require.NoError(t, batch.Exec())
	require.Eventually(t, func() bool { return batchWarnings(t, logPath, ks30) > 0 }, 10*time.Second, 100*time.Millisecond,
		"a batch of 30 partitions is over Cassandra's 5 KiB: %s has no warning about it", logPath)
	require.Zero(t, batchWarnings(t, logPath, ks), "the writer's batches: Cassandra warned (%s)", logPath)
}

// cassandraLog returns the log of the Cassandra that scripts/infra runs,
// or skips the test when it runs none (another server).
func cassandraLog(t *testing.T) string {
	t.Helper()
	testutil.Integration(t)
	out, err := exec.Command(testutil.InfraScript(t), "status", "cassandra").CombinedOutput()
	if m := regexp.MustCompile(`running .* log=(\S+)`).FindSubmatch(out); err == nil && m != nil {
		return string(m[1])
	}
	t.Skipf("no Cassandra of scripts/infra running, whose log the test reads (%v): %s", err, out)
	return ""
}

// batchWarnings counts Cassandra's warnings about batches of keyspace ks.
func batchWarnings(t *testing.T, logPath, ks string) int {
	t.Helper()
	b, err := os.ReadFile(logPath)
	require.NoError(t, err)
	return bytes.Count(b, []byte("Batch for ["+ks+"."))
}

// TestIntegrationWriterRevisionSample: with one window in 4 sampled, every
// window has its latest answer, the sampled windows (as InRevisionSample
// picks them) a row per revision, the others one row, rewritten.
func TestIntegrationWriterRevisionSample(t *testing.T) {
	s, _ := keyspace(t)
	w := NewCassandraWriter(s, 4, 4)
	ctx := context.Background()
	rs := results(4*50, 4, 0) // 50 windows of 4 devices, revision 3
	require.NoError(t, w.Write(ctx, "run-s", "job", rs, 0))
	later := make([]engine.Result, len(rs))
	for i, r := range rs {
		r.Revision, r.Final = 4, true
		later[i] = r
	}
	require.NoError(t, w.Write(ctx, "run-s", "job", later, 0))

	answers, err := cassandra.Answers(ctx, s, "run-s", "job")
	require.NoError(t, err)
	require.Len(t, answers, len(rs), "every window has its answer")
	rows := map[cassandra.WindowKey][]bool{} // each row's Sampled
	require.NoError(t, cassandra.ReadEmissions(ctx, s, "run-s", "job", 7, func(e *cassandra.Emission) {
		k := cassandra.WindowKey{DeviceID: e.DeviceID, Category: e.Category, WindowStart: e.WindowStart}
		rows[k] = append(rows[k], e.Sampled)
	}))
	sampled := 0
	for _, r := range rs {
		k := cassandra.WindowKey{DeviceID: r.DeviceID, Category: r.Category, WindowStart: r.Window.Start}
		a := answers[k]
		require.Equal(t, []any{4, true}, []any{a.Revision, a.Final}, "the later revision is the answer")
		if InRevisionSample(4, r.DeviceID, r.Category, r.Window.Start) {
			sampled++
			require.Equal(t, []bool{true, true}, rows[k], "a sampled window keeps every revision")
		} else {
			require.Equal(t, []bool{false}, rows[k], "a window out of the sample has one row")
		}
	}
	require.Positive(t, sampled)
	require.Less(t, sampled, len(rs))
}

// TestIntegrationWriterFencesStaleVersions: a micro-batch task whose worker
// lost its tasks partition may still write after the task's next owner
// wrote a newer batch, or a newer attempt of the same batch. Written with
// job.Task.WriteVersion, the stale write arrives last and does not change
// the answer, even with a higher revision: its row is one of the
// revisions, not the answer. With a revision sample, where the rows of a
// window are one, the stale write is not applied at all.
func TestIntegrationWriterFencesStaleVersions(t *testing.T) {
	for _, sample := range []int{1, 1 << 30} {
		t.Run(fmt.Sprintf("revision sample %d", sample), func(t *testing.T) { fencesStaleVersions(t, sample) })
	}
}

func fencesStaleVersions(t *testing.T, sample int) {
	s, _ := keyspace(t)
	w := NewCassandraWriter(s, 4, sample)
	ctx := context.Background()
	at := func(m1 int64, final bool) []engine.Result {
		return []engine.Result{{Window: window.Window{Start: 0, End: 5000}, DeviceID: "dev-0", Category: "cat-1",
			SumMeasure1: m1, Count: m1, Revision: m1, Final: final, EmitTime: 1_700_000_000_000}}
	}
	batch := func(id, attempt int) int64 {
		return job.Task{BatchID: int64(id), BatchTime: 1_700_000_000_000 + int64(id)*5000, Attempt: attempt}.WriteVersion()
	}
	read := func() (m1 int64, final bool) {
		answers, err := cassandra.Answers(ctx, s, "run-f", "job-f")
		require.NoError(t, err)
		require.Len(t, answers, 1)
		a := answers[cassandra.WindowKey{DeviceID: "dev-0", Category: "cat-1", WindowStart: 0}]
		return a.M1, a.Final
	}
	require.NoError(t, w.Write(ctx, "run-f", "job-f", at(7, true), batch(5, 1)), "batch 5, second attempt")
	require.NoError(t, w.Write(ctx, "run-f", "job-f", at(3, false), batch(4, 0)), "a stale batch 4")
	require.NoError(t, w.Write(ctx, "run-f", "job-f", at(6, false), batch(5, 0)), "a stale first attempt of batch 5")
	require.NoError(t, w.Write(ctx, "run-f", "job-f", at(8, false), batch(5, 0)), "a stale attempt with a higher revision")
	m1, final := read()
	require.Equal(t, int64(7), m1, "the newest batch and attempt stays")
	require.True(t, final)
	require.NoError(t, w.Write(ctx, "run-f", "job-f", at(9, true), batch(6, 0)))
	m1, _ = read()
	require.Equal(t, int64(9), m1, "a newer batch replaces it")
}

// BenchmarkCassandraWrites measures what the database takes on this machine
// with the project's schema and driver settings, nothing else running,
// and what the worker's writer achieves: rows/s, and results/s for the
// writer's forms. 10,000 devices, 1,000 results per flush as a partition's
// tick would give, as many writes in flight as the worker's default
// --write-concurrency. Beside the writer (one row per result), the writers
// before: two rows per result (an upsert of the answer and a revision row)
// in the *_by_bucket tables of migration 0005 (writeTwoRows), and before
// those in the tables of one partition per device (writeByDevice, batches
// of 10 statements of any devices). Run with BOONTADATA_INTEGRATION=1
// (scripts/bench.sh ceiling does).
func BenchmarkCassandraWrites(b *testing.B) {
	s, _ := keyspace(b)
	const flush, devices, inflight = 1000, 10_000, DefaultWriteConcurrency
	// Cassandra's CPU per row, when bench.sh names its process: what the
	// rows cost the database whatever share of the cores it got, to set
	// beside its CPU in an end-to-end run.
	cpu := cassandraCPU(b)
	var cpu0 time.Duration
	start := func(b *testing.B) {
		b.ResetTimer()
		cpu0 = cpu()
	}
	rowsPerSec := func(b *testing.B, rows int) {
		b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
		b.ReportMetric(0, "ns/op")
		if used := cpu() - cpu0; used > 0 {
			b.ReportMetric(float64(used.Microseconds())/float64(rows), "cassandra-µs/row")
		}
	}
	// inserts runs b.N row inserts into table, in unlogged batches of up
	// to per rows (1: a statement each), inflight at a time: results into
	// engine_emissions_by_bucket or the decision log into
	// engine_decisions_by_bucket, a batch holding one bucket's rows; or
	// results into engine_results (before buckets), a batch holding per
	// devices' rows. Each row is a row of its own, as in a run.
	inserts := func(b *testing.B, job string, per int, table string) {
		bucketed := table != "engine_results"
		row := func(j int) []any {
			d, w := fmt.Sprintf("dev-%d", j%devices), int64(j/devices)
			if table == "engine_decisions_by_bucket" {
				return decisionArgs("run-c", job, cassandra.ResultBucket(d), &decisions(1, devices, j)[0])
			}
			args := []any{"run-c", job, d, "cat-1", time.UnixMilli(w * 5000),
				time.UnixMilli(w*5000 + 5000), int64(j), 1.5, int64(3), 3, false, time.UnixMilli(1_700_000_000_000)}
			if bucketed {
				args = slices.Insert(args, 5, any(3)) // the emission
				args = slices.Insert(args, 2, any(cassandra.ResultBucket(d)))
			}
			return args
		}
		stmt := map[string]string{"engine_emissions_by_bucket": cassandra.InsertEmission,
			"engine_results": upsertResultByDevice, "engine_decisions_by_bucket": insertDecision}[table]
		var groups [][]int // the rows of each statement or batch
		if bucketed {
			byBucket := make([][]int, cassandra.ResultBuckets)
			for j := range b.N {
				k := cassandra.ResultBucket(fmt.Sprintf("dev-%d", j%devices))
				byBucket[k] = append(byBucket[k], j)
			}
			// Bucket after bucket in turn, as a flush of many devices
			// spreads over them (not one partition's batches all at once).
			for i := 0; len(groups) == 0 || i < b.N; i += per {
				n := len(groups)
				for _, rows := range byBucket {
					if i < len(rows) {
						groups = append(groups, rows[i:min(i+per, len(rows))])
					}
				}
				if len(groups) == n {
					break
				}
			}
		} else {
			for i := 0; i < b.N; i += per {
				g := make([]int, 0, per)
				for j := i; j < min(i+per, b.N); j++ {
					g = append(g, j)
				}
				groups = append(groups, g)
			}
		}
		var wg sync.WaitGroup
		next := make(chan []int)
		errs := make(chan error, inflight)
		for range inflight {
			wg.Go(func() {
				for g := range next {
					var err error
					if len(g) == 1 {
						err = s.Query(stmt, row(g[0])...).Idempotent(true).Exec()
					} else {
						batch := s.Batch(gocql.UnloggedBatch)
						for _, j := range g {
							batch.Entries = append(batch.Entries, gocql.BatchEntry{Stmt: stmt, Idempotent: true, Args: row(j)})
						}
						err = batch.Exec()
					}
					if err != nil {
						errs <- err
						return
					}
				}
			})
		}
		start(b)
		for _, g := range groups {
			select {
			case next <- g:
			case err := <-errs:
				b.Fatal(err)
			}
		}
		close(next)
		wg.Wait()
		rowsPerSec(b, b.N)
	}
	// The ceiling: single-row INSERTs, as many in flight as the writer
	// allows, no batching; unlogged batches of 10 rows of as many devices
	// (one partition each, the tables before buckets); unlogged batches of
	// MaxBatchStatements rows of one bucket, of results and of the decision
	// log: what the database takes when round trips are not the limit, one
	// way and the other. The last two are also the form of a worker's
	// flush: the devices of one Kafka partition fall in a few buckets (the
	// producers' hash partitioner and ResultBucket both hash the device id
	// with FNV-1a), so its batches are mostly full.
	b.Run("insert-one-row", func(b *testing.B) { inserts(b, "job-c", 1, "engine_emissions_by_bucket") })
	b.Run("insert-batch-of-devices", func(b *testing.B) { inserts(b, "job-b", 10, "engine_results") })
	b.Run("insert-batch-of-bucket", func(b *testing.B) { inserts(b, "job-k", MaxBatchStatements, "engine_emissions_by_bucket") })
	b.Run("insert-decisions-batch-of-bucket", func(b *testing.B) {
		inserts(b, "job-d", MaxBatchStatements, "engine_decisions_by_bucket")
	})
	// b.N results, rowsPerResult rows each.
	write := func(name string, rowsPerResult int, w func(context.Context, string, string, []engine.Result) error) {
		b.Run(name, func(b *testing.B) {
			start(b)
			for i := 0; i < b.N; i += flush {
				rs := results(min(flush, b.N-i), devices, i)
				if err := w(context.Background(), "run-"+name, "job", rs); err != nil {
					b.Fatal(err)
				}
			}
			rowsPerSec(b, rowsPerResult*b.N)
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "results/s")
		})
	}
	write("writer-by-device", 2, NewCassandraWriter(s, inflight, 1).writeByDevice)
	write("writer-two-rows-by-bucket", 2, NewCassandraWriter(s, inflight, 1).writeTwoRows)
	write("writer-one-row", 1, func(ctx context.Context, run, job string, rs []engine.Result) error {
		return NewCassandraWriter(s, inflight, 1).Write(ctx, run, job, rs, 0)
	})
	// The decision log: one row per record dropped or placed, 1,000 per
	// flush over the same devices.
	decide := func(name string, w func(context.Context, string, string, []Decision) error) {
		b.Run(name, func(b *testing.B) {
			start(b)
			for i := 0; i < b.N; i += flush {
				ds := decisions(min(flush, b.N-i), devices, i)
				if err := w(context.Background(), "run-"+name, "job", ds); err != nil {
					b.Fatal(err)
				}
			}
			rowsPerSec(b, b.N)
		})
	}
	decide("decisions-by-device", NewCassandraWriter(s, inflight, 1).writeDecisionsByDevice)
	decide("decisions-by-bucket", NewCassandraWriter(s, inflight, 1).WriteDecisions)
}

// cassandraCPU returns a reader of the CPU time (user and system) used so
// far by the process BOONTADATA_BENCH_CASSANDRA_PID names, from
// /proc/PID/stat in clock ticks of 10 ms (Linux's USER_HZ); without it, or
// when the process cannot be read, the reader returns 0.
func cassandraCPU(tb testing.TB) func() time.Duration {
	pid := os.Getenv("BOONTADATA_BENCH_CASSANDRA_PID")
	if pid == "" {
		return func() time.Duration { return 0 }
	}
	return func() time.Duration {
		stat, err := os.ReadFile("/proc/" + pid + "/stat")
		if err != nil {
			tb.Logf("Cassandra's CPU: %v", err)
			return 0
		}
		// The fields after the command's name, which is in parentheses
		// and may hold spaces: state is the first, utime the 12th.
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(f) < 13 {
			return 0
		}
		var ticks int64
		for _, v := range f[11:13] {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return 0
			}
			ticks += n
		}
		return time.Duration(ticks) * 10 * time.Millisecond
	}
}

// The statements of the tables of one partition per device (migrations
// 0001 and 0004), which the writer wrote before the *_by_bucket tables.
const (
	upsertResultByDevice = `INSERT INTO engine_results (run_id, job_id, device_id, category, window_start, window_end,
m1_sum, m2_sum, event_count, revision, is_final, emit_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	insertRevisionByDevice = `INSERT INTO engine_result_revisions (run_id, job_id, device_id, category, window_start, revision,
m1_sum, m2_sum, event_count, emit_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	insertDecisionByDevice = `INSERT INTO engine_decisions (run_id, job_id, device_id, message_id, kafka_partition, kafka_offset,
decision, reason, category, record_time, device_time, window_start, window_end, watermark, original_offset,
measure1, measure2, emit_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
)

// byDevice gathers statements into unlogged batches of 10 of any devices,
// as the writer did on a single node before the *_by_bucket tables.
type byDevice struct {
	*writes
	cur *gocql.Batch
}

func (b *byDevice) add(entries ...gocql.BatchEntry) {
	if b.cur != nil && len(b.cur.Entries)+len(entries) > 10 {
		b.batch(b.cur)
		b.cur = nil
	}
	if b.cur == nil {
		b.cur = b.w.session.Batch(gocql.UnloggedBatch)
	}
	b.cur.Entries = append(b.cur.Entries, entries...)
}

func (b *byDevice) wait() error {
	if b.cur != nil {
		b.batch(b.cur)
	}
	return b.writes.wait()
}

// writeByDevice is the writer before the *_by_bucket tables, on a single
// node: a result and its revision in engine_results and
// engine_result_revisions, batches of 10 statements of any devices.
func (w *CassandraWriter) writeByDevice(ctx context.Context, runID, jobID string, results []engine.Result) error {
	b := &byDevice{writes: w.group(ctx, 2*len(results))}
	for i := range results {
		r := &results[i]
		start, end, emit := time.UnixMilli(r.Window.Start), time.UnixMilli(r.Window.End), time.UnixMilli(r.EmitTime)
		b.add(gocql.BatchEntry{Stmt: upsertResultByDevice, Idempotent: true, Args: []any{runID, jobID, r.DeviceID, r.Category,
			start, end, r.SumMeasure1, r.SumMeasure2, r.Count, int(r.Revision), r.Final, emit}},
			gocql.BatchEntry{Stmt: insertRevisionByDevice, Idempotent: true, Args: []any{runID, jobID,
				r.DeviceID, r.Category, start, int(r.Revision), r.SumMeasure1, r.SumMeasure2, r.Count, emit}})
	}
	return b.wait()
}

// The statements of migration 0005's tables, which the writer wrote before
// engine_emissions_by_bucket.
const (
	upsertResultByBucket = `INSERT INTO engine_results_by_bucket (run_id, job_id, bucket, device_id, category, window_start, window_end,
m1_sum, m2_sum, event_count, revision, is_final, emit_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	insertRevisionByBucket = `INSERT INTO engine_result_revisions_by_bucket (run_id, job_id, bucket, device_id, category, window_start, revision,
m1_sum, m2_sum, event_count, emit_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
)

// writeTwoRows is the writer before engine_emissions_by_bucket: a result
// is an upsert of engine_results_by_bucket and a row of
// engine_result_revisions_by_bucket, in the same batches of one bucket.
func (w *CassandraWriter) writeTwoRows(ctx context.Context, runID, jobID string, results []engine.Result) error {
	b := w.batches(ctx, 2*len(results), 0)
	for i := range results {
		r := &results[i]
		start, end, emit := time.UnixMilli(r.Window.Start), time.UnixMilli(r.Window.End), time.UnixMilli(r.EmitTime)
		bucket := cassandra.ResultBucket(r.DeviceID)
		b.add(bucket, gocql.BatchEntry{Stmt: upsertResultByBucket, Idempotent: true, Args: []any{runID, jobID, bucket, r.DeviceID,
			r.Category, start, end, r.SumMeasure1, r.SumMeasure2, r.Count, int(r.Revision), r.Final, emit}},
			gocql.BatchEntry{Stmt: insertRevisionByBucket, Idempotent: true, Args: []any{runID, jobID,
				bucket, r.DeviceID, r.Category, start, int(r.Revision), r.SumMeasure1, r.SumMeasure2, r.Count, emit}})
	}
	return b.wait()
}

// writeDecisionsByDevice is the decision log's writer before the
// *_by_bucket tables, on a single node.
func (w *CassandraWriter) writeDecisionsByDevice(ctx context.Context, runID, jobID string, ds []Decision) error {
	b := &byDevice{writes: w.group(ctx, len(ds))}
	for i := range ds {
		d := &ds[i]
		b.add(gocql.BatchEntry{Stmt: insertDecisionByDevice, Idempotent: true, Args: []any{
			runID, jobID, d.DeviceID, d.MessageID, int(d.Partition), d.Offset,
			d.Kind, d.Reason, d.Category, d.Time, d.DeviceTime, d.WindowStart, d.WindowEnd, d.Watermark,
			d.OriginalOffset, d.Measure1, d.Measure2, d.Emit}})
	}
	return b.wait()
}
