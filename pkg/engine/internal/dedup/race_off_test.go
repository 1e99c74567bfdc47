//go:build !race

package dedup

// raceEnabled scales heavy tests down: the race detector slows them tenfold.
const raceEnabled = false
