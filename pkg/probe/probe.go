// Package probe is the health and readiness of every service: /healthz
// answers while the process serves, /readyz only once every dependency
// answered its last check and the service is not stopping. Checks are real
// calls (Kafka metadata, a CQL query) made on a ticker, never on the
// request, and they never create anything (no topic, no keyspace).
package probe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"go.uber.org/zap"

	"github.com/boontadata/boontadata/pkg/kafka"
)

// CheckTimeout bounds one check.
const CheckTimeout = 3 * time.Second

// Checker tells whether a dependency answers now.
type Checker interface {
	Check(ctx context.Context) error
}

// CheckerFunc adapts a function to Checker.
type CheckerFunc func(ctx context.Context) error

// Check calls f.
func (f CheckerFunc) Check(ctx context.Context) error { return f(ctx) }

// Cassandra asks the node the session is connected to for its version.
func Cassandra(s *gocql.Session) Checker {
	return CheckerFunc(func(ctx context.Context) error {
		var v string
		if err := s.Query(`SELECT release_version FROM system.local`).ScanContext(ctx, &v); err != nil {
			return fmt.Errorf("cassandra: %w", err)
		}
		return nil
	})
}

// Kafka requires a leader for some partition of each topic of c (see
// kafka.Checker): the brokers answer and the topics exist.
func Kafka(c *kafka.Checker) Checker {
	return CheckerFunc(func(context.Context) error {
		if err := c.Check(); err != nil {
			return fmt.Errorf("kafka: %w", err)
		}
		return nil
	})
}

// Probe holds what /readyz answers.
type Probe struct {
	checkers map[string]Checker
	log      *zap.Logger
	info     func() map[string]any
	observe  func(name string, err error)
	// recheck asks the loop for a check now (Trigger).
	recheck chan struct{}
	// ready caches Status() == nil for the hot path of requests.
	ready atomic.Bool

	mu       sync.Mutex
	problems map[string]error // by dependency; nil entry: reachable
	checked  bool
	stopping bool
}

// New returns a probe of the named dependencies. info, when set, adds
// fields to the answers (for example the jobs a worker runs).
func New(checkers map[string]Checker, info func() map[string]any, log *zap.Logger) *Probe {
	return &Probe{checkers: checkers, info: info, log: log, problems: map[string]error{}, recheck: make(chan struct{}, 1)}
}

// Observe calls f with the outcome of every check of every dependency (for
// a metric); set it before the checks run.
func (p *Probe) Observe(f func(name string, err error)) { p.observe = f }

// Trigger asks the loop of Run or RunOn for a check soon, without waiting
// for it (after a failed call to a dependency).
func (p *Probe) Trigger() {
	select {
	case p.recheck <- struct{}{}:
	default:
	}
}

// Ready reports whether /readyz answers 200 now, without a lock.
func (p *Probe) Ready() bool { return p.ready.Load() }

// Check runs every check once, one after the other, and logs changes.
func (p *Probe) Check(ctx context.Context) {
	for _, name := range slices.Sorted(maps.Keys(p.checkers)) {
		cctx, cancel := context.WithTimeout(ctx, CheckTimeout)
		err := p.checkers[name].Check(cctx)
		cancel()
		p.mu.Lock()
		was, known := p.problems[name]
		p.problems[name] = err
		p.mu.Unlock()
		if p.observe != nil {
			p.observe(name, err)
		}
		switch {
		case err == nil && (was != nil || !known):
			p.log.Info("dependency reachable", zap.String("dependency", name))
		case err != nil && was == nil:
			p.log.Warn("dependency unreachable: not ready", zap.String("dependency", name), zap.Error(err))
		}
	}
	p.mu.Lock()
	p.checked = true
	p.mu.Unlock()
	p.ready.Store(p.Status() == nil)
}

// Run checks at once, then on every tick and Trigger until ctx ends.
func (p *Probe) Run(ctx context.Context, every time.Duration) {
	p.Check(ctx)
	t := time.NewTicker(every)
	defer t.Stop()
	p.RunOn(ctx, t.C)
}

// RunOn checks on every tick of tick and on every Trigger until ctx ends.
func (p *Probe) RunOn(ctx context.Context, tick <-chan time.Time) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
		case <-p.recheck:
		}
		p.Check(ctx)
	}
}

// SetStopping makes /readyz answer 503 from now on: the first step of an
// ordered stop.
func (p *Probe) SetStopping() {
	p.mu.Lock()
	p.stopping = true
	p.mu.Unlock()
	p.ready.Store(false)
}

// Status returns nil when ready, else the reason.
func (p *Probe) Status() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopping {
		return errors.New("stopping")
	}
	if !p.checked {
		return errors.New("not checked yet")
	}
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(p.problems)) {
		if err := p.problems[name]; err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Paths of the probes.
const (
	HealthzPath = "/healthz"
	ReadyzPath  = "/readyz"
)

// Register adds GET /healthz and GET /readyz to mux.
func (p *Probe) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET "+HealthzPath, p.Healthz)
	mux.HandleFunc("GET "+ReadyzPath, p.Readyz)
}

// Healthz answers 200 while the process serves: {"status":"ok"}.
func (p *Probe) Healthz(w http.ResponseWriter, _ *http.Request) {
	p.write(w, http.StatusOK, map[string]any{"status": "ok"})
}

// Readyz answers 200 {"status":"ready"} once every dependency answered its
// last check and the service is not stopping, else 503 with the reason in
// "error".
func (p *Probe) Readyz(w http.ResponseWriter, _ *http.Request) {
	if err := p.Status(); err != nil {
		p.write(w, http.StatusServiceUnavailable, map[string]any{"status": "not ready", "error": err.Error()})
		return
	}
	p.write(w, http.StatusOK, map[string]any{"status": "ready"})
}

func (p *Probe) write(w http.ResponseWriter, code int, body map[string]any) {
	if p.info != nil {
		for k, v := range p.info() {
			body[k] = v
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body) // the client may be gone
}

// StopServing is how every service's HTTP server stops: not ready from now
// on (load balancers stop sending), then the requests in flight finish
// within ctx's deadline, past which the rest are dropped. served carries
// the result of srv.Serve; serving says it has not been received yet. It
// returns the errors met.
func (p *Probe) StopServing(ctx context.Context, srv *http.Server, served <-chan error, serving bool) []error {
	var errs []error
	p.SetStopping()
	deadline, _ := ctx.Deadline()
	p.log.Info("stopping: not ready, finishing requests in flight", zap.Duration("timeout", time.Until(deadline).Round(time.Second)))
	if err := srv.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("finish requests in flight: %w", err))
		_ = srv.Close() // the deadline passed: drop what is left
	}
	if serving {
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, fmt.Errorf("http server: %w", err))
		}
	}
	return errs
}
