// Package testutil gates and configures the integration tests that talk to the
// real Kafka and Cassandra servers.
package testutil

import (
	"crypto/rand"
	"encoding/hex"
	"os"
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
