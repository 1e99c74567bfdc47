package cliapp

import (
	"github.com/urfave/cli/v2"

	"github.com/boontadata/boontadata/pkg/cassandra"
	"github.com/boontadata/boontadata/pkg/kafka"
)

// Flag categories of the shared configurations in --help.
const (
	CategoryKafka     = "Kafka"
	CategoryCassandra = "Cassandra"
)

// KafkaFlags binds c to command-line flags, each also read from a BOONTADATA_*
// environment variable. c holds the defaults; a flag given on the command line
// or in the environment overwrites its field when the command runs.
func KafkaFlags(c *kafka.Config) []cli.Flag {
	const cat = CategoryKafka
	return []cli.Flag{
		stringSliceFlag(cat, "kafka-brokers", "Kafka bootstrap brokers, host:port, comma-separated", &c.Brokers),
		&cli.StringFlag{
			Name: "kafka-version", Category: cat, EnvVars: Env("kafka-version"),
			Value: c.Version, Destination: &c.Version,
			Usage: "Kafka protocol version to speak (2.1.0 or newer)",
		},
		&cli.StringFlag{
			Name: "events-topic", Category: cat, EnvVars: Env("events-topic"),
			Value: c.Topics.Events, Destination: &c.Topics.Events,
			Usage: "topic of device events",
		},
		&cli.StringFlag{
			Name: "deadletter-topic", Category: cat, EnvVars: Env("deadletter-topic"),
			Value: c.Topics.DeadLetter, Destination: &c.Topics.DeadLetter,
			Usage: "topic of rejected lines and unprocessable records, with the reason",
		},
		&cli.StringFlag{
			Name: "jobs-topic", Category: cat, EnvVars: Env("jobs-topic"),
			Value: c.Topics.Jobs, Destination: &c.Topics.Jobs,
			Usage: "compacted control topic of job specifications",
		},
		&cli.StringFlag{
			Name: "tasks-topic", Category: cat, EnvVars: Env("tasks-topic"),
			Value: c.Topics.Tasks, Destination: &c.Topics.Tasks,
			Usage: "control topic of tasks from the master to the workers",
		},
		&cli.StringFlag{
			Name: "progress-topic", Category: cat, EnvVars: Env("progress-topic"),
			Value: c.Topics.Progress, Destination: &c.Topics.Progress,
			Usage: "control topic of worker progress reports",
		},
		&cli.StringFlag{
			Name: "results-topic", Category: cat, EnvVars: Env("results-topic"),
			Value: c.Topics.Results, Destination: &c.Topics.Results,
			Usage: "topic of the window results of engines under test (docs/engines.md)",
		},
		&cli.StringFlag{
			Name: "watermarks-topic", Category: cat, EnvVars: Env("watermarks-topic"),
			Value: c.Topics.Watermarks, Destination: &c.Topics.Watermarks,
			Usage: "control topic of the partition watermarks workers share",
		},
		&cli.IntFlag{
			Name: "events-partitions", Category: cat, EnvVars: Env("events-partitions"),
			Value: c.Partitions, Destination: &c.Partitions,
			Usage: "partitions of the events topic when the software creates it",
		},
		&cli.IntFlag{
			Name: "kafka-replication-factor", Category: cat, EnvVars: Env("kafka-replication-factor"),
			Value: c.ReplicationFactor, Destination: &c.ReplicationFactor,
			Usage: "replication factor of the topics the software creates (1 on a single broker, 3 on a cluster)",
		},
		&cli.DurationFlag{
			Name: "kafka-dial-timeout", Category: cat, EnvVars: Env("kafka-dial-timeout"),
			Value: c.DialTimeout, Destination: &c.DialTimeout,
			Usage: "how long to wait for a connection to a broker",
		},
	}
}

// CassandraFlags binds c to command-line flags as KafkaFlags does.
func CassandraFlags(c *cassandra.Config) []cli.Flag {
	const cat = CategoryCassandra
	return []cli.Flag{
		stringSliceFlag(cat, "cassandra-hosts", "Cassandra contact points, comma-separated", &c.Hosts),
		&cli.IntFlag{
			Name: "cassandra-port", Category: cat, EnvVars: Env("cassandra-port"),
			Value: c.Port, Destination: &c.Port,
			Usage: "CQL native transport port",
		},
		&cli.StringFlag{
			Name: "cassandra-keyspace", Category: cat, EnvVars: Env("cassandra-keyspace"),
			Value: c.Keyspace, Destination: &c.Keyspace,
			Usage: "keyspace of the platform's tables (created if missing)",
		},
		&cli.StringFlag{
			Name: "cassandra-consistency", Category: cat, EnvVars: Env("cassandra-consistency"),
			Value: c.Consistency, Destination: &c.Consistency,
			Usage: "consistency level of reads and writes (ONE, LOCAL_QUORUM, QUORUM, ...)",
		},
		&cli.IntFlag{
			Name: "cassandra-replication-factor", Category: cat, EnvVars: Env("cassandra-replication-factor"),
			Value: c.ReplicationFactor, Destination: &c.ReplicationFactor,
			Usage: "replication factor of the keyspace when it is created (1 on one node, 3 on a cluster)",
		},
		&cli.StringFlag{
			Name: "cassandra-datacenter", Category: cat, EnvVars: Env("cassandra-datacenter"),
			Value: c.Datacenter, Destination: &c.Datacenter,
			Usage: "datacenter for NetworkTopologyStrategy; empty uses SimpleStrategy",
		},
		&cli.StringFlag{
			Name: "cassandra-username", Category: cat, EnvVars: Env("cassandra-username"),
			Value: c.Username, Destination: &c.Username,
			Usage: "user name, when the cluster requires authentication",
		},
		&cli.StringFlag{
			Name: "cassandra-password", Category: cat, EnvVars: Env("cassandra-password"),
			Value: c.Password, Destination: &c.Password,
			Usage: "password, when the cluster requires authentication (prefer the environment variable)",
		},
		&cli.DurationFlag{
			Name: "cassandra-timeout", Category: cat, EnvVars: Env("cassandra-timeout"),
			Value: c.Timeout, Destination: &c.Timeout,
			Usage: "timeout of one request",
		},
		&cli.DurationFlag{
			Name: "cassandra-connect-timeout", Category: cat, EnvVars: Env("cassandra-connect-timeout"),
			Value: c.ConnectTimeout, Destination: &c.ConnectTimeout,
			Usage: "timeout of the initial connection",
		},
		&cli.IntFlag{
			Name: "cassandra-retries", Category: cat, EnvVars: Env("cassandra-retries"),
			Value: c.Retries, Destination: &c.Retries,
			Usage: "retries of a failed idempotent request, with exponential backoff",
		},
	}
}

// stringSliceFlag binds a list flag to a plain []string. urfave/cli only
// writes list flags into its own StringSlice type, so the flag's action copies
// the parsed values into dst; it runs when the flag is given on the command
// line or in the environment, before the command's action, and dst keeps its
// default otherwise.
func stringSliceFlag(cat, name, usage string, dst *[]string) cli.Flag {
	return &cli.StringSliceFlag{
		Name: name, Category: cat, EnvVars: Env(name),
		Value: cli.NewStringSlice(*dst...),
		Usage: usage,
		Action: func(_ *cli.Context, v []string) error {
			*dst = v
			return nil
		},
	}
}
