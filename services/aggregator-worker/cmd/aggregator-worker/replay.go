package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v2"
	"go.uber.org/zap"

	"github.com/boontadata/boontadata/pkg/cliapp"
	"github.com/boontadata/boontadata/pkg/engine"
	"github.com/boontadata/boontadata/services/aggregator-worker/internal/replay"
)

func replayCommand() *cli.Command {
	return &cli.Command{
		Name:  "replay",
		Usage: "run the engine core on a file of events and print every result and decision as JSON lines",
		Description: "Input: one event per line in the wire format\n" +
			"(message_id|device_id|device_time_ms|category|measure1|measure2); a line @<ms since epoch>\n" +
			"sets the processing time at which the following lines arrive (micro-batch presets cut\n" +
			"batches at trigger boundaries of that time). Empty lines and lines starting with # are\n" +
			"ignored. Same input, same output. See docs/engine.md.",
		Flags: []cli.Flag{
			&cli.StringFlag{
				Name: "preset", EnvVars: cliapp.Env("preset"), Required: true,
				Usage: "scenario: " + strings.Join(engine.PresetNames(), ", "),
			},
			&cli.StringFlag{
				Name: "input", EnvVars: cliapp.Env("input"), Value: "-",
				Usage: "file of events to replay, - for stdin",
			},
			&cli.BoolFlag{
				Name: "flush", EnvVars: cliapp.Env("flush"), Value: true,
				Usage: "close every window at the end of the input, as the end of a bounded stream does",
			},
		},
		Action: runReplay,
	}
}

func runReplay(c *cli.Context) (err error) {
	if c.NArg() > 0 {
		return cliapp.Usagef("replay takes no arguments, got %q", c.Args().Slice())
	}
	spec, err := engine.Preset(c.String("preset"))
	if err != nil {
		return cliapp.Usagef("--preset: %v", err)
	}
	var in io.Reader = os.Stdin
	if name := c.String("input"); name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return fmt.Errorf("open input: %w", err)
		}
		defer func() { err = errors.Join(err, f.Close()) }()
		in = f
	}
	sum, err := replay.Run(c.Context, in, c.App.Writer, spec, replay.Options{Flush: c.Bool("flush")})
	if err != nil {
		return err
	}
	cliapp.Logger(c).Debug("replay finished",
		zap.String("preset", spec.Name), zap.Int("lines", sum.Lines), zap.Int64("events", sum.Events),
		zap.Int64("results", sum.Stats.Results), zap.Int64("duplicates", sum.Stats.Duplicates),
		zap.Int64("late", sum.Stats.Late))
	return nil
}
