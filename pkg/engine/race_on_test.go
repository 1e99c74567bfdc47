//go:build race

package engine

// raceEnabled scales heavy tests down: the race detector slows them tenfold.
const raceEnabled = true
