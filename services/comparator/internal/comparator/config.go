// Package comparator is the comparator command: it loads a run and the jobs
// that consumed it, compares each job with the truth and writes the reports.
package comparator

import (
	"errors"
	"fmt"
	"math"

	"github.com/urfave/cli/v2"

	"github.com/boontadata/boontadata/pkg/cassandra"
	"github.com/boontadata/boontadata/pkg/cliapp"

	"github.com/boontadata/boontadata/services/comparator/internal/compare"
)

// Output formats of --format.
const (
	FormatText = "text"
	FormatJSON = "json"
	FormatCSV  = "csv"
)

// ExitMaxExceptions is the exit status when a job has more exceptions than
// --max-exceptions allows.
const ExitMaxExceptions = 3

// Errors of Validate.
var (
	ErrNoRun        = errors.New("--run is required: the run id the simulator printed on its last line")
	ErrBadFormat    = errors.New("--format must be text, json or csv")
	ErrBadMax       = errors.New("--max-exceptions must be -1 (off) or at least 0")
	ErrBadTolerance = errors.New("--m2-tolerance must be a finite number at least 0")
)

// Config is the comparator's configuration.
type Config struct {
	RunID  string
	JobIDs cli.StringSlice
	Format string
	// Output is the file of the --format report; "" or "-" is stdout.
	Output string
	// HTML, when set, is the file of the HTML report.
	HTML          string
	MaxExceptions int
	M2Tolerance   float64
	// AllWindows prints the table of every window in the text report.
	AllWindows bool
	// Faults, when set, is the file of the run's fault timeline.
	Faults    string
	Cassandra cassandra.Config
}

// DefaultConfig returns the defaults, which work against the local
// infrastructure.
func DefaultConfig() Config {
	return Config{
		Format:        FormatText,
		MaxExceptions: -1,
		M2Tolerance:   compare.DefaultM2Tolerance,
		AllWindows:    true,
		Cassandra:     cassandra.DefaultConfig(),
	}
}

// Flags registers the configuration as flags, each also read from a
// BOONTADATA_* environment variable. The receiver holds the defaults.
func (c *Config) Flags() []cli.Flag {
	const cat = "Comparison"
	flags := []cli.Flag{
		&cli.StringFlag{Name: "run", Category: cat, EnvVars: cliapp.Env("run"), Destination: &c.RunID,
			Usage: "id of the simulator run to compare (required)"},
		&cli.StringSliceFlag{Name: "job", Category: cat, EnvVars: cliapp.Env("job"), Destination: &c.JobIDs,
			Usage: "job to compare, repeatable; default: every job of the run"},
		&cli.StringFlag{Name: "format", Category: cat, EnvVars: cliapp.Env("format"), Value: c.Format, Destination: &c.Format,
			Usage: "report format: text (for a terminal), json or csv (one row per job and window)"},
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Category: cat, EnvVars: cliapp.Env("output"), Value: c.Output, Destination: &c.Output,
			Usage: "file of the report; default or - : stdout"},
		&cli.StringFlag{Name: "html", Category: cat, EnvVars: cliapp.Env("html"), Value: c.HTML, Destination: &c.HTML,
			Usage: "also write a self-contained HTML report with charts to this file"},
		&cli.IntFlag{Name: "max-exceptions", Category: cat, EnvVars: cliapp.Env("max-exceptions"), Value: c.MaxExceptions, Destination: &c.MaxExceptions,
			Usage: "exit with status 3 when a job has more exceptions than this (for CI); -1: off"},
		&cli.Float64Flag{Name: "m2-tolerance", Category: cat, EnvVars: cliapp.Env("m2-tolerance"), Value: c.M2Tolerance, Destination: &c.M2Tolerance,
			Usage: "relative tolerance of measure2: |truth − engine| ≤ tolerance × max(|truth|, |engine|, 1); measure1 compares exactly"},
		&cli.StringFlag{Name: "faults", Category: cat, EnvVars: cliapp.Env("faults"), Value: c.Faults, Destination: &c.Faults,
			Usage: "fault timeline of the run (RUN_ID.faults.jsonl, which runscenario.sh --fault writes): the report states each fault, each job's recovery time and whether the fault changed its final results"},
		&cli.BoolFlag{Name: "windows", Category: cat, EnvVars: cliapp.Env("windows"), Value: c.AllWindows, Destination: &c.AllWindows,
			Usage: "text report: print the table of every window before the exceptions (--windows=false to leave it out)"},
	}
	return append(flags, cliapp.CassandraFlags(&c.Cassandra)...)
}

// Validate reports the first problem of the configuration.
func (c *Config) Validate() error {
	if c.RunID == "" {
		return ErrNoRun
	}
	switch c.Format {
	case FormatText, FormatJSON, FormatCSV:
	default:
		return fmt.Errorf("%w, got %q", ErrBadFormat, c.Format)
	}
	if c.MaxExceptions < -1 {
		return fmt.Errorf("%w, got %d", ErrBadMax, c.MaxExceptions)
	}
	if c.M2Tolerance < 0 || math.IsNaN(c.M2Tolerance) || math.IsInf(c.M2Tolerance, 0) {
		return fmt.Errorf("%w, got %g", ErrBadTolerance, c.M2Tolerance)
	}
	if err := c.Cassandra.Validate(); err != nil {
		return fmt.Errorf("cassandra: %w", err)
	}
	return nil
}
