package simulator

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/boontadata/boontadata/pkg/cassandra"
	"github.com/boontadata/boontadata/pkg/clock"
	"github.com/boontadata/boontadata/pkg/event"
	"github.com/boontadata/boontadata/pkg/kafka"
	"github.com/boontadata/boontadata/pkg/logging"
	"github.com/boontadata/boontadata/pkg/retry"
	"github.com/boontadata/boontadata/pkg/setup"

	"github.com/boontadata/boontadata/services/simulator/internal/gen"
	"github.com/boontadata/boontadata/services/simulator/internal/progress"
	"github.com/boontadata/boontadata/services/simulator/internal/store"
	"github.com/boontadata/boontadata/services/simulator/internal/target"
	"github.com/boontadata/boontadata/services/simulator/internal/truth"
)

// Statuses of a run, in runs.status.
const (
	StatusRunning     = "running"
	StatusDone        = "done"
	StatusInterrupted = "interrupted"
	StatusFailed      = "failed"
)

// Clock is the time source of a run; tests inject a fake one.
type Clock interface {
	clock.Clock
	// Sleep waits d or until ctx ends.
	Sleep(ctx context.Context, d time.Duration) error
}

// WallClock is the real clock.
type WallClock struct{ clock.System }

// Sleep implements Clock.
func (WallClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Deps are what a run needs from its environment.
type Deps struct {
	Log *zap.Logger
	// Stdout receives the run id (or the lines of a dry run); Stderr the
	// progress bar.
	Stdout, Stderr io.Writer
	// StderrIsTerminal selects the progress bar in --progress auto.
	StderrIsTerminal bool
	Clock            Clock
}

// Result summarises a run.
type Result struct {
	RunID  string
	Status string
	Seed   int64
	Start  int64 // nominal start, ms
	// Counts are the acknowledged sends by pattern.
	Counts  gen.Counts
	Elapsed time.Duration
	// Rate is acknowledged sends per second of Elapsed.
	Rate      float64
	RawRows   int64
	TruthRows [2]int // by device time, by send time
	// EndMarkers is the number of partitions that got the end-of-run marker.
	EndMarkers int
}

// Run simulates the fleet as configured and records the truth. It prints the
// run id on stdout as its last line. An interruption (ctx cancelled) stops
// generating, waits for the acknowledgements of what was sent, records it
// and returns without error: the run is recorded as interrupted.
func Run(ctx context.Context, cfg Config, d Deps) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if d.Clock == nil {
		d.Clock = WallClock{}
	}
	log := d.Log
	started := d.Clock.Now()
	start := started.UnixMilli()
	if cfg.StartTime != "" {
		start, _ = ParseStartTime(cfg.StartTime) // validated
	}
	if cfg.Seed == 0 {
		cfg.Seed = randomSeed()
	}
	if cfg.RunID == "" {
		cfg.RunID = newUUID()
	}
	p, err := cfg.Params(start)
	if err != nil {
		return nil, err
	}
	fleet, err := gen.NewFleet(p)
	if err != nil {
		return nil, err
	}
	res := &Result{RunID: cfg.RunID, Seed: cfg.Seed, Start: start}
	log = log.With(zap.String(logging.KeyRunID, cfg.RunID))
	log.Info("starting run", zap.Int64("seed", cfg.Seed), zap.Int("devices", cfg.Devices), zap.Float64("rate_per_device", p.Rate),
		zap.Int64("count", p.Count), zap.Duration("duration", p.Duration), zap.String("clock", cfg.Clock),
		zap.String("target", cfg.Target), zap.String("record", cfg.Record), zap.Time("start", time.UnixMilli(start).UTC()))
	if cfg.DryRun {
		return res, dryRun(fleet, d.Stdout, res, log)
	}

	var kc *kafka.Config
	if cfg.Target == TargetKafka {
		kc = &cfg.Kafka
	}
	if err := setup.Run(ctx, setup.Options{Kafka: kc, Cassandra: &cfg.Cassandra, ClientID: "simulator-setup", Wait: cfg.SetupWait}, log); err != nil {
		return nil, err
	}
	sess, err := cassandra.NewSession(&cfg.Cassandra, log, true)
	if err != nil {
		return nil, err
	}
	defer sess.Close()
	st := store.New(sess, store.Options{BatchRows: cfg.RecordBatch, Concurrency: cfg.RecordConcurrency,
		Retry: retry.Policy{Max: cfg.RetryMaxBackoff}, RetryTimeout: cfg.RetryTimeout}, log)

	// Recording goes on after an interruption: what was acknowledged must
	// land in the truth.
	recCtx := context.WithoutCancel(ctx)
	deviceIDs := make([]string, len(fleet.Devices))
	devices := make([]store.Device, len(fleet.Devices))
	for i, dev := range fleet.Devices {
		deviceIDs[i] = dev.ID
		devices[i] = store.Device{ID: dev.ID, Index: dev.Index, SkewMs: dev.Skew}
	}
	runRow := store.Run{
		ID: cfg.RunID, Started: started, Seed: cfg.Seed, Devices: cfg.Devices, WindowMs: cfg.Window.Milliseconds(),
		ResendHorizonMs: cfg.ResendHorizon.Milliseconds(), Flags: cfg.FlagMap(), Counts: (&gen.Counts{}).Map(), Status: StatusRunning,
	}
	runRow.Flags["start"] = fmt.Sprint(start)
	runRow.Flags["seed"] = fmt.Sprint(cfg.Seed)
	if err := st.PutRun(ctx, runRow); err != nil {
		return nil, err
	}
	if err := st.PutDevices(ctx, cfg.RunID, devices); err != nil {
		return nil, err
	}

	tr, err := truth.New(cfg.Devices, cfg.Window)
	if err != nil {
		return nil, err
	}
	col := &collector{truth: tr, defectsOnly: cfg.Record == RecordDefects}
	if cfg.Record != RecordNone {
		col.raw = st.NewRawWriter(recCtx, cfg.RunID, deviceIDs)
	}
	tgt, err := newTarget(ctx, cfg, deviceIDs, d.Clock, col.ack, log)
	if err != nil {
		return nil, err
	}

	var lastSlot atomic.Int64
	lastSlot.Store(start)
	read := func() progress.Snapshot {
		st := tgt.Stats()
		s := progress.Snapshot{Sent: col.sent.Load(), Failures: st.Failures, Pending: st.Pending}
		if p.Count > 0 {
			s.Fraction = float64(s.Sent) / float64(p.Count)
		} else {
			s.Fraction = float64(lastSlot.Load()-start) / float64(p.Duration.Milliseconds())
		}
		return s
	}
	var rep *progress.Reporter
	if cfg.Progress != ProgressOff {
		bar := cfg.Progress == ProgressBar || cfg.Progress == ProgressAuto && d.StderrIsTerminal
		rep = progress.Start(read, d.Stderr, bar, cfg.ProgressInterval, d.Clock.Now, log)
	}

	genStart := d.Clock.Now()
	genErr := generate(ctx, fleet, tgt, cfg.Clock == ClockLive, d.Clock, &lastSlot)
	if genErr != nil && ctx.Err() == nil {
		log.Error("stopping the run", zap.Error(genErr))
	} else if ctx.Err() != nil {
		log.Warn("interrupted: waiting for the acknowledgements of what was sent", zap.Duration("timeout", cfg.ShutdownTimeout))
	}
	closeCtx, cancel := context.WithTimeout(recCtx, cfg.ShutdownTimeout)
	defer cancel()
	closeErr := tgt.Close(closeCtx)
	res.Elapsed = d.Clock.Now().Sub(genStart)
	if closeErr == nil && ignoreCancel(genErr, ctx) == nil {
		// Every send is acknowledged: the input of the run ends here, on
		// every partition, even when the run was interrupted.
		if n, err := tgt.EndRun(closeCtx); err != nil {
			closeErr = fmt.Errorf("mark the end of the run: %w", err)
		} else {
			res.EndMarkers = n
			runRow.InputEnded = d.Clock.Now()
		}
	}
	if rep != nil {
		rep.Stop()
	}
	var rawErr error
	if col.raw != nil {
		rawErr = col.raw.Close()
		res.RawRows = col.raw.Written()
	}

	res.Counts = tr.Counts
	res.Rate = float64(tr.Counts.Total()) / max(res.Elapsed.Seconds(), 1e-9)
	runErr := errors.Join(ignoreCancel(genErr, ctx), closeErr, rawErr)
	switch {
	case runErr != nil:
		res.Status = StatusFailed
	case ctx.Err() != nil:
		res.Status = StatusInterrupted
	default:
		res.Status = StatusDone
	}

	// The truth of what was acknowledged is written whatever happened.
	byDev, bySend := tr.ByDeviceTime.Rows(), tr.BySendTime.Rows()
	res.TruthRows = [2]int{len(byDev), len(bySend)}
	for i := range devices {
		devices[i].Sends, devices[i].Distinct = tr.Sends[i], tr.Distinct[i]
	}
	wctx, wcancel := context.WithTimeout(recCtx, max(cfg.ShutdownTimeout, 5*time.Minute))
	defer wcancel()
	writeErr := errors.Join(
		st.PutTruth(wctx, cfg.RunID, store.TableByDeviceTime, byDev, deviceIDs),
		st.PutTruth(wctx, cfg.RunID, store.TableBySendTime, bySend, deviceIDs),
		st.PutDevices(wctx, cfg.RunID, devices),
	)
	if writeErr != nil {
		res.Status = StatusFailed
	}
	runRow.Ended = d.Clock.Now()
	runRow.Counts = tr.Counts.Map()
	runRow.Status = res.Status
	writeErr = errors.Join(writeErr, st.PutRun(wctx, runRow))

	fields := []zap.Field{zap.String("status", res.Status), zap.Int64("sent", tr.Counts.Total()),
		zap.Duration("elapsed", res.Elapsed), zap.Float64("events_per_second", float64(int64(res.Rate))),
		zap.Int64("raw_rows", res.RawRows), zap.Int("end_of_run_markers", res.EndMarkers), zap.Int("truth_rows_by_device_time", res.TruthRows[0]),
		zap.Int("truth_rows_by_send_time", res.TruthRows[1])}
	for pt, n := range tr.Counts {
		fields = append(fields, zap.Int64(gen.Pattern(pt).String(), n))
	}
	log.Info("run finished", fields...)
	if _, err := fmt.Fprintln(d.Stdout, cfg.RunID); err != nil {
		writeErr = errors.Join(writeErr, fmt.Errorf("print run id: %w", err))
	}
	if err := errors.Join(runErr, writeErr); err != nil {
		return res, fmt.Errorf("run %s: %w", cfg.RunID, err)
	}
	return res, nil
}

func ignoreCancel(err error, ctx context.Context) error {
	if err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return nil
	}
	return err
}

// generate hands every send of the fleet to the target, paced by the clock
// in live mode.
func generate(ctx context.Context, fleet *gen.Fleet, tgt target.Target, live bool, clock Clock, lastSlot *atomic.Int64) error {
	var s gen.Send
	for n := 0; fleet.Next(&s); n++ {
		if live {
			for {
				wait := time.UnixMilli(s.Slot).Sub(clock.Now())
				if wait <= 0 {
					break
				}
				if err := clock.Sleep(ctx, wait); err != nil {
					return err
				}
			}
		}
		if n&255 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			lastSlot.Store(s.Slot)
		}
		if err := tgt.Send(ctx, &s); err != nil {
			return err
		}
	}
	lastSlot.Store(s.Slot)
	return nil
}

func newTarget(ctx context.Context, cfg Config, deviceIDs []string, clock Clock, ack target.AckFunc, log *zap.Logger) (target.Target, error) {
	retry := target.Retry{Initial: 100 * time.Millisecond, Max: cfg.RetryMaxBackoff, Timeout: cfg.RetryTimeout}
	live := cfg.Clock == ClockLive
	if cfg.Target == TargetHTTP {
		return target.NewHTTP(target.HTTPOptions{
			URL: cfg.IngestURL, Token: cfg.IngestToken, RunID: cfg.RunID, BatchSize: cfg.BatchSize, Linger: cfg.BatchLinger,
			Concurrency: cfg.HTTPConcurrency, Timeout: cfg.HTTPTimeout, Live: live, Now: clock.Now, Retry: retry,
		}, ack, log.Named("http")), nil
	}
	sc, err := cfg.Kafka.Sarama("simulator")
	if err != nil {
		return nil, err
	}
	target.Tune(sc)
	return target.NewKafka(ctx, cfg.Kafka.BrokerList(), sc, target.KafkaOptions{
		Topic: cfg.Kafka.Topics.Events, RunID: cfg.RunID, DeviceIDs: deviceIDs, MaxPending: cfg.MaxPending,
		Live: live, Now: clock.Now, Retry: retry,
	}, ack, log.Named("kafka"))
}

// collector turns acknowledgements into the truth and the raw_events rows.
type collector struct {
	mu          sync.Mutex
	truth       *truth.Truth
	raw         *store.RawWriter
	defectsOnly bool
	sent        atomic.Int64
}

func (c *collector) ack(sends []gen.Send) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range sends {
		s := &sends[i]
		c.truth.Add(s)
		if c.raw != nil && (!c.defectsOnly || s.Pattern.Defect()) {
			if err := c.raw.Add(s); err != nil {
				return fmt.Errorf("record sends: %w", err)
			}
		}
	}
	c.sent.Add(int64(len(sends)))
	return nil
}

// dryRun prints the wire lines of every send and the counts by pattern.
func dryRun(fleet *gen.Fleet, stdout io.Writer, res *Result, log *zap.Logger) error {
	w := bufio.NewWriterSize(stdout, 64<<10)
	var s gen.Send
	var line []byte
	for fleet.Next(&s) {
		res.Counts[s.Pattern]++
		line = append(event.AppendFormat(line[:0], s.Event), '\n')
		if _, err := w.Write(line); err != nil {
			return fmt.Errorf("write lines: %w", err)
		}
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("write lines: %w", err)
	}
	res.Status = StatusDone
	fields := []zap.Field{zap.Int64("sends", res.Counts.Total())}
	for pt, n := range res.Counts {
		fields = append(fields, zap.Int64(gen.Pattern(pt).String(), n))
	}
	log.Info("dry run finished", fields...)
	return nil
}

func randomSeed() int64 {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read does not fail on supported platforms
	return int64(binary.LittleEndian.Uint64(b[:])&^(1<<63) | 1)
}

// newUUID returns a random version 4 UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
