package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/boontadata/boontadata/pkg/cliapp"
	"github.com/boontadata/boontadata/services/aggregator-master/internal/client"
)

func waitCommand() *cli.Command {
	var (
		cf         clientFlags
		partitions int
		eventsEnd  string
		settle     time.Duration
		limit      time.Duration
		every      time.Duration
		until      string
	)
	return &cli.Command{
		Name:      "wait",
		Usage:     "wait until a job has consumed everything and its last windows are emitted",
		ArgsUsage: "JOB_ID",
		Description: "A job bound to a run (--run-id) is done when the master marks it finished: every\n" +
			"partition of the events topic read the run's end-of-run marker and every window is\n" +
			"final. A cancelled or failed job ends the wait with an error. A job that reads every\n" +
			"run is done once every partition is claimed with no lag, its results stop changing\n" +
			"for --settle, and, for append output, the watermark has passed the window of\n" +
			"--events-end plus the allowed lateness. Prints progress while it waits; on\n" +
			"--wait-timeout it says what it was still waiting for.",
		Flags: append([]cli.Flag{
			&cli.IntFlag{Name: "partitions", EnvVars: cliapp.Env("events-partitions"), Value: 16, Destination: &partitions,
				Usage: "partitions of the events topic, all of which must be claimed"},
			&cli.StringFlag{Name: "events-end", Destination: &eventsEnd,
				Usage: "latest time an event of the run carries: RFC 3339 or ms since the epoch (append output waits for its window)"},
			&cli.DurationFlag{Name: "settle", Value: 3 * time.Second, Destination: &settle,
				Usage: "how long results must stay unchanged once the job is caught up"},
			&cli.DurationFlag{Name: "wait-timeout", Value: 5 * time.Minute, Destination: &limit,
				Usage: "give up after this long"},
			&cli.DurationFlag{Name: "poll", Value: time.Second, Destination: &every,
				Usage: "how often to ask the master"},
			&cli.StringFlag{Name: "until", Value: "done", Destination: &until,
				Usage: "done, or started: only until the job's engine under test reads the events (docs/engines.md)"},
		}, cf.flags()...),
		Action: func(c *cli.Context) error {
			id, err := oneArg(c, "job id")
			if err != nil {
				return err
			}
			w := &client.Waiter{Partitions: partitions, Settle: settle}
			switch until {
			case "done":
			case "started":
				w.UntilStarted = true
			default:
				return cliapp.Usagef("--until takes done or started, got %q", until)
			}
			if eventsEnd != "" {
				if w.EventsEnd, err = parseTime(eventsEnd); err != nil {
					return cliapp.Usagef("--events-end %q: RFC 3339 or ms since the epoch", eventsEnd)
				}
			}
			cl, err := cf.client()
			if err != nil {
				return err
			}
			deadline := time.Now().Add(limit)
			lastPrint := time.Time{}
			state := ""
			for {
				d, _, err := cl.Status(c.Context, id)
				if err != nil {
					if client.IsNotFound(err) {
						return err
					}
					state = "master not answering: " + err.Error()
				} else {
					done, st, err := w.Check(d, time.Now())
					if err != nil {
						return err
					}
					state = st
					if done {
						_, err := fmt.Fprintf(c.App.ErrWriter, "job %s done: %s\n", id, state)
						return err
					}
				}
				if time.Since(lastPrint) >= 5*time.Second {
					fmt.Fprintf(c.App.ErrWriter, "job %s: %s\n", id, state)
					lastPrint = time.Now()
				}
				if time.Now().After(deadline) {
					return fmt.Errorf("job %s not done after %v: %s", id, limit, state)
				}
				select {
				case <-c.Context.Done():
					return c.Context.Err()
				case <-time.After(every):
				}
			}
		},
	}
}

func parseTime(s string) (time.Time, error) {
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.UnixMilli(ms), nil
	}
	return time.Parse(time.RFC3339Nano, s)
}
