package engine

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestEmitIntervalCoalescesUpdates: in update mode "only the rows that were
// updated in the Result Table since the last trigger will be written to the
// external storage" (Spark, Structured Streaming programming guide, Output
// Modes), and Flink's ContinuousProcessingTimeTrigger fires a window "based
// on a given time interval" of processing time, not per element
// (nightlies.apache.org/flink/flink-docs-stable/docs/dev/datastream/
// operators/windows/#built-in-and-custom-triggers). With an emit interval of
// 1 s and ticks every 0.2 s: the changes between two emissions become one
// revision, a window that did not change is not written again, and a final
// result does not wait for the interval.
func TestEmitIntervalCoalescesUpdates(t *testing.T) {
	spec, err := Preset("exact")
	require.NoError(t, err)
	spec.EmitInterval = time.Second
	spec.WatermarkDelay, spec.AllowedLateness = 0, 0
	d := newDriver(t, spec)
	steps := func(ss ...string) []string {
		for _, s := range ss {
			d.step(s)
		}
		return d.rec.take()
	}
	require.Equal(t, []string{"R d1/c [0,5) n=1 m1=1 rev=1 @0.2"},
		steps("ev a1 d1 0.1 1 0.1", "adv 0.2"), "the first change is emitted at the first tick")
	require.Empty(t, steps("ev a2 d1 0.3 2 0.3", "adv 0.4", "ev a3 d1 0.5 4 0.5", "adv 0.6", "adv 1.0"),
		"changes within the interval wait")
	require.False(t, d.eng.Checkpoint().AfterAdvance, "a checkpoint now must not claim every change was emitted")
	require.Equal(t, []string{"R d1/c [0,5) n=3 m1=7 rev=3 @1.2"}, steps("adv 1.2"),
		"one revision for both changes, 1 s after the last emission")
	require.Empty(t, steps("adv 2.2", "adv 3.2"), "an unchanged window is not written again")
	require.Equal(t, []string{"R d1/c [0,5) n=4 m1=15 rev=4 F @3.3"},
		steps("ev a4 d1 0.7 8 3.3", "ev a5 d1 6 16 3.3", "adv 3.4"),
		"a5 moved the watermark past the window: its final result, a4's change with it, is emitted at once; "+
			"a5's window waits for the next emission")
	require.Equal(t, []string{"R d1/c [5,10) n=1 m1=16 rev=1 @4.2"}, steps("adv 4.2"))

	spec.EmitInterval = 0
	d = newDriver(t, spec)
	require.Equal(t, []string{"R d1/c [0,5) n=1 m1=1 rev=1 @0.2", "R d1/c [0,5) n=2 m1=3 rev=2 @0.4"},
		steps("ev a1 d1 0.1 1 0.1", "adv 0.2", "ev a2 d1 0.3 2 0.3", "adv 0.4"), "without an interval, every tick emits")
}

func TestEmitIntervalValidate(t *testing.T) {
	for _, name := range []string{"storm", "flink-event", "structured"} {
		spec, err := Preset(name)
		require.NoError(t, err)
		spec.EmitInterval = time.Second
		require.ErrorIs(t, spec.Validate(), ErrInvalidSpec, "%s: per record, append or micro-batch", name)
	}
	spec, err := Preset("exact")
	require.NoError(t, err)
	for _, iv := range []time.Duration{-time.Second, 1500 * time.Microsecond, 2 * MaxTriggerInterval} {
		spec.EmitInterval = iv
		require.ErrorIs(t, spec.Validate(), ErrInvalidSpec, "%v", iv)
	}
}
