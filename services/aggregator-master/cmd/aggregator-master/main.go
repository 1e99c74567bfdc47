// Command aggregator-master is the job coordinator of the boontadata engine, as
// a Spark driver or a Flink JobManager: it holds job specs, hands them to the
// aggregator-workers and tracks their progress. 'serve' runs it; submit, list,
// status, cancel and presets call a running one over its HTTP API.
package main

import (
	"os"

	"github.com/urfave/cli/v2"

	"github.com/boontadata/boontadata/pkg/cassandra"
	"github.com/boontadata/boontadata/pkg/cliapp"
	"github.com/boontadata/boontadata/pkg/kafka"
)

func main() {
	os.Exit(cliapp.Main(app()))
}

func app() cliapp.App {
	kc, cc := kafka.DefaultConfig(), cassandra.DefaultConfig()
	return cliapp.App{
		Name:  "aggregator-master",
		Usage: "boontadata engine coordinator: jobs, progress of the workers, HTTP API and status page",
		Description: "'aggregator-master serve' runs the master (HTTP API, status page and metrics on\n" +
			"http://127.0.0.1:8090 by default). The other commands call a running master:\n" +
			"    aggregator-master submit --preset exact --run-id r1   # prints the job id last\n" +
			"    aggregator-master list\n" +
			"    aggregator-master status JOB_ID [--json]\n" +
			"    aggregator-master cancel JOB_ID\n" +
			"Every flag can also be set with the BOONTADATA_* environment variable shown beside it.\n" +
			"'aggregator-master setup' creates the Kafka topics and the Cassandra schema (serve also\n" +
			"does it at start).",
		Commands: []*cli.Command{
			serveCommand(), submitCommand(), listCommand(), statusCommand(), waitCommand(), cancelCommand(), presetsCommand(),
			enginesCommand(), engineArgsCommand(),
			setupCommand(&kc, &cc),
		},
	}
}
