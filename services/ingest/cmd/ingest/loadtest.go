package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/boontadata/boontadata/pkg/cliapp"
	"github.com/boontadata/boontadata/services/ingest/internal/loadtest"
)

func loadtestCommand() *cli.Command {
	cfg := loadtest.DefaultConfig()
	return &cli.Command{
		Name:  "loadtest",
		Usage: "post batches of valid events to a running gateway and report events/s and latency",
		Description: "Sends --events events in requests of --batch lines from --concurrency clients and\n" +
			"prints the accepted events per second (acknowledged by Kafka) and the p50/p95/p99\n" +
			"latency of the requests. A batch answered 429 or 503 is sent again after a second.",
		Flags: cfg.Flags(),
		Action: func(c *cli.Context) error {
			if err := cfg.Validate(); err != nil {
				return cliapp.UsageError{Err: err}
			}
			res, err := loadtest.Run(c.Context, cfg)
			if _, perr := fmt.Fprint(c.App.Writer, res.String()); perr != nil && err == nil {
				err = perr
			}
			return err
		},
	}
}
