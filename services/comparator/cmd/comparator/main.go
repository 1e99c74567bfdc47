// Command comparator shows, window by window, where the engine's answer differs
// from the truth, why, and how late it came.
package main

import (
	"io"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/boontadata/boontadata/pkg/cassandra"
	"github.com/boontadata/boontadata/pkg/cliapp"

	"github.com/boontadata/boontadata/services/comparator/internal/comparator"
	"github.com/boontadata/boontadata/services/comparator/internal/store"
)

func main() {
	os.Exit(cliapp.Main(app(os.Stdout, os.Stderr, nil)))
}

// app builds the command; source, when not nil, replaces Cassandra (tests).
func app(stdout, stderr io.Writer, source comparator.Source) cliapp.App {
	cfg := comparator.DefaultConfig()
	return cliapp.App{
		Name:  "comparator",
		Usage: "compare the engine's results with the truth, window by window",
		Description: "    comparator --run RUN_ID [--job JOB_ID ...] [--format text|json|csv] [--html report.html]\n\n" +
			"Joins the truth by device time of a simulator run with the final results of each job\n" +
			"that consumed it, explains every exception from raw_events and measures result latency.\n" +
			"Exit status: 0 ok, 1 error (unknown run, no job, no results), 2 usage error,\n" +
			"3 a job has more exceptions than --max-exceptions. See docs/comparator.md.",
		Flags:  cfg.Flags(),
		Stdout: stdout,
		Stderr: stderr,
		Action: func(c *cli.Context) error {
			if err := cfg.Validate(); err != nil {
				return cliapp.UsageError{Err: err}
			}
			if c.NArg() > 0 {
				return cliapp.Usagef("unexpected arguments %v: give the run with --run", c.Args().Slice())
			}
			log := cliapp.Logger(c)
			src := source
			if src == nil {
				session, err := cassandra.NewSession(&cfg.Cassandra, log, true)
				if err != nil {
					return err
				}
				defer session.Close()
				src = store.New(session)
			}
			return comparator.Run(c.Context, cfg, comparator.Deps{Source: src, Log: log, Stdout: c.App.Writer})
		},
	}
}
