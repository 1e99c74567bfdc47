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
	"github.com/urfave/cli/v2"

	"github.com/boontadata/boontadata/pkg/cliapp"
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

// Config is the Cassandra part of every service's configuration.
type Config struct {
	Hosts    cli.StringSlice
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
		Hosts:             *cli.NewStringSlice("127.0.0.1"),
		Port:              9042,
		Keyspace:          "boontadata",
		Consistency:       "LOCAL_QUORUM",
		ReplicationFactor: 1,
		Timeout:           15 * time.Second,
		ConnectTimeout:    15 * time.Second,
		Retries:           5,
	}
}

// Flags registers the configuration as command-line flags, each also read from
// a BOONTADATA_* environment variable. The receiver holds the defaults.
func (c *Config) Flags() []cli.Flag {
	const cat = "Cassandra"
	return []cli.Flag{
		&cli.StringSliceFlag{
			Name: "cassandra-hosts", Category: cat, EnvVars: cliapp.Env("cassandra-hosts"),
			Value: cli.NewStringSlice(c.Hosts.Value()...), Destination: &c.Hosts,
			Usage: "Cassandra contact points, comma-separated",
		},
		&cli.IntFlag{
			Name: "cassandra-port", Category: cat, EnvVars: cliapp.Env("cassandra-port"),
			Value: c.Port, Destination: &c.Port,
			Usage: "CQL native transport port",
		},
		&cli.StringFlag{
			Name: "cassandra-keyspace", Category: cat, EnvVars: cliapp.Env("cassandra-keyspace"),
			Value: c.Keyspace, Destination: &c.Keyspace,
			Usage: "keyspace of the platform's tables (created if missing)",
		},
		&cli.StringFlag{
			Name: "cassandra-consistency", Category: cat, EnvVars: cliapp.Env("cassandra-consistency"),
			Value: c.Consistency, Destination: &c.Consistency,
			Usage: "consistency level of reads and writes (ONE, LOCAL_QUORUM, QUORUM, ...)",
		},
		&cli.IntFlag{
			Name: "cassandra-replication-factor", Category: cat, EnvVars: cliapp.Env("cassandra-replication-factor"),
			Value: c.ReplicationFactor, Destination: &c.ReplicationFactor,
			Usage: "replication factor of the keyspace when it is created (1 on one node, 3 on a cluster)",
		},
		&cli.StringFlag{
			Name: "cassandra-datacenter", Category: cat, EnvVars: cliapp.Env("cassandra-datacenter"),
			Value: c.Datacenter, Destination: &c.Datacenter,
			Usage: "datacenter for NetworkTopologyStrategy; empty uses SimpleStrategy",
		},
		&cli.StringFlag{
			Name: "cassandra-username", Category: cat, EnvVars: cliapp.Env("cassandra-username"),
			Value: c.Username, Destination: &c.Username,
			Usage: "user name, when the cluster requires authentication",
		},
		&cli.StringFlag{
			Name: "cassandra-password", Category: cat, EnvVars: cliapp.Env("cassandra-password"),
			Value: c.Password, Destination: &c.Password,
			Usage: "password, when the cluster requires authentication (prefer the environment variable)",
		},
		&cli.DurationFlag{
			Name: "cassandra-timeout", Category: cat, EnvVars: cliapp.Env("cassandra-timeout"),
			Value: c.Timeout, Destination: &c.Timeout,
			Usage: "timeout of one request",
		},
		&cli.DurationFlag{
			Name: "cassandra-connect-timeout", Category: cat, EnvVars: cliapp.Env("cassandra-connect-timeout"),
			Value: c.ConnectTimeout, Destination: &c.ConnectTimeout,
			Usage: "timeout of the initial connection",
		},
		&cli.IntFlag{
			Name: "cassandra-retries", Category: cat, EnvVars: cliapp.Env("cassandra-retries"),
			Value: c.Retries, Destination: &c.Retries,
			Usage: "retries of a failed idempotent request, with exponential backoff",
		},
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

// HostList returns the contact points with blanks removed.
func (c *Config) HostList() []string { return cliapp.SplitList(c.Hosts.Value()) }

func (c *Config) consistency() (gocql.Consistency, error) {
	cons, err := gocql.ParseConsistencyWrapper(strings.ToUpper(c.Consistency))
	if err != nil {
		return 0, fmt.Errorf("%w %q", ErrBadConsistency, c.Consistency)
	}
	return cons, nil
}
