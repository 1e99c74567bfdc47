package engine

import (
	"fmt"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/boontadata/boontadata/pkg/event"
)

// BenchmarkEngine is the hot path of a runtime: parse lines, then dedup,
// window assignment and aggregation, with an Advance every 1,000 records, on
// the realistic mix of synth (1,000 devices, 4 categories, 5% duplicates, 1%
// late by minutes). Each preset is warmed up past its longest horizon first,
// so the figure is the steady state. rate is events per second of event time
// in the partition: it sets how much state is open. The runtimes hand records
// over in batches (ProcessBatch, 100 at a time here, as a Kafka fetch gives
// them); api=single is one Process call a record.
func BenchmarkEngine(b *testing.B) {
	for _, rate := range []int64{1000, 10_000} {
		for _, name := range PresetNames() {
			b.Run(fmt.Sprintf("rate=%d/%s", rate, name), func(b *testing.B) {
				benchEngine(b, name, rate, 100)
			})
		}
	}
	for _, name := range []string{"structured", "exact"} {
		b.Run("rate=1000/api=single/"+name, func(b *testing.B) {
			benchEngine(b, name, 1000, 1)
		})
	}
}

func benchEngine(b *testing.B, name string, rate int64, batch int) {
	spec, err := Preset(name)
	if err != nil {
		b.Fatal(err)
	}
	sink := &countSink{}
	eng, err := New(spec, 0, sink)
	if err != nil {
		b.Fatal(err)
	}
	s := newSynth(42)
	s.perSecond = rate
	const chunk = 1 << 16
	recs := make([]Record, 0, batch)
	var off int64
	flush := func() {
		if batch == 1 {
			eng.Process(&recs[0])
		} else {
			eng.ProcessBatch(recs)
		}
		last := recs[len(recs)-1]
		if last.Offset/1000 != (last.Offset+1)/1000 || len(recs) < batch {
			advanceAlone(eng, last.ProcessingTime)
		}
		recs = recs[:0]
	}
	add := func(i int) {
		recs = recs[:len(recs)+1]
		rec := &recs[len(recs)-1]
		if err := event.ParseView(s.line(i), &rec.Event); err != nil {
			b.Fatal(err)
		}
		rec.Offset, rec.ProcessingTime, rec.IngestionTime = off, s.procTimes[i], s.procTimes[i]
		off++
		if len(recs) == batch || off%1000 == 0 {
			flush()
		}
	}
	warm := int(rate) * 400 // past the 5-minute horizons, and a dedup table rebuild or two
	for done := 0; done < warm; done += chunk {
		s.chunk(chunk)
		for i := range chunk {
			add(i)
		}
		if len(recs) > 0 {
			flush() // the views point into the chunk about to be replaced
		}
	}
	s.chunk(chunk)
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		if i == chunk {
			if len(recs) > 0 {
				flush()
			}
			b.StopTimer()
			s.chunk(chunk)
			i = 0
			b.StartTimer()
		}
		add(i)
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	st := eng.Stats()
	b.ReportMetric(float64(st.OpenStates), "open-states")
	b.ReportMetric(float64(st.DedupEntries), "dedup-entries")
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkMemoryPerState measures the heap held by each open (device,
// category, window) aggregate: 1,000 devices × 4 categories × 50 windows.
func BenchmarkMemoryPerState(b *testing.B) {
	spec, err := Preset("storm")
	if err != nil {
		b.Fatal(err)
	}
	spec.EmitPerRecord, spec.AllowedLateness = false, time.Hour
	var lines [][]byte
	for w := range 50 {
		for d := range 1000 {
			for c := range 4 {
				e := event.Event{MessageID: "m", DeviceID: strconv.Itoa(100 + d), Category: "cat" + strconv.Itoa(c),
					DeviceTime: t0 + int64(w)*5000, Measure1: 1, Measure2: 1}
				lines = append(lines, event.AppendFormat(nil, e))
			}
		}
	}
	b.ReportMetric(heapPer(b, spec, lines, func(s Stats) int { return s.OpenStates }), "B/state")
}

// BenchmarkMemoryPerDedupEntry measures the heap held by each remembered
// message id (DedupUntilWatermark), 1,000,000 of them.
func BenchmarkMemoryPerDedupEntry(b *testing.B) {
	spec, err := Preset("exact")
	if err != nil {
		b.Fatal(err)
	}
	spec.Output, spec.DedupHorizon = Append, time.Hour
	const n = 1_000_000
	lines := make([][]byte, n)
	for i := range lines {
		e := event.Event{MessageID: "123-" + strconv.Itoa(i), DeviceID: "123", Category: "cat1",
			DeviceTime: t0 + int64(i)/1000, Measure1: 1, Measure2: 1}
		lines[i] = event.AppendFormat(nil, e)
	}
	b.ReportMetric(heapPer(b, spec, lines, func(s Stats) int { return s.DedupEntries }), "B/dedup-entry")
}

// heapPer feeds lines to a fresh engine of spec each iteration and returns
// the heap it then holds per unit, as count reads the units from its Stats.
func heapPer(b *testing.B, spec Spec, lines [][]byte, count func(Stats) int) float64 {
	var per float64
	for b.Loop() {
		eng, err := New(spec, 0, &countSink{})
		if err != nil {
			b.Fatal(err)
		}
		before := heapInUse()
		var rec Record
		for i, l := range lines {
			if err := event.ParseView(l, &rec.Event); err != nil {
				b.Fatal(err)
			}
			rec.Offset = int64(i)
			eng.Process(&rec)
		}
		per = float64(heapInUse()-before) / float64(count(eng.Stats()))
		runtime.KeepAlive(eng)
	}
	return per
}
