package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/boontadata/boontadata/pkg/testutil"
)

// report is the part of the comparator's JSON report the scenario checks.
type report struct {
	RunID string `json:"run_id"`
	Jobs  []struct {
		Preset     string             `json:"preset"`
		Windows    int                `json:"windows"`
		Exceptions int                `json:"exceptions"`
		ByCause    map[string]int     `json:"by_cause"`
		Latency    map[string]float64 `json:"latency_ms"`
	} `json:"jobs"`
}

// TestDisruptiveScenarioAll runs what a user types, ./scripts/runscenario.sh
// all, on default settings with a fixed seed, and checks what each semantic
// does to the same input. It uses the default ports and topics and stops the
// services it started, so it runs alone, with the disruptive tests.
func TestDisruptiveScenarioAll(t *testing.T) {
	testutil.Disruptive(t)
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	t.Cleanup(func() {
		out, err := exec.Command(filepath.Join(root, "scripts", "stopscenario.sh"), "--keep-infra").CombinedOutput()
		if err != nil {
			t.Logf("stopscenario.sh: %v\n%s", err, out)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, filepath.Join(root, "scripts", "runscenario.sh"), "all", "--seed", "42").CombinedOutput()
	text := string(out)
	require.NoError(t, err, "runscenario.sh all:\n%s", lastLines(text, 60))
	require.Contains(t, text, "Side by side", "the matrix of every preset")
	require.Contains(t, text, "Comparing ingest device and downstream for m1_sum")

	m := regexp.MustCompile(`reports: \S+\.txt\s+(\S+\.json)\s+(\S+\.html)`).FindStringSubmatch(text)
	require.Len(t, m, 3, "report paths not printed:\n%s", lastLines(text, 10))
	b, err := os.ReadFile(m[1])
	require.NoError(t, err)
	require.FileExists(t, m[2])
	var r report
	require.NoError(t, json.Unmarshal(b, &r))
	byPreset := map[string]int{}
	for i, j := range r.Jobs {
		byPreset[j.Preset] = i
		t.Logf("%-17s windows %4d exceptions %4d causes %v latency p50 %.0f p99 %.0f ms",
			j.Preset, j.Windows, j.Exceptions, j.ByCause, j.Latency["p50"], j.Latency["p99"])
	}
	for _, p := range []string{"exact", "flink-event", "flink-processing", "flink-ingestion", "storm", "dstream", "structured"} {
		require.Contains(t, byPreset, p, "preset %s missing from the report", p)
	}

	exact := r.Jobs[byPreset["exact"]]
	require.Positive(t, exact.Windows)
	require.Zero(t, exact.Exceptions, "exact matches the truth")

	fe := r.Jobs[byPreset["flink-event"]]
	require.Positive(t, fe.Exceptions, "flink-event drops the late events")
	require.Equal(t, fe.Exceptions, fe.ByCause["late_dropped"], "every flink-event exception is a late event")

	storm := r.Jobs[byPreset["storm"]]
	require.Positive(t, storm.ByCause["duplicate_counted"], "storm counts duplicates")

	fp := r.Jobs[byPreset["flink-processing"]]
	require.Positive(t, fp.ByCause["other_window"], "processing time places events in other windows")

	ds := r.Jobs[byPreset["dstream"]]
	require.Positive(t, ds.ByCause["other_window"], "dstream places events by batch time")

	st := r.Jobs[byPreset["structured"]]
	require.Positive(t, st.Windows)
	require.Equal(t, st.Exceptions, st.ByCause["late_dropped"], "structured's only exceptions are events older than its 60s watermark")
}
