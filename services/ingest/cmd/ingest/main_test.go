package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/boontadata/boontadata/pkg/cliapp"
	"github.com/boontadata/boontadata/pkg/testutil"
)

func TestCommandLine(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		status int
		out    string
		errOut string
	}{
		{name: "help", args: []string{"--help"}, status: 0, out: "/v1/events"},
		{name: "help lists flags", args: []string{"--help"}, status: 0, out: "--max-in-flight"},
		{name: "loadtest help", args: []string{"loadtest", "--help"}, status: 0, out: "--concurrency"},
		{name: "bad flag value", args: []string{"--max-in-flight", "0"}, status: 2, errOut: "max-in-flight"},
		{name: "stray argument", args: []string{"serve"}, status: 2, errOut: "unexpected argument"},
		{name: "loadtest bad batch", args: []string{"loadtest", "--batch", "0"}, status: 2, errOut: "--batch"},
		{name: "open beyond loopback refused", args: []string{"--listen", ":8080"}, status: 2, errOut: "--allow-no-auth"},
		{name: "help lists the allow flag", args: []string{"--help"}, status: 0, out: "BOONTADATA_INGEST_ALLOW_NO_AUTH"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			a := newApp()
			a.Stdout, a.Stderr = &out, &errOut
			status := cliapp.Run(context.Background(), a, append([]string{"ingest"}, tt.args...))
			require.Equal(t, tt.status, status, errOut.String())
			testutil.Output(t, "stdout", out.String(), tt.out)
			testutil.Output(t, "stderr", errOut.String(), tt.errOut)
		})
	}
}
