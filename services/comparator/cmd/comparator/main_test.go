package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/boontadata/boontadata/pkg/cliapp"
	"github.com/boontadata/boontadata/pkg/engine"
	"github.com/boontadata/boontadata/pkg/testutil"

	"github.com/boontadata/boontadata/services/comparator/internal/compare"
)

// oneJob serves run r1 with one window that job j counted twice.
type oneJob struct{}

func (oneJob) LoadDecisions(context.Context, string, string, []string) ([]compare.Decision, error) {
	return nil, nil
}

func (oneJob) LoadRun(context.Context, string) (compare.RunData, error) {
	k := compare.Key{DeviceID: "d1", Category: "c1", WindowStart: 1_767_225_600_000}
	return compare.RunData{Run: compare.Run{ID: "r1", Status: "done", WindowMs: 5000}, DeviceIDs: []string{"d1"},
		TruthByDevice: []compare.TruthRow{{Key: k, WindowEnd: k.WindowStart + 5000, Agg: compare.Agg{M1: 1, M2: 1, Count: 1}}}}, nil
}

func (oneJob) Jobs(ctx context.Context) ([]compare.Job, error) {
	j, err := oneJob{}.Job(ctx, "j")
	return []compare.Job{j}, err
}

func (oneJob) Job(context.Context, string) (compare.Job, error) {
	spec, err := engine.Preset("storm")
	return compare.Job{ID: "j", RunID: "r1", Preset: "storm", Engine: spec}, err
}

func (oneJob) HasResults(context.Context, string, string, []string) (bool, error) { return true, nil }

func (oneJob) LoadResults(context.Context, string, string, []string) ([]compare.Result, []compare.Revision, error) {
	k := compare.Key{DeviceID: "d1", Category: "c1", WindowStart: 1_767_225_600_000}
	return []compare.Result{{Key: k, WindowEnd: k.WindowStart + 5000, Agg: compare.Agg{M1: 2, M2: 2, Count: 2}, Final: true}}, nil, nil
}

func TestExitStatus(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string
		wantErr  string
	}{
		{"report", []string{"--run", "r1"}, 0, "1 exceptions out of 1", ""},
		{"json", []string{"--run", "r1", "--format", "json"}, 0, `"exceptions": 1`, ""},
		{"max exceptions not exceeded", []string{"--run", "r1", "--max-exceptions", "1"}, 0, "1 exceptions out of 1", ""},
		{"max exceptions exceeded", []string{"--run", "r1", "--max-exceptions", "0"}, 3, "1 exceptions out of 1", "job j (storm) has 1 exceptions, more than --max-exceptions 0"},
		{"no run", nil, 2, "", "--run is required"},
		{"bad format", []string{"--run", "r1", "--format", "xml"}, 2, "", "--format must be text, json or csv"},
		{"stray argument", []string{"--run", "r1", "extra"}, 2, "", "unexpected arguments"},
		{"help names the env vars", []string{"--help"}, 0, "$BOONTADATA_MAX_EXCEPTIONS", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := cliapp.Run(context.Background(), app(&out, &errOut, oneJob{}), append([]string{"comparator", "--log-level", "error"}, tt.args...))
			require.Equal(t, tt.wantCode, code, errOut.String())
			testutil.Output(t, "stdout", out.String(), tt.wantOut)
			testutil.Output(t, "stderr", errOut.String(), tt.wantErr)
		})
	}
}
