package target

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"go.uber.org/zap"

	"github.com/boontadata/boontadata/pkg/event"
	"github.com/boontadata/boontadata/pkg/kafka"
	"github.com/boontadata/boontadata/pkg/logging"

	"github.com/boontadata/boontadata/services/simulator/internal/gen"
)

// SourceSimulator is the value of the source header of the records the
// simulator produces itself.
const SourceSimulator = "simulator"

// KafkaOptions configure the Kafka target.
type KafkaOptions struct {
	Topic string
	RunID string
	// DeviceIDs by device index: the record keys.
	DeviceIDs []string
	// MaxPending bounds the sends produced and not acknowledged yet.
	MaxPending int
	// Live stamps sends with the clock; otherwise SendTime is the slot.
	Live  bool
	Now   func() time.Time
	Retry Retry
}

// Kafka produces sends to the events topic and reports them when the broker
// acknowledged them (acks=all).
//
// It is a batching producer on sarama's client and protocol types rather
// than its AsyncProducer: sends are encoded once, straight into one record
// batch per partition, and one goroutine ships the batches, a produce
// request per broker at a time. That costs a fraction of the AsyncProducer's
// CPU per record (a chain of goroutines and channel operations, and an
// allocation or more, per message), which matters for a generator that must
// outrun the pipeline it tests on the same machine. The producer is
// idempotent, as the AsyncProducer configured by kafka.Config is: batches
// carry a producer id and sequence numbers, and a retried batch is sent
// again unchanged, so the broker writes it once.
type Kafka struct {
	opts    KafkaOptions
	brokers []string
	sc      *sarama.Config
	client  sarama.Client
	ack     AckFunc
	log     *zap.Logger
	version int16 // of the produce requests
	// maxBytes bounds the uncompressed records of a batch.
	maxBytes int
	linger   time.Duration

	keys       [][]byte
	partitions []int32 // by device: the partition of its key
	numParts   int
	runHdr     sarama.RecordHeader
	srcHdr     sarama.RecordHeader
	sendKey    []byte
	ingestKey  []byte

	sem chan struct{} // a slot per send not acknowledged yet

	mu      sync.Mutex
	open    []*batch // by partition: the batch being filled
	ready   []*batch // full or lingered batches, oldest first
	spare   []*batch
	closing bool
	wake    chan struct{}

	// Used by the sender goroutine only.
	pid   int64
	epoch int16
	seq   []int32 // by partition: the sequence number of the next batch

	stop     chan struct{}
	done     chan struct{} // the sender returned
	idle     chan struct{} // signalled when nothing is pending while closing
	failures atomic.Int64
	inflight atomic.Int64
	// failingSince is the unix ns of the first failure since the last
	// success, 0 when healthy.
	failingSince atomic.Int64
	lastWarn     atomic.Int64
	fatal        atomic.Pointer[error]
	dead         chan struct{} // closed with the first fatal error
	deadOnce     sync.Once
	closeOnce    sync.Once
}

// batch is the records of one partition shipped in one record batch. Its
// slabs are reused from batch to batch: a record's key, value and header
// values point into them.
type batch struct {
	partition int32
	first     time.Time // timestamp of the first record
	maxDelta  time.Duration
	recs      []sarama.Record
	ptrs      []*sarama.Record
	hdrs      []sarama.RecordHeader // send and ingest time headers, two per record
	hptrs     []*sarama.RecordHeader
	arena     []byte // values and header values
	sends     []gen.Send
	bytes     int
	rb        *sarama.RecordBatch // built when first sent, then resent unchanged
}

// recordOverhead bounds the bytes a record adds to a batch besides its key,
// value and header values: lengths, deltas and header keys.
const recordOverhead = 64

// NewKafka connects to the brokers and starts the sender. The configuration
// is usually kafka.Config.Sarama, passed through Tune. It waits, retrying,
// while the brokers cannot hand out a producer id yet (just started).
func NewKafka(ctx context.Context, brokers []string, sc *sarama.Config, opts KafkaOptions, ack AckFunc, log *zap.Logger) (*Kafka, error) {
	if !sc.Version.IsAtLeast(sarama.V0_11_0_0) {
		return nil, fmt.Errorf("kafka target needs protocol version 0.11 or newer (record batches), got %s", sc.Version)
	}
	opts.MaxPending = max(opts.MaxPending, 1)
	client, err := sarama.NewClient(brokers, sc)
	if err != nil {
		return nil, fmt.Errorf("connect to Kafka at %v: %w", brokers, err)
	}
	k := &Kafka{
		opts: opts, brokers: brokers, sc: sc, client: client, ack: ack, log: log,
		version:  produceVersion(sc.Version),
		maxBytes: min(sc.Producer.MaxMessageBytes, 900_000),
		linger:   max(sc.Producer.Flush.Frequency, time.Millisecond),
		runHdr:   sarama.RecordHeader{Key: []byte(kafka.HeaderRunID), Value: []byte(opts.RunID)},
		srcHdr:   sarama.RecordHeader{Key: []byte(kafka.HeaderSource), Value: []byte(SourceSimulator)},
		sendKey:  []byte(kafka.HeaderSendTime), ingestKey: []byte(kafka.HeaderIngestTime),
		sem:  make(chan struct{}, opts.MaxPending),
		wake: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{}), idle: make(chan struct{}, 1),
		dead: make(chan struct{}),
	}
	if err := k.setup(ctx); err != nil {
		client.Close()
		return nil, err
	}
	go k.sender()
	return k, nil
}

// setup reads the partitions of the topic, maps each device to the
// partition of its key as sarama's default hash partitioner does (so the
// same device lands where the ingest gateway would put it), and gets a
// producer id.
func (k *Kafka) setup(ctx context.Context) error {
	parts, err := k.client.Partitions(k.opts.Topic)
	if err != nil {
		return fmt.Errorf("partitions of topic %q: %w (create it with: aggregator-master setup)", k.opts.Topic, err)
	}
	k.numParts = len(parts)
	hp := sarama.NewHashPartitioner(k.opts.Topic)
	for _, id := range k.opts.DeviceIDs {
		key := []byte(id)
		p, err := hp.Partition(&sarama.ProducerMessage{Key: sarama.ByteEncoder(key)}, int32(k.numParts))
		if err != nil {
			return fmt.Errorf("partition of device %s: %w", id, err)
		}
		k.keys = append(k.keys, key)
		k.partitions = append(k.partitions, parts[p])
	}
	maxPart := int32(0)
	for _, p := range parts {
		maxPart = max(maxPart, p)
	}
	k.open = make([]*batch, maxPart+1)
	k.seq = make([]int32, maxPart+1)
	start := time.Now()
	for attempt := 1; ; attempt++ {
		err := k.initProducer()
		if err == nil {
			return nil
		}
		if t := k.opts.Retry.Timeout; t > 0 && time.Since(start) > t {
			return fmt.Errorf("%w (%v): %w", ErrGaveUp, t, err)
		}
		k.log.Warn("kafka cannot start a producer yet; retrying", zap.Error(err), zap.Int("attempt", attempt))
		if !sleep(ctx, nil, k.opts.Retry.delay(attempt)) {
			return fmt.Errorf("%w: %w", err, ctx.Err())
		}
	}
}

func (k *Kafka) initProducer() error {
	resp, err := k.client.InitProducerID()
	if err != nil {
		return fmt.Errorf("init producer id: %w", err)
	}
	if resp.Err != sarama.ErrNoError {
		return fmt.Errorf("init producer id: %w", resp.Err)
	}
	k.pid, k.epoch = resp.ProducerID, resp.ProducerEpoch
	clear(k.seq)
	return nil
}

// produceVersion is the produce request version sarama's own producer uses
// for protocol version v.
func produceVersion(v sarama.KafkaVersion) int16 {
	for _, s := range []struct {
		v   sarama.KafkaVersion
		req int16
	}{
		{sarama.V3_7_0_0, 10}, {sarama.V2_8_0_0, 9}, {sarama.V2_4_0_0, 8}, {sarama.V2_1_0_0, 7},
		{sarama.V2_0_0_0, 6}, {sarama.V1_0_0_0, 5},
	} {
		if v.IsAtLeast(s.v) {
			return s.req
		}
	}
	return 3
}

// Tune sets what the Kafka target reads from a sarama configuration besides
// the connection: batches of up to 1 MiB (capped at 900 kB of records), sent
// 10 ms after their first record at the latest. Compression, acks and the
// request timeout come from kafka.Config.Sarama.
func Tune(sc *sarama.Config) {
	sc.Producer.Flush.Frequency = 10 * time.Millisecond
	sc.Producer.MaxMessageBytes = 1 << 20
}

// Send implements Target.
func (k *Kafka) Send(ctx context.Context, s *gen.Send) error {
	if err := k.err(); err != nil {
		return err
	}
	select {
	case k.sem <- struct{}{}:
	case <-k.dead:
		return k.err()
	case <-ctx.Done():
		return ctx.Err()
	}
	now := k.opts.Now()
	send := *s
	if k.opts.Live {
		send.SendTime = now.UnixMilli()
	} else {
		send.SendTime = s.Slot
	}
	p := k.partitions[s.Device]
	k.inflight.Add(1)
	k.mu.Lock()
	if k.closing {
		k.mu.Unlock()
		k.inflight.Add(-1)
		<-k.sem
		return ErrClosed
	}
	b := k.open[p]
	if b == nil {
		b = k.newBatch(p, now)
	}
	b.add(k, &send, now)
	if b.bytes >= k.maxBytes-2*event.MaxLineLen {
		k.enqueue(b)
	}
	k.mu.Unlock()
	return nil
}

// newBatch opens a batch for partition p. Called with mu held.
func (k *Kafka) newBatch(p int32, now time.Time) *batch {
	var b *batch
	if n := len(k.spare); n > 0 {
		b, k.spare = k.spare[n-1], k.spare[:n-1]
	} else {
		b = &batch{arena: make([]byte, 0, k.maxBytes)}
	}
	b.partition, b.first, b.maxDelta = p, now.Truncate(time.Millisecond), 0
	k.open[p] = b
	return b
}

// add encodes one send into the batch. The arena never grows: the caller
// ships the batch before it could overflow, so earlier records' slices stay
// valid.
func (b *batch) add(k *Kafka, s *gen.Send, now time.Time) {
	start := len(b.arena)
	b.arena = event.AppendFormat(b.arena, s.Event)
	value := b.arena[start:len(b.arena):len(b.arena)]
	start = len(b.arena)
	b.arena = strconv.AppendInt(b.arena, s.SendTime, 10)
	sendTime := b.arena[start:len(b.arena):len(b.arena)]
	start = len(b.arena)
	b.arena = strconv.AppendInt(b.arena, now.UnixMilli(), 10)
	ingest := b.arena[start:len(b.arena):len(b.arena)]

	delta := now.Truncate(time.Millisecond).Sub(b.first)
	b.maxDelta = max(b.maxDelta, delta)
	b.hdrs = append(b.hdrs, sarama.RecordHeader{Key: k.sendKey, Value: sendTime}, sarama.RecordHeader{Key: k.ingestKey, Value: ingest})
	b.recs = append(b.recs, sarama.Record{
		Key: k.keys[s.Device], Value: value,
		TimestampDelta: delta, OffsetDelta: int64(len(b.recs)),
	})
	b.sends = append(b.sends, *s)
	b.bytes += recordOverhead + len(k.keys[s.Device]) + len(value) + len(sendTime) + len(ingest) + len(k.opts.RunID) + len(SourceSimulator)
}

// enqueue moves the open batch b to the sender. Called with mu held.
func (k *Kafka) enqueue(b *batch) {
	k.open[b.partition] = nil
	k.ready = append(k.ready, b)
	select {
	case k.wake <- struct{}{}:
	default:
	}
}

// recordBatch builds the record batch of b, with the next sequence number
// of its partition. Headers are pointed to only now: the slabs have stopped
// growing.
func (k *Kafka) recordBatch(b *batch) *sarama.RecordBatch {
	n := len(b.recs)
	b.ptrs, b.hptrs = b.ptrs[:0], b.hptrs[:0]
	for i := range b.recs {
		b.hptrs = append(b.hptrs, &k.runHdr, &b.hdrs[2*i], &b.hdrs[2*i+1], &k.srcHdr)
	}
	for i := range b.recs {
		b.recs[i].Headers = b.hptrs[4*i : 4*i+4 : 4*i+4]
		b.ptrs = append(b.ptrs, &b.recs[i])
	}
	rb := &sarama.RecordBatch{
		Version: 2, Codec: k.sc.Producer.Compression, CompressionLevel: k.sc.Producer.CompressionLevel,
		FirstTimestamp: b.first, MaxTimestamp: b.first.Add(b.maxDelta),
		LastOffsetDelta: int32(n - 1),
		ProducerID:      k.pid, ProducerEpoch: k.epoch, FirstSequence: k.seq[b.partition],
		Records: b.ptrs,
	}
	k.seq[b.partition] += int32(n)
	return rb
}

// sender ships ready batches until stopped: at most one batch per partition
// in flight, so that a partition's batches are written in order.
func (k *Kafka) sender() {
	defer close(k.done)
	var round []*batch
	timer := time.NewTimer(k.linger)
	defer timer.Stop()
	attempt := 0 // failed rounds in a row
	for {
		k.mu.Lock()
		k.lingered(time.Now())
		round = k.takeRound(round[:0])
		closing := k.closing
		k.mu.Unlock()
		if len(round) == 0 {
			if closing && k.inflight.Load() == 0 {
				select {
				case k.idle <- struct{}{}:
				default:
				}
			}
			timer.Reset(k.linger)
			select {
			case <-k.wake:
			case <-timer.C:
			case <-k.stop:
				return
			}
			continue
		}
		retry := k.ship(round)
		if len(retry) == 0 {
			attempt = 0
			continue
		}
		k.mu.Lock()
		k.ready = append(retry, k.ready...) // first again, in order
		k.mu.Unlock()
		round = nil
		attempt++
		k.failed()
		if !sleep(context.Background(), k.stop, k.opts.Retry.delay(attempt)) {
			return
		}
	}
}

// lingered moves the open batches older than the linger (all of them when
// closing) to the ready queue. Called with mu held.
func (k *Kafka) lingered(now time.Time) {
	for _, b := range k.open {
		if b != nil && (k.closing || now.Sub(b.first) >= k.linger) {
			k.enqueue(b)
		}
	}
}

// takeRound takes from the ready queue the oldest batch of each partition.
// Called with mu held.
func (k *Kafka) takeRound(round []*batch) []*batch {
	taken := make(map[int32]bool, k.numParts)
	rest := k.ready[:0]
	for _, b := range k.ready {
		if taken[b.partition] {
			rest = append(rest, b)
			continue
		}
		taken[b.partition] = true
		round = append(round, b)
	}
	clear(k.ready[len(rest):])
	k.ready = rest
	return round
}

// ship sends a round of batches, one produce request per leader. Batches
// acknowledged are reported and recycled; it returns those that must be
// sent again, in their order.
func (k *Kafka) ship(round []*batch) []*batch {
	byLeader := map[*sarama.Broker][]*batch{}
	var retry []*batch
	for _, b := range round {
		leader, err := k.client.Leader(k.opts.Topic, b.partition)
		if err != nil {
			k.warn("no leader for a partition of the events topic; retrying", err)
			retry = append(retry, b)
			continue
		}
		byLeader[leader] = append(byLeader[leader], b)
	}
	var reinit bool
	for broker, bs := range byLeader {
		req := &sarama.ProduceRequest{Version: k.version, RequiredAcks: sarama.WaitForAll,
			Timeout: int32(k.sc.Producer.Timeout / time.Millisecond)}
		for _, b := range bs {
			if b.rb == nil {
				b.rb = k.recordBatch(b)
			}
			req.AddBatch(k.opts.Topic, b.partition, b.rb)
		}
		resp, err := broker.Produce(req)
		if err != nil {
			k.warn("kafka produce request failed; retrying", err)
			_ = broker.Close() // reopened by the next Leader call
			_ = k.client.RefreshMetadata(k.opts.Topic)
			retry = append(retry, bs...)
			continue
		}
		for _, b := range bs {
			block := resp.GetBlock(k.opts.Topic, b.partition)
			if block == nil {
				k.warn("kafka produce response without this partition; retrying", sarama.ErrIncompleteResponse)
				retry = append(retry, b)
				continue
			}
			switch kerr := block.Err; {
			case kerr == sarama.ErrNoError, kerr == sarama.ErrDuplicateSequenceNumber:
				k.acked(b)
			case kerr == sarama.ErrOutOfOrderSequenceNumber, kerr == sarama.ErrUnknownProducerID,
				kerr == sarama.ErrInvalidProducerEpoch:
				k.warn("kafka lost this producer's sequence; starting a new producer id", kerr)
				reinit = true
				retry = append(retry, b)
			case retriable(kerr):
				k.warn("kafka refused a batch; retrying", kerr)
				_ = k.client.RefreshMetadata(k.opts.Topic)
				retry = append(retry, b)
			default:
				k.setFatal(fmt.Errorf("kafka refused a batch of %d records for %s/%d: %w",
					len(b.recs), k.opts.Topic, b.partition, kerr))
				retry = append(retry, b)
			}
		}
	}
	if reinit {
		// Every batch not acknowledged is numbered again under the new id.
		// One written before the broker lost track of this producer would
		// then be written twice: Kafka cannot tell.
		if err := k.initProducer(); err != nil {
			k.warn("kafka producer id", err)
		}
		for _, b := range retry {
			b.rb = nil
		}
		k.mu.Lock()
		for _, b := range k.ready {
			b.rb = nil
		}
		k.mu.Unlock()
	}
	if len(retry) == 0 && k.failingSince.Swap(0) != 0 {
		k.log.Info("kafka acknowledges sends again")
	}
	// Batches of one partition stay in order: retry keeps the order of
	// round, where each partition has one batch.
	return retry
}

// acked reports the sends of b and recycles it. A failed report stops the
// run: Send returns the error from then on.
func (k *Kafka) acked(b *batch) {
	var err error
	if k.err() == nil {
		err = k.ack(b.sends)
	}
	n := len(b.recs)
	k.recycle(b)
	for range n {
		<-k.sem
	}
	k.inflight.Add(int64(-n))
	if err != nil {
		k.setFatal(err)
	}
}

func (k *Kafka) recycle(b *batch) {
	clear(b.sends) // drop string references
	clear(b.recs)
	clear(b.hptrs)
	clear(b.ptrs)
	b.recs, b.ptrs, b.hdrs, b.hptrs, b.sends = b.recs[:0], b.ptrs[:0], b.hdrs[:0], b.hptrs[:0], b.sends[:0]
	b.arena, b.bytes, b.rb = b.arena[:0], 0, nil
	k.mu.Lock()
	k.spare = append(k.spare, b)
	k.mu.Unlock()
}

// retriable reports whether a produce error is worth sending the same batch
// again for.
func retriable(err sarama.KError) bool {
	switch err {
	case sarama.ErrNotLeaderForPartition, sarama.ErrLeaderNotAvailable, sarama.ErrRequestTimedOut,
		sarama.ErrNotEnoughReplicas, sarama.ErrNotEnoughReplicasAfterAppend, sarama.ErrUnknownTopicOrPartition,
		sarama.ErrNetworkException, sarama.ErrKafkaStorageError, sarama.ErrBrokerNotAvailable,
		sarama.ErrReplicaNotAvailable, sarama.ErrNotController, sarama.ErrOffsetNotAvailable,
		sarama.ErrFencedLeaderEpoch, sarama.ErrUnknownLeaderEpoch,
		sarama.ErrThrottlingQuotaExceeded, sarama.ErrConcurrentTransactions:
		return true
	}
	return false
}

// failed counts a failed round and gives up once failures lasted longer
// than the retry timeout.
func (k *Kafka) failed() {
	k.failures.Add(1)
	now := time.Now().UnixNano()
	k.failingSince.CompareAndSwap(0, now)
	first := k.failingSince.Load()
	if t := k.opts.Retry.Timeout; t > 0 && time.Duration(now-first) > t {
		k.setFatal(fmt.Errorf("kafka: %w (%v)", ErrGaveUp, t))
	}
}

// warn logs a failure at most every 5 seconds.
func (k *Kafka) warn(msg string, err error) {
	now := time.Now().UnixNano()
	if last := k.lastWarn.Load(); now-last > int64(5*time.Second) && k.lastWarn.CompareAndSwap(last, now) {
		k.log.Warn(msg, zap.Error(err), zap.String(logging.KeyTopic, k.opts.Topic),
			zap.Int64("failures", k.failures.Load()), zap.Int64("pending", k.inflight.Load()))
	}
}

func (k *Kafka) err() error {
	if e := k.fatal.Load(); e != nil {
		return *e
	}
	return nil
}

func (k *Kafka) setFatal(err error) {
	k.fatal.CompareAndSwap(nil, &err)
	k.deadOnce.Do(func() { close(k.dead) })
}

// Close implements Target.
func (k *Kafka) Close(ctx context.Context) error {
	var lost int64
	k.closeOnce.Do(func() {
		k.mu.Lock()
		k.closing = true
		k.mu.Unlock()
		select {
		case k.wake <- struct{}{}:
		default:
		}
		for k.inflight.Load() > 0 && k.err() == nil {
			select {
			case <-k.idle:
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
			if ctx.Err() != nil {
				break
			}
		}
		close(k.stop)
		<-k.done
		lost = k.inflight.Load()
		k.client.Close()
	})
	if err := k.err(); err != nil {
		return err
	}
	if lost > 0 {
		return fmt.Errorf("%d sends never acknowledged by Kafka: %w", lost, errors.Join(ctx.Err(), ErrGaveUp))
	}
	return nil
}

// EndRun implements Target, retrying until the retry timeout.
func (k *Kafka) EndRun(ctx context.Context) (int, error) {
	var n int
	err := k.opts.Retry.do(ctx, k.log, "end-of-run markers", func() (err error) {
		n, err = kafka.SendEndOfRun(ctx, k.brokers, k.sc, k.opts.Topic, k.opts.RunID, SourceSimulator)
		return err
	})
	return n, err
}

// Stats implements Target.
func (k *Kafka) Stats() Stats {
	return Stats{Failures: k.failures.Load(), Pending: k.inflight.Load()}
}
