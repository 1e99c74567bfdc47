package worker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"go.uber.org/zap"

	"github.com/boontadata/boontadata/pkg/engine"
	"github.com/boontadata/boontadata/pkg/job"
	"github.com/boontadata/boontadata/pkg/logging"
	"github.com/boontadata/boontadata/services/aggregator-worker/internal/stream"
)

// ErrMicroBatch is reported for jobs whose preset needs the micro-batch driver.
var ErrMicroBatch = errors.New("micro-batch presets (dstream, structured) need the micro-batch driver, which this runtime does not provide")

// ErrOutOfRange is reported when a job's committed offsets point to deleted
// data and the job asks to fail.
var ErrOutOfRange = errors.New("committed offsets are out of range (retention deleted the data)")

// runner runs one job on this worker: a consumer group member whose claimed
// partitions each run an engine.
type runner struct {
	cfg    *Config
	spec   job.Spec
	espec  engine.Spec
	deps   partitionDeps
	log    *zap.Logger
	topic  string
	report func(job.WorkerReport)

	mu         sync.Mutex
	partitions map[int32]*partition
	resets     int64
	lastErr    string
	// previous Records per partition, for events/s.
	prevRecords map[int32]int64
	prevTime    time.Time
	// soon asks reportLoop for a report before the next interval.
	soon chan struct{}
}

func newRunner(cfg *Config, spec job.Spec, deps partitionDeps, report func(job.WorkerReport)) (*runner, error) {
	espec, err := spec.Engine()
	if err != nil {
		return nil, err
	}
	if espec.Trigger == engine.MicroBatch {
		return nil, fmt.Errorf("job %s, preset %s: %w", spec.ID, spec.Preset, ErrMicroBatch)
	}
	deps.log = deps.log.With(zap.String(logging.KeyJobID, spec.ID))
	return &runner{
		cfg: cfg, spec: spec, espec: espec, deps: deps, log: deps.log,
		topic: cfg.Kafka.Topics.Events, report: report,
		partitions: map[int32]*partition{}, prevRecords: map[int32]int64{},
		soon: make(chan struct{}, 1),
	}, nil
}

// saramaConfig is the consumer configuration of this job.
func (r *runner) saramaConfig() (*sarama.Config, error) {
	sc, err := r.cfg.Kafka.Sarama("aggregator-worker-" + r.cfg.WorkerID)
	if err != nil {
		return nil, err
	}
	sc.Consumer.Offsets.Initial = sarama.OffsetOldest
	if r.spec.StartOffsets == job.StartLatest {
		sc.Consumer.Offsets.Initial = sarama.OffsetNewest
	}
	sc.Consumer.Group.ResetInvalidOffsets = r.spec.OnOutOfRange == job.OutOfRangeSkip
	// Bounded read-ahead per partition: memory stays small when the
	// engine is the slower side, and 1 MiB fetches keep the broker busy.
	sc.ChannelBufferSize = 1024
	sc.Consumer.Fetch.Default = 1 << 20
	sc.Consumer.MaxProcessingTime = 5 * time.Second
	// A member that joins is noticed by the others at their next
	// heartbeat. At a quarter of a second (Kafka's consumers default to
	// 3 s, the project's other groups to 1 s), the first worker of a new
	// job hands the second its half within about half a second: it has
	// little to write before it lets go, and what the partitions rebuild
	// from its checkpoints is short (BENCHMARKS.md: 4 s before).
	sc.Consumer.Group.Heartbeat.Interval = 250 * time.Millisecond
	return sc, nil
}

// run consumes until ctx ends or the job fails for good.
func (r *runner) run(ctx context.Context) error {
	sc, err := r.saramaConfig()
	if err != nil {
		return err
	}
	brokers := r.cfg.Kafka.BrokerList()
	client, err := sarama.NewClient(brokers, sc)
	if err != nil {
		return fmt.Errorf("connect to Kafka at %v: %w", brokers, err)
	}
	defer func() { _ = client.Close() }() // the group below is closed first
	parts, err := client.Partitions(r.topic)
	if err != nil {
		return fmt.Errorf("partitions of %s: %w", r.topic, err)
	}
	r.deps.partitions = len(parts)
	// Past this, the group may have evicted this worker (no heartbeat): the
	// last heartbeat before a freeze may be an interval old, and may have
	// waited behind a fetch on the connection it shares.
	g := sc.Consumer.Group
	r.deps.watch = newFreezeWatch(g.Session.Timeout-g.Heartbeat.Interval-sc.Consumer.MaxWaitTime, r.deps.now)
	if r.deps.hub != nil {
		defer r.deps.hub.forget(r.spec.ID)
	}
	group, err := sarama.NewConsumerGroupFromClient(r.spec.GroupID(), client)
	if err != nil {
		return fmt.Errorf("join consumer group %s: %w", r.spec.GroupID(), err)
	}
	admin, err := sarama.NewClusterAdmin(brokers, sc)
	if err != nil {
		_ = group.Close()
		return fmt.Errorf("connect to Kafka at %v: %w", brokers, err)
	}
	defer func() { _ = admin.Close() }() // read-only use

	// The watchdog and the reports run while the group does, and stop with
	// it, whether ctx ended or the job stopped on this worker.
	bgCtx, stopBackground := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		r.deps.watch.run(bgCtx)
	}()
	go func() {
		defer wg.Done()
		r.reportLoop(bgCtx)
	}()

	h := &handler{r: r, client: client, admin: admin}
	runErr, closeErr := stream.GroupLoop{
		Group: group, Name: r.spec.GroupID(), Topics: []string{r.topic}, Handler: h,
		Retry: r.deps.retry, Log: r.log, What: "consume events",
		Fatal:   func(err error) bool { return errors.Is(err, ErrOutOfRange) },
		OnError: r.setError,
	}.Run(ctx)
	if runErr != nil {
		r.setError(runErr)
		r.log.Error("job stopped on this worker", zap.Error(runErr))
	}
	stopBackground()
	wg.Wait()
	r.sendReport(true)
	if runErr != nil {
		return runErr
	}
	return closeErr
}

func (r *runner) setError(err error) {
	r.mu.Lock()
	r.lastErr = err.Error()
	r.mu.Unlock()
}

func (r *runner) reportLoop(ctx context.Context) {
	t := time.NewTicker(r.cfg.ProgressInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.sendReport(false)
		case <-r.soon:
			r.sendReport(false)
		}
	}
}

// reportEnd reports at once when p's input ended and its last windows were
// just written: the master finishes the job on that report, so the job is
// seen finished as soon as its final results are, not up to a progress
// interval later.
func (r *runner) reportEnd(p *partition, highWatermark int64) {
	if !p.eng.Ended() || p.progress().Ended {
		return
	}
	p.updateProgress(highWatermark)
	if !p.progress().Ended {
		return
	}
	select {
	case r.soon <- struct{}{}:
	default: // a report is already asked for: it will carry this partition
	}
}

func (r *runner) sendReport(stopping bool) {
	now := r.deps.now()
	r.mu.Lock()
	rep := job.WorkerReport{WorkerID: r.cfg.WorkerID, JobID: r.spec.ID, Time: now, Error: r.lastErr, Stopping: stopping}
	elapsed := now.Sub(r.prevTime).Seconds()
	for id, p := range r.partitions {
		pp := p.progress()
		pp.OffsetResets = r.resets
		if prev, ok := r.prevRecords[id]; ok && elapsed > 0 {
			pp.EventsPerSecond = float64(pp.Records-prev) / elapsed
		}
		r.prevRecords[id] = pp.Records
		rep.Partitions = append(rep.Partitions, pp)
	}
	r.prevTime = now
	r.mu.Unlock()
	r.report(rep)
}

// handler implements sarama.ConsumerGroupHandler for one runner.
type handler struct {
	r      *runner
	client sarama.Client
	admin  sarama.ClusterAdmin

	checkpoints map[int32]commitMeta
	stopCommit  context.CancelFunc
	committer   sync.WaitGroup
}

// Setup reads the committed offsets and checkpoints of the claimed
// partitions, applies the out-of-range policy and starts the committer.
func (h *handler) Setup(s sarama.ConsumerGroupSession) error {
	r := h.r
	claimed := s.Claims()[r.topic]
	h.checkpoints = map[int32]commitMeta{}
	if len(claimed) > 0 {
		resp, err := h.admin.ListConsumerGroupOffsets(r.spec.GroupID(), map[string][]int32{r.topic: claimed})
		if err != nil {
			return fmt.Errorf("read committed offsets: %w", err)
		}
		for _, p := range claimed {
			block := resp.GetBlock(r.topic, p)
			if block == nil || block.Offset < 0 {
				continue // nothing committed: the job's start offsets apply
			}
			oldest, err := h.client.GetOffset(r.topic, p, sarama.OffsetOldest)
			if err != nil {
				return fmt.Errorf("oldest offset of %s/%d: %w", r.topic, p, err)
			}
			newest, err := h.client.GetOffset(r.topic, p, sarama.OffsetNewest)
			if err != nil {
				return fmt.Errorf("newest offset of %s/%d: %w", r.topic, p, err)
			}
			if block.Offset < oldest || block.Offset > newest {
				if r.spec.OnOutOfRange != job.OutOfRangeSkip {
					return fmt.Errorf("%w: partition %d committed %d, available %d..%d; resubmit the job with on_out_of_range=skip to skip ahead",
						ErrOutOfRange, p, block.Offset, oldest, newest)
				}
				r.mu.Lock()
				r.resets++
				r.mu.Unlock()
				r.log.Warn("COMMITTED OFFSET OUT OF RANGE: skipping ahead, the deleted records are lost to this job",
					zap.Int32(logging.KeyPartition, p), zap.Int64("committed", block.Offset),
					zap.Int64("oldest", oldest), zap.Int64("newest", newest))
				continue
			}
			if block.Metadata == "" {
				continue
			}
			cp, err := parseCommitMeta(block.Metadata)
			if err != nil {
				r.log.Warn("unreadable checkpoint in the commit metadata; rebuilding from the committed offset without it",
					zap.Int32(logging.KeyPartition, p), zap.Error(err))
				continue
			}
			h.checkpoints[p] = cp
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.stopCommit = cancel
	h.committer.Add(1)
	go func() {
		defer h.committer.Done()
		t := time.NewTicker(r.cfg.CommitInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				s.Commit()
			}
		}
	}()
	r.mu.Lock()
	r.lastErr = "" // consuming again: a passing error is over
	r.mu.Unlock()
	r.log.Info("partitions claimed", zap.Int32s("partitions", claimed), zap.Int("checkpoints", len(h.checkpoints)))
	return nil
}

// Cleanup stops the committer and commits what the partitions marked last.
func (h *handler) Cleanup(s sarama.ConsumerGroupSession) error {
	if h.stopCommit != nil {
		h.stopCommit()
		h.committer.Wait()
	}
	s.Commit()
	return nil
}

// ConsumeClaim runs one partition until the session ends.
func (h *handler) ConsumeClaim(s sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	r := h.r
	p, err := newPartition(r.spec, r.espec, claim.Topic(), claim.Partition(), r.deps)
	if err != nil {
		return err
	}
	if cp, ok := h.checkpoints[claim.Partition()]; ok {
		if err := p.restore(cp); err != nil {
			return err
		}
	}
	p.begin(h.startOffset(claim), claim.HighWaterMarkOffset())
	r.mu.Lock()
	r.partitions[claim.Partition()] = p
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.partitions, claim.Partition())
		delete(r.prevRecords, claim.Partition())
		r.mu.Unlock()
		if r.deps.hub != nil {
			r.deps.hub.release(r.spec.ID, claim.Partition())
		}
	}()

	ctx := s.Context()
	ticker := time.NewTicker(r.cfg.Tick)
	defer ticker.Stop()
	batch := make([]*sarama.ConsumerMessage, 0, maxBatch)
	var partEnded <-chan struct{} // nil (never ready) unless the watermark spans partitions
	if p.shared() {
		partEnded = r.deps.hub.endSignal()
	}
	for {
		select {
		case msg, ok := <-claim.Messages():
			if !ok {
				return h.finish(s, p, claim)
			}
			// The engine is fastest on batches: take what else is already
			// fetched, without waiting for more.
			batch, ok = drain(claim.Messages(), append(batch[:0], msg))
			at, err := p.handle(ctx, batch)
			clear(batch)
			if err != nil {
				// The session ended while a poison record waited for the
				// dead-letter topic: nothing past it may be committed.
				p.nextOffset = at
				return h.finish(s, p, claim)
			}
			if !ok {
				return h.finish(s, p, claim)
			}
			if p.ended {
				// The end of the run's input on this partition: its last
				// windows are emitted now, not at the next tick.
				p.ended = false
				p.advance()
				if err := p.write(ctx, s); err != nil {
					return h.finish(s, p, claim)
				}
				r.reportEnd(p, claim.HighWaterMarkOffset())
			}
			if p.out.Len() >= r.cfg.MaxPending {
				// Bounded memory: wait for the write in flight, if any,
				// then write.
				if err := p.writeNow(ctx, s); err != nil {
					return h.finish(s, p, claim)
				}
			}
		case <-ticker.C:
			p.advance()
			if err := p.write(ctx, s); err != nil {
				return h.finish(s, p, claim)
			}
			r.reportEnd(p, claim.HighWaterMarkOffset())
			p.updateProgress(claim.HighWaterMarkOffset())
		case d := <-p.done:
			if err := p.written(ctx, d, s); err != nil {
				return h.finish(s, p, claim)
			}
			r.reportEnd(p, claim.HighWaterMarkOffset())
		case <-partEnded:
			// Another partition of the job reached the end of the run: the
			// combined watermark may have moved.
			partEnded = r.deps.hub.endSignal()
			p.advance()
			if err := p.write(ctx, s); err != nil {
				return h.finish(s, p, claim)
			}
		case <-ctx.Done():
			return h.finish(s, p, claim)
		}
	}
}

// maxBatch is the most records a partition hands to its engine at once.
const maxBatch = 256

// drain appends to batch the messages ready in ch, up to maxBatch, without
// blocking. ok is false once ch is closed.
func drain(ch <-chan *sarama.ConsumerMessage, batch []*sarama.ConsumerMessage) (_ []*sarama.ConsumerMessage, ok bool) {
	for len(batch) < maxBatch {
		select {
		case msg, ok := <-ch:
			if !ok {
				return batch, false
			}
			batch = append(batch, msg)
		default:
			return batch, true
		}
	}
	return batch, true
}

// finish writes what the partition emitted and marks its offset, within the
// shutdown deadline, when the session ends (rebalance or stop).
func (h *handler) finish(s sarama.ConsumerGroupSession, p *partition, claim sarama.ConsumerGroupClaim) error {
	ctx, cancel := context.WithTimeout(context.Background(), h.r.cfg.ShutdownTimeout)
	defer cancel()
	if err := p.flush(ctx, s); err != nil {
		h.r.log.Warn("partition released with results unwritten; they will be rebuilt from the committed offset",
			zap.Int32(logging.KeyPartition, p.id), zap.Error(err))
	}
	p.updateProgress(claim.HighWaterMarkOffset())
	return nil
}
