package master

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/boontadata/boontadata/pkg/clock"
	"github.com/boontadata/boontadata/pkg/job"
	"github.com/boontadata/boontadata/pkg/probe"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// sarama's metrics registry and gocql's session machinery start
		// process-wide goroutines that outlive a closed client.
		goleak.IgnoreTopFunction("github.com/rcrowley/go-metrics.(*meterArbiter).tick"),
		goleak.IgnoreAnyFunction("github.com/apache/cassandra-gocql-driver/v2.(*eventDebouncer).flusher"),
	)
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// manualClock is a clock tests move by hand.
type manualClock = clock.Manual

func newClock() *manualClock { return clock.NewManual(t0) }

// fakeStore is a Store in memory that stores JSON, as jobstore.Store does.
type fakeStore struct {
	mu    sync.Mutex
	specs map[string][]byte
	err   error // returned by every call when set
	saves int
}

func newFakeStore() *fakeStore { return &fakeStore{specs: map[string][]byte{}} }

func (f *fakeStore) Save(_ context.Context, s job.Spec) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	f.specs[s.ID] = b
	f.saves++
	return nil
}

func (f *fakeStore) Get(_ context.Context, id string) (job.Spec, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return job.Spec{}, f.err
	}
	b, ok := f.specs[id]
	if !ok {
		return job.Spec{}, fmt.Errorf("%w: %s", job.ErrNotFound, id)
	}
	var s job.Spec
	err := json.Unmarshal(b, &s)
	return s.WithDefaults(), err
}

func (f *fakeStore) List(ctx context.Context) ([]job.Spec, error) {
	f.mu.Lock()
	ids := make([]string, 0, len(f.specs))
	for id := range f.specs {
		ids = append(ids, id)
	}
	err := f.err
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	var out []job.Spec
	for _, id := range ids {
		s, err := f.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// fakePublisher records what it publishes.
type fakePublisher struct {
	mu   sync.Mutex
	sent []job.Spec
	err  error
}

func (f *fakePublisher) Publish(_ context.Context, s job.Spec) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.sent = append(f.sent, s)
	return nil
}

func (f *fakePublisher) published() []job.Spec {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]job.Spec(nil), f.sent...)
}

func (f *fakePublisher) fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

// fakeChecker answers what err holds.
type fakeChecker struct {
	mu  sync.Mutex
	err error
}

func (f *fakeChecker) Check(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

func (f *fakeChecker) set(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

var errDown = errors.New("connection refused")

type fixture struct {
	m       *Master
	store   *fakeStore
	pub     *fakePublisher
	clock   *manualClock
	checker *fakeChecker
	h       http.Handler
}

func testConfig() Config {
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.ShutdownTimeout = 5 * time.Second
	return cfg
}

func newFixture(tb testing.TB) *fixture {
	tb.Helper()
	f := &fixture{store: newFakeStore(), pub: &fakePublisher{}, clock: newClock(), checker: &fakeChecker{}}
	m, err := New(testConfig(), Deps{Store: f.store, Publisher: f.pub, Clock: f.clock,
		Checkers: map[string]probe.Checker{"cassandra": f.checker}})
	require.NoError(tb, err)
	f.m, f.h = m, m.Handler()
	return f
}

// do sends a request to the handler as the CLI does (to the loopback
// address, writes as JSON) and returns the answer.
func (f *fixture) do(tb testing.TB, method, path, body string) *httptest.ResponseRecorder {
	tb.Helper()
	req := httptest.NewRequest(method, path, bytes.NewBufferString(body))
	req.Host = "127.0.0.1:8090"
	if method != http.MethodGet {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	return rec
}

func decode[T any](tb testing.TB, rec *httptest.ResponseRecorder) T {
	tb.Helper()
	var v T
	require.NoError(tb, json.Unmarshal(rec.Body.Bytes(), &v), rec.Body.String())
	return v
}
