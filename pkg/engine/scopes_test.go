package engine

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestWatermarkScopes feeds one two-partition input to the three scopes. The
// expected outputs follow each engine's documentation:
//
//   - partition (Kafka Streams): "stream time" is tracked per partition
//     task (kafka.apache.org/documentation/streams/core-concepts#streams_time),
//     so partition 0 running ahead makes only its own old records late;
//   - min (Flink): "the operator's current event time is the minimum of its
//     input streams' event times", and the Kafka source generates watermarks
//     per partition and merges them the same way
//     (nightlies.apache.org/flink/flink-docs-stable/docs/concepts/time/
//     #watermarks-in-parallel-streams; .../connectors/datastream/kafka/
//     #event-time-and-watermarks), so the slow partition 1 holds everyone;
//   - global (Spark): one watermark, "max event time seen by the engine −
//     late threshold" over every partition (spark.apache.org/docs/latest/
//     streaming/apis-on-dataframes-and-datasets.html#handling-late-data-and-
//     watermarking), so partition 0's progress makes partition 1's
//     records late too.
func TestWatermarkScopes(t *testing.T) {
	input := []string{
		"part 0", "ev a1 d1 1 1 1", "ev a2 d1 20 2 2",
		"part 1", "ev b1 d2 2 4 1.5",
		"adv 3",
		"part 1", "ev b2 d2 3 8 3.5",
		"part 0", "ev a3 d1 4 16 4",
		"adv 4.5",
	}
	tests := []struct {
		scope WatermarkScope
		want  []string
	}{{
		scope: ScopePartition, // p0 at 15 after a2; p1 at -3
		want: []string{
			"R d1/c [0,5) n=1 m1=1 rev=1 F @2", // a2 moved p0 to 15
			"LATE a3 off=2 window-closed wm=15",
		},
	}, {
		scope: ScopeMin, // min(15, -3) = -3 at the tick: nothing late
	}, {
		scope: ScopeGlobal, // max(15, -3) = 15 at the tick, for both partitions
		want: []string{
			"R d1/c [0,5) n=1 m1=1 rev=1 F @3", // the tick brings 15 to both partitions
			"R d2/c [0,5) n=1 m1=4 rev=1 F @3 p=1",
			"LATE b2 off=1 window-closed wm=15 p=1",
			"LATE a3 off=2 window-closed wm=15",
		},
	}}
	for _, tt := range tests {
		t.Run(tt.scope.String(), func(t *testing.T) {
			spec := Spec{Name: "scope", Time: EventTime, WindowSize: 5 * time.Second, WindowSlide: 5 * time.Second,
				Trigger: Continuous, WatermarkDelay: 5 * time.Second, Scope: tt.scope,
				Dedup: DedupNone, Output: Append, Delivery: ExactlyOnce}
			d := newDriverN(t, spec, 2)
			for _, s := range input {
				d.step(s)
			}
			require.Equal(t, tt.want, d.rec.take())
		})
	}
}

// TestMinScopeIdleAndEnded: a partition without records holds Flink's
// watermark back until it is idle (WatermarkStrategy.withIdleness: "the
// source ... is marked idle ... and downstream operators do not wait for
// watermarks from this partition"), and starts holding it again with its
// next record; an ended partition never holds it, and once every partition
// ended the final watermark closes every window (a bounded source's
// Long.MAX_VALUE watermark).
func TestMinScopeIdleAndEnded(t *testing.T) {
	spec, err := Preset("flink-event") // delay 5s
	require.NoError(t, err)
	spec.IdleTimeout = 10 * time.Second
	d := newDriverN(t, spec, 2)
	steps := []scriptStep{
		{do: "part 0"},
		{do: "ev a1 d1 1 1 1"},
		{do: "ev a2 d1 20 2 2"},
		{do: "adv 5"}, // p1 has no watermark yet: nothing fires
		{do: "adv 11", want: []string{"R d1/c [0,5) n=1 m1=1 rev=1 F @11"}}, // p1 idle since 1 (10s): min over p0 alone = 15
		{do: "part 1"},
		{do: "ev b1 d2 12 4 12"}, // p1 active again, below the combined 15
		{do: "part 0"},
		{do: "ev a3 d1 40 8 13"},
		{do: "adv 13.2"}, // min(35, 7) = 7 < 15: the combined watermark stays at 15
		{do: "end 14"},   // p0 ends: min over p1 alone
		{do: "part 1"},
		{do: "ev b2 d2 30 16 15"},
		{do: "adv 15.2", want: []string{"R d1/c [20,25) n=1 m1=2 rev=1 F @15.2"}}, // min = p1's 25
		{do: "end 16"},
		{do: "adv 16.2", want: []string{
			"R d1/c [40,45) n=1 m1=8 rev=1 F @16.2",
			"R d2/c [30,35) n=1 m1=16 rev=1 F @16.2 p=1",
		}},
	}
	// b1 at 12 is in [10,15), whose end (15) is at or below the combined
	// watermark 15: late, as Flink drops it against the operator's watermark.
	steps[6].want = []string{"LATE b1 off=0 window-closed wm=15 p=1"}
	for i, s := range steps {
		d.step(s.do)
		require.Equal(t, s.want, d.rec.take(), "step %d: %s", i, s.do)
	}
	require.Equal(t, int64(math.MaxInt64), d.local.Watermark())
}

func TestCombine(t *testing.T) {
	const lo = math.MinInt64
	pm := func(wm int64, idle, ended bool) PartitionMark {
		return PartitionMark{Watermark: wm, Idle: idle, Ended: ended}
	}
	tests := []struct {
		name  string
		scope WatermarkScope
		prev  int64
		marks []PartitionMark
		want  int64
	}{
		{"min of active", ScopeMin, lo, []PartitionMark{pm(10, false, false), pm(5, false, false)}, 5},
		{"unreported partition holds min back", ScopeMin, lo, []PartitionMark{pm(10, false, false), pm(lo, false, false)}, lo},
		{"idle partition skipped", ScopeMin, lo, []PartitionMark{pm(10, false, false), pm(lo, true, false)}, 10},
		{"ended partition skipped", ScopeMin, lo, []PartitionMark{pm(10, false, false), pm(3, false, true)}, 10},
		{"all idle keeps prev", ScopeMin, 7, []PartitionMark{pm(10, true, false), pm(3, true, false)}, 7},
		{"never back", ScopeMin, 7, []PartitionMark{pm(10, false, false), pm(3, false, false)}, 7},
		{"all ended", ScopeMin, 7, []PartitionMark{pm(10, false, true), pm(3, true, true)}, math.MaxInt64},
		{"global max", ScopeGlobal, lo, []PartitionMark{pm(10, false, false), pm(lo, false, false)}, 10},
		{"global ended counts its max", ScopeGlobal, lo, []PartitionMark{pm(3, false, false), pm(10, false, true)}, 10},
		{"global all ended", ScopeGlobal, lo, []PartitionMark{pm(3, false, true), pm(10, false, true)}, math.MaxInt64},
		{"partition: nothing to combine", ScopePartition, 4, []PartitionMark{pm(10, false, true)}, 4},
		{"no marks", ScopeMin, 4, nil, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, Combine(tt.scope, tt.prev, tt.marks))
		})
	}
}
