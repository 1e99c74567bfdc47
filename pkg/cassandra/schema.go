package cassandra

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"go.uber.org/zap"
)

//go:embed migrations/*.cql
var migrationFiles embed.FS

// Migration is one numbered schema change. Every statement in it is written to
// be idempotent (IF NOT EXISTS), so a migration interrupted half-way is simply
// applied again.
type Migration struct {
	Version    int
	Name       string
	Statements []string
}

// ErrBadMigration reports a migration file that does not follow NNNN_name.cql.
var ErrBadMigration = errors.New("migration file name must be NNNN_name.cql")

// Migrations returns the embedded migrations in order, with the keyspace name
// put in place.
func Migrations(keyspace string) ([]Migration, error) {
	if !identifier.MatchString(keyspace) {
		// DDL cannot bind the keyspace name; it is checked instead.
		return nil, fmt.Errorf("%w, got %q", ErrBadKeyspace, keyspace)
	}
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, fmt.Errorf("read embedded migrations: %w", err)
	}
	var out []Migration
	for _, e := range entries {
		base := strings.TrimSuffix(e.Name(), ".cql")
		num, name, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("%w: %s", ErrBadMigration, e.Name())
		}
		body, err := migrationFiles.ReadFile(path.Join("migrations", e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", e.Name(), err)
		}
		out = append(out, Migration{Version: v, Name: name, Statements: splitStatements(strings.ReplaceAll(string(body), "{{keyspace}}", keyspace))})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	for i := 1; i < len(out); i++ {
		if out[i].Version == out[i-1].Version {
			return nil, fmt.Errorf("%w: version %d appears twice", ErrBadMigration, out[i].Version)
		}
	}
	return out, nil
}

// splitStatements cuts a CQL file into statements at semicolons ending a line,
// leaving out "--" comment lines.
func splitStatements(body string) []string {
	var stmts []string
	var cur strings.Builder
	for _, line := range strings.Split(body, "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "--") {
			continue
		}
		cur.WriteString(line)
		cur.WriteString("\n")
		if strings.HasSuffix(trimmed, ";") {
			stmts = append(stmts, strings.TrimSuffix(strings.TrimSpace(cur.String()), ";"))
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		stmts = append(stmts, s)
	}
	return stmts
}

// KeyspaceCQL returns the statement creating the keyspace if it is missing.
func (c *Config) KeyspaceCQL() string {
	replication := fmt.Sprintf("{'class': 'SimpleStrategy', 'replication_factor': %d}", c.ReplicationFactor)
	if c.Datacenter != "" {
		replication = fmt.Sprintf("{'class': 'NetworkTopologyStrategy', '%s': %d}", c.Datacenter, c.ReplicationFactor)
	}
	return fmt.Sprintf("CREATE KEYSPACE IF NOT EXISTS %s WITH replication = %s AND durable_writes = true", c.Keyspace, replication)
}

// MigrateResult says what Migrate did.
type MigrateResult struct {
	// Applied lists the migrations applied now; empty when the schema was current.
	Applied []string
	// Current is the schema version after the call.
	Current int
}

// Migrate creates the keyspace and applies the migrations not yet recorded in
// its schema_migrations table. Run again, it does nothing. The session must not
// be bound to the keyspace (it may not exist yet).
func Migrate(ctx context.Context, s *gocql.Session, c *Config, log *zap.Logger) (MigrateResult, error) {
	var res MigrateResult
	migrations, err := Migrations(c.Keyspace)
	if err != nil {
		return res, err
	}
	if err := s.Query(c.KeyspaceCQL()).ExecContext(ctx); err != nil {
		return res, fmt.Errorf("create keyspace %s: %w", c.Keyspace, err)
	}
	ledger := fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s.schema_migrations (
    version    int PRIMARY KEY,
    name       text,
    applied_at timestamp
)`, c.Keyspace)
	if err := s.Query(ledger).ExecContext(ctx); err != nil {
		return res, fmt.Errorf("create schema_migrations: %w", err)
	}
	if err := s.AwaitSchemaAgreement(ctx); err != nil {
		return res, fmt.Errorf("await schema agreement: %w", err)
	}
	applied := map[int]bool{}
	iter := s.Query(fmt.Sprintf("SELECT version FROM %s.schema_migrations", c.Keyspace)).IterContext(ctx)
	var v int
	for iter.Scan(&v) {
		applied[v] = true
	}
	if err := iter.Close(); err != nil {
		return res, fmt.Errorf("read schema_migrations: %w", err)
	}
	for _, m := range migrations {
		if applied[m.Version] {
			res.Current = m.Version
			continue
		}
		start := time.Now()
		for i, stmt := range m.Statements {
			if err := s.Query(stmt).ExecContext(ctx); err != nil {
				return res, fmt.Errorf("migration %04d_%s statement %d: %w", m.Version, m.Name, i+1, err)
			}
		}
		if err := s.AwaitSchemaAgreement(ctx); err != nil {
			return res, fmt.Errorf("await schema agreement after migration %04d: %w", m.Version, err)
		}
		record := fmt.Sprintf("INSERT INTO %s.schema_migrations (version, name, applied_at) VALUES (?, ?, ?)", c.Keyspace)
		if err := s.Query(record, m.Version, m.Name, time.Now().UTC()).ExecContext(ctx); err != nil {
			return res, fmt.Errorf("record migration %04d: %w", m.Version, err)
		}
		res.Applied = append(res.Applied, fmt.Sprintf("%04d_%s", m.Version, m.Name))
		res.Current = m.Version
		log.Info("applied schema migration", zap.Int("version", m.Version), zap.String("name", m.Name),
			zap.Int("statements", len(m.Statements)), zap.Duration("took", time.Since(start)))
	}
	return res, nil
}
