package main

import (
	"github.com/urfave/cli/v2"

	"github.com/boontadata/boontadata/pkg/cliapp"
	"github.com/boontadata/boontadata/services/aggregator-worker/internal/app"
	"github.com/boontadata/boontadata/services/aggregator-worker/internal/worker"
)

func runCommand() *cli.Command {
	cfg := worker.DefaultConfig()
	return &cli.Command{
		Name:  "run",
		Usage: "run the jobs of the aggregator-master until stopped (SIGINT/SIGTERM, --run-for or --stop-at)",
		Description: "The worker reads job specs from the jobs topic and, for every running job, joins\n" +
			"the job's consumer group on the events topic: Kafka spreads the partitions over\n" +
			"the workers. Each claimed partition runs the engine core in order; results are\n" +
			"upserted into Cassandra and offsets committed only up to what open windows still\n" +
			"need, so a killed worker loses nothing. Micro-batch jobs run as the master's tasks,\n" +
			"and the results of engines under test (docs/engines.md) are ingested from the\n" +
			"results topic. A graceful stop writes what is emitted, commits and leaves the\n" +
			"groups; a restart resumes where it stopped.",
		Flags: cfg.Flags(),
		Action: func(c *cli.Context) error {
			if err := cfg.Validate(); err != nil {
				return cliapp.UsageError{Err: err}
			}
			return app.New(cfg, cliapp.Logger(c)).Run(c.Context)
		},
	}
}
