package replay

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/boontadata/boontadata/pkg/engine"
)

const example = `# a comment
@1472209315000
123-1|123|1472209315500|cat1|10|1.5
123-2|123|1472209317000|cat1|20|2.25
123-1|123|1472209315500|cat1|10|1.5
@1472209320000
123-3|123|1472209320000|cat1|30|3
123-4|123|1472209318000|cat1|40|4
@1472209326000
123-5|123|1472209326000|cat1|50|5
123-6|123|1472209316000|cat1|60|6
`

func run(t *testing.T, preset, input string, flush bool) (string, Summary, error) {
	t.Helper()
	spec, err := engine.Preset(preset)
	require.NoError(t, err)
	var out bytes.Buffer
	sum, err := Run(context.Background(), strings.NewReader(input), &out, spec, Options{Flush: flush})
	return out.String(), sum, err
}

func TestReplayPresets(t *testing.T) {
	tests := []struct {
		preset                  string
		results, dups, late     int
		finalSum1ForFirstWindow int64
	}{
		// Flink's watermark is periodic: the tick @...326000 emits 320−5 =
		// 315 s, so 123-6 (316 s, window ending 320 s) is not late yet.
		{preset: "flink-event", results: 3, dups: 1, late: 0, finalSum1ForFirstWindow: 130},
		{preset: "structured", results: 8, dups: 1, late: 0, finalSum1ForFirstWindow: 130},
		{preset: "exact", results: 6, dups: 1, late: 0, finalSum1ForFirstWindow: 130},
		{preset: "storm", results: 10, dups: 0, late: 0, finalSum1ForFirstWindow: 140},
		{preset: "dstream", results: 3, dups: 1, late: 0, finalSum1ForFirstWindow: 30},
		{preset: "flink-processing", results: 3, dups: 1, late: 0, finalSum1ForFirstWindow: 30},
		{preset: "flink-ingestion", results: 3, dups: 1, late: 0, finalSum1ForFirstWindow: 30},
	}
	for _, tt := range tests {
		t.Run(tt.preset, func(t *testing.T) {
			out, sum, err := run(t, tt.preset, example, true)
			require.NoError(t, err)
			require.Equal(t, int64(7), sum.Events)
			again, _, err := run(t, tt.preset, example, true)
			require.NoError(t, err)
			require.Equal(t, out, again, "same input, same output")

			var results, dups, late int
			var first int64
			for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
				var m map[string]any
				require.NoError(t, json.Unmarshal([]byte(l), &m), l)
				switch {
				case m["type"] == "result":
					results++
					if m["final"] == true && first == 0 {
						first = int64(m["sum_measure1"].(float64))
					}
				case m["decision"] == "duplicate_dropped":
					dups++
				case m["decision"] == "late_dropped":
					late++
				}
			}
			require.Equal(t, tt.results, results, out)
			require.Equal(t, tt.dups, dups, out)
			require.Equal(t, tt.late, late, out)
			require.Equal(t, tt.finalSum1ForFirstWindow, first, out)
		})
	}
}

func TestReplayWithoutFlushKeepsOpenWindows(t *testing.T) {
	// One more tick emits 326−5 = 321 s: the first window fires, the others
	// stay open without the end of input.
	out, _, err := run(t, "flink-event", example+"@1472209326200\n", false)
	require.NoError(t, err)
	require.Equal(t, 1, strings.Count(out, `"type":"result"`), out)
}

func TestReplayRejectsBadInput(t *testing.T) {
	tests := []struct {
		name, input, want string
	}{
		{name: "event before time", input: "123-1|123|1472209315500|cat1|10|1.5\n", want: "line 1: bad replay input: an @<ms> line"},
		{name: "time goes back", input: "@1472209315000\n@1472209314999\n", want: "line 2: bad replay input: @1472209314999 goes back in time"},
		{name: "bad time", input: "@soon\n", want: "line 1: bad replay input: @soon"},
		{name: "bad event", input: "@1472209315000\n\n123-1|123|1472209315500|cat1|1x|1.5\n", want: "line 3: bad replay input: measure1: not an integer"},
		{name: "unknown directive", input: "@1472209315000\n!stop\n", want: "line 2: bad replay input: unknown directive !stop"},
		{name: "partition out of range", input: "@1472209315000\n!partition 1\n", want: "line 2: bad replay input: !partition 1: want 0 to 0"},
		{name: "end before time", input: "!end\n", want: "line 1: bad replay input: an @<ms> line must set the processing time before !end"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := run(t, "exact", tt.input, true)
			require.ErrorIs(t, err, ErrInput)
			require.ErrorContains(t, err, tt.want)
		})
	}
}

// scopesInput: partition 0 runs 20 s ahead of partition 1.
const scopesInput = `@1472209315000
!partition 0
a1|d1|1472209316000|c|1|1
a2|d1|1472209335000|c|2|1
!partition 1
b1|d2|1472209317000|c|4|1
@1472209318000
b2|d2|1472209318000|c|8|1
!partition 0
a3|d1|1472209319000|c|16|1
@1472209319000
!partition 0
!end
!partition 1
!end
@1472209319200
`

// TestReplayScopes: the same two-partition input under the three scopes of
// the docs (docs/engine.md, Watermark scope): only partition 0's own late
// record for Kafka Streams' per-partition stream time, nothing late for
// Flink's minimum, both late records for Spark's global maximum.
func TestReplayScopes(t *testing.T) {
	for _, tt := range []struct {
		scope string
		late  []string
	}{
		{scope: "partition", late: []string{"a3"}},
		{scope: "min", late: nil},
		{scope: "global", late: []string{"b2", "a3"}},
	} {
		t.Run(tt.scope, func(t *testing.T) {
			spec, err := engine.Preset("flink-event") // delay 5 s
			require.NoError(t, err)
			spec.Scope = map[string]engine.WatermarkScope{"partition": engine.ScopePartition, "min": engine.ScopeMin, "global": engine.ScopeGlobal}[tt.scope]
			if spec.Scope != engine.ScopeMin {
				spec.IdleTimeout = 0
			}
			var out bytes.Buffer
			_, err = Run(context.Background(), strings.NewReader(scopesInput), &out, spec, Options{Partitions: 2})
			require.NoError(t, err)
			var late []string
			finals := 0
			for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
				var m map[string]any
				require.NoError(t, json.Unmarshal([]byte(l), &m), l)
				if m["decision"] == "late_dropped" {
					late = append(late, m["message_id"].(string))
				}
				if m["final"] == true {
					finals++
				}
			}
			require.Equal(t, tt.late, late, out.String())
			require.Equal(t, 3, finals, "the ends of both partitions close every window: %s", out.String())
		})
	}
}
