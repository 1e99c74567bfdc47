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
	"github.com/boontadata/boontadata/pkg/job"
	"github.com/boontadata/boontadata/services/aggregator-worker/internal/replay"
)

func replayCommand() *cli.Command {
	return &cli.Command{
		Name:  "replay",
		Usage: "run the engine core on a file of events and print every result and decision as JSON lines",
		Description: "Input: one event per line in the wire format\n" +
			"(message_id|device_id|device_time_ms|category|measure1|measure2); a line @<ms since epoch>\n" +
			"sets the processing time at which the following lines arrive and is a timer tick\n" +
			"(micro-batch presets cut batches at trigger boundaries of that time); !partition N\n" +
			"sends the following events to partition N (of --partitions); !end ends the input of\n" +
			"the current partition, as the run's end-of-run marker does. Empty lines and lines\n" +
			"starting with # are ignored. Same input, same output. See docs/engine.md.",
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
				Usage: "end every partition's input at the end of the file, as the end of a bounded stream does",
			},
			&cli.IntFlag{
				Name: "partitions", EnvVars: cliapp.Env("replay-partitions"), Value: 1,
				Usage: "partitions of the input: watermark scopes combine over all of them",
			},
			&cli.StringFlag{
				Name: "scope", EnvVars: cliapp.Env("replay-scope"),
				Usage: "watermark scope: partition (Kafka Streams), min (Flink) or global (Spark)", DefaultText: "the preset's",
			},
			&cli.DurationFlag{
				Name: "watermark", EnvVars: cliapp.Env("replay-watermark"),
				Usage: "watermark delay (bounded out-of-orderness)", DefaultText: "the preset's",
			},
			&cli.DurationFlag{
				Name: "allowed-lateness", EnvVars: cliapp.Env("replay-allowed-lateness"),
				Usage: "how long a window stays open after the watermark passed its end", DefaultText: "the preset's",
			},
			&cli.DurationFlag{
				Name: "idle-timeout", EnvVars: cliapp.Env("replay-idle-timeout"),
				Usage: "min scope: processing time without records after which a partition stops holding the watermark back", DefaultText: "the preset's",
			},
		},
		Action: runReplay,
	}
}

func runReplay(c *cli.Context) (err error) {
	if c.NArg() > 0 {
		return cliapp.Usagef("replay takes no arguments, got %q", c.Args().Slice())
	}
	given := func(name string) *job.Duration { return job.GivenDuration(c.IsSet(name), c.Duration(name)) }
	js := job.Spec{Preset: c.String("preset"), Overrides: job.Overrides{
		Scope: c.String("scope"), Watermark: given("watermark"),
		AllowedLateness: given("allowed-lateness"), IdleTimeout: given("idle-timeout"),
	}}
	spec, err := js.Engine()
	if err != nil {
		return cliapp.Usagef("%v", err)
	}
	if n := c.Int("partitions"); n < 1 || n > 4096 {
		return cliapp.Usagef("--partitions takes 1 to 4096, got %d", n)
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
	sum, err := replay.Run(c.Context, in, c.App.Writer, spec, replay.Options{Flush: c.Bool("flush"), Partitions: c.Int("partitions")})
	if err != nil {
		return err
	}
	cliapp.Logger(c).Debug("replay finished",
		zap.String("preset", spec.Name), zap.Int("lines", sum.Lines), zap.Int64("events", sum.Events),
		zap.Int64("results", sum.Stats.Results), zap.Int64("duplicates", sum.Stats.Duplicates),
		zap.Int64("late", sum.Stats.Late))
	return nil
}
