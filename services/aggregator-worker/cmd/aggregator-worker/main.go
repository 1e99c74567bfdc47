// Command aggregator-worker is an executor of the boontadata engine: it consumes
// the events topic for the jobs the aggregator-master hands out, aggregates them
// per window with the engine core and writes results to Cassandra.
package main

import (
	"os"

	"github.com/boontadata/boontadata/pkg/cliapp"
)

func main() {
	os.Exit(cliapp.Main(cliapp.App{
		Name:  "aggregator-worker",
		Usage: "boontadata engine executor: consume events, aggregate per window, write results",
		Description: "Workers scale out: run more of them and Kafka's consumer-group protocol spreads\n" +
			"the partitions of each job over them. The replay subcommand runs the engine core\n" +
			"on a file of events, with no Kafka or Cassandra, and prints every result and decision.",
		Commands: commands(),
	}))
}
