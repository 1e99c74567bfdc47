package engine

import (
	"math/rand/v2"
	"strconv"

	"github.com/boontadata/boontadata/pkg/event"
)

// synth generates the realistic mix of the benchmarks: a fleet of devices
// sending measurements in 4 categories at a steady rate of event time, with
// re-sent duplicates (same message id and device time, up to about a second
// later) and late events (device time 1 to 3 minutes in the past). It is
// deterministic for a seed.
type synth struct {
	rng        *rand.Rand
	devices    int
	perSecond  int64 // events per second of event time
	dupRate    float64
	lateRate   float64
	seq        int64 // events generated, duplicates excluded
	recent     []event.Event
	lines      []byte
	ends       []int
	procTimes  []int64
	devIDs     []string
	categories []string
}

func newSynth(seed uint64) *synth {
	s := &synth{
		rng:        rand.New(rand.NewPCG(seed, 1)),
		devices:    1000,
		perSecond:  10_000,
		dupRate:    0.05,
		lateRate:   0.01,
		recent:     make([]event.Event, 0, 1<<14),
		categories: []string{"cat1", "cat2", "cat3", "cat4"},
	}
	for i := range s.devices {
		s.devIDs = append(s.devIDs, strconv.Itoa(100+i))
	}
	return s
}

// now is the event time of the newest regular event.
func (s *synth) now() int64 { return t0 + s.seq*1000/s.perSecond }

// chunk generates n lines; line i is lines[ends[i-1]:ends[i]], processed at
// procTimes[i] (10 ms after the newest device time: in order).
func (s *synth) chunk(n int) {
	s.lines, s.ends, s.procTimes = s.lines[:0], s.ends[:0], s.procTimes[:0]
	for range n {
		var e event.Event
		switch r := s.rng.Float64(); {
		case r < s.dupRate && len(s.recent) > 0:
			e = s.recent[len(s.recent)-1-s.rng.IntN(len(s.recent))]
		default:
			dev := s.rng.IntN(s.devices)
			s.seq++
			e = event.Event{
				MessageID:  s.devIDs[dev] + "-" + strconv.FormatInt(s.seq, 10),
				DeviceID:   s.devIDs[dev],
				DeviceTime: s.now(),
				Category:   s.categories[s.rng.IntN(len(s.categories))],
				Measure1:   s.rng.Int64N(1000),
				Measure2:   float64(s.rng.IntN(100000)) / 100,
			}
			if r < s.dupRate+s.lateRate {
				e.DeviceTime -= 60_000 + s.rng.Int64N(120_000)
			}
			if len(s.recent) == cap(s.recent) {
				s.recent = append(s.recent[:0], s.recent[len(s.recent)/2:]...)
			}
			s.recent = append(s.recent, e)
		}
		s.lines = event.AppendFormat(s.lines, e)
		s.ends = append(s.ends, len(s.lines))
		s.procTimes = append(s.procTimes, s.now()+10)
	}
}

func (s *synth) line(i int) []byte {
	start := 0
	if i > 0 {
		start = s.ends[i-1]
	}
	return s.lines[start:s.ends[i]]
}

// countSink counts without keeping anything: what a benchmark needs.
type countSink struct {
	results, finals, decisions int64
}

func (c *countSink) Result(r *Result) {
	c.results++
	if r.Final {
		c.finals++
	}
}

func (c *countSink) Decision(*Decision) { c.decisions++ }
