// Package gen generates the simulated fleet's sends: deterministic per-device
// random streams (seeded), merged into one schedule ordered by nominal send
// time, with the defects of real fleets (re-sends, late and out-of-order
// events, clock skew, bursts). It is pure: no clock, no I/O.
package gen

import "fmt"

// Pattern says what kind of send an event is. It is recorded with every send.
type Pattern uint8

// The patterns, in the order of NumPatterns.
const (
	// Normal: a new measurement, sent on time.
	Normal Pattern = iota
	// Burst: a new measurement sent during a burst (rate multiplied).
	Burst
	// Resend: an exact re-send (same message id and content) of an earlier
	// message of the same device: a duplicate.
	Resend
	// Late: a new measurement whose device time is minutes in the past.
	Late
	// OutOfOrder: a new measurement whose device time is seconds in the past.
	OutOfOrder
	// NumPatterns counts the patterns.
	NumPatterns
)

var patternNames = [NumPatterns]string{"normal", "burst", "resend", "late", "out_of_order"}

// String returns the code recorded in raw_events.pattern and runs.counts.
func (p Pattern) String() string {
	if p < NumPatterns {
		return patternNames[p]
	}
	return fmt.Sprintf("Pattern(%d)", uint8(p))
}

// Defect reports whether the pattern is anything but Normal.
func (p Pattern) Defect() bool { return p != Normal }

// Patterns returns every pattern in order.
func Patterns() []Pattern {
	out := make([]Pattern, NumPatterns)
	for i := range out {
		out[i] = Pattern(i)
	}
	return out
}

// Counts holds a number per pattern.
type Counts [NumPatterns]int64

// Total is the sum over patterns.
func (c *Counts) Total() int64 {
	var n int64
	for _, v := range c {
		n += v
	}
	return n
}

// Map returns the counts keyed by pattern code, every pattern present.
func (c *Counts) Map() map[string]int64 {
	m := make(map[string]int64, NumPatterns)
	for p, v := range c {
		m[Pattern(p).String()] = v
	}
	return m
}
