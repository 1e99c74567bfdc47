package engine

import (
	"testing"

	"github.com/stretchr/testify/require"
)

type scriptStep struct {
	do   string
	want []string
}

// TestPresetDecisions runs hand-made inputs through every preset: an
// out-of-order event inside the watermark and one beyond it, a duplicate
// inside and outside the dedup scope, an event exactly on a window boundary.
// Measure1 values are powers of two so each sum tells which events counted.
func TestPresetDecisions(t *testing.T) {
	tests := []struct {
		preset string
		steps  []scriptStep
	}{{
		preset: "flink-event", // delay 5s, within window, append
		steps: []scriptStep{
			{do: "ev m1 d1 1 1"},
			{do: "ev m2 d1 3 2"},
			{do: "ev m1 d1 1 1", want: []string{"DUP m1 off=2 in-window orig=0"}},
			{do: "ev m3 d1 5 4"}, // on the boundary: opens [5,10)
			{do: "ev m4 d1 2 8"}, // out of order, inside the watermark (0)
			{do: "ev m5 d1 10 16", want: []string{"R d1/c [0,5) n=3 m1=11 rev=3 F @10"}},
			{do: "ev m6 d1 4 32", want: []string{"LATE m6 off=6 window-closed wm=5"}},
			{do: "ev m3 d1 5 4", want: []string{"DUP m3 off=7 in-window orig=3"}},
			{do: "adv 20"}, // idle for 10s only: no change yet
			{do: "adv 26", want: []string{"R d1/c [5,10) n=1 m1=4 rev=1 F @26"}}, // idle 16s: wm = 5+6 = 11
			{do: "flush 27", want: []string{"R d1/c [10,15) n=1 m1=16 rev=1 F @27"}},
		},
	}, {
		preset: "flink-processing", // processing time, within window, append
		steps: []scriptStep{
			{do: "ev m1 d1 100 1 1"},
			{do: "ev m1 d1 100 1 2", want: []string{"DUP m1 off=1 in-window orig=0"}},
			{do: "ev m2 d1 100 2 5", want: []string{"R d1/c [0,5) n=1 m1=1 rev=1 F @5"}}, // on the boundary
			{do: "ev m1 d1 100 1 6"}, // duplicate outside the scope: another window
			{do: "adv 9.999"},
			{do: "adv 10", want: []string{"R d1/c [5,10) n=2 m1=3 rev=2 F @10"}},
		},
	}, {
		preset: "flink-ingestion", // ingestion time, delay 1s, within window, append
		steps: []scriptStep{
			{do: "ev m1 d1 900 1 1 1"},
			{do: "ev m2 d1 900 2 4.5 4.5"},
			{do: "ev m3 d1 900 4 4.6 3.2"}, // out of order inside the watermark (3.5)
			{do: "ev m4 d1 900 8 6.5 6.5", want: []string{"R d1/c [0,5) n=3 m1=7 rev=3 F @6.5"}},
			{do: "ev m5 d1 900 16 6.6 4.9", want: []string{"LATE m5 off=4 window-closed wm=5.5"}},
			{do: "adv 21"}, // quiet 14.4s: wm = 5.5 + 4.4
			{do: "adv 21.2", want: []string{"R d1/c [5,10) n=1 m1=8 rev=1 F @21.2"}},
		},
	}, {
		preset: "storm", // event time, no dedup, update per record, lateness 5 min
		steps: []scriptStep{
			{do: "ev m1 d1 1 1", want: []string{"R d1/c [0,5) n=1 m1=1 rev=1 @1"}},
			{do: "ev m1 d1 1 1 1.5", want: []string{"R d1/c [0,5) n=2 m1=2 rev=2 @1.5"}}, // duplicates count
			{do: "ev m2 d1 5 2", want: []string{"R d1/c [5,10) n=1 m1=2 rev=1 @5"}},
			{do: "ev m3 d1 2 4 6", want: []string{"R d1/c [0,5) n=3 m1=6 rev=3 @6"}}, // late but allowed
			{do: "ev m4 d1 305 8", want: []string{
				"R d1/c [305,310) n=1 m1=8 rev=1 @305",
				"R d1/c [0,5) n=3 m1=6 rev=3 F @305",
			}},
			{do: "ev m5 d1 4 16 306", want: []string{"LATE m5 off=5 window-closed wm=305"}},
			{do: "flush 400", want: []string{
				"R d1/c [5,10) n=1 m1=2 rev=1 F @400",
				"R d1/c [305,310) n=1 m1=8 rev=1 F @400",
			}},
		},
	}, {
		preset: "exact", // delay 10s, lateness 5 min, dedup until watermark + 30s, update
		steps: []scriptStep{
			{do: "ev m1 d1 1 1"},
			{do: "ev m1 d1 1 1 2", want: []string{"DUP m1 off=1 until-watermark orig=0"}},
			{do: "adv 5", want: []string{"R d1/c [0,5) n=1 m1=1 rev=1 @5"}},
			{do: "ev m2 d1 100 2"}, // wm 90: [0,5) stays open until wm 305, and so does m1's id
			{do: "ev m1 d1 1 1 101", want: []string{"DUP m1 off=3 until-watermark orig=0"}},
			{do: "ev m3 d1 50 4 102"}, // 50s late: inside the allowed lateness
			{do: "ev m3 d1 50 4 103", want: []string{"DUP m3 off=5 until-watermark orig=4"}},
			{do: "adv 105", want: []string{
				"R d1/c [100,105) n=1 m1=2 rev=1 @105",
				"R d1/c [50,55) n=1 m1=4 rev=1 @105",
			}},
			{do: "ev m4 d1 365 8", want: []string{
				"R d1/c [0,5) n=1 m1=1 rev=1 F @365",
				"R d1/c [50,55) n=1 m1=4 rev=1 F @365",
			}},
			{do: "ev m5 d1 4 16 366", want: []string{"LATE m5 off=7 window-closed wm=355"}},
			{do: "ev m1 d1 1 1 367", want: []string{"LATE m1 off=8 window-closed wm=355"}}, // outside the scope: late
			{do: "flush 400", want: []string{
				"R d1/c [100,105) n=1 m1=2 rev=1 F @400",
				"R d1/c [365,370) n=1 m1=8 rev=1 F @400",
			}},
		},
	}, {
		preset: "structured", // micro-batch 5s, watermark 60s from earlier batches, update
		steps: []scriptStep{
			{do: "ev m1 d1 1 1 0.1"},
			{do: "ev m2 d1 70 2 0.2"}, // wm stays unset in this batch
			{do: "ev m1 d1 1 1 0.3", want: []string{"DUP m1 off=2 until-watermark orig=0"}},
			{do: "ev m3 d1 2 4 0.4"}, // out of order, same batch: counted
			{do: "adv 5", want: []string{
				"R d1/c [0,5) n=2 m1=5 rev=2 @5",
				"R d1/c [70,75) n=1 m1=2 rev=1 @5",
			}}, // next batch's wm: 70-60 = 10
			{do: "ev m4 d1 4 8 6", want: []string{"LATE m4 off=4 window-closed wm=10"}},
			{do: "ev m5 d1 10 16 6"}, // opens [10,15) but 10 <= wm
			{do: "ev m6 d1 12 32 7"},
			{do: "adv 10", want: []string{
				"R d1/c [0,5) n=2 m1=5 rev=2 F @10",
				"R d1/c [10,15) n=1 m1=32 rev=1 @10",
			}},
			{do: "flush 11", want: []string{
				"R d1/c [10,15) n=1 m1=32 rev=1 F @11",
				"R d1/c [70,75) n=1 m1=2 rev=1 F @11",
			}},
		},
	}, {
		preset: "dstream", // micro-batch 5s, processing (batch) time, within batch, append
		steps: []scriptStep{
			{do: "ev m1 d1 100 1 1"},
			{do: "ev m1 d1 100 1 2", want: []string{"DUP m1 off=1 in-batch orig=0"}},
			{do: "ev m2 d1 -600 2 4.999"}, // device time does not matter
			{do: "adv 5", want: []string{"R d1/c [0,5) n=2 m1=3 rev=2 F @5"}},
			{do: "ev m1 d1 100 1 5"}, // on the boundary; duplicate of an earlier batch counts
			{do: "adv 10", want: []string{"R d1/c [5,10) n=1 m1=1 rev=1 F @10"}},
		},
	}}
	// The structured script expects one more decision in the second batch.
	tests[5].steps[6].want = []string{"LATE m5 off=5 before-watermark wm=10"}

	names := map[string]bool{}
	for _, tt := range tests {
		names[tt.preset] = true
		t.Run(tt.preset, func(t *testing.T) {
			spec, err := Preset(tt.preset)
			require.NoError(t, err)
			d := newDriver(t, spec)
			for i, s := range tt.steps {
				d.step(s.do)
				require.Equal(t, s.want, d.rec.take(), "step %d: %s", i, s.do)
			}
		})
	}
	for _, n := range PresetNames() {
		require.True(t, names[n], "preset %s has no decision test", n)
	}
}

func TestPresetsValidate(t *testing.T) {
	for _, p := range Presets() {
		require.NoError(t, p.Validate(), p.Name)
	}
	_, err := Preset("spark")
	require.ErrorIs(t, err, ErrUnknownPreset)
}
