// Package results is the results ingestion of the engine contract
// (docs/engines.md): the workers consume the results topic in one consumer
// group and upsert each engine under test's result lines into the results
// tables, through the same writer as this project's engine, so that the
// comparator, latency and the matrix do not care which engine answered. A
// late line (a record the engine dropped as late) becomes a row of the
// job's decision log, which the comparator reads to name the drop. An
// end line makes every result of the job final: its job is then reported
// finished to the master. A line that does not parse goes to the
// dead-letter topic, with its error; nothing is dropped silently.
package results

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"go.uber.org/zap"

	"github.com/boontadata/boontadata/pkg/contract"
	"github.com/boontadata/boontadata/pkg/engine"
	"github.com/boontadata/boontadata/pkg/job"
	"github.com/boontadata/boontadata/pkg/kafka"
	"github.com/boontadata/boontadata/pkg/logging"
	"github.com/boontadata/boontadata/pkg/retry"
	"github.com/boontadata/boontadata/services/aggregator-worker/internal/stream"
)

// GroupID is the consumer group of the results ingestion on a results topic.
func GroupID(topic string) string { return "boontadata-results-ingest-" + topic }

// Ingester ingests the results topic.
type Ingester struct {
	WorkerID  string
	Topic     string
	Writer    stream.ResultWriter
	DLQ       stream.DeadLetter
	DeadTopic string
	// Report sends a progress report to the master.
	Report func(job.WorkerReport)
	// ReportInterval is how often the counts of each job are reported.
	ReportInterval time.Duration
	// Retry paces the retries of writes, dead-letters and group joins.
	Retry retry.Policy
	Log   *zap.Logger
	Now   func() time.Time

	partitions int // of the results topic

	mu   sync.Mutex
	jobs map[string]*counts
}

// counts are what the ingestion did for one job since this worker started.
type counts struct {
	job.ExternalProgress
	changed bool
}

func (in *Ingester) count(jobID string, f func(*job.ExternalProgress)) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.jobs == nil {
		in.jobs = map[string]*counts{}
	}
	c := in.jobs[jobID]
	if c == nil {
		c = &counts{}
		in.jobs[jobID] = c
	}
	f(&c.ExternalProgress)
	c.changed = true
}

// Run consumes until ctx ends.
func (in *Ingester) Run(ctx context.Context, client sarama.Client) error {
	parts, err := client.Partitions(in.Topic)
	if err != nil {
		return fmt.Errorf("partitions of %s: %w", in.Topic, err)
	}
	in.partitions = len(parts)
	group, err := sarama.NewConsumerGroupFromClient(GroupID(in.Topic), client)
	if err != nil {
		return fmt.Errorf("join consumer group %s: %w", GroupID(in.Topic), err)
	}
	reportCtx, stopReports := context.WithCancel(ctx)
	reported := make(chan struct{})
	go func() {
		defer close(reported)
		in.reportLoop(reportCtx)
	}()
	_, closeErr := stream.GroupLoop{
		Group: group, Name: GroupID(in.Topic), Topics: []string{in.Topic}, Handler: in,
		Retry: in.Retry, Log: in.Log, What: "consume results",
	}.Run(ctx)
	stopReports()
	<-reported
	return closeErr
}

func (in *Ingester) reportLoop(ctx context.Context) {
	t := time.NewTicker(in.ReportInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var reps []job.WorkerReport
		in.mu.Lock()
		for id, c := range in.jobs {
			if c.changed {
				c.changed = false
				p := c.ExternalProgress
				reps = append(reps, job.WorkerReport{WorkerID: in.WorkerID, JobID: id, Time: in.Now(), External: &p})
			}
		}
		in.mu.Unlock()
		for _, r := range reps {
			in.Report(r)
		}
	}
}

// Setup implements sarama.ConsumerGroupHandler.
func (in *Ingester) Setup(sarama.ConsumerGroupSession) error { return nil }

// Cleanup implements sarama.ConsumerGroupHandler.
func (in *Ingester) Cleanup(sarama.ConsumerGroupSession) error { return nil }

// maxBatch is the most lines written in one go.
const maxBatch = 1024

// ConsumeClaim ingests one partition of the results topic: what is fetched
// is parsed, written, then marked; an end line is reported once the results
// before it are written.
func (in *Ingester) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	ctx := sess.Context()
	for {
		select {
		case <-ctx.Done():
			return nil
		case msg, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			msgs := []*sarama.ConsumerMessage{msg}
			for len(msgs) < maxBatch && len(claim.Messages()) > 0 {
				msgs = append(msgs, <-claim.Messages())
			}
			if err := in.ingest(ctx, msgs); err != nil {
				if ctx.Err() != nil {
					return nil // not marked: the next owner ingests them again (upserts)
				}
				return err
			}
			sess.MarkMessage(msgs[len(msgs)-1], "")
		}
	}
}

type jobRun struct{ job, run string }

// ingest writes the results and late drops of msgs grouped by job and run,
// in order, and reports the end lines after the lines before them.
func (in *Ingester) ingest(ctx context.Context, msgs []*sarama.ConsumerMessage) error {
	pending := map[jobRun][]engine.Result{}
	lates := map[jobRun][]stream.Decision{}
	var order []jobRun
	add := func(k jobRun) {
		if _, ok := pending[k]; !ok {
			order = append(order, k)
			pending[k] = nil
		}
	}
	flush := func() error {
		for _, k := range order {
			if ds := lates[k]; len(ds) > 0 {
				err := in.Retry.Do(ctx, in.Log, "write engine late drops", func() error {
					return in.Writer.WriteDecisions(ctx, stream.ResultsRun(k.run), k.job, ds)
				})
				if err != nil {
					return err
				}
				in.count(k.job, func(p *job.ExternalProgress) { p.Late += int64(len(ds)) })
			}
			rs := pending[k]
			// The writes of one call run concurrently and share a
			// timestamp: several answers for one window are written in
			// turns, in the engine's order, so that the last is written
			// last and is the window's answer (cassandra.Emission).
			for _, turn := range turns(rs) {
				err := in.Retry.Do(ctx, in.Log, "write engine results", func() error {
					return in.Writer.Write(ctx, stream.ResultsRun(k.run), k.job, turn, 0)
				})
				if err != nil {
					return err
				}
			}
			in.count(k.job, func(p *job.ExternalProgress) {
				p.Results += int64(len(rs))
				for _, r := range rs {
					p.LastEmitTime = max(p.LastEmitTime, r.EmitTime)
				}
			})
		}
		clear(pending)
		clear(lates)
		order = order[:0]
		return nil
	}
	for _, msg := range msgs {
		l, err := contract.Parse(msg.Value)
		if err != nil {
			dead := kafka.DeadLetter(in.DeadTopic, msg, err, "", "aggregator-worker/results-ingest", in.Now().UnixMilli())
			log := in.Log.With(zap.String(logging.KeyTopic, msg.Topic), zap.Int32(logging.KeyPartition, msg.Partition), zap.Int64(logging.KeyOffset, msg.Offset))
			if err := in.Retry.Do(ctx, log, "dead-letter a results line", func() error { return in.DLQ.Send(dead) }); err != nil {
				return fmt.Errorf("record %s/%d@%d: %w", msg.Topic, msg.Partition, msg.Offset, err)
			}
			in.Log.Warn("results line not understood; sent to the dead-letter topic", zap.Error(err),
				zap.Int32(logging.KeyPartition, msg.Partition), zap.Int64(logging.KeyOffset, msg.Offset))
			in.count("", func(p *job.ExternalProgress) { p.BadLines++ })
			continue
		}
		in.count(l.JobID, func(p *job.ExternalProgress) { p.Lines++ })
		k := jobRun{l.JobID, l.RunID}
		if l.Kind == contract.KindStart {
			in.Log.Info("engine reads the events", zap.String(logging.KeyJobID, l.JobID), zap.String(logging.KeyRunID, l.RunID))
			in.count(l.JobID, func(p *job.ExternalProgress) { p.Started = true })
			in.Report(job.WorkerReport{WorkerID: in.WorkerID, JobID: l.JobID, Time: in.Now(), External: in.snapshot(l.JobID)})
			continue
		}
		switch l.Kind {
		case contract.KindResult:
			add(k)
			pending[k] = append(pending[k], l.Result)
			continue
		case contract.KindLate:
			add(k)
			lates[k] = append(lates[k], lateDecision(&l))
			continue
		}
		// An end line: every result before it on this partition is
		// written first; the master finishes the job once the end is read
		// on every partition of the results topic.
		if err := flush(); err != nil {
			return err
		}
		in.Log.Info("engine wrote the end of its run", zap.String(logging.KeyJobID, l.JobID), zap.String(logging.KeyRunID, l.RunID),
			zap.Int32(logging.KeyPartition, msg.Partition))
		in.count(l.JobID, func(p *job.ExternalProgress) { p.EndOn(msg.Partition, in.partitions) })
		in.Report(job.WorkerReport{WorkerID: in.WorkerID, JobID: l.JobID, Time: in.Now(), External: in.snapshot(l.JobID)})
	}
	return flush()
}

// ReasonReported is the reason of a decision an engine under test reported:
// it says that a record was dropped as late, not by which rule.
const ReasonReported = "reported by the engine: dropped as late"

// lateDecision is the decision log row of a late line.
func lateDecision(l *contract.Line) stream.Decision {
	d := &l.Late
	return stream.Decision{Kind: engine.LateDropped.String(), Reason: ReasonReported,
		MessageID: d.MessageID, DeviceID: d.DeviceID, Category: d.Category,
		Partition: d.Partition, Offset: d.Offset, Time: d.Time, DeviceTime: d.DeviceTime,
		WindowStart: d.Window.Start, WindowEnd: d.Window.End, Emit: l.EmitTime,
		Measure1: d.Measure1, Measure2: d.Measure2}
}

func (in *Ingester) snapshot(jobID string) *job.ExternalProgress {
	in.mu.Lock()
	defer in.mu.Unlock()
	if c := in.jobs[jobID]; c != nil {
		p := c.ExternalProgress
		return &p
	}
	return nil
}

// turns splits results into calls in which each window appears once: the
// n-th answer of a window goes in the n-th call.
func turns(rs []engine.Result) [][]engine.Result {
	type win struct {
		device, category string
		start            int64
	}
	seen := map[win]int{}
	var out [][]engine.Result
	for _, r := range rs {
		k := win{r.DeviceID, r.Category, r.Window.Start}
		n := seen[k]
		seen[k] = n + 1
		if n == len(out) {
			out = append(out, nil)
		}
		out[n] = append(out[n], r)
	}
	return out
}
