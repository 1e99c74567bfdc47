// Package prefetch asks the CPU to bring cache lines into its cache ahead of
// use, so that the engine's look-ahead overlaps the cache misses of a large
// state with work instead of stalling each record on them.
package prefetch
