// Package gateway is the ingest gateway: the HTTP server devices post batches
// of events to. It validates every line, produces the valid ones to the events
// topic and the invalid ones to the dead-letter topic through one shared
// idempotent producer, and answers 202 only once Kafka has acknowledged every
// record of the request.
package gateway

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"

	"time"

	"github.com/IBM/sarama"
	"go.uber.org/zap"

	"github.com/boontadata/boontadata/pkg/event"
	"github.com/boontadata/boontadata/pkg/ingestapi"
	"github.com/boontadata/boontadata/pkg/kafka"
	"github.com/boontadata/boontadata/pkg/logging"
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
}

// Gateway is the HTTP ingest gateway.
type Gateway struct {
	cfg     Config
	token   []byte
	log     *zap.Logger
	clock   Clock
	ticker  Ticker
	prod    *producer
	endRun  func(ctx context.Context, runID string) (int, error)
	ready   *readiness
	metrics *metrics
	// sem bounds the requests of /v1/events being read or produced.
	sem        chan struct{}
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
	m := newMetrics()
	g := &Gateway{
		cfg:        cfg,
		token:      []byte(cfg.AuthToken),
		log:        d.Log,
		clock:      d.Clock,
		ticker:     d.Ticker,
		metrics:    m,
		endRun:     d.EndOfRun,
		sem:        make(chan struct{}, cfg.MaxInFlight),
		retryAfter: strconv.Itoa(int((cfg.RetryAfter + time.Second - 1) / time.Second)),
	}
	g.ready = newReadiness(d.Checker, d.Log, m)
	g.prod = &producer{p: d.Producer, onError: func(error) {
		m.produceErrors.Inc()
		g.ready.trigger()
	}}
	return g, nil
}

// Handler returns the HTTP handler of every endpoint.
func (g *Gateway) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST "+ingestapi.EventsPath, g.metrics.instrument("events", g.clock.Now, http.HandlerFunc(g.handleEvents)))
	mux.Handle("POST "+ingestapi.EndOfRunPattern, g.metrics.instrument("end_of_run", g.clock.Now, http.HandlerFunc(g.handleEndOfRun)))
	mux.Handle("GET "+HealthzPath, g.metrics.instrument("healthz", g.clock.Now, http.HandlerFunc(handleHealthz)))
	mux.Handle("GET "+ReadyzPath, g.metrics.instrument("readyz", g.clock.Now, http.HandlerFunc(g.handleReadyz)))
	mux.Handle("GET "+MetricsPath, g.metrics.handler())
	return mux
}

// Run serves on ln until ctx is cancelled, then stops in order within
// ShutdownTimeout: not ready, stop accepting, finish the requests in flight,
// flush and close the producer.
func (g *Gateway) Run(ctx context.Context, ln net.Listener) error {
	g.ready.check()

	drained := make(chan struct{})
	go func() {
		defer close(drained)
		g.prod.drain()
	}()

	stopChecks := make(chan struct{})
	checksDone := make(chan struct{})
	tick, stopTick := g.ticker(g.cfg.ReadyInterval)
	go func() {
		defer close(checksDone)
		g.ready.run(stopChecks, tick)
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
		zap.String(logging.KeyTopic, g.cfg.Kafka.Topics.Events), zap.Bool("auth", len(g.token) > 0))

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
	g.ready.stopping.Store(true)
	g.log.Info("stopping: not ready, finishing requests in flight", zap.Duration("timeout", g.cfg.ShutdownTimeout))
	if err := srv.Shutdown(sctx); err != nil {
		errs = append(errs, fmt.Errorf("finish requests in flight: %w", err))
		_ = srv.Close() // the deadline passed: drop what is left
	}
	if serving {
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, fmt.Errorf("http server: %w", err))
		}
	}
	g.log.Info("flushing the producer")
	g.prod.close()
	select {
	case <-drained:
	case <-sctx.Done():
		errs = append(errs, fmt.Errorf("flush the producer: %w", sctx.Err()))
	}
	close(stopChecks)
	stopTick()
	<-checksDone
	if len(errs) == 0 {
		g.log.Info("ingest gateway stopped")
	}
	return errors.Join(errs...)
}

func handleHealthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, "ok\n") // the client may be gone; nothing to do
}

func (g *Gateway) handleReadyz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	switch {
	case g.ready.stopping.Load():
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, "not ready: stopping\n")
	case !g.ready.kafkaOK.Load():
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, "not ready: kafka unreachable\n")
	default:
		_, _ = io.WriteString(w, "ready\n")
	}
}

// requestMeta is what every record of one request carries in its headers.
type requestMeta struct {
	ingest   time.Time
	sendTime int64
	runID    string
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
	if !g.ready.ready() {
		g.fail(w, http.StatusServiceUnavailable, "kafka is unreachable or the gateway is stopping: retry later")
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

	body, status, err := readBody(w, r, g.cfg.MaxBodyBytes)
	if err != nil {
		g.fail(w, status, err.Error())
		return
	}
	var b batch
	if isJSON {
		if b, err = parseJSON(body); err != nil {
			g.fail(w, http.StatusBadRequest, err.Error())
			return
		}
	} else {
		b = parseText(body, g.cfg.MaxLineBytes)
	}
	if b.empty() {
		g.fail(w, http.StatusBadRequest, errNoEvents.Error()+": send at least one event")
		return
	}

	msgs := g.records(&b, meta)
	ctx, cancel := context.WithTimeout(r.Context(), g.cfg.ProduceTimeout)
	defer cancel()
	t := newTracker()
	start := g.clock.Now()
	_, err = g.prod.enqueue(ctx, t, msgs)
	t.release(1) // the handler's hold: every record it will send is sent
	if err == nil {
		err = wait(ctx, t)
	}
	g.metrics.produceSeconds.Observe(g.clock.Now().Sub(start).Seconds())
	if err != nil {
		if r.Context().Err() != nil {
			// The client hung up: its records may still be stored; it
			// will resend and the duplicates are the engine's to drop.
			g.log.Debug("client went away before kafka acknowledged its records",
				zap.Int("records", len(msgs)), zap.String(logging.KeyRunID, meta.runID))
		} else {
			g.log.Warn("request not acknowledged by kafka: answering 503", zap.Error(err),
				zap.Int("records", len(msgs)), zap.String(logging.KeyRunID, meta.runID))
			g.ready.trigger()
		}
		g.fail(w, http.StatusServiceUnavailable, "events not stored: "+err.Error()+"; retry later")
		return
	}

	g.metrics.accepted.Add(float64(len(b.accepted)))
	g.metrics.rejected.Add(float64(len(b.rejected)))
	resp := ingestapi.Response{Accepted: len(b.accepted), Rejected: len(b.rejected)}
	if len(b.rejected) > 0 {
		resp.Errors = make([]ingestapi.LineError, len(b.rejected))
		for i, rj := range b.rejected {
			resp.Errors[i] = ingestapi.LineError{Line: rj.line, Error: rj.err.Error()}
		}
	}
	writeJSON(w, http.StatusAccepted, &resp)
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
	if !g.ready.ready() {
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

// records builds the records of a request: its valid events for the events
// topic, its rejected lines for the dead-letter topic. Keys and values point
// into the body, and the headers common to all records are shared: sarama only
// reads them.
func (g *Gateway) records(b *batch, m requestMeta) []sarama.ProducerMessage {
	nAcc, nRej := len(b.accepted), len(b.rejected)
	msgs := make([]sarama.ProducerMessage, nAcc+nRej)
	// Pointers into one slice of encoders: boxing each ByteEncoder in the
	// Encoder interface would allocate twice per record.
	enc := make([]sarama.ByteEncoder, 2*nAcc+nRej)
	common := []sarama.RecordHeader{
		kafka.Int64Header(kafka.HeaderIngestTime, m.ingest.UnixMilli()),
		kafka.Int64Header(kafka.HeaderSendTime, m.sendTime),
		{Key: []byte(kafka.HeaderSource), Value: []byte(Source)},
	}
	if m.runID != "" {
		common = append(common, sarama.RecordHeader{Key: []byte(kafka.HeaderRunID), Value: []byte(m.runID)})
	}
	for i, a := range b.accepted {
		enc[2*i], enc[2*i+1] = a.key, a.value
		msgs[i] = sarama.ProducerMessage{
			Topic: g.cfg.Kafka.Topics.Events, Key: &enc[2*i], Value: &enc[2*i+1],
			Headers: common, Timestamp: m.ingest,
		}
	}
	for j, rj := range b.rejected {
		raw := rj.raw
		if len(raw) > MaxDeadLetterValue {
			raw = raw[:MaxDeadLetterValue]
		}
		enc[2*nAcc+j] = raw
		h := make([]sarama.RecordHeader, len(common), len(common)+5)
		copy(h, common)
		h = append(h,
			sarama.RecordHeader{Key: []byte(kafka.HeaderError), Value: []byte(rj.err.Error())},
			sarama.RecordHeader{Key: []byte(kafka.HeaderErrorField), Value: []byte(rj.err.Field)},
			kafka.Int64Header(kafka.HeaderLineNumber, int64(rj.line)),
			sarama.RecordHeader{Key: []byte(kafka.HeaderRejectedBy), Value: []byte(Source)},
			kafka.Int64Header(kafka.HeaderRejectedAt, m.ingest.UnixMilli()),
		)
		// No key: a rejected line may have no device id; the hash
		// partitioner spreads keyless records.
		msgs[nAcc+j] = sarama.ProducerMessage{
			Topic: g.cfg.Kafka.Topics.DeadLetter, Value: &enc[2*nAcc+j], Headers: h, Timestamp: m.ingest,
		}
	}
	return msgs
}

// authorize checks the bearer token when one is configured: 401 without a
// token, 403 with a wrong one.
func (g *Gateway) authorize(w http.ResponseWriter, r *http.Request) bool {
	if len(g.token) == 0 {
		return true
	}
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="boontadata-ingest"`)
		g.fail(w, http.StatusUnauthorized, "a bearer token is required (Authorization: Bearer TOKEN)")
		return false
	}
	if subtle.ConstantTimeCompare([]byte(strings.TrimSpace(token)), g.token) != 1 {
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

// readBody reads the whole body within limit; it returns the status to
// answer when it cannot.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, int, error) {
	if r.ContentLength > limit {
		return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("body of %d bytes is larger than the limit of %d bytes", r.ContentLength, limit)
	}
	size := 64 << 10
	if r.ContentLength > 0 {
		size = int(r.ContentLength) + 1 // +1: ReadAll needs room to see EOF
	}
	buf := make([]byte, 0, size)
	body := http.MaxBytesReader(w, r.Body, limit)
	for {
		n, err := body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			break
		}
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("body larger than the limit of %d bytes", limit)
		}
		if err != nil {
			return nil, http.StatusBadRequest, fmt.Errorf("read body: %w", err)
		}
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
	}
	if len(buf) == 0 {
		return nil, http.StatusBadRequest, errors.New("empty body: send at least one event")
	}
	return buf, 0, nil
}

// fail answers an error of the whole request.
func (g *Gateway) fail(w http.ResponseWriter, status int, msg string) {
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", g.retryAfter)
	}
	writeJSON(w, status, &ingestapi.Response{Error: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client may be gone; nothing to do
}
