package engine

import (
	"fmt"
	"math"
)

// Local runs one engine per partition of an input on one goroutine and
// combines their watermarks as the spec's scope says: in one process what the
// runtimes do across workers (the continuous runtime through the watermarks
// topic, the micro-batch driver through task acknowledgements). The replay
// command and the tests use it. Time comes only from the records and the
// Advance calls, as for an Engine.
type Local struct {
	spec    Spec
	engines []*Engine
	// last is the processing time of each partition's last record, or of
	// the first call Local saw: Flink's idleness counts from the start.
	last    []int64
	started bool
}

// NewLocal returns engines for partitions 0..partitions-1 of one job, all
// emitting to sink.
func NewLocal(spec Spec, partitions int, sink Sink) (*Local, error) {
	if partitions < 1 {
		return nil, fmt.Errorf("spec %s: %w: %d partitions", spec.Name, ErrInvalidSpec, partitions)
	}
	l := &Local{spec: spec, engines: make([]*Engine, partitions), last: make([]int64, partitions)}
	for p := range l.engines {
		e, err := New(spec, int32(p), sink)
		if err != nil {
			return nil, err
		}
		l.engines[p] = e
	}
	return l, nil
}

// Engine returns the engine of a partition.
func (l *Local) Engine(partition int32) *Engine { return l.engines[partition] }

// Partitions returns the number of partitions.
func (l *Local) Partitions() int { return len(l.engines) }

func (l *Local) start(now int64) {
	if !l.started {
		l.started = true
		for p := range l.last {
			l.last[p] = now
		}
	}
}

// Process hands a record to the engine of its partition.
func (l *Local) Process(r *Record) error {
	if r.Partition < 0 || int(r.Partition) >= len(l.engines) {
		return fmt.Errorf("partition %d: the input has %d partitions", r.Partition, len(l.engines))
	}
	l.start(r.ProcessingTime)
	l.last[r.Partition] = max(l.last[r.Partition], r.ProcessingTime)
	l.engines[r.Partition].Process(r)
	return nil
}

// EndInput ends the input of one partition (its end-of-run marker).
func (l *Local) EndInput(partition int32, now int64) error {
	if partition < 0 || int(partition) >= len(l.engines) {
		return fmt.Errorf("partition %d: the input has %d partitions", partition, len(l.engines))
	}
	l.start(now)
	l.engines[partition].EndInput(now)
	return nil
}

// Marks returns every partition's mark as of processing time now.
func (l *Local) Marks(now int64) []PartitionMark {
	marks := make([]PartitionMark, len(l.engines))
	idle := l.spec.IdleTimeout.Milliseconds()
	for p, e := range l.engines {
		marks[p] = e.Mark()
		marks[p].Partition = int32(p)
		marks[p].Idle = idle > 0 && now-l.last[p] >= idle
	}
	return marks
}

// Watermark returns the combined watermark: the lowest of the engines'.
func (l *Local) Watermark() int64 {
	wm := int64(math.MaxInt64)
	for _, e := range l.engines {
		wm = min(wm, e.Watermark())
	}
	return wm
}

// Advance is a timer tick (continuous: the combined watermark is given to
// every engine, then each advances) or the end of the micro-batch triggered
// at now (each engine ends its batch, then the next batch's watermark is
// combined from what every partition saw, as Spark's driver does).
func (l *Local) Advance(now int64) {
	l.start(now)
	micro := l.spec.Trigger == MicroBatch
	if !micro {
		l.combine(now)
	}
	for _, e := range l.engines {
		e.Advance(now)
	}
	if micro {
		l.combine(now)
	}
}

func (l *Local) combine(now int64) {
	if l.spec.Time == ProcessingTime || l.spec.Scope == ScopePartition {
		return
	}
	wm := Combine(l.spec.Scope, l.Watermark(), l.Marks(now))
	for _, e := range l.engines {
		e.SetWatermark(wm)
	}
}

// Flush closes every window of every partition.
func (l *Local) Flush(now int64) {
	for _, e := range l.engines {
		e.Flush(now)
	}
}
