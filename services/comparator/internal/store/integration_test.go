package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/boontadata/boontadata/pkg/cassandra"
	"github.com/boontadata/boontadata/pkg/setup"
	"github.com/boontadata/boontadata/pkg/testutil"

	"github.com/boontadata/boontadata/services/comparator/internal/store"
)

// TestIntegrationResultsAcrossMigration0006 reads a job that workers on
// both sides of migration 0006 wrote, as in a rolling upgrade while it
// ran: the answers of some windows in engine_results_by_bucket (the
// workers before), of others in engine_emissions_by_bucket (after), and
// of two windows in both. A window's answer is its row written last,
// whichever table holds it; the revisions are those of both tables.
func TestIntegrationResultsAcrossMigration0006(t *testing.T) {
	testutil.Integration(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := cassandra.DefaultConfig()
	cfg.Hosts = testutil.CassandraHosts()
	cfg.Keyspace = testutil.Unique("itstore_")
	log := zaptest.NewLogger(t)
	require.NoError(t, setup.Run(ctx, setup.Options{Cassandra: &cfg, Wait: time.Minute}, log))
	s, err := cassandra.NewSession(&cfg, log, true)
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = s.Query("DROP KEYSPACE IF EXISTS " + cfg.Keyspace).Exec() // best effort
		s.Close()
	})
	const run, jobID, device = "it-run", "it-upgraded", "d1"
	bucket := cassandra.ResultBucket(device)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	ms := time.UnixMilli
	// before writes window w's answer and its revision as a worker before
	// 0006 did, at write time written (µs); after, a sampled emission.
	before := func(w, m1 int64, rev int, written int64) {
		start := t0 + w*5000
		require.NoError(t, s.Query(`INSERT INTO engine_results_by_bucket (run_id, job_id, bucket, device_id, category,
window_start, window_end, m1_sum, m2_sum, event_count, revision, is_final, emit_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
USING TIMESTAMP ?`, run, jobID, bucket, device, "c1", ms(start), ms(start+5000), m1, 0.5, int64(rev), rev, false, ms(start+5000+int64(rev)),
			written).ExecContext(ctx))
		require.NoError(t, s.Query(`INSERT INTO engine_result_revisions_by_bucket (run_id, job_id, bucket, device_id, category,
window_start, revision, m1_sum, m2_sum, event_count, emit_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?`,
			run, jobID, bucket, device, "c1", ms(start), rev, m1, 0.5, int64(rev), ms(start+5000+int64(rev)), written).ExecContext(ctx))
	}
	after := func(w, m1 int64, rev int, written int64) {
		start := t0 + w*5000
		require.NoError(t, s.Query(cassandra.InsertEmission+` USING TIMESTAMP ?`, run, jobID, bucket, device, "c1", ms(start), rev,
			ms(start+5000), m1, 0.5, int64(rev), rev, false, ms(start+5000+int64(rev)), written).ExecContext(ctx))
	}
	before(0, 10, 1, 1000) // window 0: the workers before only
	before(1, 20, 1, 2000) // window 1: revision 2 after the upgrade, written later
	after(1, 25, 2, 3000)
	before(2, 40, 3, 5000) // window 2: a stale emission of revision 2 written earlier
	after(2, 30, 2, 4000)  // (the worker after, behind on it): the answer is revision 3
	after(3, 5, 1, 3000)   // window 3: the workers after only

	results, revisions, err := store.New(s).LoadResults(ctx, run, jobID, []string{device})
	require.NoError(t, err)
	got := map[int64][2]int64{} // window index → m1, revision
	for _, r := range results {
		got[(r.WindowStart-t0)/5000] = [2]int64{r.M1, int64(r.Revision)}
	}
	require.Equal(t, map[int64][2]int64{0: {10, 1}, 1: {25, 2}, 2: {40, 3}, 3: {5, 1}}, got)
	revs := map[[2]int64]int64{} // window index, revision → m1
	for _, v := range revisions {
		revs[[2]int64{(v.WindowStart - t0) / 5000, int64(v.Revision)}] = v.M1
	}
	require.Equal(t, map[[2]int64]int64{{0, 1}: 10, {1, 1}: 20, {1, 2}: 25, {2, 2}: 30, {2, 3}: 40, {3, 1}: 5}, revs)
	require.Len(t, revisions, 6)
}
