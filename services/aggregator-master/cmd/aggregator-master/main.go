// Command aggregator-master is the job coordinator of the boontadata engine, as
// a Spark driver or a Flink JobManager: it holds job specs, hands them to the
// aggregator-workers, plans micro-batches and tracks progress.
package main

import (
	"os"

	"github.com/urfave/cli/v2"

	"github.com/boontadata/boontadata/pkg/cassandra"
	"github.com/boontadata/boontadata/pkg/cliapp"
	"github.com/boontadata/boontadata/pkg/kafka"
)

func main() {
	kc, cc := kafka.DefaultConfig(), cassandra.DefaultConfig()
	os.Exit(cliapp.Main(cliapp.App{
		Name:  "aggregator-master",
		Usage: "boontadata engine coordinator: jobs, micro-batch plans, progress",
		Description: "Every flag can also be set with the BOONTADATA_* environment variable shown\n" +
			"beside it. Start with 'aggregator-master setup' to create the Kafka topics and the\n" +
			"Cassandra schema (the services also do it themselves at start).",
		Commands: []*cli.Command{setupCommand(&kc, &cc)},
	}))
}
