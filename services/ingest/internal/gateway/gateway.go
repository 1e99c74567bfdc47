// Package gateway is the ingest gateway: the HTTP server devices post batches
// of events to. It validates every line, produces the valid ones to the events
// topic and the invalid ones to the dead-letter topic through one shared
// idempotent producer, and answers 202 only once Kafka has acknowledged every
// record of the request.
package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"

	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/boontadata/boontadata/pkg/event"
	"github.com/boontadata/boontadata/pkg/httpsec"
	"github.com/boontadata/boontadata/pkg/ingestapi"
	"github.com/boontadata/boontadata/pkg/kafka"
	"github.com/boontadata/boontadata/pkg/logging"
	"github.com/boontadata/boontadata/pkg/probe"
	"github.com/boontadata/boontadata/pkg/retry"
)

// Paths of the health endpoints and of the metrics.
const (
	HealthzPath = "/healthz"
	ReadyzPath  = "/readyz"
	MetricsPath = "/metrics"
)

// Source is the HeaderSource of the records the gateway produces, and the
// HeaderRejectedBy of its dead-letter records.
const Source = "ingest"

// MaxDeadLetterValue bounds the copy of a rejected line kept on the
// dead-letter topic: a line of megabytes is cut, its error says how long it was.
const MaxDeadLetterValue = 4 << 10

// maxRunIDLen bounds the run id header, as the codec bounds ids.
const maxRunIDLen = event.MaxIDLen

// HTTP server timeouts: a slow client cannot hold a connection forever.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 2 * time.Minute
	idleTimeout       = 2 * time.Minute
)

// Clock gives the ingest time. Tests inject a fixed one.
type Clock interface {
	Now() time.Time
}

// SystemClock is the wall clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// Ticker returns a channel that ticks every d and a function that stops it.
type Ticker func(d time.Duration) (<-chan time.Time, func())

// SystemTicker is Ticker over time.NewTicker.
func SystemTicker(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTicker(d)
	return t.C, t.Stop
}

// Deps are what the gateway runs on.
type Deps struct {
	// Producer is the one producer of the gateway, configured as
	// kafka.Config.Sarama gives it (successes and errors returned). Run
	// closes it.
	Producer sarama.AsyncProducer
	// Checker tells /readyz whether Kafka is reachable.
	Checker Checker
	Log     *zap.Logger
	// Clock and Ticker default to the system's.
	Clock  Clock
	Ticker Ticker
	// EndOfRun writes the end-of-run marker of a run to every partition of
	// the events topic and returns how many partitions got it (Serve uses
	// kafka.SendEndOfRun). Nil answers the end-of-run call with 501.
	EndOfRun func(ctx context.Context, runID string) (int, error)
	// Retries counts the gateway's retries (retry.NewCounter: those of
	// Serve's setup); nil makes one.
	Retries *prometheus.CounterVec
}

// Gateway is the HTTP ingest gateway.
type Gateway struct {
	cfg     Config
	token   httpsec.Token
	log     *zap.Logger
	clock   Clock
	ticker  Ticker
	prod    *producer
	endRun  func(ctx context.Context, runID string) (int, error)
	ready   *probe.Probe
	metrics *metrics
	// sem bounds the requests of /v1/events past the start of their body:
	// being read, parsed or produced.
	sem chan struct{}
	// idem remembers keyed requests for their retries.
	idem *idemCache
	// receiving bounds the requests waiting for the start of their body.
	receiving  chan struct{}
	retryAfter string
}

// New builds a gateway; Run serves it.
func New(cfg Config, d Deps) (*Gateway, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if d.Producer == nil || d.Checker == nil {
		return nil, errors.New("gateway needs a producer and a checker")
	}
	if d.Log == nil {
		d.Log = zap.NewNop()
	}
	if d.Clock == nil {
		d.Clock = SystemClock{}
	}
	if d.Ticker == nil {
		d.Ticker = SystemTicker
	}
	if d.Retries == nil {
		d.Retries = retry.NewCounter(namespace)
	}
	m := newMetrics(d.Retries)
	g := &Gateway{
		cfg:        cfg,
		token:      httpsec.NewToken(cfg.AuthToken),
		log:        d.Log,
		clock:      d.Clock,
		ticker:     d.Ticker,
		metrics:    m,
		endRun:     d.EndOfRun,
		sem:        make(chan struct{}, cfg.MaxInFlight),
		idem:       newIdemCache(cfg.IdempotencyTTL),
		receiving:  make(chan struct{}, receivingPerSlot*cfg.MaxInFlight),
		retryAfter: strconv.Itoa(int((cfg.RetryAfter + time.Second - 1) / time.Second)),
	}
	g.ready = newProbe(d.Checker, m, d.Log)
	g.prod = &producer{p: d.Producer, onError: func(error) {
		m.produceErrors.Inc()
		g.ready.Trigger()
	}}
	return g, nil
}

// Handler returns the HTTP handler of every endpoint.
func (g *Gateway) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST "+ingestapi.EventsPath, g.metrics.instrument("events", g.clock.Now, http.HandlerFunc(g.handleEvents)))
	mux.Handle("POST "+ingestapi.EndOfRunPattern, g.metrics.instrument("end_of_run", g.clock.Now, http.HandlerFunc(g.handleEndOfRun)))
	mux.Handle("GET "+HealthzPath, g.metrics.instrument("healthz", g.clock.Now, http.HandlerFunc(g.ready.Healthz)))
	mux.Handle("GET "+ReadyzPath, g.metrics.instrument("readyz", g.clock.Now, http.HandlerFunc(g.ready.Readyz)))
	mux.Handle("GET "+MetricsPath, g.metrics.handler())
	return mux
}

// Run serves on ln until ctx is cancelled, then stops in order within
// ShutdownTimeout: not ready, stop accepting, finish the requests in flight,
// flush and close the producer.
func (g *Gateway) Run(ctx context.Context, ln net.Listener) error {
	g.ready.Check(ctx)

	drained := make(chan struct{})
	go func() {
		defer close(drained)
		g.prod.drain()
	}()

	checksCtx, stopChecks := context.WithCancel(context.WithoutCancel(ctx))
	checksDone := make(chan struct{})
	tick, stopTick := g.ticker(g.cfg.ReadyInterval)
	go func() {
		defer close(checksDone)
		g.ready.RunOn(checksCtx, tick)
	}()

	srv := &http.Server{
		Handler:           g.Handler(),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      readTimeout + g.cfg.ProduceTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          zap.NewStdLog(g.log.Named("http")),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	g.log.Info("ingest gateway listening", zap.String("addr", ln.Addr().String()),
		zap.String(logging.KeyTopic, g.cfg.Kafka.Topics.Events), zap.Bool("auth", g.token.IsSet()))
	if !g.token.IsSet() && !httpsec.IsLoopback(ln.Addr().String()) {
		g.log.Warn("NO AUTHENTICATION: the gateway listens beyond loopback without --auth-token (--allow-no-auth); "+
			"anyone who reaches this address can send events and end runs", zap.String("addr", ln.Addr().String()))
	}

	var errs []error
	serving := true
	select {
	case <-ctx.Done():
	case err := <-served:
		serving = false
		errs = append(errs, fmt.Errorf("http server: %w", err))
	}

	// Ordered stop, all within one deadline.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.cfg.ShutdownTimeout)
	defer cancel()
	errs = append(errs, g.ready.StopServing(sctx, srv, served, serving)...)
	g.log.Info("flushing the producer")
	g.prod.close()
	select {
	case <-drained:
	case <-sctx.Done():
		errs = append(errs, fmt.Errorf("flush the producer: %w", sctx.Err()))
	}
	stopChecks()
	stopTick()
	<-checksDone
	if len(errs) == 0 {
		g.log.Info("ingest gateway stopped")
	}
	return errors.Join(errs...)
}

// requestMeta is what every record of one request carries in its headers.
type requestMeta struct {
	ingest   time.Time
	sendTime int64
	runID    string
	// idemKey is the request's Idempotency-Key ("": none).
	idemKey string
}

func (g *Gateway) handleEvents(w http.ResponseWriter, r *http.Request) {
	received := g.clock.Now()
	if !g.authorize(w, r) {
		return
	}
	isJSON, err := bodyType(r)
	if err != nil {
		g.fail(w, http.StatusUnsupportedMediaType, err.Error())
		return
	}
	meta, err := readMeta(r, received)
	if err != nil {
		g.fail(w, http.StatusBadRequest, err.Error())
		return
	}
	if !g.ready.Ready() {
		g.fail(w, http.StatusServiceUnavailable, "kafka is unreachable or the gateway is stopping: retry later")
		return
	}

	// The start of the body arrives before the request takes a slot, so
	// that slow clients wait without holding one.
	br := g.newBodyReader(w, r)
	if err := br.announcedTooLarge(); err != nil {
		g.fail(w, http.StatusRequestEntityTooLarge, err.Error())
		return
	}
	select {
	case g.receiving <- struct{}{}:
	default:
		g.fail(w, http.StatusTooManyRequests, "too many requests being received: retry later")
		return
	}
	status, err := br.readStart()
	<-g.receiving
	if err != nil {
		g.failBody(w, status, err)
		return
	}
	select {
	case g.sem <- struct{}{}:
	default:
		g.fail(w, http.StatusTooManyRequests, "too many requests in flight: retry later")
		return
	}
	g.metrics.inFlight.Inc()
	defer func() {
		g.metrics.inFlight.Dec()
		<-g.sem
	}()

	body, status, err := br.readAll()
	if err != nil {
		g.failBody(w, status, err)
		return
	}
	var b batch
	if isJSON {
		if b, err = parseJSON(body, g.cfg.MaxRejectedLines); err != nil {
			g.fail(w, http.StatusBadRequest, err.Error())
			return
		}
	} else {
		b = parseText(body, g.cfg.MaxLineBytes, g.cfg.MaxRejectedLines)
	}
	if b.tooMany {
		g.metrics.refused.Inc()
		resp := ingestapi.Response{Error: fmt.Sprintf("more than %d lines rejected (the last one read at line %d): "+
			"the request is refused whole and nothing of it was stored; the first errors follow (--max-rejected-lines)",
			g.cfg.MaxRejectedLines, b.rejected[len(b.rejected)-1].line)}
		resp.Errors, resp.ErrorsOmitted = lineErrors(b.rejected)
		writeJSON(w, http.StatusUnprocessableEntity, &resp)
		return
	}
	if b.empty() {
		g.fail(w, http.StatusBadRequest, errNoEvents.Error()+": send at least one event")
		return
	}

	ctx, cancel := context.WithTimeout(r.Context(), g.cfg.ProduceTimeout)
	defer cancel()
	var ent *idemEntry
	if meta.idemKey != "" {
		if ent, err = g.idem.entry(meta.idemKey, body, received); err != nil {
			g.fail(w, http.StatusUnprocessableEntity, err.Error())
			return
		}
		if err := ent.acquire(ctx); err != nil {
			g.fail(w, http.StatusConflict, err.Error()+": retry later")
			return
		}
		defer ent.release()
		if ent.answer != nil {
			// Every record was stored by an earlier attempt: its answer.
			g.metrics.idemSkipped.Add(float64(ent.records))
			writeJSON(w, http.StatusAccepted, ent.answer)
			return
		}
		if err := ent.settle(ctx); err != nil {
			g.fail(w, http.StatusServiceUnavailable, "events not stored: "+err.Error()+"; retry later")
			return
		}
	}
	t := newTracker()
	start := g.clock.Now()
	err = g.produce(ctx, t, &b, meta, ent)
	t.release(1) // the handler's hold: every record it will send is sent
	if err == nil {
		err = wait(ctx, t)
	}
	g.metrics.produceSeconds.Observe(g.clock.Now().Sub(start).Seconds())
	if err != nil {
		if ent != nil {
			ent.earlier = append(ent.earlier, t) // a retry waits for what is still in flight
		}
		if r.Context().Err() != nil {
			// The client hung up: its records may still be stored. A
			// resend with the same Idempotency-Key stores only the others;
			// without one, the duplicates are the engine's to drop.
			g.log.Debug("client went away before kafka acknowledged its records",
				zap.Int("accepted", b.accepted), zap.Int("rejected", len(b.rejected)), zap.String(logging.KeyRunID, meta.runID))
		} else {
			g.log.Warn("request not acknowledged by kafka: answering 503", zap.Error(err),
				zap.Int("accepted", b.accepted), zap.Int("rejected", len(b.rejected)), zap.String(logging.KeyRunID, meta.runID))
			g.ready.Trigger()
		}
		g.fail(w, http.StatusServiceUnavailable, "events not stored: "+err.Error()+"; retry later")
		return
	}

	g.metrics.accepted.Add(float64(b.accepted))
	g.metrics.rejected.Add(float64(len(b.rejected)))
	resp := ingestapi.Response{Accepted: b.accepted, Rejected: len(b.rejected)}
	resp.Errors, resp.ErrorsOmitted = lineErrors(b.rejected)
	if ent != nil {
		ent.answer, ent.states = &resp, nil
		g.idem.setHeld(ent, 0, g.clock.Now())
	}
	writeJSON(w, http.StatusAccepted, &resp)
}

// lineErrors lists the first ingestapi.MaxAnswerErrors rejections for an
// answer and counts the others.
func lineErrors(rejected []rejection) ([]ingestapi.LineError, int) {
	if len(rejected) == 0 {
		return nil, 0
	}
	n := min(len(rejected), ingestapi.MaxAnswerErrors)
	out := make([]ingestapi.LineError, n)
	for i, rj := range rejected[:n] {
		out[i] = ingestapi.LineError{Line: rj.line, Error: rj.err.Error()}
	}
	return out, len(rejected) - n
}

// handleEndOfRun writes the end-of-run marker of the run named in the path.
// The caller must have had every event of the run acknowledged first: the
// marker then follows them on every partition.
func (g *Gateway) handleEndOfRun(w http.ResponseWriter, r *http.Request) {
	if !g.authorize(w, r) {
		return
	}
	runID := r.PathValue("run_id")
	if err := checkRunID(runID); err != nil {
		g.fail(w, http.StatusBadRequest, err.Error())
		return
	}
	if g.endRun == nil {
		g.fail(w, http.StatusNotImplemented, "this gateway cannot write end-of-run markers")
		return
	}
	if !g.ready.Ready() {
		g.fail(w, http.StatusServiceUnavailable, "kafka is unreachable or the gateway is stopping: retry later")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), g.cfg.ProduceTimeout)
	defer cancel()
	n, err := g.endRun(ctx, runID)
	if err != nil {
		g.log.Warn("end-of-run markers not written: answering 503", zap.Error(err), zap.String(logging.KeyRunID, runID))
		g.fail(w, http.StatusServiceUnavailable, "end-of-run markers not written: "+err.Error()+"; retry later")
		return
	}
	g.log.Info("end of run marked", zap.String(logging.KeyRunID, runID), zap.Int("partitions", n))
	writeJSON(w, http.StatusAccepted, &ingestapi.EndOfRunResponse{RunID: runID, Partitions: n})
}

// checkRunID applies the rules of the run id header to a run id.
func checkRunID(runID string) error {
	if runID == "" {
		return errors.New("the run id is empty")
	}
	if len(runID) > maxRunIDLen {
		return fmt.Errorf("run id: at most %d bytes, got %d", maxRunIDLen, len(runID))
	}
	for i := 0; i < len(runID); i++ {
		if c := runID[i]; c < 0x20 || c == 0x7f {
			return fmt.Errorf("run id: control character at byte %d", i+1)
		}
	}
	return nil
}

// Records of one request are built and enqueued in chunks of chunkRecords,
// and at most windowRecords of them wait for Kafka's acknowledgement at once:
// a request holds its body and a window of records, not a record per event.
const (
	chunkRecords  = 1024
	windowRecords = 8 * chunkRecords
)

// commonHeaders are the headers every record of a request carries.
func commonHeaders(m requestMeta) []sarama.RecordHeader {
	h := []sarama.RecordHeader{
		kafka.Int64Header(kafka.HeaderIngestTime, m.ingest.UnixMilli()),
		kafka.Int64Header(kafka.HeaderSendTime, m.sendTime),
		{Key: []byte(kafka.HeaderSource), Value: []byte(Source)},
	}
	if m.runID != "" {
		h = append(h, sarama.RecordHeader{Key: []byte(kafka.HeaderRunID), Value: []byte(m.runID)})
	}
	return h
}

// produce enqueues the records of a request: its dead-letter records, then
// its valid events for the events topic, keyed by device id. Keys and values
// point into the body (or the canonical lines of a JSON body), and the
// headers common to all records are shared: sarama only reads them.
//
// With ent (a keyed request), record i of the request (dead letters first,
// then events) is skipped when an earlier attempt stored it, and otherwise
// carries a *slot that keeps its state in ent.
func (g *Gateway) produce(ctx context.Context, t *tracker, b *batch, m requestMeta, ent *idemEntry) error {
	common := commonHeaders(m)
	dl := g.deadLetters(b, common, m)
	var states []atomic.Uint32
	if ent != nil {
		if ent.states == nil {
			ent.records = len(dl) + b.accepted
			ent.states = make([]atomic.Uint32, ent.records)
			g.idem.setHeld(ent, len(ent.states), g.clock.Now())
		}
		states = ent.states
	}
	skipped := 0
	// keep reports whether record i is to be produced, and gives it its
	// slot from slots (with room for it) when the request is keyed.
	keep := func(i int, msg *sarama.ProducerMessage, slots *[]slot) bool {
		if states == nil {
			return true
		}
		if states[i].Load() == recStored {
			skipped++
			return false
		}
		*slots = append(*slots, slot{t: t, st: &states[i]})
		msg.Metadata = &(*slots)[len(*slots)-1]
		return true
	}
	if len(dl) > 0 {
		var slots []slot
		if states != nil {
			slots = make([]slot, 0, len(dl))
		}
		kept := dl[:0]
		for i := range dl {
			if keep(i, &dl[i], &slots) {
				kept = append(kept, dl[i])
			}
		}
		if len(kept) > 0 {
			if _, err := g.prod.enqueue(ctx, t, kept); err != nil {
				return err
			}
		}
	}
	var msgs []sarama.ProducerMessage
	var enc []sarama.ByteEncoder
	var slots []slot
	left := b.accepted
	flush := func() error {
		if err := t.waitRoom(ctx, len(msgs), windowRecords); err != nil {
			return err
		}
		_, err := g.prod.enqueue(ctx, t, msgs)
		left -= len(msgs)
		msgs, enc, slots = nil, nil, nil
		return err
	}
	defer func() { g.metrics.idemSkipped.Add(float64(skipped)) }()
	i := len(dl)
	for value, key := range b.acceptedLines() {
		if msgs == nil {
			// A new chunk each time: sarama holds the previous one until
			// Kafka acknowledges it. Pointers into one slice of encoders:
			// boxing each ByteEncoder in the Encoder interface would
			// allocate twice per record.
			n := max(min(left, chunkRecords), 1)
			msgs, enc = make([]sarama.ProducerMessage, 0, n), make([]sarama.ByteEncoder, 0, 2*n)
			if states != nil {
				slots = make([]slot, 0, n)
			}
		}
		msg := sarama.ProducerMessage{Topic: g.cfg.Kafka.Topics.Events, Headers: common, Timestamp: m.ingest}
		rec := i
		i++
		if !keep(rec, &msg, &slots) {
			left--
			continue
		}
		enc = append(enc, key, value)
		msg.Key, msg.Value = &enc[len(enc)-2], &enc[len(enc)-1]
		msgs = append(msgs, msg)
		if len(msgs) == cap(msgs) {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if len(msgs) > 0 {
		return flush()
	}
	return nil
}

// authorize checks the bearer token when one is configured: 401 without a
// token, 403 with a wrong one.
func (g *Gateway) authorize(w http.ResponseWriter, r *http.Request) bool {
	switch g.token.Check(r) {
	case httpsec.Missing:
		w.Header().Set("WWW-Authenticate", `Bearer realm="boontadata-ingest"`)
		g.fail(w, http.StatusUnauthorized, "a bearer token is required (Authorization: Bearer TOKEN)")
		return false
	case httpsec.Wrong:
		g.fail(w, http.StatusForbidden, "the bearer token is not valid")
		return false
	}
	return true
}

// bodyType accepts text/plain and application/json, with any parameters
// (charset), and no content encoding.
func bodyType(r *http.Request) (isJSON bool, err error) {
	ct := r.Header.Get("Content-Type")
	mt, _, perr := mime.ParseMediaType(ct)
	if ct == "" || perr != nil || (mt != ingestapi.ContentTypeText && mt != ingestapi.ContentTypeJSON) {
		return false, fmt.Errorf("content type %q not supported: send %s (lines of the wire format) or %s (an array of events)",
			ct, ingestapi.ContentTypeText, ingestapi.ContentTypeJSON)
	}
	if enc := r.Header.Get("Content-Encoding"); enc != "" && !strings.EqualFold(enc, "identity") {
		return false, fmt.Errorf("content encoding %q not supported: send the body uncompressed", enc)
	}
	return mt == ingestapi.ContentTypeJSON, nil
}

// readMeta reads the optional run id and send time headers.
func readMeta(r *http.Request, received time.Time) (requestMeta, error) {
	m := requestMeta{ingest: received, sendTime: received.UnixMilli(), runID: r.Header.Get(ingestapi.HeaderRunID)}
	if s := r.Header.Get(ingestapi.HeaderSendTime); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v < 0 {
			return m, fmt.Errorf("header %s: want ms since the epoch, got %q", ingestapi.HeaderSendTime, s)
		}
		m.sendTime = v
	}
	key, err := idempotencyKey(r.Header.Get(ingestapi.HeaderIdempotencyKey))
	if err != nil {
		return m, err
	}
	m.idemKey = key
	if len(m.runID) > maxRunIDLen {
		return m, fmt.Errorf("header %s: at most %d bytes, got %d", ingestapi.HeaderRunID, maxRunIDLen, len(m.runID))
	}
	for _, c := range []byte(m.runID) {
		if c < 0x20 || c == 0x7f {
			return m, fmt.Errorf("header %s: contains a control character", ingestapi.HeaderRunID)
		}
	}
	return m, nil
}

// failBody answers a body that could not be read. The rest of the body is
// not read: the connection is closed after the answer.
func (g *Gateway) failBody(w http.ResponseWriter, status int, err error) {
	if status == http.StatusRequestTimeout {
		g.metrics.slowBodies.Inc()
		w.Header().Set("Connection", "close")
	}
	g.fail(w, status, err.Error())
}

// fail answers an error of the whole request.
func (g *Gateway) fail(w http.ResponseWriter, status int, msg string) {
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable || status == http.StatusConflict {
		w.Header().Set("Retry-After", g.retryAfter)
	}
	writeJSON(w, status, &ingestapi.Response{Error: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client may be gone; nothing to do
}
