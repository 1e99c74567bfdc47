package job

import (
	"slices"
	"time"
)

// PartitionProgress is what a worker reports about one partition of a job.
type PartitionProgress struct {
	Partition int32 `json:"partition"`
	// NextOffset is the next offset to process; HighWatermark the offset the
	// next produced record will get; Lag their difference.
	NextOffset    int64 `json:"next_offset"`
	HighWatermark int64 `json:"high_watermark"`
	Lag           int64 `json:"lag"`
	// CommittedOffset is the last offset committed to the consumer group.
	CommittedOffset int64 `json:"committed_offset"`
	// Watermark of the partition's engine, ms since the epoch (0: none yet).
	Watermark       int64   `json:"watermark_ms"`
	EventsPerSecond float64 `json:"events_per_second"`
	Records         int64   `json:"records"`
	Accepted        int64   `json:"accepted"`
	Late            int64   `json:"late"`
	Duplicates      int64   `json:"duplicates"`
	// Placed counts records counted in another window than their device
	// time's (processing and ingestion time).
	Placed         int64 `json:"placed,omitempty"`
	Poison         int64 `json:"poison"`
	OtherRuns      int64 `json:"other_runs"`
	ResultsEmitted int64 `json:"results_emitted"`
	ResultsWritten int64 `json:"results_written"`
	OpenWindows    int   `json:"open_windows"`
	OpenStates     int   `json:"open_states"`
	DedupEntries   int   `json:"dedup_entries"`
	// OffsetResets counts the times committed offsets were out of range and
	// the worker skipped ahead.
	OffsetResets int64 `json:"offset_resets"`
	// LastRecordTime is when the partition last received a record.
	LastRecordTime time.Time `json:"last_record_time,omitzero"`
	// LastWriteTime is when Cassandra last acknowledged a write of the
	// partition's results or decisions.
	LastWriteTime time.Time `json:"last_write_time,omitzero"`
	// Ended: the partition delivered the end-of-run marker of the job's
	// run, and every window of it that can close is closed and written.
	Ended bool `json:"ended,omitempty"`
}

// WorkerReport is one progress message of one worker for one job, sent on
// the progress topic about every second.
type WorkerReport struct {
	WorkerID   string              `json:"worker_id"`
	JobID      string              `json:"job_id"`
	Time       time.Time           `json:"time"`
	Partitions []PartitionProgress `json:"partitions"`
	// Error is set when the worker's runner of the job stopped on an error.
	Error string `json:"error,omitempty"`
	// Stopping is set by the last report of a worker that leaves the job.
	Stopping bool `json:"stopping,omitempty"`
	// Failed says the job cannot run at all (Error says why): the master
	// marks it failed.
	Failed bool `json:"failed,omitempty"`
	// External is the results ingestion's view of a job of an engine under
	// test (docs/engines.md).
	External *ExternalProgress `json:"external,omitempty"`
}

// SaysEnded reports whether r says that a partition of its job, or the
// engine under test, reached the end of the job's run.
func (r WorkerReport) SaysEnded() bool {
	if r.External != nil && r.External.Ended {
		return true
	}
	return slices.ContainsFunc(r.Partitions, func(p PartitionProgress) bool { return p.Ended })
}

// ExternalProgress counts what the results ingestion read of one job of an
// engine under test, on one worker.
type ExternalProgress struct {
	// Lines of the results topic read, Results upserted, Late records the
	// engine reported dropping as late (written to the decision log),
	// BadLines sent to the dead-letter topic (counted under the empty job
	// id: a bad line may name no job).
	Lines    int64 `json:"lines"`
	Results  int64 `json:"results"`
	Late     int64 `json:"late,omitempty"`
	BadLines int64 `json:"bad_lines,omitempty"`
	// LastEmitTime is the engine's latest emit time seen, ms.
	LastEmitTime int64 `json:"last_emit_time,omitempty"`
	// Started: the engine reads the events topic (its start line).
	Started bool `json:"started,omitempty"`
	// Ended: the engine wrote the end of the job's run on every partition
	// of the results topic (EndedPartitions of ResultsPartitions, over
	// every worker: each partition's end follows the results written
	// there, so once all are read every result is written).
	Ended             bool    `json:"ended,omitempty"`
	EndedPartitions   []int32 `json:"ended_partitions,omitempty"`
	ResultsPartitions int     `json:"results_partitions,omitempty"`
}

// EndOn records the end line read on one partition of a results topic of
// partitions partitions.
func (p *ExternalProgress) EndOn(partition int32, partitions int) {
	if !slices.Contains(p.EndedPartitions, partition) {
		p.EndedPartitions = append(p.EndedPartitions, partition)
	}
	p.ResultsPartitions = max(p.ResultsPartitions, partitions)
	p.Ended = p.ResultsPartitions > 0 && len(p.EndedPartitions) >= p.ResultsPartitions
}

// Add merges what another worker's ingestion counted.
func (p *ExternalProgress) Add(q ExternalProgress) {
	p.Lines += q.Lines
	p.Results += q.Results
	p.Late += q.Late
	p.BadLines += q.BadLines
	p.LastEmitTime = max(p.LastEmitTime, q.LastEmitTime)
	p.Started = p.Started || q.Started
	p.ResultsPartitions = max(p.ResultsPartitions, q.ResultsPartitions)
	for _, e := range q.EndedPartitions {
		p.EndOn(e, q.ResultsPartitions)
	}
}
