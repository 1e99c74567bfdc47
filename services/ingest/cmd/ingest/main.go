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
			"JSON array of events), POST /v1/runs/RUN/end, GET /healthz, /readyz and /metrics. Every\n" +
			"valid line goes to the events topic keyed by device id, the invalid ones to the dead-letter\n" +
			"topic with their reasons, in records of up to 100 lines; the answer is 202 once Kafka has\n" +
			"acknowledged all of them. A request with more than --max-rejected-lines bad lines is\n" +
			"refused whole (422). Without --auth-token the gateway listens on loopback only, unless\n" +
			"--allow-no-auth. The topics are created at start when missing. Every flag can also be set\n" +
			"with the BOONTADATA_* environment variable shown beside it. 'ingest loadtest' measures a\n" +
			"running gateway.",
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
