package cliapp

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/urfave/cli/v2"
)

func TestEnv(t *testing.T) {
	require.Equal(t, []string{"BOONTADATA_KAFKA_BROKERS"}, Env("kafka-brokers"))
	require.Equal(t, []string{"BOONTADATA_LOG_LEVEL"}, Env("log-level"))
}

func run(t *testing.T, a App, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	a.Stdout, a.Stderr = &out, &errOut
	code := Run(context.Background(), a, append([]string{a.Name}, args...))
	return code, out.String(), errOut.String()
}

func TestRunExitCodes(t *testing.T) {
	var got string
	app := App{
		Name:  "demo",
		Flags: []cli.Flag{&cli.StringFlag{Name: "colour", EnvVars: Env("colour"), Value: "blue"}},
		Action: func(c *cli.Context) error {
			got = c.String("colour")
			Logger(c).Info("ran")
			switch got {
			case "fail":
				return errors.New("it broke")
			case "usage":
				return Usagef("colour %q is not a colour", got)
			}
			return nil
		},
	}
	tests := []struct {
		name     string
		env      string
		args     []string
		wantCode int
		wantErr  string
	}{
		{name: "default", wantCode: 0},
		{name: "flag", args: []string{"--colour", "red"}, wantCode: 0},
		{name: "env var", env: "green", wantCode: 0},
		{name: "action error", args: []string{"--colour", "fail"}, wantCode: 1, wantErr: "demo: it broke"},
		{name: "usage error", args: []string{"--colour", "usage"}, wantCode: 2, wantErr: "(see --help)"},
		{name: "unknown flag", args: []string{"--nope"}, wantCode: 2, wantErr: "flag provided but not defined"},
		{name: "bad log level", args: []string{"--log-level", "loud"}, wantCode: 2, wantErr: "must be debug, info, warn or error"},
		{name: "bad log format", args: []string{"--log-format", "xml"}, wantCode: 2, wantErr: "console or json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.env != "" {
				t.Setenv("BOONTADATA_COLOUR", tt.env)
			}
			code, _, errOut := run(t, app, tt.args...)
			require.Equal(t, tt.wantCode, code, errOut)
			require.Contains(t, errOut, tt.wantErr)
			if tt.env != "" {
				require.Equal(t, tt.env, got)
			}
		})
	}
}

func TestVersionCommand(t *testing.T) {
	code, out, _ := run(t, App{Name: "demo"}, "version")
	require.Equal(t, 0, code)
	require.Contains(t, out, "demo ")
	require.Contains(t, out, "go1.")
}

func TestHelpNamesEnvVars(t *testing.T) {
	code, out, _ := run(t, App{Name: "demo", Usage: "does demo things"}, "--help")
	require.Equal(t, 0, code)
	require.Contains(t, out, "does demo things")
	require.Contains(t, out, "$BOONTADATA_LOG_LEVEL")
	require.Contains(t, out, "$BOONTADATA_LOG_FORMAT")
}

func TestSplitList(t *testing.T) {
	require.Equal(t, []string{"a:1", "b:2", "c:3"}, SplitList([]string{"a:1, b:2", " c:3 ", ","}))
	require.Empty(t, SplitList(nil))
}

func TestCPUProfile(t *testing.T) {
	app := App{Name: "demo", Action: func(*cli.Context) error {
		deadline := time.Now().Add(50 * time.Millisecond)
		for n := 0; time.Now().Before(deadline); n++ {
			_ = n * n
		}
		return nil
	}}
	path := filepath.Join(t.TempDir(), "cpu.pprof")
	code, _, _ := run(t, app, "--cpu-profile", path)
	require.Equal(t, 0, code)
	st, err := os.Stat(path)
	require.NoError(t, err)
	require.Positive(t, st.Size(), "a profile was written")

	code, _, stderr := run(t, app, "--cpu-profile", filepath.Join(t.TempDir(), "missing", "cpu.pprof"))
	require.Equal(t, 2, code)
	require.Contains(t, stderr, "--cpu-profile")
}
