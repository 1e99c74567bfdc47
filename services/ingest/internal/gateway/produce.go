package gateway

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/IBM/sarama"
)

// Why a request's records were not all acknowledged.
var (
	ErrProduceTimeout = errors.New("kafka did not acknowledge every record in time")
	ErrProducerClosed = errors.New("the producer is closed: the gateway is stopping")
)

// tracker follows the records of one request through the shared producer: it
// is the Metadata of each ProducerMessage, and done is closed when the last
// record is acknowledged or failed.
type tracker struct {
	// pending counts records not yet acknowledged, plus one held by the
	// handler until it has enqueued all of them, so that early
	// acknowledgements cannot close done before the last record is sent.
	pending atomic.Int64
	done    chan struct{}
	// progress is signalled (without blocking) at every acknowledgement,
	// for waitRoom.
	progress chan struct{}

	mu       sync.Mutex
	failed   int
	firstErr error
}

func newTracker() *tracker {
	t := &tracker{done: make(chan struct{}), progress: make(chan struct{}, 1)}
	t.pending.Store(1)
	return t
}

func (t *tracker) add(n int) { t.pending.Add(int64(n)) }

func (t *tracker) release(n int) {
	if t.pending.Add(-int64(n)) == 0 {
		close(t.done)
	}
	select {
	case t.progress <- struct{}{}:
	default:
	}
}

// waitRoom waits until n more records keep at most window records of the
// request waiting for Kafka, or until the deadline of ctx. Call it while
// holding the handler's hold.
func (t *tracker) waitRoom(ctx context.Context, n, window int) error {
	for t.pending.Load()-1+int64(n) > int64(window) {
		select {
		case <-t.progress:
		case <-ctx.Done():
			return fmt.Errorf("%w (waiting for earlier records): %w", ErrProduceTimeout, ctx.Err())
		}
	}
	return nil
}

func (t *tracker) complete(err error) {
	if err != nil {
		t.mu.Lock()
		t.failed++
		if t.firstErr == nil {
			t.firstErr = err
		}
		t.mu.Unlock()
	}
	t.release(1)
}

// result returns the number of failed records and the first error; call it
// after done is closed.
func (t *tracker) result() (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.failed, t.firstErr
}

// producer wraps the one sarama.AsyncProducer of the gateway: handlers enqueue
// through it and learn the fate of their records through their tracker.
type producer struct {
	p sarama.AsyncProducer

	// mu keeps AsyncClose from running while a handler is enqueueing:
	// sending on the input of a closed sarama producer panics.
	mu     sync.RWMutex
	closed bool

	// onError is told about every failed record (the readiness check).
	onError func(error)
}

// enqueue sends msgs until all are sent or the deadline passes. Each
// carries t as Metadata, or the *slot it already has (a record of a keyed
// request, whose state becomes in flight). It returns how many were sent.
func (p *producer) enqueue(ctx context.Context, t *tracker, msgs []sarama.ProducerMessage) (int, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return 0, ErrProducerClosed
	}
	in := p.p.Input()
	for i := range msgs {
		if s, ok := msgs[i].Metadata.(*slot); ok {
			s.st.Store(recInFlight)
		} else {
			msgs[i].Metadata = t
		}
		t.add(1)
		select {
		case in <- &msgs[i]:
		case <-ctx.Done():
			t.release(1)
			if s, ok := msgs[i].Metadata.(*slot); ok {
				s.st.Store(recNotSent)
			}
			return i, fmt.Errorf("%w (%d of %d records enqueued): %w", ErrProduceTimeout, i, len(msgs), ctx.Err())
		}
	}
	return len(msgs), nil
}

// drain hands every acknowledgement and error of the producer to the record's
// tracker, until the producer is closed and has returned everything.
func (p *producer) drain() {
	succ, errs := p.p.Successes(), p.p.Errors()
	for succ != nil || errs != nil {
		select {
		case m, ok := <-succ:
			if !ok {
				succ = nil
				continue
			}
			switch md := m.Metadata.(type) {
			case *tracker:
				md.complete(nil)
			case *slot:
				md.st.Store(recStored) // before the tracker can be done
				md.t.complete(nil)
			}
		case e, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			if p.onError != nil {
				p.onError(e.Err)
			}
			switch md := e.Msg.Metadata.(type) {
			case *tracker:
				md.complete(e.Err)
			case *slot:
				md.st.Store(recFailed)
				md.t.complete(e.Err)
			}
		}
	}
}

// close stops new enqueues and starts flushing the producer; drain returns
// when everything buffered has been acknowledged or failed.
func (p *producer) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		p.closed = true
		p.p.AsyncClose()
	}
}

// wait blocks until every record of t is acknowledged or failed, or until the
// deadline of ctx.
func wait(ctx context.Context, t *tracker) error {
	select {
	case <-t.done:
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrProduceTimeout, ctx.Err())
	}
	if failed, err := t.result(); failed > 0 {
		return fmt.Errorf("kafka refused %d records: %w", failed, err)
	}
	return nil
}
