package main

import (
	"github.com/urfave/cli/v2"

	"github.com/boontadata/boontadata/pkg/cliapp"
	"github.com/boontadata/boontadata/services/aggregator-worker/internal/microbatch"
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
			"need, so a killed worker loses nothing. A graceful stop writes what is emitted,\n" +
			"commits and leaves the groups; a restart resumes where it stopped.",
		Flags: cfg.Flags(),
		Action: func(c *cli.Context) error {
			if err := cfg.Validate(); err != nil {
				return cliapp.UsageError{Err: err}
			}
			w := worker.New(cfg, cliapp.Logger(c))
			w.Tasks = microbatch.Run
			return w.Run(c.Context)
		},
	}
}
