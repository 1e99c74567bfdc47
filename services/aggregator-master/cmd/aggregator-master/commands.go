package main

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/boontadata/boontadata/pkg/cliapp"
	"github.com/boontadata/boontadata/pkg/job"
	"github.com/boontadata/boontadata/services/aggregator-master/internal/api"
	"github.com/boontadata/boontadata/services/aggregator-master/internal/client"
	"github.com/boontadata/boontadata/services/aggregator-master/internal/master"
)

func serveCommand() *cli.Command {
	cfg := master.DefaultConfig()
	return &cli.Command{
		Name:  "serve",
		Usage: "run the master: job registry, progress of the workers, HTTP API, dashboard and metrics",
		Description: "Creates the topics and the schema when missing, loads every job from Cassandra and\n" +
			"publishes it again on the compacted jobs topic (so a restarted master changes nothing),\n" +
			"follows the workers' progress reports and serves the JSON API (/api/jobs, /api/presets),\n" +
			"the dashboard (/, /jobs/ID, /cluster), /healthz, /readyz and /metrics on --listen.",
		Flags: cfg.Flags(),
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return cliapp.Usagef("unexpected argument %q", c.Args().First())
			}
			if err := cfg.Validate(); err != nil {
				return cliapp.UsageError{Err: err}
			}
			return master.Serve(c.Context, cfg, cliapp.Logger(c))
		},
	}
}

// clientFlags are the flags of every subcommand that calls a running master.
type clientFlags struct {
	url     string
	timeout time.Duration
	token   string
}

func (f *clientFlags) flags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{
			Name: "master-url", EnvVars: cliapp.Env("master-url"), Value: "http://127.0.0.1:8090", Destination: &f.url,
			Usage: "base URL of the running master (aggregator-master serve)",
		},
		&cli.DurationFlag{
			Name: "timeout", EnvVars: cliapp.Env("master-timeout"), Value: 30 * time.Second, Destination: &f.timeout,
			Usage: "how long to wait for the master's answer",
		},
		&cli.StringFlag{
			Name: "api-token", EnvVars: cliapp.Env("api-token"), Destination: &f.token,
			Usage: "bearer token of the master's API, when it requires one (prefer the environment variable)",
		},
	}
}

func (f *clientFlags) client() (*client.Client, error) {
	c, err := client.New(f.url, &http.Client{Timeout: f.timeout})
	if err != nil {
		return nil, cliapp.UsageError{Err: err}
	}
	return c.WithToken(f.token), nil
}

// answerError makes a 400 of the master a usage error: the flags were wrong.
func answerError(err error) error {
	var se *client.StatusError
	if errors.As(err, &se) && se.Code == http.StatusBadRequest {
		return cliapp.UsageError{Err: err}
	}
	return err
}

func oneArg(c *cli.Context, what string) (string, error) {
	if c.NArg() != 1 {
		for _, a := range c.Args().Tail() {
			if strings.HasPrefix(a, "-") {
				return "", cliapp.Usagef("flags go before the %s: %s %s [flags] %s", what, c.App.Name, c.Command.Name, strings.ToUpper(strings.ReplaceAll(what, " ", "_")))
			}
		}
		return "", cliapp.Usagef("give exactly one %s (got %d arguments)", what, c.NArg())
	}
	return c.Args().First(), nil
}

// presetChoice names the presets a job can use and those it cannot yet.
func presetChoice() string {
	var ok, not []string
	for _, p := range api.PresetTable() {
		if p.Runnable {
			ok = append(ok, p.Name)
		} else {
			not = append(not, p.Name)
		}
	}
	if len(not) == 0 {
		return strings.Join(ok, ", ")
	}
	return strings.Join(ok, ", ") + "; not yet: " + strings.Join(not, ", ") + " (micro-batch)"
}

func submitCommand() *cli.Command {
	var cf clientFlags
	var s job.Spec
	var window, slide, watermark, lateness, idle, horizon, emit time.Duration
	const cat = "Job"
	dur := func(name, usage string, dst *time.Duration) cli.Flag {
		return &cli.DurationFlag{Name: name, Category: cat, EnvVars: cliapp.Env("job-" + name), Destination: dst, Usage: usage, DefaultText: "the preset's"}
	}
	flags := append([]cli.Flag{
		&cli.StringFlag{Name: "preset", Category: cat, EnvVars: cliapp.Env("preset"), Required: true, Destination: &s.Preset,
			Usage: "scenario: " + presetChoice() + " (see 'aggregator-master presets')"},
		&cli.StringFlag{Name: "job-id", Category: cat, EnvVars: cliapp.Env("job-id"), Destination: &s.ID,
			Usage: "job id, 1 to 64 letters, digits, '-' or '_'", DefaultText: "the preset and a random suffix"},
		&cli.StringFlag{Name: "run-id", Category: cat, EnvVars: cliapp.Env("run-id"), Destination: &s.RunID,
			Usage: "read only the events of this simulator run", DefaultText: "every run, each under its own run id"},
		&cli.StringFlag{Name: "engine", Category: cat, EnvVars: cliapp.Env("job-engine"), Destination: &s.EngineName,
			Usage:       "engine under test that runs the job: " + engineChoice() + " (docs/engines.md; start a real engine with engine-args)",
			DefaultText: job.Boontadata},
		dur("window", "window size", &window),
		dur("slide", "window slide, for sliding windows", &slide),
		dur("watermark", "watermark delay (bounded out-of-orderness)", &watermark),
		dur("allowed-lateness", "how long a window stays open after the watermark passed its end", &lateness),
		dur("idle-timeout", "processing time without records after which a partition stops holding back the min watermark", &idle),
		dur("dedup-horizon", "least time 'until watermark' dedup remembers a message id", &horizon),
		dur("emit-interval", "update output, continuous trigger: emit a changed window at most this often, changes in between coalesced", &emit),
		&cli.StringFlag{Name: "dedup", Category: cat, EnvVars: cliapp.Env("job-dedup"), Destination: &s.Overrides.Dedup,
			Usage: "dedup scope: none, window or watermark", DefaultText: "the preset's"},
		&cli.StringFlag{Name: "output", Category: cat, EnvVars: cliapp.Env("job-output"), Destination: &s.Overrides.Output,
			Usage: "output mode: append or update", DefaultText: "the preset's"},
		&cli.StringFlag{Name: "start-offsets", Category: cat, EnvVars: cliapp.Env("job-start-offsets"), Value: job.StartEarliest, Destination: &s.StartOffsets,
			Usage: "where the job starts without committed offsets: earliest or latest"},
		&cli.StringFlag{Name: "on-out-of-range", Category: cat, EnvVars: cliapp.Env("job-on-out-of-range"), Value: job.OutOfRangeFail, Destination: &s.OnOutOfRange,
			Usage: "when committed offsets were deleted by retention: fail, or skip to the oldest (counted)"},
	}, cf.flags()...)
	return &cli.Command{
		Name:      "submit",
		Usage:     "submit a job (a preset plus overrides) to the running master",
		ArgsUsage: " ",
		Description: "Prints the job id alone on the last line of stdout, for scripts:\n" +
			"    JOB=$(aggregator-master submit --preset exact --run-id r1 | tail -n1)\n" +
			"Submitting again the same job id with the same spec changes nothing; another spec under\n" +
			"an existing id is refused (409). Micro-batch presets (dstream, structured) are run by the\n" +
			"master's micro-batch driver: it plans a batch every trigger interval and hands its tasks\n" +
			"to the workers.",
		Flags: flags,
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return cliapp.Usagef("unexpected argument %q", c.Args().First())
			}
			cl, err := cf.client()
			if err != nil {
				return err
			}
			given := func(name string, d time.Duration) *job.Duration { return job.GivenDuration(c.IsSet(name), d) }
			o := &s.Overrides
			o.Window, o.Slide, o.Watermark = job.Duration(window), job.Duration(slide), given("watermark", watermark)
			o.AllowedLateness, o.IdleTimeout = given("allowed-lateness", lateness), given("idle-timeout", idle)
			o.DedupHorizon, o.EmitInterval = given("dedup-horizon", horizon), given("emit-interval", emit)
			if s.ID == "" {
				s.ID = master.NewJobID(s.Preset)
			}
			stored, created, err := cl.Submit(c.Context, s)
			if err != nil {
				return answerError(err)
			}
			return client.WriteSubmitted(c.App.Writer, stored, created)
		},
	}
}

func listCommand() *cli.Command {
	var cf clientFlags
	var asJSON bool
	return &cli.Command{
		Name:  "list",
		Usage: "list the jobs of the running master with their progress",
		Flags: append([]cli.Flag{
			&cli.BoolFlag{Name: "json", Destination: &asJSON, Usage: "print the master's JSON answer"},
		}, cf.flags()...),
		Action: func(c *cli.Context) error {
			cl, err := cf.client()
			if err != nil {
				return err
			}
			jobs, err := cl.List(c.Context)
			if err != nil {
				return err
			}
			if asJSON {
				return client.WriteJSON(c.App.Writer, jobs)
			}
			return client.WriteJobs(c.App.Writer, jobs)
		},
	}
}

func statusCommand() *cli.Command {
	var cf clientFlags
	var asJSON bool
	return &cli.Command{
		Name:      "status",
		Usage:     "show one job in detail: spec, semantics, progress per worker and per partition",
		ArgsUsage: "JOB_ID",
		Flags: append([]cli.Flag{
			&cli.BoolFlag{Name: "json", Destination: &asJSON, Usage: "print the master's raw JSON answer"},
		}, cf.flags()...),
		Action: func(c *cli.Context) error {
			id, err := oneArg(c, "job id")
			if err != nil {
				return err
			}
			cl, err := cf.client()
			if err != nil {
				return err
			}
			d, raw, err := cl.Status(c.Context, id)
			if err != nil {
				return err
			}
			if asJSON {
				_, err := c.App.Writer.Write(raw)
				return err
			}
			return client.WriteDetail(c.App.Writer, d, time.Now())
		},
	}
}

func cancelCommand() *cli.Command {
	var cf clientFlags
	return &cli.Command{
		Name:      "cancel",
		Usage:     "cancel a job: the workers stop it (its results stay in Cassandra)",
		ArgsUsage: "JOB_ID",
		Flags:     cf.flags(),
		Action: func(c *cli.Context) error {
			id, err := oneArg(c, "job id")
			if err != nil {
				return err
			}
			cl, err := cf.client()
			if err != nil {
				return err
			}
			s, err := cl.Cancel(c.Context, id)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(c.App.Writer, "job %s %s (updated %s)\n", s.ID, s.State, s.UpdatedAt.UTC().Format(time.RFC3339))
			return err
		},
	}
}

func engineChoice() string {
	var names []string
	for _, e := range job.Engines() {
		names = append(names, e.Name)
	}
	return strings.Join(names, ", ")
}

func enginesCommand() *cli.Command {
	var plain bool
	return &cli.Command{
		Name:  "engines",
		Usage: "print the engines under test and the presets each runs (docs/engines.md)",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "plain", Destination: &plain, Usage: "one line per engine: NAME PRESET,PRESET DIR, for scripts"},
		},
		Action: func(c *cli.Context) error {
			if plain {
				for _, e := range job.Engines() {
					dir := e.Dir
					if dir == "" {
						dir = "-"
					}
					if _, err := fmt.Fprintf(c.App.Writer, "%s %s %s\n", e.Name, strings.Join(e.Presets, ","), dir); err != nil {
						return err
					}
				}
				return nil
			}
			return client.WriteEngines(c.App.Writer, job.Engines())
		},
	}
}

func engineArgsCommand() *cli.Command {
	var cf clientFlags
	return &cli.Command{
		Name:      "engine-args",
		Usage:     "print the engine contract flags that run a job on its engine under test, one per line",
		ArgsUsage: "JOB_ID",
		Description: "A job of a real engine (submit --engine spark, ...) runs in that engine's own process:\n" +
			"    mapfile -t args < <(aggregator-master engine-args JOB_ID)\n" +
			"    engines/spark/run.sh \"${args[@]}\" --master local\n" +
			"The flags give the job's semantics (time, window, watermark, lateness, dedup, output,\n" +
			"trigger) in the terms of docs/engines.md.",
		Flags: cf.flags(),
		Action: func(c *cli.Context) error {
			id, err := oneArg(c, "job id")
			if err != nil {
				return err
			}
			cl, err := cf.client()
			if err != nil {
				return err
			}
			d, _, err := cl.Status(c.Context, id)
			if err != nil {
				return err
			}
			if d.Spec.EngineUnderTest() == job.Boontadata {
				return cliapp.Usagef("job %s runs on this project's engine (the workers); engine-args is for jobs of an engine under test (submit --engine)", id)
			}
			args, err := d.Spec.ContractArgs()
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(c.App.Writer, strings.Join(args, "\n"))
			return err
		},
	}
}

func presetsCommand() *cli.Command {
	var cf clientFlags
	var local bool
	return &cli.Command{
		Name:  "presets",
		Usage: "print the scenario presets a job can use",
		Flags: append([]cli.Flag{
			&cli.BoolFlag{Name: "local", Destination: &local, Usage: "print this binary's table without asking the master"},
		}, cf.flags()...),
		Action: func(c *cli.Context) error {
			if local {
				return client.WritePresets(c.App.Writer, api.PresetTable())
			}
			cl, err := cf.client()
			if err != nil {
				return err
			}
			ps, err := cl.Presets(c.Context)
			if err != nil {
				return err
			}
			return client.WritePresets(c.App.Writer, ps)
		},
	}
}
