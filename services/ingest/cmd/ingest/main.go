// Command ingest is the device-facing HTTP gateway: it validates batches of events,
// stamps their ingest time and produces them to Kafka; rejected lines go to the
// dead-letter topic with the reason.
package main

import (
	"os"

	"github.com/urfave/cli/v2"

	"github.com/boontadata/boontadata/pkg/cliapp"
	"github.com/boontadata/boontadata/services/ingest/internal/gateway"
)

func main() {
	os.Exit(cliapp.Main(newApp()))
}

func newApp() cliapp.App {
	cfg := gateway.DefaultConfig()
	return cliapp.App{
		Name:  "ingest",
		Usage: "HTTP gateway from devices to Kafka that loses nothing",
		Description: "Without a subcommand, serves POST /v1/events (text/plain lines of the wire format, or a\n" +
			"JSON array of events), GET /healthz, /readyz and /metrics. Every valid line goes to the\n" +
			"events topic keyed by device id, every invalid one to the dead-letter topic with the\n" +
			"reason; the answer is 202 once Kafka has acknowledged all of them. The topics are\n" +
			"created at start when missing. Every flag can also be set with the BOONTADATA_*\n" +
			"environment variable shown beside it. 'ingest loadtest' measures a running gateway.",
		Flags:    cfg.Flags(),
		Action:   func(c *cli.Context) error { return serve(c, cfg) },
		Commands: []*cli.Command{loadtestCommand()},
	}
}

func serve(c *cli.Context, cfg gateway.Config) error {
	if c.NArg() > 0 {
		return cliapp.Usagef("unexpected argument %q", c.Args().First())
	}
	if err := cfg.Validate(); err != nil {
		return cliapp.UsageError{Err: err}
	}
	return gateway.Serve(c.Context, cfg, cliapp.Logger(c))
}
