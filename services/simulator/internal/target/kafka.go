package target

import (
	"context"
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

// bytesEnc is a sarama.Encoder used through a pointer into a pooled message,
// so that setting Key and Value does not allocate.
type bytesEnc []byte

func (b *bytesEnc) Encode() ([]byte, error) { return *b, nil }
func (b *bytesEnc) Length() int             { return len(*b) }

// kmsg is one send in flight, pooled: the producer message, its headers and
// its buffers live in one allocation.
type kmsg struct {
	pm       sarama.ProducerMessage
	hdr      [4]sarama.RecordHeader
	key, val bytesEnc
	buf      []byte
	sendBuf  [20]byte
	ingBuf   [20]byte
	send     gen.Send
	failures int
}

// Kafka produces sends to the events topic with an idempotent async producer
// and reports them when the broker acknowledged them (acks=all).
type Kafka struct {
	opts     KafkaOptions
	p        sarama.AsyncProducer
	ack      AckFunc
	log      *zap.Logger
	keys     [][]byte
	runID    []byte
	source   []byte
	hdrKeys  [4][]byte
	pool     sync.Pool
	sem      chan struct{}
	pending  sync.WaitGroup
	retryCh  chan *kmsg
	stop     chan struct{}
	done     sync.WaitGroup // reader and retry goroutines
	retryWG  sync.WaitGroup
	failures atomic.Int64
	inflight atomic.Int64
	// failingSince is the unix ns of the first failure since the last
	// success, 0 when healthy.
	failingSince atomic.Int64
	lastWarn     atomic.Int64
	fatal        atomic.Pointer[error]
	closeOnce    sync.Once
}

// NewKafka starts the producer. The configuration is usually
// kafka.Config.Sarama: idempotent, acks=all, successes returned.
func NewKafka(brokers []string, sc *sarama.Config, opts KafkaOptions, ack AckFunc, log *zap.Logger) (*Kafka, error) {
	if !sc.Producer.Return.Successes || !sc.Producer.Return.Errors {
		return nil, fmt.Errorf("kafka target needs Producer.Return.Successes and Errors")
	}
	opts.MaxPending = max(opts.MaxPending, 1)
	p, err := sarama.NewAsyncProducer(brokers, sc)
	if err != nil {
		return nil, fmt.Errorf("start Kafka producer for %v: %w", brokers, err)
	}
	k := &Kafka{
		opts: opts, p: p, ack: ack, log: log,
		runID: []byte(opts.RunID), source: []byte(SourceSimulator),
		sem:     make(chan struct{}, opts.MaxPending),
		retryCh: make(chan *kmsg, opts.MaxPending),
		stop:    make(chan struct{}),
	}
	k.hdrKeys = [4][]byte{[]byte(kafka.HeaderRunID), []byte(kafka.HeaderSendTime), []byte(kafka.HeaderIngestTime), []byte(kafka.HeaderSource)}
	k.pool.New = func() any { return &kmsg{buf: make([]byte, 0, 160)} }
	for _, id := range opts.DeviceIDs {
		k.keys = append(k.keys, []byte(id))
	}
	k.done.Add(2)
	go k.readSuccesses()
	go k.readErrors()
	k.retryWG.Add(1)
	go k.retryLoop()
	return k, nil
}

// Tune adjusts a sarama configuration for throughput: larger batches, more
// buffering between the stages of the producer.
func Tune(sc *sarama.Config) {
	sc.ChannelBufferSize = 8192
	sc.Producer.Flush.Bytes = 1 << 20
	sc.Producer.Flush.Frequency = 10 * time.Millisecond
	sc.Producer.MaxMessageBytes = 4 << 20
}

// Send implements Target.
func (k *Kafka) Send(ctx context.Context, s *gen.Send) error {
	if err := k.err(); err != nil {
		return err
	}
	select {
	case k.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	m := k.pool.Get().(*kmsg)
	m.send = *s
	now := k.opts.Now()
	if k.opts.Live {
		m.send.SendTime = now.UnixMilli()
	} else {
		m.send.SendTime = s.Slot
	}
	m.failures = 0
	m.buf = event.AppendFormat(m.buf[:0], m.send.Event)
	m.val = m.buf
	m.key = k.keys[s.Device]
	m.hdr[0] = sarama.RecordHeader{Key: k.hdrKeys[0], Value: k.runID}
	m.hdr[1] = sarama.RecordHeader{Key: k.hdrKeys[1], Value: strconv.AppendInt(m.sendBuf[:0], m.send.SendTime, 10)}
	m.hdr[2] = sarama.RecordHeader{Key: k.hdrKeys[2], Value: strconv.AppendInt(m.ingBuf[:0], now.UnixMilli(), 10)}
	m.hdr[3] = sarama.RecordHeader{Key: k.hdrKeys[3], Value: k.source}
	k.reset(m, now)
	k.pending.Add(1)
	k.inflight.Add(1)
	select {
	case k.p.Input() <- &m.pm:
		return nil
	case <-ctx.Done():
		k.release(m)
		return ctx.Err()
	}
}

// reset prepares the producer message for a (new) attempt: sarama keeps
// per-attempt state in unexported fields, so the message is rebuilt.
func (k *Kafka) reset(m *kmsg, now time.Time) {
	m.pm = sarama.ProducerMessage{
		Topic: k.opts.Topic, Key: &m.key, Value: &m.val, Headers: m.hdr[:],
		Metadata: m, Timestamp: now,
	}
}

func (k *Kafka) release(m *kmsg) {
	m.send.Event = event.Event{} // drop string references
	k.pool.Put(m)
	<-k.sem
	k.inflight.Add(-1)
	k.pending.Done()
}

func (k *Kafka) err() error {
	if e := k.fatal.Load(); e != nil {
		return *e
	}
	return nil
}

func (k *Kafka) setFatal(err error) {
	k.fatal.CompareAndSwap(nil, &err)
}

func (k *Kafka) readSuccesses() {
	defer k.done.Done()
	const maxBatch = 512
	batch := make([]gen.Send, 0, maxBatch)
	msgs := make([]*kmsg, 0, maxBatch)
	in := k.p.Successes()
	for pm := range in {
		msgs = append(msgs, pm.Metadata.(*kmsg))
	drain:
		for len(msgs) < maxBatch {
			select {
			case pm, ok := <-in:
				if !ok {
					break drain
				}
				msgs = append(msgs, pm.Metadata.(*kmsg))
			default:
				break drain
			}
		}
		if k.failingSince.Swap(0) != 0 {
			k.log.Info("kafka acknowledges sends again")
		}
		for _, m := range msgs {
			batch = append(batch, m.send)
		}
		if k.err() == nil {
			if err := k.ack(batch); err != nil {
				k.setFatal(err)
			}
		}
		for _, m := range msgs {
			k.release(m)
		}
		batch, msgs = batch[:0], msgs[:0]
	}
}

func (k *Kafka) readErrors() {
	defer k.done.Done()
	for pe := range k.p.Errors() {
		m := pe.Msg.Metadata.(*kmsg)
		k.failures.Add(1)
		m.failures++
		now := time.Now()
		first := k.failingSince.Load()
		if first == 0 {
			k.failingSince.CompareAndSwap(0, now.UnixNano())
			first = now.UnixNano()
		}
		if t := k.opts.Retry.Timeout; t > 0 && now.Sub(time.Unix(0, first)) > t {
			k.setFatal(fmt.Errorf("kafka: %w (%v): %w", ErrGaveUp, t, pe.Err))
		}
		if last := k.lastWarn.Load(); now.UnixNano()-last > int64(5*time.Second) && k.lastWarn.CompareAndSwap(last, now.UnixNano()) {
			k.log.Warn("kafka send failed; retrying with backoff", zap.Error(pe.Err),
				zap.String(logging.KeyTopic, k.opts.Topic), zap.Int64("failures", k.failures.Load()),
				zap.Int64("pending", k.inflight.Load()))
		}
		// Never blocks: at most MaxPending messages exist.
		k.retryCh <- m
	}
}

// retryLoop produces failed messages again after a backoff, until stopped.
func (k *Kafka) retryLoop() {
	defer k.retryWG.Done()
	ctx := context.Background()
	for {
		select {
		case <-k.stop:
			return
		case m := <-k.retryCh:
			if !sleep(ctx, k.stop, k.opts.Retry.delay(m.failures)) {
				k.retryCh <- m // still pending: Close reports it
				return
			}
			k.reset(m, k.opts.Now())
			select {
			case k.p.Input() <- &m.pm:
			case <-k.stop:
				k.retryCh <- m
				return
			}
		}
	}
}

// Close implements Target.
func (k *Kafka) Close(ctx context.Context) error {
	waited := make(chan struct{})
	go func() {
		k.pending.Wait()
		close(waited)
	}()
	var lost int
	select {
	case <-waited:
	case <-ctx.Done():
	}
	k.closeOnce.Do(func() {
		close(k.stop)
		k.retryWG.Wait()
		k.p.AsyncClose()
		k.done.Wait()
		// Messages that were waiting for a retry were never acknowledged.
		for {
			select {
			case m := <-k.retryCh:
				lost++
				k.release(m)
				continue
			default:
			}
			break
		}
	})
	<-waited // every message was acknowledged, failed for good or released
	if err := k.err(); err != nil {
		return err
	}
	if lost > 0 {
		return fmt.Errorf("%d sends never acknowledged by Kafka: %w", lost, ctx.Err())
	}
	return nil
}

// Stats implements Target.
func (k *Kafka) Stats() Stats {
	return Stats{Failures: k.failures.Load(), Pending: k.inflight.Load()}
}
