package stream

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
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
// device and window in turn, from window index w0 on.
func results(n, devices, w0 int) []engine.Result {
	out := make([]engine.Result, n)
	for i := range out {
		w := int64(w0 + i/devices)
		out[i] = engine.Result{
			Window:   window.Window{Start: w * 5000, End: w*5000 + 5000},
			DeviceID: fmt.Sprintf("dev-%d", i%devices), Category: "cat-1",
			SumMeasure1: int64(i), SumMeasure2: float64(i) / 2, Count: 3, Revision: 3, EmitTime: 1_700_000_000_000,
		}
	}
	return out
}

// TestIntegrationWriterBatches writes more results of a device than a
// batch holds, among other devices' results, then a later revision of one
// window: every row is there, engine_results holds the last revision,
// engine_result_revisions every one. Both ways of batching: by device, and
// across devices (this single node holds every partition).
func TestIntegrationWriterBatches(t *testing.T) {
	s, ks := keyspace(t)
	w := NewCassandraWriter(s, ks, 4, 1)
	require.True(t, w.everywhere, "a single node with replication factor 1 holds every partition")
	for _, everywhere := range []bool{false, true} {
		w.everywhere = everywhere
		jobID := fmt.Sprintf("job-%v", everywhere)
		ctx := context.Background()
		require.NoError(t, w.Write(ctx, "run-w", jobID, results(3*16, 3, 0), 0)) // 16 windows of 3 devices
		require.NoError(t, w.Write(ctx, "run-w", jobID, []engine.Result{{Window: window.Window{Start: 0, End: 5000},
			DeviceID: "dev-0", Category: "cat-1", SumMeasure1: 100, Count: 4, Revision: 4, Final: true, EmitTime: 1_700_000_000_001}}, 0))

		var m1 int64
		var final bool
		var rev int
		require.NoError(t, s.Query(`SELECT m1_sum, is_final, revision FROM engine_results WHERE run_id = ? AND job_id = ? AND device_id = ? AND category = ? AND window_start = ?`,
			"run-w", jobID, "dev-0", "cat-1", time.UnixMilli(0)).Scan(&m1, &final, &rev))
		require.Equal(t, []any{int64(100), true, 4}, []any{m1, final, rev}, "the later revision replaced the earlier")
		for _, dev := range []string{"dev-0", "dev-1", "dev-2"} {
			count := func(table string) int {
				var n int
				require.NoError(t, s.Query(`SELECT COUNT(*) FROM `+table+` WHERE run_id = ? AND job_id = ? AND device_id = ?`,
					"run-w", jobID, dev).Scan(&n))
				return n
			}
			extra := 0
			if dev == "dev-0" {
				extra = 1
			}
			require.Equal(t, 16, count("engine_results"), "%s, across devices %v", dev, everywhere)
			require.Equal(t, 16+extra, count("engine_result_revisions"), "%s: every revision is kept", dev)
		}
	}
}

// decisions gives n decisions of devices dev-0..dev-(devices-1) in turn,
// each of its own record.
func decisions(n, devices int) []Decision {
	out := make([]Decision, n)
	for i := range out {
		out[i] = Decision{Kind: "duplicate_dropped", Reason: "seen_before_watermark",
			MessageID: fmt.Sprintf("m-%d", i), DeviceID: fmt.Sprintf("dev-%d", i%devices), Category: "cat-1",
			Partition: int32(i % 16), Offset: int64(i), Time: 1_700_000_000_000 + int64(i), DeviceTime: 1_700_000_000_000,
			WindowStart: 0, WindowEnd: 5000, Watermark: 4000, OriginalOffset: int64(i) - 1, Emit: 1_700_000_000_100,
			Measure1: int64(i), Measure2: 0.5}
	}
	return out
}

// TestIntegrationWriterDecisionBatches writes more decisions of a device
// than a batch holds, among other devices', by device and across devices:
// every row is there with its values. A record decided twice in a row (a
// duplicate in two sliding windows) keeps the later decision, even where
// the earlier one's values are greater (statements of one batch share a
// timestamp, which Cassandra settles by value).
func TestIntegrationWriterDecisionBatches(t *testing.T) {
	s, ks := keyspace(t)
	w := NewCassandraWriter(s, ks, 4, 1)
	for _, everywhere := range []bool{false, true} {
		w.everywhere = everywhere
		jobID := fmt.Sprintf("job-%v", everywhere)
		ds := decisions(3*25, 3)
		twice := ds[len(ds)-1]
		twice.MessageID, twice.DeviceID, twice.Partition, twice.Offset = "m-twice", "dev-0", 3, 9999
		first, later := twice, twice
		first.WindowStart, first.WindowEnd, first.OriginalOffset = 10_000, 15_000, 70
		later.WindowStart, later.WindowEnd, later.OriginalOffset = 5_000, 10_000, 30
		ds = append(ds, first, later)
		require.NoError(t, w.WriteDecisions(context.Background(), "run-d", jobID, ds))

		for _, dev := range []string{"dev-0", "dev-1", "dev-2"} {
			var n int
			require.NoError(t, s.Query(`SELECT COUNT(*) FROM engine_decisions WHERE run_id = ? AND job_id = ? AND device_id = ?`,
				"run-d", jobID, dev).Scan(&n))
			want := 25
			if dev == "dev-0" {
				want++
			}
			require.Equal(t, want, n, "%s, across devices %v", dev, everywhere)
		}
		var kind, reason, cat string
		var offset, m1 int64
		require.NoError(t, s.Query(`SELECT decision, reason, category, kafka_offset, measure1 FROM engine_decisions
WHERE run_id = ? AND job_id = ? AND device_id = ? AND message_id = ?`, "run-d", jobID, "dev-1", "m-31").Scan(&kind, &reason, &cat, &offset, &m1))
		require.Equal(t, []any{"duplicate_dropped", "seen_before_watermark", "cat-1", int64(31), int64(31)},
			[]any{kind, reason, cat, offset, m1})
		var start, end, orig int64
		require.NoError(t, s.Query(`SELECT window_start, window_end, original_offset FROM engine_decisions
WHERE run_id = ? AND job_id = ? AND device_id = ? AND message_id = ?`, "run-d", jobID, "dev-0", "m-twice").Scan(&start, &end, &orig))
		require.Equal(t, []int64{5_000, 10_000, 30}, []int64{start, end, orig}, "the later decision of the record stands")
	}
}

// TestIntegrationWriterStaysUnderBatchWarnings writes results and
// decisions with long identifiers (a 64-character job id, 36-character
// device and message ids, 24-character categories) through the writer, by
// device and across devices, in a keyspace of its own: Cassandra's log has
// no warning about a batch of that keyspace. The same rows in batches of
// three times MaxBatchStatements, in another keyspace, are warned about:
// the check sees warnings. It reads the log of the server scripts/infra
// runs (the driver does not pass on a warning about a batch that
// succeeded).
func TestIntegrationWriterStaysUnderBatchWarnings(t *testing.T) {
	logPath := cassandraLog(t)
	long := func(prefix string, n int) string { return prefix + strings.Repeat("x", n-len(prefix)) }
	rows := func() ([]engine.Result, []Decision) {
		rs := results(2000, 300, 0)
		ds := decisions(2000, 300)
		for i := range rs {
			rs[i].DeviceID = long(rs[i].DeviceID+"-", 36)
			rs[i].Category = long("category-", 24)
		}
		for i := range ds {
			ds[i].DeviceID = long(ds[i].DeviceID+"-", 36)
			ds[i].MessageID = long(ds[i].MessageID+"-", 36)
			ds[i].Category = long("category-", 24)
		}
		return rs, ds
	}
	jobID := long("job-", 64)
	write := func(s *gocql.Session, ks string, limit int) {
		for _, everywhere := range []bool{false, true} {
			w := NewCassandraWriter(s, ks, 16, 1)
			w.everywhere, w.batchStatements = everywhere, limit
			rs, ds := rows()
			run := fmt.Sprintf("run-%v", everywhere)
			require.NoError(t, w.Write(context.Background(), run, jobID, rs, 0))
			require.NoError(t, w.WriteDecisions(context.Background(), run, jobID, ds))
		}
	}
	s, ks := keyspace(t)
	write(s, ks, MaxBatchStatements)
	s3, ks3 := keyspace(t)
	write(s3, ks3, 3*MaxBatchStatements)
	require.Eventually(t, func() bool { return batchWarnings(t, logPath, ks3) > 0 }, 10*time.Second, 100*time.Millisecond,
		"batches of 3×MaxBatchStatements across devices are over Cassandra's 5 KiB: %s has no warning about them", logPath)
	require.Zero(t, batchWarnings(t, logPath, ks), "batches of at most MaxBatchStatements: Cassandra warned (%s)", logPath)
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
// window still has its latest answer in engine_results, and
// engine_result_revisions holds every revision of exactly the sampled
// windows, as InRevisionSample picks them.
func TestIntegrationWriterRevisionSample(t *testing.T) {
	s, ks := keyspace(t)
	w := NewCassandraWriter(s, ks, 4, 4)
	ctx := context.Background()
	rs := results(4*50, 4, 0) // 50 windows of 4 devices, revision 3
	require.NoError(t, w.Write(ctx, "run-s", "job", rs, 0))
	later := make([]engine.Result, len(rs))
	for i, r := range rs {
		r.Revision, r.Final = 4, true
		later[i] = r
	}
	require.NoError(t, w.Write(ctx, "run-s", "job", later, 0))

	sampled := 0
	for _, r := range rs {
		var results, revisions int
		require.NoError(t, s.Query(`SELECT COUNT(*) FROM engine_results WHERE run_id = ? AND job_id = ? AND device_id = ? AND category = ? AND window_start = ?`,
			"run-s", "job", r.DeviceID, r.Category, time.UnixMilli(r.Window.Start)).Scan(&results))
		require.NoError(t, s.Query(`SELECT COUNT(*) FROM engine_result_revisions WHERE run_id = ? AND job_id = ? AND device_id = ? AND category = ? AND window_start = ?`,
			"run-s", "job", r.DeviceID, r.Category, time.UnixMilli(r.Window.Start)).Scan(&revisions))
		require.Equal(t, 1, results, "every window has its answer")
		if InRevisionSample(4, r.DeviceID, r.Category, r.Window.Start) {
			sampled++
			require.Equal(t, 2, revisions, "a sampled window keeps every revision")
		} else {
			require.Zero(t, revisions, "a window out of the sample has no revision row")
		}
	}
	require.Positive(t, sampled)
	require.Less(t, sampled, len(rs))
}

// TestIntegrationWriterFencesStaleVersions: a micro-batch task whose worker
// lost its tasks partition may still write after the task's next owner
// wrote a newer batch, or a newer attempt of the same batch. Written with
// job.Task.WriteVersion, the stale write arrives last and changes nothing.
func TestIntegrationWriterFencesStaleVersions(t *testing.T) {
	s, ks := keyspace(t)
	w := NewCassandraWriter(s, ks, 4, 1)
	ctx := context.Background()
	at := func(m1 int64, final bool) []engine.Result {
		return []engine.Result{{Window: window.Window{Start: 0, End: 5000}, DeviceID: "dev-0", Category: "cat-1",
			SumMeasure1: m1, Count: m1, Revision: m1, Final: final, EmitTime: 1_700_000_000_000}}
	}
	batch := func(id, attempt int) int64 {
		return job.Task{BatchID: int64(id), BatchTime: 1_700_000_000_000 + int64(id)*5000, Attempt: attempt}.WriteVersion()
	}
	read := func() (m1 int64, final bool) {
		require.NoError(t, s.Query(`SELECT m1_sum, is_final FROM engine_results WHERE run_id = ? AND job_id = ? AND device_id = ? AND category = ? AND window_start = ?`,
			"run-f", "job-f", "dev-0", "cat-1", time.UnixMilli(0)).Scan(&m1, &final))
		return m1, final
	}
	require.NoError(t, w.Write(ctx, "run-f", "job-f", at(7, true), batch(5, 1)), "batch 5, second attempt")
	require.NoError(t, w.Write(ctx, "run-f", "job-f", at(3, false), batch(4, 0)), "a stale batch 4")
	require.NoError(t, w.Write(ctx, "run-f", "job-f", at(6, false), batch(5, 0)), "a stale first attempt of batch 5")
	m1, final := read()
	require.Equal(t, int64(7), m1, "the newest batch and attempt stays")
	require.True(t, final)
	require.NoError(t, w.Write(ctx, "run-f", "job-f", at(9, true), batch(6, 0)))
	m1, _ = read()
	require.Equal(t, int64(9), m1, "a newer batch replaces it")
}

// BenchmarkCassandraWrites measures what the database takes on this machine
// with the project's schema and driver settings, nothing else running,
// and what the worker's writer achieves: rows/s. Each result is two rows
// (engine_results and engine_result_revisions). 10,000 devices, 1,000
// results per flush as a partition's tick would give, as many writes in
// flight as the worker's default --write-concurrency. Run with
// BOONTADATA_INTEGRATION=1 (scripts/bench.sh ceiling does).
func BenchmarkCassandraWrites(b *testing.B) {
	s, ks := keyspace(b)
	const flush, devices, inflight = 1000, 10_000, DefaultWriteConcurrency
	rowsPerSec := func(b *testing.B, rows int) {
		b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
		b.ReportMetric(0, "ns/op")
	}
	// inserts runs b.N row inserts, per rows rows (one statement, or one
	// unlogged batch of rows statements), inflight at a time.
	inserts := func(b *testing.B, job string, per int) {
		row := func(j int) []any {
			d, w := j%devices, int64(j/devices)
			return []any{"run-c", job, fmt.Sprintf("dev-%d", d), "cat-1", time.UnixMilli(w * 5000),
				time.UnixMilli(w*5000 + 5000), int64(j), 1.5, int64(3), 3, false, time.UnixMilli(1_700_000_000_000)}
		}
		var wg sync.WaitGroup
		next := make(chan int)
		errs := make(chan error, inflight)
		for range inflight {
			wg.Go(func() {
				for i := range next {
					var err error
					if per == 1 {
						err = s.Query(upsertResult, row(i)...).Idempotent(true).Exec()
					} else {
						batch := s.Batch(gocql.UnloggedBatch)
						for j := i; j < min(i+per, b.N); j++ {
							batch.Entries = append(batch.Entries, gocql.BatchEntry{Stmt: upsertResult, Idempotent: true, Args: row(j)})
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
		for i := 0; i < b.N; i += per {
			select {
			case next <- i:
			case err := <-errs:
				b.Fatal(err)
			}
		}
		close(next)
		wg.Wait()
		rowsPerSec(b, b.N)
	}
	// The ceiling: single-row INSERTs of engine_results, as many in flight
	// as the writer allows, no batching; then unlogged batches of
	// MaxBatchStatements rows of as many devices (partitions): what the
	// database takes when round trips are not the limit.
	b.Run("insert-one-row", func(b *testing.B) { inserts(b, "job-c", 1) })
	b.Run("insert-batch-of-partitions", func(b *testing.B) { inserts(b, "job-b", MaxBatchStatements) })
	write := func(name string, w func(context.Context, string, string, []engine.Result) error) {
		b.Run(name, func(b *testing.B) {
			rows := 0
			for i := 0; i < b.N; i += flush {
				rs := results(min(flush, b.N-i), devices, i/devices)
				if err := w(context.Background(), "run-"+name, "job", rs); err != nil {
					b.Fatal(err)
				}
				rows += 2 * len(rs)
			}
			rowsPerSec(b, rows)
		})
	}
	write("writer-statement-per-row", NewCassandraWriter(s, ks, inflight, 1).writeEach)
	byDevice := NewCassandraWriter(s, ks, inflight, 1)
	byDevice.everywhere = false
	write("writer-batch-per-device", func(ctx context.Context, run, job string, rs []engine.Result) error {
		return byDevice.Write(ctx, run, job, rs, 0)
	})
	write("writer-batch-any-devices", func(ctx context.Context, run, job string, rs []engine.Result) error {
		return NewCassandraWriter(s, ks, inflight, 1).Write(ctx, run, job, rs, 0)
	})
	// The decision log: one row per record dropped or placed, 1,000 per
	// flush over the same devices.
	decide := func(name string, w func(context.Context, string, string, []Decision) error) {
		b.Run(name, func(b *testing.B) {
			for i := 0; i < b.N; i += flush {
				ds := decisions(min(flush, b.N-i), devices)
				for j := range ds {
					ds[j].MessageID = fmt.Sprintf("m-%d", i+j)
				}
				if err := w(context.Background(), "run-"+name, "job", ds); err != nil {
					b.Fatal(err)
				}
			}
			rowsPerSec(b, b.N)
		})
	}
	decide("decisions-statement-per-row", NewCassandraWriter(s, ks, inflight, 1).writeDecisionsEach)
	decide("decisions-batch-any-devices", NewCassandraWriter(s, ks, inflight, 1).WriteDecisions)
}

// writeDecisionsEach is the decision log's writer before batching: one
// statement per row, each its own round trip.
func (w *CassandraWriter) writeDecisionsEach(ctx context.Context, runID, jobID string, ds []Decision) error {
	g := w.group(ctx, len(ds))
	for i := range ds {
		d := &ds[i]
		g.exec(insertDecision, runID, jobID, d.DeviceID, d.MessageID, int(d.Partition), d.Offset,
			d.Kind, d.Reason, d.Category, d.Time, d.DeviceTime, d.WindowStart, d.WindowEnd, d.Watermark,
			d.OriginalOffset, d.Measure1, d.Measure2, d.Emit)
	}
	return g.wait()
}

// writeEach is the writer before batching: two statements per result, each
// its own round trip. The benchmark keeps it beside Write.
func (w *CassandraWriter) writeEach(ctx context.Context, runID, jobID string, results []engine.Result) error {
	g := w.group(ctx, 2*len(results))
	for i := range results {
		r := &results[i]
		start, end, emit := time.UnixMilli(r.Window.Start), time.UnixMilli(r.Window.End), time.UnixMilli(r.EmitTime)
		g.exec(upsertResult, runID, jobID, r.DeviceID, r.Category, start, end,
			r.SumMeasure1, r.SumMeasure2, r.Count, int(r.Revision), r.Final, emit)
		g.exec(insertRevision, runID, jobID, r.DeviceID, r.Category, start, int(r.Revision),
			r.SumMeasure1, r.SumMeasure2, r.Count, emit)
	}
	return g.wait()
}

// exec runs one statement, with the writes in flight bounded as the
// writer's batches are.
func (g *writes) exec(stmt string, args ...any) {
	g.run(func(ctx context.Context) error {
		return g.w.session.Query(stmt, args...).Idempotent(true).ExecContext(ctx)
	})
}
