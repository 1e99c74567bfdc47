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
// inside and outside the dedup scope, an event exactly on a window boundary,
// a pause in arrivals, the end of input. Measure1 values are powers of two so
// each sum tells which events counted. The expected outputs follow the
// documentation of the engine each preset mirrors, cited per case.
func TestPresetDecisions(t *testing.T) {
	tests := []struct {
		preset string
		steps  []scriptStep
	}{{
		// Flink: BoundedOutOfOrdernessWatermarks emits max timestamp − bound
		// periodically (onPeriodicEmit, every auto-watermark interval), not
		// per record; a window fires once the watermark passes its end and a
		// record is late when its window's end + allowed lateness is at or
		// below the current watermark; an event-time watermark only moves
		// with events. nightlies.apache.org/flink/flink-docs-stable/docs/dev/
		// datastream/event-time/generating_watermarks/ (Writing a Periodic
		// WatermarkGenerator; Dealing With Idle Sources) and
		// .../operators/windows/ (Allowed Lateness).
		preset: "flink-event", // delay 5s, within window, append, min scope, idle 2s
		steps: []scriptStep{
			{do: "ev m1 d1 1 1 1"},
			{do: "ev m2 d1 3 2 3"},
			{do: "ev m1 d1 1 1 3.5", want: []string{"DUP m1 off=2 in-window orig=0"}},
			{do: "ev m3 d1 5 4 5"},   // on the boundary: opens [5,10)
			{do: "ev m4 d1 2 8 5.5"}, // out of order, before any watermark
			{do: "ev m5 d1 10 16 10"},
			{do: "ev m6 d1 4 32 10.1"}, // the watermark is periodic: not emitted since m5, so m6 counts
			{do: "adv 10.2", want: []string{"R d1/c [0,5) n=4 m1=43 rev=4 F @10.2"}}, // wm 10−5
			{do: "ev m7 d1 4 64 10.3", want: []string{"LATE m7 off=7 window-closed wm=5"}},
			{do: "ev m3 d1 5 4 10.4", want: []string{"DUP m3 off=8 in-window orig=3"}},
			{do: "adv 20"},
			{do: "adv 60"},             // a pause: the watermark stays at 5
			{do: "ev m8 d1 11 128 61"}, // in order after the pause: counts
			{do: "adv 61.2"},           // wm 6: nothing closes
			{do: "end 62"},             // the end of the bounded input: a final watermark
			{do: "adv 62.2", want: []string{
				"R d1/c [5,10) n=1 m1=4 rev=1 F @62.2",
				"R d1/c [10,15) n=2 m1=144 rev=2 F @62.2",
			}},
		},
	}, {
		// Flink processing-time windows fire when the operator's clock
		// passes the window's end (ProcessingTimeTrigger); device time plays
		// no part. .../operators/windows/#tumbling-windows
		preset: "flink-processing", // within window, append
		steps: []scriptStep{
			{do: "ev m1 d1 100 1 1", want: []string{"PLACED m1 off=0 [0,5)"}},
			{do: "ev m1 d1 100 1 2", want: []string{"DUP m1 off=1 in-window orig=0"}},
			{do: "ev m2 d1 100 2 5", want: []string{ // on the boundary
				"R d1/c [0,5) n=1 m1=1 rev=1 F @5",
				"PLACED m2 off=2 [5,10)",
			}},
			{do: "ev m1 d1 100 1 6", want: []string{"PLACED m1 off=3 [5,10)"}}, // a duplicate in another window counts
			{do: "ev m3 d1 7 4 7"}, // device and processing time agree: nothing to say
			{do: "adv 9.999"},
			{do: "adv 10", want: []string{"R d1/c [5,10) n=3 m1=7 rev=3 F @10"}},
			{do: "ev m4 d1 9.9 8 10.1", want: []string{"PLACED m4 off=5 [10,15)"}},
			{do: "end 11", want: []string{"R d1/c [10,15) n=1 m1=8 rev=1 F @11"}},
		},
	}, {
		// Flink with timestamps set at ingestion (here the gateway's clock,
		// the Kafka record timestamp) and a 1 s bound: the event-time rules
		// above on those timestamps.
		preset: "flink-ingestion", // ingestion time, delay 1s, within window, append, min scope, idle 2s
		steps: []scriptStep{
			{do: "ev m1 d1 1 1 1 1"},
			{do: "ev m2 d1 4.4 2 4.5 4.5"},
			{do: "ev m3 d1 3.1 4 4.6 3.2"}, // out of order inside the bound
			{do: "ev m4 d1 4.9 8 6.5 6.5", want: []string{"PLACED m4 off=3 [5,10)"}},
			{do: "adv 6.6", want: []string{"R d1/c [0,5) n=3 m1=7 rev=3 F @6.6"}}, // wm 6.5−1
			{do: "ev m5 d1 4.8 16 6.7 4.9", want: []string{"LATE m5 off=4 window-closed wm=5.5"}},
			{do: "adv 30"}, // idle: the gateway's clock is not the worker's, nothing moves
			{do: "end 31"},
			{do: "adv 31.2", want: []string{"R d1/c [5,10) n=1 m1=8 rev=1 F @31.2"}},
		},
	}, {
		// Storm at least once, a bolt updating a counter per tuple: every
		// copy of a replayed tuple counts (storm.apache.org/releases/2.6.0/
		// Guaranteeing-message-processing.html: "a tuple may be processed
		// more than once"), and each update is written as it happens.
		preset: "storm", // event time, no dedup, update per record, lateness 5 min, partition scope
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
			{do: "end 400", want: []string{
				"R d1/c [5,10) n=1 m1=2 rev=1 F @400",
				"R d1/c [305,310) n=1 m1=8 rev=1 F @400",
			}},
		},
	}, {
		// This engine's own rules (docs/engine.md): a watermark per
		// partition moved by each record, as Kafka Streams' stream time
		// (kafka.apache.org/documentation/streams/core-concepts#streams_time),
		// a window open until the watermark passes end + allowed lateness,
		// ids remembered while a copy could still count.
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
			{do: "adv 400"}, // a pause moves nothing
			{do: "ev m4 d1 365 8 401", want: []string{
				"R d1/c [0,5) n=1 m1=1 rev=1 F @401",
				"R d1/c [50,55) n=1 m1=4 rev=1 F @401",
			}},
			{do: "ev m5 d1 4 16 402", want: []string{"LATE m5 off=7 window-closed wm=355"}},
			{do: "ev m1 d1 1 1 403", want: []string{"LATE m1 off=8 window-closed wm=355"}}, // outside the scope: late
			{do: "end 404", want: []string{
				"R d1/c [100,105) n=1 m1=2 rev=1 F @404",
				"R d1/c [365,370) n=1 m1=8 rev=1 F @404",
			}},
		},
	}, {
		// Spark Structured Streaming: "watermark = max event time seen by
		// the engine − late threshold", updated at the end of each trigger
		// for the next one, never by the wall clock; dropDuplicates with a
		// watermark drops rows at or below it; update mode emits the rows
		// changed in the trigger. spark.apache.org/docs/latest/streaming/
		// apis-on-dataframes-and-datasets.html (Handling Late Data and
		// Watermarking; Streaming Deduplication). Since Spark 3.4 a batch
		// filters late rows with the watermark of the batch before and
		// evicts state with its own (IncrementalExecution:
		// watermarkForPrevBatch feeds eventTimeWatermarkForLateEvents,
		// watermarkForCurrBatch eventTimeWatermarkForEviction).
		preset: "structured", // micro-batch 5s, watermark 60s global, update
		steps: []scriptStep{
			{do: "ev m1 d1 1 1 0.1"},
			{do: "ev m2 d1 70 2 0.2"}, // no watermark in this batch
			{do: "ev m1 d1 1 1 0.3", want: []string{"DUP m1 off=2 until-watermark orig=0"}},
			{do: "ev m3 d1 2 4 0.4"}, // out of order, same batch: counted
			{do: "adv 5", want: []string{
				"R d1/c [0,5) n=2 m1=5 rev=2 @5",
				"R d1/c [70,75) n=1 m1=2 rev=1 @5",
			}}, // batch 2 evicts with 70-60 = 10 and judges with batch 1's (none)
			{do: "ev m4 d1 4 8 6"},   // counts: [0,5) is still in the state
			{do: "ev m5 d1 10 16 6"}, // counts too
			{do: "ev m6 d1 12 32 7"},
			{do: "adv 10", want: []string{
				"R d1/c [0,5) n=3 m1=13 rev=3 F @10",
				"R d1/c [10,15) n=2 m1=48 rev=2 @10",
			}},
			{do: "ev m7 d1 100 64 200"}, // the next batch, minutes later
			{do: "adv 205", want: []string{"R d1/c [100,105) n=1 m1=64 rev=1 @205"}}, // evicts with 10, next: 40
			{do: "ev m8 d1 45 128 500"}, // minutes later again: 45 > 10, kept
			{do: "ev m9 d1 30 256 501"}, // 30 s behind: judged by batch 3's 10, kept, evicted by this batch's 40
			{do: "ev m10 d1 10 512 502", want: []string{"LATE m10 off=10 before-watermark wm=10"}},
			{do: "adv 505", want: []string{
				"R d1/c [10,15) n=2 m1=48 rev=2 F @505",
				"R d1/c [30,35) n=1 m1=256 rev=1 F @505",
				"R d1/c [45,50) n=1 m1=128 rev=1 @505",
			}},
			{do: "end 506"},
			{do: "adv 510"}, // the batch that read the end: the next watermark is the final one
			{do: "adv 515", want: []string{
				"R d1/c [45,50) n=1 m1=128 rev=1 F @515",
				"R d1/c [70,75) n=1 m1=2 rev=1 F @515",
				"R d1/c [100,105) n=1 m1=64 rev=1 F @515",
			}},
		},
	}, {
		// Spark Streaming: each batch interval's records form one RDD,
		// aggregated alone; a batch's time is its end.
		// spark.apache.org/docs/latest/streaming-programming-guide.html
		// (Discretized Streams).
		preset: "dstream", // micro-batch 5s, processing (batch) time, within batch, append
		steps: []scriptStep{
			{do: "ev m1 d1 100 1 1", want: []string{"PLACED m1 off=0 [0,5)"}},
			{do: "ev m1 d1 100 1 2", want: []string{"DUP m1 off=1 in-batch orig=0"}},
			{do: "ev m2 d1 -600 2 4.999", want: []string{"PLACED m2 off=2 [0,5)"}}, // device time does not matter
			{do: "adv 5", want: []string{"R d1/c [0,5) n=2 m1=3 rev=2 F @5"}},
			{do: "ev m1 d1 100 1 5", want: []string{"PLACED m1 off=3 [5,10)"}}, // a duplicate of an earlier batch counts
			{do: "ev m3 d1 6 4 6"},
			{do: "adv 10", want: []string{"R d1/c [5,10) n=2 m1=5 rev=2 F @10"}},
			{do: "ev m4 d1 11 8 11"},
			{do: "end 11.5", want: []string{"R d1/c [10,15) n=1 m1=8 rev=1 F @11.5"}},
		},
	}}

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
