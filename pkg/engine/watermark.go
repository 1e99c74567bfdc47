package engine

import "math"

// PartitionMark is what one partition tells the others about its watermark
// (ScopeMin, ScopeGlobal): the runtime collects one per partition of the
// input and Combine makes the watermark every partition's engine runs under.
type PartitionMark struct {
	Partition int32 `json:"partition"`
	// Watermark is the partition's own max(time) − delay, math.MinInt64
	// before its first record.
	Watermark int64 `json:"watermark"`
	// Idle: no record for the spec's IdleTimeout of processing time
	// (ScopeMin): the partition does not hold the minimum back.
	Idle bool `json:"idle,omitempty"`
	// Ended: the partition's input ended (EndInput).
	Ended bool `json:"ended,omitempty"`
}

// Combine returns the watermark of a scope over the marks of every partition
// of the input, never below prev (a watermark does not go back). A partition
// nobody reported yet must be passed as PartitionMark{Watermark:
// math.MinInt64}: it holds a minimum back until it reports, as a Kafka split
// without a watermark yet holds Flink's back.
//
//   - ScopeMin (Flink): the minimum over the partitions that are neither idle
//     nor ended, as Flink's WatermarkOutputMultiplexer combines the splits of
//     a source and the window operator its inputs; when every partition is
//     idle it stays where it is; the combined output never goes back, so a
//     partition that becomes active again below it holds it until it
//     catches up.
//   - ScopeGlobal (Spark): the maximum over every partition, as Spark's
//     driver takes max(event time) over every task of the earlier batches.
//
// Once every partition ended, both are math.MaxInt64: the input is over and
// every window closes. ScopePartition has nothing to combine: prev.
func Combine(scope WatermarkScope, prev int64, marks []PartitionMark) int64 {
	if len(marks) == 0 {
		return prev
	}
	allEnded := true
	for _, m := range marks {
		allEnded = allEnded && m.Ended
	}
	if allEnded && scope != ScopePartition {
		return math.MaxInt64
	}
	switch scope {
	case ScopeMin:
		lo, active := int64(math.MaxInt64), false
		for _, m := range marks {
			if !m.Ended && !m.Idle {
				lo, active = min(lo, m.Watermark), true
			}
		}
		if active {
			return max(prev, lo)
		}
	case ScopeGlobal:
		hi := int64(math.MinInt64)
		for _, m := range marks {
			hi = max(hi, m.Watermark)
		}
		return max(prev, hi)
	}
	return prev
}
