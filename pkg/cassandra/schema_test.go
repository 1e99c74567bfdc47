package cassandra

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMigrationsParse(t *testing.T) {
	ms, err := Migrations("boontadata")
	require.NoError(t, err)
	require.NotEmpty(t, ms)
	require.Equal(t, 1, ms[0].Version)
	for _, m := range ms {
		require.NotEmpty(t, m.Statements, "migration %d has no statement", m.Version)
		for _, s := range m.Statements {
			require.NotContains(t, s, "{{keyspace}}")
			require.Contains(t, s, "IF NOT EXISTS", "every statement must be idempotent: %s", s)
			require.False(t, strings.HasSuffix(s, ";"))
		}
	}
}

func TestMigrationsRejectBadKeyspace(t *testing.T) {
	for _, ks := range []string{"", "1abc", "a-b", "x; DROP KEYSPACE system", strings.Repeat("a", 49)} {
		_, err := Migrations(ks)
		require.ErrorIs(t, err, ErrBadKeyspace, ks)
	}
}

func TestSplitStatements(t *testing.T) {
	got := splitStatements("-- comment\nCREATE TABLE a (x int\n);\n\n-- c2\nCREATE TABLE b (y int);\nCREATE TABLE c (z int)")
	require.Equal(t, []string{"CREATE TABLE a (x int\n)", "CREATE TABLE b (y int)", "CREATE TABLE c (z int)"}, got)
}

func TestKeyspaceCQL(t *testing.T) {
	c := DefaultConfig()
	require.Contains(t, c.KeyspaceCQL(), "'SimpleStrategy', 'replication_factor': 1")
	c.Datacenter, c.ReplicationFactor = "dc1", 3
	require.Contains(t, c.KeyspaceCQL(), "'NetworkTopologyStrategy', 'dc1': 3")
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   error
	}{
		{"default is valid", func(*Config) {}, nil},
		{"no hosts", func(c *Config) { c.Hosts = []string{" , "} }, ErrNoHosts},
		{"bad keyspace", func(c *Config) { c.Keyspace = "bad-name" }, ErrBadKeyspace},
		{"replication 0", func(c *Config) { c.ReplicationFactor = 0 }, ErrBadReplication},
		{"bad consistency", func(c *Config) { c.Consistency = "MOST" }, ErrBadConsistency},
		{"zero timeout", func(c *Config) { c.Timeout = 0 }, ErrBadTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mutate(&c)
			err := c.Validate()
			if tt.want == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tt.want)
		})
	}
}

func TestResultBucketSpreadsDevices(t *testing.T) {
	// FNV-1a 32 of "a" is 0xe40c292c (the reference value of the FNV test
	// suite); 0xe40c292c % 64 = 44.
	require.Equal(t, 44, ResultBucket("a"))
	seen := make(map[int]int)
	for i := range 10_000 {
		b := ResultBucket(fmt.Sprintf("device-%d", i))
		require.True(t, b >= 0 && b < ResultBuckets)
		seen[b]++
	}
	require.Len(t, seen, ResultBuckets, "10,000 devices use every bucket")
	for b, n := range seen {
		require.Greater(t, n, 10_000/ResultBuckets/2, "bucket %d holds %d devices", b, n)
	}
}
