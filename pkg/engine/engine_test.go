package engine

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/boontadata/boontadata/pkg/engine/window"
	"github.com/boontadata/boontadata/pkg/event"
)

func TestSlidingWindowsDedupPerWindow(t *testing.T) {
	spec, err := Preset("flink-processing")
	require.NoError(t, err)
	spec.WindowSize, spec.WindowSlide = 10*time.Second, 5*time.Second
	d := newDriver(t, spec)
	for _, s := range []scriptStep{
		{do: "ev m1 d1 7 1 7"}, // in [0,10) and [5,15)
		{do: "ev m1 d1 7 1 12", want: []string{
			"R d1/c [0,10) n=1 m1=1 rev=1 F @12",
			// [5,15) already has m1; [10,20) does not: counted there, a
			// window its device time (7) is not in.
			"DUP m1 off=1 in-window orig=0",
			"PLACED m1 off=1 [10,20)",
		}},
		{do: "adv 20", want: []string{
			"R d1/c [5,15) n=1 m1=1 rev=1 F @20",
			"R d1/c [10,20) n=1 m1=1 rev=1 F @20",
		}},
	} {
		d.step(s.do)
		require.Equal(t, s.want, d.rec.take(), s.do)
	}
}

func TestSpecValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Spec)
	}{
		{name: "slide above size", edit: func(s *Spec) { s.WindowSlide = 2 * s.WindowSize }},
		{name: "no window", edit: func(s *Spec) { s.WindowSize, s.WindowSlide = 0, 0 }},
		{name: "sub-ms window", edit: func(s *Spec) { s.WindowSize, s.WindowSlide = time.Microsecond, time.Microsecond }},
		{name: "no time mode", edit: func(s *Spec) { s.Time = 0 }},
		{name: "micro-batch without interval", edit: func(s *Spec) { s.Trigger = MicroBatch }},
		{name: "negative delay", edit: func(s *Spec) { s.WatermarkDelay = -time.Second }},
		{name: "batch dedup without batches", edit: func(s *Spec) { s.Dedup = DedupWithinBatch }},
		{name: "per record append", edit: func(s *Spec) { s.EmitPerRecord = true }},
		{name: "no output", edit: func(s *Spec) { s.Output = 0 }},
		{name: "no delivery", edit: func(s *Spec) { s.Delivery = 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec, err := Preset("flink-event")
			require.NoError(t, err)
			tt.edit(&spec)
			require.ErrorIs(t, spec.Validate(), ErrInvalidSpec)
			_, err = New(spec, 0, &countSink{})
			require.ErrorIs(t, err, ErrInvalidSpec)
		})
	}
}

// The sum of measure2 must not depend on arrival order, even with values
// that a plain float64 sum would round differently in each order.
func TestSumMeasure2IndependentOfOrder(t *testing.T) {
	values := []float64{1e16, 0.01, -1e16, 789.12, 3.3, 1e-3, 123456.789, 0.1, 0.2, 0.3, 5e15, -5e15}
	rng := rand.New(rand.NewPCG(7, 7))
	var want uint64
	var plain = map[uint64]bool{}
	for i := range 200 {
		rng.Shuffle(len(values), func(a, b int) { values[a], values[b] = values[b], values[a] })
		var s, c, p float64
		for _, v := range values {
			s, c = addCompensated(s, c, v)
			p += v
		}
		plain[math.Float64bits(p)] = true
		got := math.Float64bits(s + c)
		if i == 0 {
			want = got
		}
		require.Equal(t, want, got, "order %v", values)
	}
	require.Greater(t, len(plain), 1, "the test values must defeat a plain sum")
}

func TestProcessDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocations are counted without the race detector")
	}
	for _, name := range PresetNames() {
		t.Run(name, func(t *testing.T) {
			spec, err := Preset(name)
			require.NoError(t, err)
			sink := &countSink{}
			eng, err := New(spec, 0, sink)
			require.NoError(t, err)
			s := newSynth(1)
			s.perSecond = 2000 // reach the steady state sooner
			var rec Record
			var off int64
			run := func(n int) {
				s.chunk(n)
				for i := range n {
					require.NoError(t, event.ParseView(s.line(i), &rec.Event))
					rec.Offset, rec.ProcessingTime, rec.IngestionTime = off, s.procTimes[i], s.procTimes[i]
					off++
					eng.Process(&rec)
					if off%1000 == 0 {
						advanceAlone(eng, rec.ProcessingTime)
					}
				}
			}
			// Warm up past the longest horizon (5 min lateness), so maps and
			// free lists reached their steady size.
			for range 8 {
				run(100_000)
			}
			s.chunk(100_000)
			i := 0
			allocs := testing.AllocsPerRun(50_000, func() {
				require.NoError(t, event.ParseView(s.line(i), &rec.Event))
				rec.Offset, rec.ProcessingTime, rec.IngestionTime = off, s.procTimes[i], s.procTimes[i]
				off++
				i++
				eng.Process(&rec)
			})
			require.Less(t, allocs, 0.01, "allocations per event")
			require.Positive(t, sink.results)
		})
	}
}

// TestProcessBatchMatchesProcess feeds the realistic mix to two engines of
// each preset, one record at a time and in batches of random sizes, and
// requires the same results and decisions in the same order: the look-ahead
// of ProcessBatch must not change what the engine decides. The stream is
// long enough to rebuild the dedup and aggregate tables several times.
func TestProcessBatchMatchesProcess(t *testing.T) {
	n := 60_000
	if raceEnabled {
		n = 15_000
	}
	for _, name := range PresetNames() {
		t.Run(name, func(t *testing.T) {
			spec, err := Preset(name)
			require.NoError(t, err)
			one, many := &recorder{}, &recorder{}
			a, err := New(spec, 0, one)
			require.NoError(t, err)
			b, err := New(spec, 0, many)
			require.NoError(t, err)
			s := newSynth(7)
			s.perSecond = 2000
			s.chunk(n)
			rng := rand.New(rand.NewPCG(3, 4))
			var batch []Record
			for i := 0; i < n; {
				size := 1 + rng.IntN(300)
				batch = batch[:0]
				for ; i < n && len(batch) < size; i++ {
					var rec Record
					require.NoError(t, event.ParseView(s.line(i), &rec.Event))
					rec.Offset, rec.ProcessingTime, rec.IngestionTime = int64(i), s.procTimes[i], s.procTimes[i]
					a.Process(&rec)
					batch = append(batch, rec)
				}
				b.ProcessBatch(batch)
				now := batch[len(batch)-1].ProcessingTime
				advanceAlone(a, now)
				advanceAlone(b, now)
			}
			last := s.procTimes[n-1]
			a.Flush(last)
			b.Flush(last)
			require.NotEmpty(t, one.results)
			require.Equal(t, one.out, many.out)
			require.Equal(t, one.results, many.results)
			require.Equal(t, a.Stats(), b.Stats())
		})
	}
}

// lastSink keeps a copy of the last result and decision.
type lastSink struct {
	res Result
	dec Decision
}

func (s *lastSink) Result(r *Result)     { s.res = *r }
func (s *lastSink) Decision(d *Decision) { s.dec = *d }

// emit and decide fill the engine's reused Result and Decision field by
// field: each must set every field, whatever the previous emission left.
func TestEmissionsSetEveryField(t *testing.T) {
	spec, err := Preset("exact")
	require.NoError(t, err)
	sink := &lastSink{}
	e, err := New(spec, 3, sink)
	require.NoError(t, err)
	junk := []byte("junk")
	e.res = Result{Window: window.Window{Start: -1, End: -1}, DeviceID: "junk", Category: "junk",
		SumMeasure1: -1, SumMeasure2: -1, Count: -1, Revision: -1, Final: true, EmitTime: -1, Partition: -1}
	e.dec = Decision{Kind: 99, Reason: 99, MessageID: junk, DeviceID: junk, Category: junk, Partition: -1,
		Offset: -1, Time: -1, DeviceTime: -1, Measure1: -1, Measure2: -1, Window: window.Window{Start: -1, End: -1},
		Watermark: -1, OriginalOffset: -1, EmitTime: -1}

	rec := Record{Event: event.View{MessageID: []byte("m1"), DeviceID: []byte("d1"), Category: []byte("c1"),
		DeviceTime: t0 + 1000, Measure1: 5, Measure2: 2.5}, Partition: 3, Offset: 7, ProcessingTime: t0 + 2000}
	e.Process(&rec)
	e.Advance(t0 + 2500)
	w := window.Window{Start: t0, End: t0 + 5000}
	require.Equal(t, Result{Window: w, DeviceID: "d1", Category: "c1", SumMeasure1: 5, SumMeasure2: 2.5,
		Count: 1, Revision: 1, EmitTime: t0 + 2500, Partition: 3}, sink.res)

	rec.Offset, rec.ProcessingTime = 8, t0+3000
	e.Process(&rec)
	require.Equal(t, Decision{Kind: DuplicateDropped, Reason: ReasonSeenBeforeWatermark, MessageID: []byte("m1"),
		DeviceID: []byte("d1"), Category: []byte("c1"), Partition: 3, Offset: 8, Time: t0 + 1000, DeviceTime: t0 + 1000,
		Measure1: 5, Measure2: 2.5, Window: w,
		Watermark: e.Watermark(), OriginalOffset: 7, EmitTime: t0 + 3000}, sink.dec)
	require.Nil(t, e.dec.MessageID, "the engine keeps no reference into the record")
}
