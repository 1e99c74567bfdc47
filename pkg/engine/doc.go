// Package engine is the semantics of every boontadata scenario as pure Go:
// window assignment, watermarks, deduplication by message id, aggregation per
// (device, category, window), output modes and the presets. It knows nothing
// of Kafka or Cassandra. A runtime owns one Engine per partition, feeds it
// records on one goroutine, calls Advance on a timer tick (continuous) or at
// the end of each micro-batch, and receives results and decisions through a
// Sink. The hot path (Process) does not allocate in the steady state.
//
// docs/engine.md explains the semantics and the presets in full.
package engine
