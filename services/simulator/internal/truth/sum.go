// Package truth computes what the devices really sent, per (device, category,
// window), by device time and by send time: the reference the engines are
// compared with. Sums of measure2 are exact and independent of the order of
// the events.
package truth

import "math"

// Sum is an exact sum of float64 values: it keeps the running total as a list
// of non-overlapping partials (Shewchuk's algorithm, as Python's math.fsum),
// so Value is the exact sum correctly rounded, whatever the order of Add
// calls. The zero value is an empty sum.
type Sum struct {
	p     []float64
	small [4]float64
}

// Add adds x (finite).
func (s *Sum) Add(x float64) {
	if s.p == nil {
		s.p = s.small[:0]
	}
	i := 0
	for _, y := range s.p {
		if math.Abs(x) < math.Abs(y) {
			x, y = y, x
		}
		hi := x + y
		lo := y - (hi - x)
		if lo != 0 {
			s.p[i] = lo
			i++
		}
		x = hi
	}
	s.p = append(s.p[:i], x)
}

// Value returns the exact sum rounded to the nearest float64 (ties to even).
func (s *Sum) Value() float64 {
	n := len(s.p)
	if n == 0 {
		return 0
	}
	n--
	hi := s.p[n]
	var lo float64
	for n > 0 {
		x := hi
		n--
		y := s.p[n]
		hi = x + y
		yr := hi - x
		lo = y - yr
		if lo != 0 {
			break
		}
	}
	// Round half-even correction: the partials below may push the rounding
	// of hi+lo the other way.
	if n > 0 && (lo < 0 && s.p[n-1] < 0 || lo > 0 && s.p[n-1] > 0) {
		y := lo * 2
		x := hi + y
		if y == x-hi {
			hi = x
		}
	}
	return hi
}
