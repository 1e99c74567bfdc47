package main

import (
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/boontadata/boontadata/pkg/cassandra"
	"github.com/boontadata/boontadata/pkg/cliapp"
	"github.com/boontadata/boontadata/pkg/kafka"
	"github.com/boontadata/boontadata/pkg/setup"
)

func setupCommand(kc *kafka.Config, cc *cassandra.Config) *cli.Command {
	var wait time.Duration
	flags := append(append([]cli.Flag{
		&cli.DurationFlag{
			Name: "wait", EnvVars: cliapp.Env("setup-wait"), Value: 2 * time.Minute, Destination: &wait,
			Usage: "how long to wait for Kafka and Cassandra to become reachable",
		},
	}, cliapp.KafkaFlags(kc)...), cliapp.CassandraFlags(cc)...)
	return &cli.Command{
		Name:  "setup",
		Usage: "create the Kafka topics and apply the Cassandra schema (idempotent)",
		Description: "Creates the events, dead-letter and control topics that are missing and applies\n" +
			"the schema migrations of keyspace boontadata that are not applied yet. Running it\n" +
			"again changes nothing.",
		Flags: flags,
		Action: func(c *cli.Context) error {
			if err := kc.Validate(); err != nil {
				return cliapp.UsageError{Err: err}
			}
			if err := cc.Validate(); err != nil {
				return cliapp.UsageError{Err: err}
			}
			err := setup.Run(c.Context, setup.Options{Kafka: kc, Cassandra: cc, ClientID: "aggregator-master-setup", Wait: wait}, cliapp.Logger(c))
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(c.App.Writer, "topics and schema ready (keyspace %s, brokers %v)\n", cc.Keyspace, kc.BrokerList())
			return err
		},
	}
}
