package gateway

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"

	"github.com/boontadata/boontadata/pkg/ingestapi"
)

// fakeProducer acknowledges or fails every record at once, without Kafka:
// it isolates the gateway's own cost and its error paths. A gated one holds
// the records it receives, unacknowledged, until open is called.
type fakeProducer struct {
	sarama.AsyncProducer // not called; the methods below are
	in                   chan *sarama.ProducerMessage
	succ                 chan *sarama.ProducerMessage
	errs                 chan *sarama.ProducerError
	fail                 error
	once                 sync.Once
	done                 chan struct{}
	gate                 chan struct{}
	openOnce             sync.Once
	// received counts the records sent to the producer.
	received atomic.Int64
}

func newFakeProducer(fail error) *fakeProducer {
	p := &fakeProducer{
		in: make(chan *sarama.ProducerMessage, 4096), succ: make(chan *sarama.ProducerMessage, 4096),
		errs: make(chan *sarama.ProducerError, 4096), fail: fail, done: make(chan struct{}),
	}
	go p.run()
	return p
}

// newGatedProducer returns a fake producer that acknowledges nothing until
// open is called.
func newGatedProducer() *fakeProducer {
	p := &fakeProducer{
		in: make(chan *sarama.ProducerMessage, 4096), succ: make(chan *sarama.ProducerMessage, 4096),
		errs: make(chan *sarama.ProducerError, 4096), done: make(chan struct{}), gate: make(chan struct{}),
	}
	go p.run()
	return p
}

func (p *fakeProducer) run() {
	defer close(p.done)
	defer close(p.succ)
	defer close(p.errs)
	var held []*sarama.ProducerMessage
	gate := p.gate
	answer := func(m *sarama.ProducerMessage) {
		if p.fail != nil {
			p.errs <- &sarama.ProducerError{Msg: m, Err: p.fail}
			return
		}
		p.succ <- m
	}
	for {
		select {
		case m, ok := <-p.in:
			if !ok {
				for _, h := range held {
					answer(h)
				}
				return
			}
			p.received.Add(1)
			if gate != nil {
				held = append(held, m)
				continue
			}
			answer(m)
		case <-gate:
			for _, h := range held {
				answer(h)
			}
			held, gate = nil, nil
		}
	}
}

// open lets a gated producer acknowledge what it holds and what follows.
func (p *fakeProducer) open() { p.openOnce.Do(func() { close(p.gate) }) }

func (p *fakeProducer) Input() chan<- *sarama.ProducerMessage     { return p.in }
func (p *fakeProducer) Successes() <-chan *sarama.ProducerMessage { return p.succ }
func (p *fakeProducer) Errors() <-chan *sarama.ProducerError      { return p.errs }
func (p *fakeProducer) AsyncClose()                               { p.once.Do(func() { close(p.in) }) }

func TestKafkaRefusesRecords503(t *testing.T) {
	cfg := testConfig(t, []string{"127.0.0.1:1"})
	checker := &fakeChecker{}
	h := startGateway(t, cfg, harnessOpts{prod: newFakeProducer(sarama.ErrNotEnoughReplicas), checker: checker})
	a := h.post(t, valid1+"\n"+valid2)
	require.Equal(t, http.StatusServiceUnavailable, a.status, a.raw)
	require.Contains(t, a.body.Error, "kafka refused 2 records")
	require.Zero(t, a.body.Accepted)
	require.Contains(t, h.metric(t), "boontadata_ingest_produce_errors_total 2")
}

func TestStopWithoutRequests(t *testing.T) {
	cfg := testConfig(t, []string{"127.0.0.1:1"})
	p := newFakeProducer(nil)
	h := startGateway(t, cfg, harnessOpts{prod: p, checker: &fakeChecker{}})
	require.Equal(t, http.StatusAccepted, h.post(t, valid1).status)
	require.NoError(t, h.shutdown())
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the producer was not closed")
	}
}

// BenchmarkGatewayFakeKafka measures the gateway alone over loopback HTTP:
// read, parse, build records, acknowledge, answer; Kafka is out of the loop.
func BenchmarkGatewayFakeKafka(b *testing.B) {
	for _, keyed := range []bool{false, true} {
		name := "plain"
		if keyed {
			name = "idempotency-key" // what the simulator sends
		}
		b.Run(name, func(b *testing.B) {
			cfg := testConfig(b, []string{"127.0.0.1:1"})
			h := startGateway(b, cfg, harnessOpts{prod: newFakeProducer(nil), checker: &fakeChecker{}})
			body := string(benchBody(1000))
			var n atomic.Int64
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			b.SetParallelism(2)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					var headers []string
					if keyed {
						headers = []string{ingestapi.HeaderIdempotencyKey, fmt.Sprintf("bench-%d", n.Add(1))}
					}
					if a := h.post(b, body, headers...); a.status != http.StatusAccepted {
						b.Error(a.raw)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
