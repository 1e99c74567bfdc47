package engine

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/boontadata/boontadata/pkg/event"
)

// run feeds records [from, len) of a pre-generated stream to eng, calling
// Advance whenever processing time crosses a tick, and returns the index of
// the record during or after which each result was emitted.
type stream struct {
	lines [][]byte
	proc  []int64
}

func genStream(tb testing.TB, n int, perSecond int64) stream {
	tb.Helper()
	s := newSynth(3)
	s.perSecond = perSecond
	s.chunk(n)
	var st stream
	for i := range n {
		st.lines = append(st.lines, append([]byte(nil), s.line(i)...))
		st.proc = append(st.proc, s.procTimes[i])
	}
	return st
}

type indexedSink struct {
	at      int
	results []Result
	index   []int
}

func (s *indexedSink) Result(r *Result) {
	s.results = append(s.results, *r)
	s.index = append(s.index, s.at)
}

func (s *indexedSink) Decision(*Decision) {}

func feed(tb testing.TB, eng *Engine, sink *indexedSink, st stream, from, to int, tick int64) {
	tb.Helper()
	var rec Record
	for i := from; i < to; i++ {
		sink.at = i
		if i > from && st.proc[i]/tick != st.proc[i-1]/tick {
			advanceAlone(eng, st.proc[i]/tick*tick)
		}
		require.NoError(tb, event.ParseView(st.lines[i], &rec.Event))
		rec.Offset, rec.ProcessingTime, rec.IngestionTime = int64(i), st.proc[i], st.proc[i]
		eng.Process(&rec)
	}
}

// TestRestoreRebuildsSameResults is the exactly-once contract: an engine
// restored from a Checkpoint and fed again from MinOffsetNeeded emits, from
// the crash point on, exactly what the engine that never stopped emitted.
func TestRestoreRebuildsSameResults(t *testing.T) {
	n, rate := 300_000, int64(2000)
	if raceEnabled {
		n, rate = 100_000, 600
	}
	st := genStream(t, n, rate)
	for _, name := range []string{"flink-event", "storm", "exact", "structured"} {
		t.Run(name, func(t *testing.T) {
			spec, err := Preset(name)
			require.NoError(t, err)
			if spec.AllowedLateness > 0 {
				spec.AllowedLateness = 20 * time.Second // keep the test short
			}
			tick := int64(1000)
			if spec.Trigger == MicroBatch {
				tick = spec.TriggerInterval.Milliseconds()
			}
			// Crash at a tick: micro-batch runtimes checkpoint after a batch.
			cut := n * 5 / 6
			for st.proc[cut]/tick == st.proc[cut-1]/tick {
				cut++
			}

			a := &indexedSink{}
			engA, err := New(spec, 0, a)
			require.NoError(t, err)
			feed(t, engA, a, st, 0, cut, tick)
			a.at = cut - 1 // before the crash
			advanceAlone(engA, st.proc[cut]/tick*tick)
			from, ok := engA.MinOffsetNeeded()
			require.True(t, ok)
			require.Less(t, from, int64(cut))
			require.Greater(t, from, int64(cut)-rate*90, "state older than its horizon is not kept")
			cp := engA.Checkpoint()
			feed(t, engA, a, st, cut, len(st.lines), tick)

			b := &indexedSink{}
			engB, err := New(spec, 0, b)
			require.NoError(t, err)
			require.NoError(t, engB.Restore(cp))
			feed(t, engB, b, st, int(from), len(st.lines), tick)

			after := func(s *indexedSink) []Result {
				var out []Result
				for i, r := range s.results {
					if s.index[i] >= cut {
						out = append(out, r)
					}
				}
				return out
			}
			want, got := after(a), after(b)
			require.NotEmpty(t, want)
			for i := range min(len(want), len(got)) {
				require.Equal(t, want[i], got[i], "result %d of %d", i, len(want))
			}
			require.Len(t, got, len(want))
		})
	}
}

func TestRestoreAfterStartFails(t *testing.T) {
	d := newDriver(t, Presets()[3])
	d.step("ev m1 d1 1 1")
	require.ErrorIs(t, d.eng.Restore(Checkpoint{}), ErrStarted)
}

func TestMinOffsetNeeded(t *testing.T) {
	spec, err := Preset("flink-event")
	require.NoError(t, err)
	d := newDriver(t, spec)
	_, ok := d.eng.MinOffsetNeeded()
	require.False(t, ok)
	for _, s := range []string{"ev m1 d1 1 1", "ev m2 d1 6 2", "ev m3 d1 7 4"} {
		d.step(s)
	}
	off, ok := d.eng.MinOffsetNeeded()
	require.True(t, ok)
	require.Equal(t, int64(0), off)
	d.step("ev m4 d1 11 8")
	d.step("adv 11.1") // wm 6: [0,5) closes
	off, _ = d.eng.MinOffsetNeeded()
	require.Equal(t, int64(1), off)
	d.step("end 20")
	d.step("adv 20")
	off, _ = d.eng.MinOffsetNeeded()
	require.Equal(t, int64(4), off, "nothing open: the next offset")
}
