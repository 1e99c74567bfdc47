package engine

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/boontadata/boontadata/pkg/event"
)

// TestStateBoundedOverTenMinutes runs ten minutes of event time of the
// realistic mix and checks that open state stops growing once the longest
// horizon (5 minutes of allowed lateness) has passed: old windows and dedup
// entries are evicted.
func TestStateBoundedOverTenMinutes(t *testing.T) {
	for _, name := range []string{"exact", "structured", "flink-event", "storm", "dstream"} {
		t.Run(name, func(t *testing.T) {
			spec, err := Preset(name)
			require.NoError(t, err)
			eng, err := New(spec, 0, &countSink{})
			require.NoError(t, err)
			s := newSynth(5)
			s.perSecond = 1000
			if raceEnabled {
				s.perSecond = 200
			}
			var rec Record
			var off int64
			var peakMid, peakEnd Stats // minutes 6-8, 8-10
			tick := int64(1000)
			if spec.Trigger == MicroBatch {
				tick = spec.TriggerInterval.Milliseconds()
			}
			for s.now() < t0+10*60*1000 {
				s.chunk(2_000)
				for i := range 2_000 {
					require.NoError(t, event.ParseView(s.line(i), &rec.Event))
					if off > 0 && s.procTimes[i]/tick != rec.ProcessingTime/tick {
						advanceAlone(eng, s.procTimes[i]/tick*tick)
					}
					rec.Offset, rec.ProcessingTime, rec.IngestionTime = off, s.procTimes[i], s.procTimes[i]
					off++
					eng.Process(&rec)
				}
				st := eng.Stats()
				peak := &peakEnd
				if s.now() < t0+8*60*1000 {
					peak = &peakMid
				}
				if s.now() >= t0+6*60*1000 {
					peak.OpenStates = max(peak.OpenStates, st.OpenStates)
					peak.DedupEntries = max(peak.DedupEntries, st.DedupEntries)
					peak.OpenWindows = max(peak.OpenWindows, st.OpenWindows)
				}
			}
			t.Logf("%s: peak over minutes 6-8: %d states, %d windows, %d dedup entries; minutes 8-10: %d states, %d windows, %d dedup entries; heap at the end %.1f MB",
				name, peakMid.OpenStates, peakMid.OpenWindows, peakMid.DedupEntries, peakEnd.OpenStates, peakEnd.OpenWindows, peakEnd.DedupEntries,
				float64(heapInUse())/1e6)
			require.LessOrEqual(t, peakEnd.OpenStates, peakMid.OpenStates*11/10+10)
			require.LessOrEqual(t, peakEnd.DedupEntries, peakMid.DedupEntries*11/10+10)
			require.LessOrEqual(t, peakEnd.OpenWindows, peakMid.OpenWindows+2)
			from, ok := eng.MinOffsetNeeded()
			require.True(t, ok)
			require.Greater(t, from, off/3, "old offsets are released")
		})
	}
}
