// Command simulator is a fleet of simulated IoT devices: it sends measurements with
// real-world defects (re-sent duplicates, late and out-of-order events) and records
// what it really sent, the truth, in Cassandra.
package main

import (
	"io"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/boontadata/boontadata/pkg/cliapp"

	"github.com/boontadata/boontadata/services/simulator/internal/progress"
	"github.com/boontadata/boontadata/services/simulator/internal/simulator"
)

func main() {
	os.Exit(cliapp.Main(app(os.Stdout, os.Stderr, progress.IsTerminal(os.Stderr))))
}

func app(stdout, stderr io.Writer, stderrIsTerminal bool) cliapp.App {
	cfg := simulator.DefaultConfig()
	return cliapp.App{
		Name:  "simulator",
		Usage: "simulated IoT devices with real-world defects, and the truth they sent",
		Description: "Every flag can also be set with the BOONTADATA_* environment variable shown\n" +
			"beside it. The run id is printed on stdout as the last line; logs and progress\n" +
			"go to stderr. See docs/simulator.md.",
		Flags:  cfg.Flags(),
		Stdout: stdout,
		Stderr: stderr,
		Action: func(c *cli.Context) error {
			if c.IsSet("count") && c.IsSet("duration") {
				return cliapp.Usagef("give --count or --duration, not both")
			}
			if err := cfg.Validate(); err != nil {
				return cliapp.UsageError{Err: err}
			}
			_, err := simulator.Run(c.Context, cfg, simulator.Deps{
				Log:              cliapp.Logger(c),
				Stdout:           c.App.Writer,
				Stderr:           c.App.ErrWriter,
				StderrIsTerminal: stderrIsTerminal,
			})
			return err
		},
	}
}
