package job

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/boontadata/boontadata/pkg/engine"
)

func TestSpecValidate(t *testing.T) {
	tests := []struct {
		name string
		spec Spec
		want error
	}{
		{"preset only", Spec{ID: "j1", Preset: "exact"}, nil},
		{"every preset", Spec{ID: "j1", Preset: "storm"}, nil},
		{"bad id", Spec{ID: "a b", Preset: "exact"}, ErrBadID},
		{"empty id", Spec{Preset: "exact"}, ErrBadID},
		{"unknown preset", Spec{ID: "j1", Preset: "kinesis"}, engine.ErrUnknownPreset},
		{"bad start", Spec{ID: "j1", Preset: "exact", StartOffsets: "middle"}, ErrBadOption},
		{"bad out of range", Spec{ID: "j1", Preset: "exact", OnOutOfRange: "ignore"}, ErrBadOption},
		{"bad dedup", Spec{ID: "j1", Preset: "exact", Overrides: Overrides{Dedup: "forever"}}, ErrBadOverride},
		{"batch dedup on continuous", Spec{ID: "j1", Preset: "exact", Overrides: Overrides{Dedup: "batch"}}, ErrBadOverride},
		{"negative watermark", Spec{ID: "j1", Preset: "exact", Overrides: Overrides{Watermark: DurationOf(-time.Second)}}, ErrBadOverride},
		{"bad run id", Spec{ID: "j1", Preset: "exact", RunID: "run 1"}, ErrBadOption},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.spec.Validate()
			if tt.want == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tt.want)
		})
	}
}

func TestOverridesApply(t *testing.T) {
	s := Spec{ID: "j1", Preset: "flink-event", Overrides: Overrides{
		Window: Duration(10 * time.Second), Watermark: DurationOf(time.Minute), Dedup: "watermark", Output: "update",
	}}
	es, err := s.Engine()
	require.NoError(t, err)
	require.Equal(t, 10*time.Second, es.WindowSize)
	require.Equal(t, 10*time.Second, es.WindowSlide, "a tumbling preset stays tumbling")
	require.Equal(t, time.Minute, es.WatermarkDelay)
	require.Equal(t, engine.DedupUntilWatermark, es.Dedup)
	require.Equal(t, engine.Update, es.Output)

	storm, err := Spec{ID: "j2", Preset: "storm", Overrides: Overrides{Output: "append"}}.Engine()
	require.NoError(t, err)
	require.False(t, storm.EmitPerRecord, "append output cannot emit per record")
}

// TestZeroOverridesAreValues: a zero watermark delay, allowed lateness,
// idle timeout, dedup horizon or emit interval is a value, not the preset's;
// a missing one keeps the preset's, and so does a zero window.
func TestZeroOverridesAreValues(t *testing.T) {
	zero := DurationOf(0)
	s := Spec{ID: "j1", Preset: "storm", Overrides: Overrides{AllowedLateness: zero}}
	es, err := s.Engine()
	require.NoError(t, err)
	require.Zero(t, es.AllowedLateness, "storm's 5 minutes replaced by 0")

	fe, err := Spec{ID: "j2", Preset: "flink-event", Overrides: Overrides{Watermark: zero, IdleTimeout: zero}}.Engine()
	require.NoError(t, err)
	require.Zero(t, fe.WatermarkDelay)
	require.Zero(t, fe.IdleTimeout)

	kept, err := Spec{ID: "j3", Preset: "flink-event", Overrides: Overrides{Window: 0}}.Engine()
	require.NoError(t, err)
	require.Equal(t, 5*time.Second, kept.WatermarkDelay)
	require.Equal(t, 2*time.Second, kept.IdleTimeout)
	require.Equal(t, 5*time.Second, kept.WindowSize)

	// The JSON of a zero override says it, so a stored job keeps it.
	b, err := json.Marshal(s)
	require.NoError(t, err)
	require.Contains(t, string(b), `"allowed_lateness":"0s"`)
	var back Spec
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, s.Overrides, back.Overrides)
	b, err = json.Marshal(Spec{ID: "j4", Preset: "storm"})
	require.NoError(t, err)
	require.NotContains(t, string(b), "overrides", "no override, none written")
}

func TestSpecJSONRoundTrip(t *testing.T) {
	s := Spec{ID: "j1", RunID: "r1", Preset: "exact", Overrides: Overrides{Window: Duration(5 * time.Second)}}.WithDefaults()
	b, err := json.Marshal(s)
	require.NoError(t, err)
	require.Contains(t, string(b), `"window":"5s"`)
	var back Spec
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, s, back)
	require.Equal(t, StartEarliest, back.StartOffsets)
	require.Equal(t, OutOfRangeFail, back.OnOutOfRange)
	require.Equal(t, StateRunning, back.State)
	require.Equal(t, "boontadata-job-j1", back.GroupID())
}

func TestEnginesUnderTest(t *testing.T) {
	require.Equal(t, []string{"boontadata", "spark"}, EnginesOf("structured"))
	require.Equal(t, []string{"boontadata", "kafka-streams"}, EnginesOf("exact"))
	ok := Spec{ID: "s1", RunID: "r1", Preset: "structured", EngineName: "spark"}
	require.NoError(t, ok.Validate())
	for _, tt := range []struct {
		spec Spec
		want string
	}{
		{Spec{ID: "s1", RunID: "r1", Preset: "exact", EngineName: "spark"}, "spark runs structured, dstream, not exact"},
		{Spec{ID: "s1", RunID: "r1", Preset: "exact", EngineName: "beam"}, `"beam" unknown`},
		{Spec{ID: "s1", Preset: "structured", EngineName: "spark"}, "give its run id"},
	} {
		err := tt.spec.Validate()
		require.ErrorIs(t, err, ErrEngine)
		require.ErrorContains(t, err, tt.want)
	}
	args, err := ok.ContractArgs()
	require.NoError(t, err)
	require.Equal(t, []string{"--job-id", "s1", "--run-id", "r1", "--time", "event", "--window-ms", "5000",
		"--watermark-ms", "60000", "--lateness-ms", "0", "--idle-ms", "0", "--dedup", "watermark", "--dedup-horizon-ms", "0",
		"--output", "update", "--trigger-ms", "5000", "--start-offsets", "earliest", "--mode", "structured"}, args)
	ds := Spec{ID: "d1", RunID: "r1", Preset: "dstream", EngineName: "spark"}
	args, err = ds.ContractArgs()
	require.NoError(t, err)
	require.Equal(t, []string{"--mode", "dstream"}, args[len(args)-2:])
}
