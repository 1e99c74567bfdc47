package engine

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// docRow renders a preset as its row in the table of docs/engine.md.
func docRow(s Spec) string {
	d := func(x time.Duration) string {
		switch {
		case x == 0:
			return "0"
		case x >= 2*time.Minute && x%time.Minute == 0:
			return fmt.Sprintf("%dm", x/time.Minute)
		case x%time.Second == 0:
			return fmt.Sprintf("%ds", x/time.Second)
		}
		return fmt.Sprintf("%dms", x/time.Millisecond)
	}
	trigger := s.Trigger.String()
	if s.Trigger == MicroBatch {
		trigger += " " + d(s.TriggerInterval)
	}
	win := d(s.WindowSize) + " tumbling"
	if s.WindowSlide != s.WindowSize {
		win = d(s.WindowSize) + " every " + d(s.WindowSlide)
	}
	na := func(ok bool, v string) string {
		if !ok {
			return "–"
		}
		return v
	}
	notProc := s.Time != ProcessingTime
	emit := "when final"
	if s.Output == Update {
		emit = "each Advance"
		if s.EmitPerRecord {
			emit = "each record"
		}
	}
	yes := map[bool]string{true: "yes", false: "no"}
	return fmt.Sprintf("| `%s` | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s, %s | %s |",
		s.Name, s.Mirrors, trigger, s.Time, win,
		na(notProc, d(s.WatermarkDelay)), na(notProc, s.Scope.String()), d(s.AllowedLateness), na(notProc, yes[s.LateByRecordTime]),
		na(s.Scope == ScopeMin, d(s.IdleTimeout)), s.Dedup, na(s.Dedup == DedupUntilWatermark, d(s.DedupHorizon)),
		s.Output, emit, s.Delivery)
}

// TestPresetsMatchDocs keeps the preset table of docs/engine.md equal to
// Presets: the defaults are defined once, as data, and documented once.
func TestPresetsMatchDocs(t *testing.T) {
	doc, err := os.ReadFile("../../docs/engine.md")
	if os.IsNotExist(err) {
		t.Skip("docs/engine.md is not next to this module (built outside the repository)")
	}
	require.NoError(t, err)
	if os.Getenv("PRINT_PRESET_ROWS") != "" {
		for _, p := range Presets() {
			fmt.Println(docRow(p))
		}
	}
	for _, p := range Presets() {
		row := docRow(p)
		require.True(t, strings.Contains(string(doc), row+"\n"), "docs/engine.md lacks the row\n%s", row)
	}
}
