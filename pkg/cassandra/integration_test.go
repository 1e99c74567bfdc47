package cassandra

import (
	"context"
	"fmt"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/boontadata/boontadata/pkg/testutil"
)

// integrationKeyspace migrates a keyspace of its own and drops it at the end.
func integrationKeyspace(t *testing.T) (Config, *gocql.Session) {
	t.Helper()
	testutil.Integration(t)
	c := DefaultConfig()
	c.Hosts = testutil.CassandraHosts()
	c.Keyspace = testutil.Unique("it_")
	require.NoError(t, c.Validate())
	log := zaptest.NewLogger(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	admin, err := NewSession(&c, log, false)
	require.NoError(t, err)
	t.Cleanup(func() {
		require.NoError(t, admin.Query("DROP KEYSPACE IF EXISTS "+c.Keyspace).Exec())
		admin.Close()
	})
	first, err := Migrate(ctx, admin, &c, log)
	require.NoError(t, err)
	ms, err := Migrations(c.Keyspace)
	require.NoError(t, err)
	require.Len(t, first.Applied, len(ms))

	s, err := NewSession(&c, log, true)
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return c, s
}

func TestIntegrationMigrateTwiceIsNoOp(t *testing.T) {
	c, s := integrationKeyspace(t)
	ctx := context.Background()
	tablesBefore := tables(t, s, c.Keyspace)
	require.Contains(t, tablesBefore, "raw_events")
	require.Contains(t, tablesBefore, "engine_results")
	require.Contains(t, tablesBefore, "engine_results_by_bucket")
	require.Contains(t, tablesBefore, EmissionsTable)

	again, err := Migrate(ctx, s, &c, zaptest.NewLogger(t))
	require.NoError(t, err)
	require.Empty(t, again.Applied, "a second migration applies nothing")
	require.Equal(t, tablesBefore, tables(t, s, c.Keyspace))

	var n int
	require.NoError(t, s.Query("SELECT COUNT(*) FROM schema_migrations").Scan(&n))
	ms, err := Migrations(c.Keyspace)
	require.NoError(t, err)
	require.Equal(t, len(ms), n, "each migration is recorded once")
}

func tables(t *testing.T, s *gocql.Session, keyspace string) []string {
	t.Helper()
	iter := s.Query("SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?", keyspace).Iter()
	var out []string
	var name string
	for iter.Scan(&name) {
		out = append(out, name)
	}
	require.NoError(t, iter.Close())
	return out
}

func TestIntegrationPreparedWriteAndReadBack(t *testing.T) {
	_, s := integrationKeyspace(t)
	ctx := context.Background()
	const insert = `INSERT INTO raw_events (run_id, device_id, send_seq, message_id, device_time, send_time, category, measure1, measure2, pattern)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	deviceTime := time.UnixMilli(1472209316326).UTC()
	for i := range 5 {
		require.NoError(t, s.Query(insert, "run-1", "device-1", int64(i), fmt.Sprintf("device-1-%d", i),
			deviceTime.Add(time.Duration(i)*time.Second), deviceTime.Add(time.Duration(i)*time.Second+time.Millisecond),
			"cat-1", int64(i*10), float64(i)+0.25, "normal").ExecContext(ctx))
	}
	iter := s.Query(`SELECT send_seq, message_id, device_time, measure1, measure2 FROM raw_events
WHERE run_id = ? AND device_id = ?`, "run-1", "device-1").IterContext(ctx)
	var (
		seq    int64
		id     string
		dt     time.Time
		m1     int64
		m2     float64
		gotSeq []int64
	)
	for iter.Scan(&seq, &id, &dt, &m1, &m2) {
		require.Equal(t, fmt.Sprintf("device-1-%d", seq), id)
		require.Equal(t, deviceTime.Add(time.Duration(seq)*time.Second), dt.UTC())
		require.Equal(t, seq*10, m1)
		require.InDelta(t, float64(seq)+0.25, m2, 0)
		gotSeq = append(gotSeq, seq)
	}
	require.NoError(t, iter.Close())
	require.Equal(t, []int64{0, 1, 2, 3, 4}, gotSeq)

	// An upsert of the same key replaces the row: what idempotent results rely on.
	require.NoError(t, s.Query(insert, "run-1", "device-1", int64(0), "device-1-0", deviceTime, deviceTime, "cat-1", int64(99), 0.5, "resend").ExecContext(ctx))
	var pattern string
	require.NoError(t, s.Query("SELECT measure1, pattern FROM raw_events WHERE run_id = ? AND device_id = ? AND send_seq = ?",
		"run-1", "device-1", int64(0)).ScanContext(ctx, &m1, &pattern))
	require.Equal(t, int64(99), m1)
	require.Equal(t, "resend", pattern)
}
