// Package testutil gates and configures the integration tests that talk to the
// real Kafka and Cassandra servers.
package testutil

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// EnvIntegration, set to 1, runs the integration tests. .ci/run sets it after
// starting the servers; without it those tests skip and say why.
const EnvIntegration = "BOONTADATA_INTEGRATION"

// Integration skips the test unless integration tests were asked for.
func Integration(tb testing.TB) {
	tb.Helper()
	if os.Getenv(EnvIntegration) != "1" {
		tb.Skipf("integration test: start Kafka and Cassandra (./scripts/infra/infra.sh start) and set %s=1, or run ./scripts/test.sh", EnvIntegration)
	}
}

// EnvDisruptive, set to 1, runs the tests that stop and start the servers or
// kill processes. ./scripts/test.sh runs them alone, after every other test, so
// that they disturb nothing else.
const EnvDisruptive = "BOONTADATA_DISRUPTIVE"

// Disruptive skips the test unless disruptive tests were asked for.
func Disruptive(tb testing.TB) {
	tb.Helper()
	Integration(tb)
	if os.Getenv(EnvDisruptive) != "1" {
		tb.Skipf("disruptive test (stops servers): set %s=1, or run ./scripts/test.sh", EnvDisruptive)
	}
}

// InfraScript returns the path of scripts/infra/infra.sh, which disruptive
// tests use to stop and start the servers.
func InfraScript(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatalf("working directory: %v", err)
	}
	for {
		p := filepath.Join(dir, "scripts", "infra", "infra.sh")
		if _, err := os.Stat(p); err == nil {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatalf("scripts/infra/infra.sh not found above the test's directory")
		}
		dir = parent
	}
}

// KafkaBrokers returns the brokers of the integration tests.
func KafkaBrokers() []string {
	return list(os.Getenv("BOONTADATA_KAFKA_BROKERS"), "127.0.0.1:9092")
}

// CassandraHosts returns the Cassandra contact points of the integration tests.
func CassandraHosts() []string {
	return list(os.Getenv("BOONTADATA_CASSANDRA_HOSTS"), "127.0.0.1")
}

// Unique returns prefix followed by a random suffix, for topics, groups and
// keyspaces that must not collide between test runs.
func Unique(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux
	return prefix + hex.EncodeToString(b)
}

func list(v, def string) []string {
	if v == "" {
		v = def
	}
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Output requires a command's output stream to contain want, or to be empty
// when want is "": what a case does not expect on a stream must not be there
// (help on stdout only, errors on stderr only).
func Output(tb testing.TB, stream, got, want string) {
	tb.Helper()
	if want == "" {
		if got != "" {
			tb.Fatalf("%s: want nothing, got:\n%s", stream, got)
		}
		return
	}
	if !strings.Contains(got, want) {
		tb.Fatalf("%s: want %q in:\n%s", stream, want, got)
	}
}
