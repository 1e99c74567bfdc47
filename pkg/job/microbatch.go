package job

import "strconv"

// States of a micro-batch in the microbatches table.
const (
	BatchPlanned   = "planned"
	BatchCompleted = "completed"
)

// Task is one partition range of one micro-batch, handed by the master (the
// driver) to a worker on the tasks topic. Start and End are offsets of the
// events topic: the task reads [Start, End).
type Task struct {
	JobID string `json:"job_id"`
	// Spec is the job, so that a worker needs nothing else to run the task.
	Spec    Spec  `json:"spec"`
	BatchID int64 `json:"batch_id"`
	// BatchTime is the trigger instant of the batch, ms since the epoch,
	// a multiple of the trigger interval; PrevBatchTime the one of the
	// batch before (0 for the first batch).
	BatchTime     int64 `json:"batch_time"`
	PrevBatchTime int64 `json:"prev_batch_time"`
	Partition     int32 `json:"partition"`
	Start         int64 `json:"start"`
	End           int64 `json:"end"`
	Attempt       int   `json:"attempt"`
	// Watermark is the batch's watermark when the driver combines it over
	// the partitions (watermark scopes min and global), ms; nil when each
	// partition computes its own.
	Watermark *int64 `json:"watermark_ms,omitempty"`
}

// WriteVersion is the Cassandra write timestamp (µs) of the task's results:
// the batch's trigger instant with the attempt in the last three digits. A
// later batch, or a later attempt of a batch, writes with a higher one, so a
// stale task (its worker lost the tasks partition while it ran) can never
// overwrite what a newer one wrote: Cassandra keeps the cell with the
// highest timestamp, whatever the order of arrival.
func (t Task) WriteVersion() int64 {
	return t.BatchTime*1000 + int64(min(max(t.Attempt, 0), 999))
}

// TaskKey keys the tasks of one (job, partition): the same key lands on the
// same tasks partition, hence on the same worker while it lives.
func TaskKey(jobID string, partition int32) string {
	return jobID + "/" + strconv.Itoa(int(partition))
}

// TaskAck is what a worker records once a task's results and checkpoint are
// durable (table microbatch_tasks).
type TaskAck struct {
	JobID        string `json:"job_id"`
	BatchID      int64  `json:"batch_id"`
	Partition    int32  `json:"partition"`
	WorkerID     string `json:"worker_id"`
	Attempt      int    `json:"attempt"`
	InputRows    int64  `json:"input_rows"`
	Results      int64  `json:"results"`
	Late         int64  `json:"late"`
	Duplicates   int64  `json:"duplicates"`
	ProcessingMs int64  `json:"processing_ms"`
	Watermark    int64  `json:"watermark_ms"`
	// PartitionWatermark is the partition's own max(time) − delay after the
	// batch (math.MinInt64 before any record), Ended whether its input
	// ended, and RunRecords how many records of the job's run the task
	// read: what the driver combines into the next batch's watermark.
	PartitionWatermark int64 `json:"partition_watermark_ms"`
	Ended              bool  `json:"ended,omitempty"`
	RunRecords         int64 `json:"run_records"`
}
