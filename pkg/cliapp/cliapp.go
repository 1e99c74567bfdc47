// Package cliapp gives every boontadata binary the same command-line shape: a
// urfave/cli v2 application whose flags all read BOONTADATA_* environment
// variables, --log-level and --log-format, a version subcommand, a zap logger
// built from those flags and a root context cancelled by SIGINT or SIGTERM.
package cliapp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"
	"go.uber.org/zap"

	"github.com/boontadata/boontadata/pkg/buildinfo"
	"github.com/boontadata/boontadata/pkg/logging"
)

// EnvPrefix starts the name of every environment variable a flag reads.
const EnvPrefix = "BOONTADATA_"

const loggerKey = "boontadata.logger"
const profileKey = "boontadata.cpuprofile"

// Env returns the environment variable bound to a flag: "kafka-brokers" reads
// BOONTADATA_KAFKA_BROKERS.
func Env(flag string) []string {
	return []string{EnvPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))}
}

// SplitList returns the values of a list flag with each value also split at
// commas and blanks trimmed: "a:1, b:2" and two flags give the same list.
func SplitList(values []string) []string {
	var out []string
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			if p := strings.TrimSpace(part); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// App describes one binary.
type App struct {
	Name        string
	Usage       string
	Description string
	// Flags of the default action (and global flags for subcommands).
	Flags []cli.Flag
	// Commands besides version. Optional.
	Commands []*cli.Command
	// Action runs when no subcommand is given. Optional when Commands is set.
	Action cli.ActionFunc
	// Stdout and Stderr default to the process's.
	Stdout, Stderr io.Writer
}

// New builds the urfave/cli application.
func New(a App) *cli.App {
	stdout, stderr := a.Stdout, a.Stderr
	if stdout == nil {
		stdout = os.Stdout
	}
	if stderr == nil {
		stderr = os.Stderr
	}
	flags := append([]cli.Flag{
		&cli.StringFlag{
			Name: "log-level", Value: "info", EnvVars: Env("log-level"),
			Usage: "minimum level of log lines: debug, info, warn or error",
		},
		&cli.StringFlag{
			Name: "log-format", Value: logging.FormatConsole, EnvVars: Env("log-format"),
			Usage: "log line format: console (for a terminal) or json (for a log pipeline)",
		},
		&cli.StringFlag{
			Name: "cpu-profile", EnvVars: Env("cpu-profile"), TakesFile: true,
			Usage: "write a CPU profile of the whole run to `FILE`, for go tool pprof",
		},
	}, a.Flags...)
	commands := append([]*cli.Command{{
		Name:  "version",
		Usage: "print the version of this binary and exit",
		Action: func(c *cli.Context) error {
			_, err := fmt.Fprintln(c.App.Writer, buildinfo.String(a.Name))
			return err
		},
	}}, a.Commands...)
	app := &cli.App{
		Name:                   a.Name,
		Usage:                  a.Usage,
		Description:            a.Description,
		Version:                buildinfo.String(a.Name),
		HideVersion:            true,
		Flags:                  flags,
		Commands:               commands,
		Action:                 a.Action,
		Writer:                 stdout,
		ErrWriter:              stderr,
		UseShortOptionHandling: true,
		EnableBashCompletion:   true,
		Before: func(c *cli.Context) error {
			log, err := logging.New(c.String("log-level"), c.String("log-format"))
			if err != nil {
				return UsageError{Err: err}
			}
			c.App.Metadata = map[string]any{loggerKey: log.With(zap.String(logging.KeyService, a.Name))}
			if path := c.String("cpu-profile"); path != "" {
				f, err := os.Create(path)
				if err != nil {
					return UsageError{Err: fmt.Errorf("--cpu-profile: %w", err)}
				}
				if err := pprof.StartCPUProfile(f); err != nil {
					f.Close()
					return fmt.Errorf("--cpu-profile: %w", err)
				}
				c.App.Metadata[profileKey] = f
			}
			return nil
		},
		After: func(c *cli.Context) error {
			if f, ok := c.App.Metadata[profileKey].(*os.File); ok {
				pprof.StopCPUProfile()
				f.Close()
			}
			if log, ok := c.App.Metadata[loggerKey].(*zap.Logger); ok {
				_ = log.Sync() // stderr cannot always be synced; nothing to do about it
			}
			return nil
		},
		// Errors are printed once, by Main, with the binary's name.
		ExitErrHandler: func(*cli.Context, error) {},
	}
	return app
}

// Logger returns the logger built from --log-level and --log-format.
func Logger(c *cli.Context) *zap.Logger {
	if c != nil && c.App != nil {
		if log, ok := c.App.Metadata[loggerKey].(*zap.Logger); ok {
			return log
		}
	}
	return zap.NewNop()
}

// Main runs the application with the process's arguments under a context that
// SIGINT and SIGTERM cancel, prints a failure as "NAME: error" and returns the
// exit status: 0 on success, 1 on error, 2 on a usage error.
func Main(a App) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Run(ctx, a, os.Args)
}

// Run is Main with the context and arguments given, for tests.
func Run(ctx context.Context, a App, args []string) int {
	app := New(a)
	err := app.RunContext(ctx, args)
	if err == nil {
		return 0
	}
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		// Interrupted by a signal after a graceful stop: not a failure.
		return 0
	}
	fmt.Fprintf(app.ErrWriter, "%s: %v\n", a.Name, err)
	var exit cli.ExitCoder
	if errors.As(err, &exit) && exit.ExitCode() != 0 {
		return exit.ExitCode()
	}
	if isUsage(err) {
		return 2
	}
	return 1
}

// UsageError marks an error caused by wrong flags or arguments (exit status 2).
type UsageError struct{ Err error }

func (e UsageError) Error() string { return e.Err.Error() + " (see --help)" }
func (e UsageError) Unwrap() error { return e.Err }

// Usagef returns a UsageError.
func Usagef(format string, args ...any) error {
	return UsageError{Err: fmt.Errorf(format, args...)}
}

func isUsage(err error) bool {
	var u UsageError
	if errors.As(err, &u) {
		return true
	}
	msg := err.Error()
	return strings.HasPrefix(msg, "flag provided but not defined") ||
		strings.HasPrefix(msg, "invalid value") ||
		strings.HasPrefix(msg, "Required flag") ||
		strings.HasPrefix(msg, "Required flags")
}
