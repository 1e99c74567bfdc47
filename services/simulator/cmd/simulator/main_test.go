package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/boontadata/boontadata/pkg/cliapp"
	"github.com/boontadata/boontadata/pkg/testutil"
)

func TestCommandLine(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantStatus int
		wantOut    string
		wantErr    string
	}{
		{"dry run", []string{"--dry-run", "--clock", "fast", "--start-time", "2026-01-01T00:00:00Z", "--seed", "3", "--count", "4", "--devices", "2", "--log-level", "error"},
			0, "|cat-", ""},
		{"count and duration", []string{"--count", "5", "--duration", "1s"}, 2, "", "not both"},
		{"bad flag value", []string{"--dry-run", "--record", "some"}, 2, "", "--record"},
		{"env var", []string{"--dry-run", "--count", "1"}, 2, "", "--target"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "env var" {
				t.Setenv("BOONTADATA_TARGET", "carrier-pigeon")
			}
			var stdout, stderr bytes.Buffer
			status := runApp(t, &stdout, &stderr, tt.args...)
			require.Equal(t, tt.wantStatus, status, "stderr: %s", stderr.String())
			testutil.Output(t, "stdout", stdout.String(), tt.wantOut)
			testutil.Output(t, "stderr", stderr.String(), tt.wantErr)
		})
	}
}

func TestDryRunPrintsTheSameLinesTwice(t *testing.T) {
	args := []string{"--dry-run", "--clock", "fast", "--start-time", "1767225600000", "--seed", "11", "--count", "1000", "--log-level", "error"}
	var a, b, errs bytes.Buffer
	require.Zero(t, runApp(t, &a, &errs, args...))
	require.Zero(t, runApp(t, &b, &errs, args...))
	require.Equal(t, a.String(), b.String())
	require.Len(t, strings.Split(strings.TrimSpace(a.String()), "\n"), 1000)
}

func runApp(t *testing.T, stdout, stderr *bytes.Buffer, args ...string) int {
	t.Helper()
	return cliapp.Run(context.Background(), app(stdout, stderr, false), append([]string{"simulator"}, args...))
}
