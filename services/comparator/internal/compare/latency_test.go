package compare

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPercentileNearestRank(t *testing.T) {
	values := make([]int64, 1000)
	for i := range values {
		values[i] = int64(i + 1)
	}
	tests := []struct {
		q    float64
		want int64
	}{{0.5, 500}, {0.95, 950}, {0.99, 990}, {0.999, 999}, {1, 1000}, {0.0001, 1}}
	for _, tt := range tests {
		require.Equal(t, tt.want, Percentile(values, tt.q), "q=%v", tt.q)
	}
	require.Equal(t, int64(0), Percentile(nil, 0.5))
	s := Summarise([]int64{30, 10, 20})
	require.Equal(t, Latency{Count: 3, Min: 10, Mean: 20, P50: 20, P95: 30, P99: 30, P999: 30, Max: 30}, s)
	require.Equal(t, Latency{}, Summarise(nil))
}

func TestHistogramRoundBins(t *testing.T) {
	tests := []struct {
		name      string
		values    []int64
		wantWidth int64
		wantFrom  int64
	}{
		{"one value", []int64{7}, 1, 7},
		{"small span", []int64{0, 19}, 1, 0},
		{"span 100", []int64{0, 99}, 5, 0},
		{"negative", []int64{-1200, 3400}, 500, -1500},
		{"seconds", []int64{5000, 65000}, 5000, 5000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bins := Histogram(tt.values, 20)
			require.LessOrEqual(t, len(bins), 21)
			require.Equal(t, tt.wantWidth, bins[0].To-bins[0].From)
			require.Equal(t, tt.wantFrom, bins[0].From)
			var n int64
			for _, b := range bins {
				n += b.Count
			}
			require.Equal(t, int64(len(tt.values)), n)
		})
	}
	require.Empty(t, Histogram(nil, 20))
}

// TestLatencySubtractsWatermarkDelay: latency = emit − window end − delay,
// over every revision and over the latest per window, with a series by
// window end.
func TestLatencySubtractsWatermarkDelay(t *testing.T) {
	f := newFixture(t)
	f.send("d1", "c1", PatternNormal, t0+100, t0+100, 1, 1)
	f.send("d1", "c1", PatternNormal, t0+5100, t0+5100, 2, 1)
	run := f.truth()
	tests := []struct {
		preset    string
		delay     int64
		wantFinal []int64
	}{
		{"flink-event", 5000, []int64{1000, 3000}},     // emits at end+6s and end+8s, delay 5s
		{"flink-processing", 0, []int64{6000, 8000}},   // no watermark
		{"structured", 60000, []int64{-54000, -52000}}, // early updates are negative
	}
	for _, tt := range tests {
		t.Run(tt.preset, func(t *testing.T) {
			results := []Result{result("d1", "c1", 0, 1, 1, 1, t0+size+6000), result("d1", "c1", 1, 2, 1, 1, t0+2*size+8000)}
			revisions := []Revision{
				{Key: results[0].Key, Revision: 1, Agg: results[0].Agg, EmitTime: t0 + size + 2000},
				{Key: results[0].Key, Revision: 2, Agg: results[0].Agg, EmitTime: t0 + size + 6000},
				{Key: results[1].Key, Revision: 1, Agg: results[1].Agg, EmitTime: t0 + 2*size + 8000},
			}
			rep := New(run, Options{}).Compare(JobData{Job: preset(t, tt.preset), Results: results, Revisions: revisions})
			require.Empty(t, rep.Problem)
			require.Equal(t, tt.delay, rep.WatermarkDelayMs)
			require.Equal(t, tt.wantFinal[0], *rowAt(t, rep, "d1", "c1", 0).LatencyMs)
			require.Equal(t, int64(2), rep.FinalLatencyMs.Count)
			require.Equal(t, tt.wantFinal[1], rep.FinalLatencyMs.Max)
			require.Equal(t, int64(3), rep.LatencyMs.Count)
			require.Equal(t, 2000-tt.delay, rep.LatencyMs.Min)
			require.Len(t, rep.LatencySeries, 2)
			require.Equal(t, int64(2), rep.LatencySeries[0].Count)
			require.Equal(t, "2026-01-01 00:00:05", rep.LatencySeries[0].WindowEndUTC)
			require.Equal(t, 6000-tt.delay, rep.LatencySeries[0].Max)
		})
	}
}

// With a revision sample, the latency over revisions covers the windows
// that have revision rows, every revision of each, and says how many of
// the windows with a result those are; the latest per window still covers
// every window.
func TestLatencyOverARevisionSample(t *testing.T) {
	f := newFixture(t)
	for w := range int64(4) {
		f.send("d1", "c1", PatternNormal, t0+w*size+100, t0+w*size+100, 1, 1)
	}
	run := f.truth()
	var results []Result
	for w := range int64(4) {
		results = append(results, result("d1", "c1", w, 1, 1, 1, t0+(w+1)*size+1000))
	}
	revisions := []Revision{ // windows 1 and 3 sampled, two revisions each
		{Key: results[1].Key, Revision: 1, Agg: results[1].Agg, EmitTime: t0 + 2*size + 500},
		{Key: results[1].Key, Revision: 2, Agg: results[1].Agg, EmitTime: t0 + 2*size + 1000},
		{Key: results[3].Key, Revision: 1, Agg: results[3].Agg, EmitTime: t0 + 4*size + 500},
		{Key: results[3].Key, Revision: 2, Agg: results[3].Agg, EmitTime: t0 + 4*size + 1000},
	}
	rep := New(run, Options{}).Compare(JobData{Job: preset(t, "flink-processing"), Results: results, Revisions: revisions})
	require.Empty(t, rep.Problem)
	require.Equal(t, 2, rep.RevisionWindows)
	require.Equal(t, 4, rep.ResultWindows)
	require.Equal(t, int64(4), rep.LatencyMs.Count, "every revision of the sampled windows")
	require.Equal(t, int64(500), rep.LatencyMs.Min)
	require.Equal(t, int64(4), rep.FinalLatencyMs.Count, "the latest of every window")
	require.Len(t, rep.LatencySeries, 2, "the windows with revision rows")
}
