package gateway

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/boontadata/boontadata/pkg/ingestapi"
)

// Idempotent retries. A request that carries an Idempotency-Key header
// (draft-ietf-httpapi-idempotency-key-header) is remembered for
// --idempotency-ttl, record by record: a retry with the same key and the same
// body stores only what no earlier attempt stored. After a 503 whose records
// Kafka acknowledged late, or an answer the client never received, the
// client's resend then writes each line once, and what the client records as
// sent (the simulator's truth) is what the events topic holds.
//
// The memory is bounded: at most idemMaxKeys keys, and at most idemMaxHeld
// records remembered one by one (those of attempts not answered 202); past
// either bound the oldest keys are forgotten, and a retry of a forgotten key
// is a new request (its stored records are stored again).
const (
	idemMaxKeys   = 50_000
	idemMaxHeld   = 4 << 20
	maxIdemKeyLen = 255
)

// The state of one record of a keyed request.
const (
	recNotSent uint32 = iota
	recInFlight
	recStored
	recFailed
)

var (
	errKeyReused = errors.New("this Idempotency-Key was sent with another body: a retry must resend the same request, a new request needs a new key")
	errKeyBusy   = errors.New("an earlier attempt with this Idempotency-Key is still in progress")
)

// slot is the Metadata of a record of a keyed request: its attempt's tracker
// and its state in the key's entry.
type slot struct {
	t  *tracker
	st *atomic.Uint32
}

// idemEntry is what the gateway remembers of one key.
type idemEntry struct {
	key     string
	hash    [sha256.Size]byte
	created time.Time
	// lock is held by the attempt working on the key: one at a time.
	lock chan struct{}

	// The fields below belong to the attempt holding lock.
	//
	// states has one state per record of the request, in the order produce
	// enqueues them (dead letters, then events); nil until an attempt
	// produced, and again once every record is stored.
	states []atomic.Uint32
	// earlier are the trackers of earlier attempts, whose records may still
	// be in flight.
	earlier []*tracker
	// answer is the 202 of the attempt that stored the last records,
	// replayed to later retries; records is how many records the request
	// has (dead letters and events).
	answer  *ingestapi.Response
	records int

	held int // len(states), as the cache counts it (under the cache's mu)
}

// acquire takes the entry's lock, waiting for the attempt before while ctx
// lasts.
func (e *idemEntry) acquire(ctx context.Context) error {
	select {
	case e.lock <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", errKeyBusy, ctx.Err())
	}
}

func (e *idemEntry) release() { <-e.lock }

// settle waits until every record of the earlier attempts is stored or
// failed, while ctx lasts.
func (e *idemEntry) settle(ctx context.Context) error {
	for len(e.earlier) > 0 {
		select {
		case <-e.earlier[0].done:
			e.earlier = e.earlier[1:]
		case <-ctx.Done():
			return fmt.Errorf("%w: records of an earlier attempt with this Idempotency-Key still wait for Kafka: %w", ErrProduceTimeout, ctx.Err())
		}
	}
	e.earlier = nil
	return nil
}

// idemCache holds the entries of the keys seen for ttl.
type idemCache struct {
	ttl time.Duration

	mu    sync.Mutex
	m     map[string]*idemEntry
	order []*idemEntry // by creation
	held  int          // records remembered one by one, over the entries
}

func newIdemCache(ttl time.Duration) *idemCache {
	return &idemCache{ttl: ttl, m: map[string]*idemEntry{}}
}

// entry returns the entry of key, made now if the key is new or expired. A
// key seen with another body is errKeyReused.
func (c *idemCache) entry(key string, body []byte, now time.Time) (*idemEntry, error) {
	h := sha256.Sum256(body)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expireLocked(now)
	if e := c.m[key]; e != nil {
		if e.hash != h {
			return nil, errKeyReused
		}
		return e, nil
	}
	e := &idemEntry{key: key, hash: h, created: now, lock: make(chan struct{}, 1)}
	c.m[key] = e
	c.order = append(c.order, e)
	return e, nil
}

// setHeld notes that e remembers n records one by one.
func (c *idemCache) setHeld(e *idemEntry, n int, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m[e.key] == e {
		c.held += n - e.held
	}
	e.held = n
	c.expireLocked(now)
}

// expireLocked forgets the oldest keys while they are older than ttl or the
// bounds are passed.
func (c *idemCache) expireLocked(now time.Time) {
	n := 0
	for n < len(c.order) {
		e := c.order[n]
		if c.m[e.key] != e { // replaced after it expired
			n++
			continue
		}
		if now.Sub(e.created) < c.ttl && len(c.m) <= idemMaxKeys && c.held <= idemMaxHeld {
			break
		}
		delete(c.m, e.key)
		c.held -= e.held
		n++
	}
	if n > 0 {
		c.order = append(c.order[:0], c.order[n:]...)
	}
}

// idempotencyKey returns the request's Idempotency-Key (its sf-string quotes
// removed), or "" when there is none.
func idempotencyKey(v string) (string, error) {
	if v == "" {
		return "", nil
	}
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
	}
	switch {
	case v == "":
		return "", fmt.Errorf("header %s: empty", ingestapi.HeaderIdempotencyKey)
	case len(v) > maxIdemKeyLen:
		return "", fmt.Errorf("header %s: at most %d bytes, got %d", ingestapi.HeaderIdempotencyKey, maxIdemKeyLen, len(v))
	case strings.ContainsFunc(v, func(r rune) bool { return r < 0x21 || r > 0x7e || r == '"' || r == '\\' }):
		return "", fmt.Errorf("header %s: printable ASCII without spaces, quotes or backslashes", ingestapi.HeaderIdempotencyKey)
	}
	return v, nil
}
