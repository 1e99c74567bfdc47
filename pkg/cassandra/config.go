// Package cassandra holds the Cassandra plumbing shared by the boontadata
// services: the gocql session builder and the schema of keyspace boontadata,
// embedded in the binaries and applied idempotently.
package cassandra

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
)

// Sentinel errors returned by Config.Validate.
var (
	ErrNoHosts        = errors.New("no Cassandra host given (--cassandra-hosts)")
	ErrBadKeyspace    = errors.New("keyspace names are 1 to 48 letters, digits or '_', starting with a letter")
	ErrBadReplication = errors.New("the replication factor must be at least 1")
	ErrBadConsistency = errors.New("unknown consistency level")
	ErrBadTimeout     = errors.New("timeouts must be positive")
)

var identifier = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,47}$`)

// Config is the Cassandra part of every service's configuration. It is plain
// data: cliapp.CassandraFlags binds it to command-line flags.
type Config struct {
	// Hosts are the contact points; a value may hold several, comma-separated.
	Hosts    []string
	Port     int
	Keyspace string
	// Consistency of reads and writes, e.g. LOCAL_QUORUM.
	Consistency string
	// ReplicationFactor of the keyspace when the software creates it.
	ReplicationFactor int
	// Datacenter, when set, makes the keyspace use NetworkTopologyStrategy with
	// ReplicationFactor replicas in it; otherwise SimpleStrategy.
	Datacenter string
	Username   string
	Password   string
	// Timeout of one request; ConnectTimeout of the initial connection.
	Timeout        time.Duration
	ConnectTimeout time.Duration
	// Retries of a failed idempotent request before the error is returned.
	Retries int
}

// DefaultConfig returns the configuration that works against the local
// infrastructure of scripts/infra. Timeouts are generous because a 2-core
// machine also running Kafka and the services answers slowly under load.
func DefaultConfig() Config {
	return Config{
		Hosts:             []string{"127.0.0.1"},
		Port:              9042,
		Keyspace:          "boontadata",
		Consistency:       "LOCAL_QUORUM",
		ReplicationFactor: 1,
		Timeout:           15 * time.Second,
		ConnectTimeout:    15 * time.Second,
		Retries:           5,
	}
}

// Validate reports the first problem of the configuration.
func (c *Config) Validate() error {
	if len(c.HostList()) == 0 {
		return ErrNoHosts
	}
	if !identifier.MatchString(c.Keyspace) {
		return fmt.Errorf("%w, got %q", ErrBadKeyspace, c.Keyspace)
	}
	if c.ReplicationFactor < 1 {
		return ErrBadReplication
	}
	if c.Datacenter != "" && !regexp.MustCompile(`^[A-Za-z0-9_.-]+$`).MatchString(c.Datacenter) {
		return fmt.Errorf("datacenter %q: only letters, digits, '_', '.' and '-'", c.Datacenter)
	}
	if _, err := c.consistency(); err != nil {
		return err
	}
	if c.Timeout <= 0 || c.ConnectTimeout <= 0 {
		return ErrBadTimeout
	}
	if c.Port < 1 || c.Port > 65535 {
		return fmt.Errorf("cassandra port %d is not a port number", c.Port)
	}
	return nil
}

// HostList returns the contact points with each value also split at commas
// and blanks removed.
func (c *Config) HostList() []string {
	var out []string
	for _, v := range c.Hosts {
		for _, part := range strings.Split(v, ",") {
			if p := strings.TrimSpace(part); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

func (c *Config) consistency() (gocql.Consistency, error) {
	cons, err := gocql.ParseConsistencyWrapper(strings.ToUpper(c.Consistency))
	if err != nil {
		return 0, fmt.Errorf("%w %q", ErrBadConsistency, c.Consistency)
	}
	return cons, nil
}
