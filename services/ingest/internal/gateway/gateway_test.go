package gateway

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/goleak"

	"github.com/boontadata/boontadata/pkg/ingestapi"
	"github.com/boontadata/boontadata/pkg/kafka"
	"github.com/boontadata/boontadata/pkg/retry"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// sarama's metrics library starts one ticker goroutine per process.
		goleak.IgnoreTopFunction("github.com/rcrowley/go-metrics.(*meterArbiter).tick"),
	)
}

// fixedClock always gives the same instant, so ingest times can be checked.
type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

const (
	valid1 = "m-1|dev-1|1472209316326|cat1|456|789.12"
	valid2 = "m-2|dev-2|1472209316327|cat2|-4|0.5"
	valid3 = "m-3|dev-1|1472209316328|cat1|7|1e-9"
)

// mixedBody has valid lines, invalid ones, a blank line and a CRLF ending.
const mixedBody = valid1 + "\n" +
	"m-x|dev-1|1472209316326|cat1|456\n" + // 2: five fields
	valid2 + "\r\n" +
	"\n" + // 4: blank, ignored
	"m-y|dev-9|yesterday|cat1|1|2\n" + // 5: bad device time
	valid3 + "\n"

func TestMixedRequestPerLineErrorsAndRecords(t *testing.T) {
	_, brokers := newKfake(t)
	cfg := testConfig(t, brokers)
	ingest := time.UnixMilli(1_700_000_000_123)
	h := startGateway(t, cfg, harnessOpts{clock: fixedClock{ingest}})
	h.waitReady(t)

	a := h.post(t, mixedBody, ingestapi.HeaderRunID, "run-7", ingestapi.HeaderSendTime, "1700000000000")
	require.Equal(t, http.StatusAccepted, a.status, a.raw)
	require.Equal(t, 3, a.body.Accepted)
	require.Equal(t, 2, a.body.Rejected)
	require.Equal(t, []ingestapi.LineError{
		{Line: 2, Error: "line: wrong number of fields (want 6 '|'-separated fields, got 5)"},
		{Line: 5, Error: `device_time_ms: not an integer (ms since the epoch, digits only): "yesterday"`},
	}, a.body.Errors)

	events := consume(t, &cfg.Kafka, cfg.Kafka.Topics.Events, 3)
	var values []string
	for _, m := range events {
		values = append(values, string(m.Value))
		require.Equal(t, strings.Split(string(m.Value), "|")[1], string(m.Key), "key is the device id")
		require.Equal(t, ingest.UnixMilli(), m.Timestamp.UnixMilli(), "record timestamp is the ingest time")
		require.Equal(t, "1700000000123", header(m, kafka.HeaderIngestTime))
		require.Equal(t, "1700000000000", header(m, kafka.HeaderSendTime))
		require.Equal(t, "run-7", header(m, kafka.HeaderRunID))
		require.Equal(t, Source, header(m, kafka.HeaderSource))
	}
	require.ElementsMatch(t, []string{valid1, valid2, valid3}, values, "values are the lines as sent, without CR")

	// Both rejected lines, with their errors, in one dead-letter record.
	dead := consume(t, &cfg.Kafka, cfg.Kafka.Topics.DeadLetter, 1)
	m := dead[0]
	require.Equal(t, "m-x|dev-1|1472209316326|cat1|456\nm-y|dev-9|yesterday|cat1|1|2", string(m.Value))
	require.Equal(t, "2,5", header(m, kafka.HeaderLineNumbers))
	require.Equal(t, a.body.Errors[0].Error+"\n"+a.body.Errors[1].Error, header(m, kafka.HeaderErrors))
	require.Equal(t, "2", header(m, kafka.HeaderLineNumber), "the first line")
	require.Equal(t, "line", header(m, kafka.HeaderErrorField))
	require.Equal(t, a.body.Errors[0].Error, header(m, kafka.HeaderError))
	require.Equal(t, "2", header(m, kafka.HeaderLines))
	require.Equal(t, "1/1", header(m, kafka.HeaderGroup))
	require.Equal(t, "3", header(m, kafka.HeaderRequestAccepted))
	require.Equal(t, "2", header(m, kafka.HeaderRequestRejected))
	require.Equal(t, "text/plain", header(m, kafka.HeaderContentType))
	require.Equal(t, Source, header(m, kafka.HeaderRejectedBy))
	require.Equal(t, "1700000000123", header(m, kafka.HeaderRejectedAt))
	require.Equal(t, "1700000000000", header(m, kafka.HeaderSendTime))
	require.Equal(t, "run-7", header(m, kafka.HeaderRunID))
	require.Equal(t, ingest.UnixMilli(), m.Timestamp.UnixMilli())
	require.Nil(t, m.Key)
}

func TestJSONBody(t *testing.T) {
	_, brokers := newKfake(t)
	cfg := testConfig(t, brokers)
	h := startGateway(t, cfg, harnessOpts{})
	h.waitReady(t)

	body := `[
	{"message_id":"j-1","device_id":"dev-1","device_time_ms":1472209316326,"category":"cat1","measure1":456,"measure2":789.12},
	{"message_id":"j-2","device_id":"dev-2","device_time_ms":"soon","category":"cat1","measure1":1,"measure2":2},
	{"message_id":"j-3","device_id":"dev-3","device_time_ms":1472209316326,"category":"cat1","measure1":1},
	{"message_id":"j-4","device_id":"dev-4","device_time_ms":1472209316326,"category":"cat|1","measure1":1,"measure2":2}
	]`
	a := h.post(t, body, "Content-Type", "application/json; charset=utf-8")
	require.Equal(t, http.StatusAccepted, a.status, a.raw)
	require.Equal(t, 1, a.body.Accepted)
	require.Equal(t, 3, a.body.Rejected)
	require.Equal(t, []int{2, 3, 4}, []int{a.body.Errors[0].Line, a.body.Errors[1].Line, a.body.Errors[2].Line})
	require.Contains(t, a.body.Errors[0].Error, "device_time_ms: wrong JSON type")
	require.Equal(t, "measure2: missing", a.body.Errors[1].Error)
	require.Contains(t, a.body.Errors[2].Error, "category:")

	events := consume(t, &cfg.Kafka, cfg.Kafka.Topics.Events, 1)
	require.Equal(t, "j-1|dev-1|1472209316326|cat1|456|789.12", string(events[0].Value))
	require.Equal(t, "dev-1", string(events[0].Key))
	dead := consume(t, &cfg.Kafka, cfg.Kafka.Topics.DeadLetter, 1)
	elements := strings.Split(string(dead[0].Value), "\n")
	require.Len(t, elements, 3, "one compacted element per line")
	for _, e := range elements {
		require.True(t, strings.HasPrefix(e, `{"message_id":"j-`), e)
	}
	require.Equal(t, "2,3,4", header(dead[0], kafka.HeaderLineNumbers))
	require.Equal(t, "application/x-ndjson", header(dead[0], kafka.HeaderContentType))
	require.Len(t, strings.Split(header(dead[0], kafka.HeaderErrors), "\n"), 3)
}

func TestRequestErrors(t *testing.T) {
	_, brokers := newKfake(t)
	cfg := testConfig(t, brokers)
	cfg.MaxBodyBytes = 1000
	cfg.MaxLineBytes = 100
	h := startGateway(t, cfg, harnessOpts{})
	h.waitReady(t)

	long := strings.Repeat("x", 101)
	tests := []struct {
		name     string
		body     string
		headers  []string
		status   int
		errPart  string
		rejected int
	}{
		{name: "empty body", status: 400, errPart: "empty body"},
		{name: "only blank lines", body: "\n\r\n\n", status: 400, errPart: "no event"},
		{name: "no content type", body: valid1, headers: []string{"Content-Type", ""}, status: 415, errPart: "content type"},
		{name: "form content type", body: valid1, headers: []string{"Content-Type", "application/x-www-form-urlencoded"}, status: 415},
		{name: "gzip", body: valid1, headers: []string{"Content-Encoding", "gzip"}, status: 415, errPart: "encoding"},
		{name: "body too large", body: strings.Repeat(valid1+"\n", 30), status: 413, errPart: "larger than the limit"},
		{name: "bad send time", body: valid1, headers: []string{ingestapi.HeaderSendTime, "noon"}, status: 400, errPart: ingestapi.HeaderSendTime},
		{name: "run id with control", body: valid1, headers: []string{ingestapi.HeaderRunID, "a\tb"}, status: 400, errPart: ingestapi.HeaderRunID},
		{name: "JSON not an array", body: `{"a":1}`, headers: []string{"Content-Type", "application/json"}, status: 400, errPart: "array"},
		{name: "JSON truncated", body: `[{"message_id":`, headers: []string{"Content-Type", "application/json"}, status: 400},
		{name: "JSON empty array", body: `[]`, headers: []string{"Content-Type", "application/json"}, status: 400, errPart: "no event"},
		{name: "line too long alone", body: valid1 + "\n" + long + "\n", status: 202, rejected: 1},
		{name: "text charset", body: valid1, headers: []string{"Content-Type", "text/plain; charset=utf-8"}, status: 202},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := h.post(t, tt.body, tt.headers...)
			require.Equal(t, tt.status, a.status, a.raw)
			require.Contains(t, a.body.Error, tt.errPart)
			if tt.status != 202 {
				require.NotEmpty(t, a.body.Error)
				require.Zero(t, a.body.Accepted, "a failed request claims nothing")
			}
			require.Equal(t, tt.rejected, a.body.Rejected)
		})
	}

	t.Run("line too long error", func(t *testing.T) {
		a := h.post(t, long)
		require.Equal(t, []ingestapi.LineError{{Line: 1, Error: "line: too long (at most 100 bytes, got 101)"}}, a.body.Errors)
	})
	t.Run("chunked body too large", func(t *testing.T) {
		// No Content-Length: the limit is found while reading.
		req, err := http.NewRequest(http.MethodPost, h.url+ingestapi.EventsPath,
			io.MultiReader(strings.NewReader(strings.Repeat(valid1+"\n", 30))))
		require.NoError(t, err)
		req.Header.Set("Content-Type", ingestapi.ContentTypeText)
		req.ContentLength = -1
		a := h.do(t, req)
		require.Equal(t, http.StatusRequestEntityTooLarge, a.status, a.raw)
	})
	t.Run("method not allowed", func(t *testing.T) {
		resp, err := h.client.Get(h.url + ingestapi.EventsPath)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	})
}

func TestBearerToken(t *testing.T) {
	_, brokers := newKfake(t)
	cfg := testConfig(t, brokers)
	cfg.AuthToken = "s3cret"
	h := startGateway(t, cfg, harnessOpts{})
	h.waitReady(t) // health endpoints need no token

	tests := []struct {
		name   string
		auth   string
		status int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"basic scheme", "Basic czNjcmV0", http.StatusUnauthorized},
		{"empty bearer", "Bearer ", http.StatusUnauthorized},
		{"wrong token", "Bearer s3cre", http.StatusForbidden},
		{"right token", "Bearer s3cret", http.StatusAccepted},
		{"scheme case-insensitive", "bearer s3cret", http.StatusAccepted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := h.post(t, valid1, "Authorization", tt.auth)
			require.Equal(t, tt.status, a.status, a.raw)
			if tt.status == http.StatusUnauthorized {
				require.Contains(t, a.header.Get("WWW-Authenticate"), "Bearer")
			}
		})
	}
}

// blockProduce makes the fake broker hold every produce request until the
// returned function is called.
func blockProduce(c *kfake.Cluster) (release func()) {
	ch := make(chan struct{})
	c.ControlKey(kmsg.Produce.Int16(), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		c.SleepControl(func() { <-ch })
		return nil, nil, false
	})
	var once sync.Once
	return func() { once.Do(func() { close(ch) }) }
}

func TestTooManyInFlight429(t *testing.T) {
	cluster, brokers := newKfake(t)
	cfg := testConfig(t, brokers)
	cfg.MaxInFlight = 1
	h := startGateway(t, cfg, harnessOpts{})
	h.waitReady(t)
	release := blockProduce(cluster)
	t.Cleanup(release)

	first := make(chan answer, 1)
	go func() { first <- h.post(t, valid1) }()
	// The first request holds the only slot while the broker holds its records.
	require.Eventually(t, func() bool { return strings.Contains(h.metric(t), "boontadata_ingest_in_flight_requests 1") },
		10*time.Second, 10*time.Millisecond)
	a := h.post(t, valid2)
	require.Equal(t, http.StatusTooManyRequests, a.status, a.raw)
	require.Equal(t, "1", a.header.Get("Retry-After"))
	require.Contains(t, a.body.Error, "too many requests")

	release()
	require.Equal(t, http.StatusAccepted, (<-first).status)
	require.Equal(t, http.StatusAccepted, h.post(t, valid2).status, "the slot is free again")
}

func TestProduceTimeout503(t *testing.T) {
	cluster, brokers := newKfake(t)
	cfg := testConfig(t, brokers)
	cfg.ProduceTimeout = 300 * time.Millisecond
	cfg.RetryAfter = 3 * time.Second
	h := startGateway(t, cfg, harnessOpts{})
	h.waitReady(t)
	release := blockProduce(cluster)
	t.Cleanup(release)

	start := time.Now()
	a := h.post(t, valid1+"\nbad\n")
	require.Equal(t, http.StatusServiceUnavailable, a.status, a.raw)
	require.Less(t, time.Since(start), 5*time.Second, "answered at the produce timeout, not hung")
	require.Equal(t, "3", a.header.Get("Retry-After"))
	require.Zero(t, a.body.Accepted, "nothing is claimed accepted")
	require.Zero(t, a.body.Rejected)
	require.Contains(t, a.body.Error, "retry later")
	release()
}

// fakeChecker answers what the test sets.
type fakeChecker struct{ err atomic.Pointer[error] }

func (f *fakeChecker) Check() error {
	if p := f.err.Load(); p != nil {
		return *p
	}
	return nil
}

func (f *fakeChecker) set(err error) {
	if err == nil {
		f.err.Store(nil)
		return
	}
	f.err.Store(&err)
}

func TestReadinessFollowsKafka(t *testing.T) {
	_, brokers := newKfake(t)
	cfg := testConfig(t, brokers)
	checker := &fakeChecker{}
	tick := make(chan time.Time)
	h := startGateway(t, cfg, harnessOpts{checker: checker, ticker: func(time.Duration) (<-chan time.Time, func()) {
		return tick, func() {}
	}})
	get := func(path string) int {
		resp, err := h.client.Get(h.url + path)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		return resp.StatusCode
	}
	require.Equal(t, http.StatusOK, get(ReadyzPath), "the first check runs before serving")

	checker.set(errors.New("broker gone"))
	tick <- time.Now()
	tick <- time.Now() // the second send returns once the first check is done
	require.Equal(t, http.StatusServiceUnavailable, get(ReadyzPath))
	require.Equal(t, http.StatusOK, get(HealthzPath), "alive while Kafka is not")
	start := time.Now()
	a := h.post(t, valid1)
	require.Equal(t, http.StatusServiceUnavailable, a.status)
	require.Less(t, time.Since(start), time.Second, "not ready: answered at once")
	require.NotEmpty(t, a.header.Get("Retry-After"))

	checker.set(nil)
	tick <- time.Now()
	tick <- time.Now()
	require.Equal(t, http.StatusOK, get(ReadyzPath))
	require.Equal(t, http.StatusAccepted, h.post(t, valid1).status)
}

func TestGracefulShutdownFinishesRequests(t *testing.T) {
	cluster, brokers := newKfake(t)
	cfg := testConfig(t, brokers)
	h := startGateway(t, cfg, harnessOpts{})
	h.waitReady(t)
	release := blockProduce(cluster)
	t.Cleanup(release)

	inflight := make(chan answer, 1)
	go func() { inflight <- h.post(t, valid1+"\n"+valid2) }()
	// Wait until the request is being produced.
	require.Eventually(t, func() bool { return strings.Contains(h.metric(t), "boontadata_ingest_in_flight_requests 1") },
		10*time.Second, 10*time.Millisecond)

	stopped := make(chan error, 1)
	go func() { stopped <- h.shutdown() }()
	time.Sleep(100 * time.Millisecond) // let the stop begin: it must wait for the request
	select {
	case err := <-stopped:
		t.Fatalf("stopped before the request in flight finished: %v", err)
	default:
	}
	release()
	a := <-inflight
	require.Equal(t, http.StatusAccepted, a.status, a.raw)
	require.Equal(t, 2, a.body.Accepted)
	require.NoError(t, <-stopped)
	require.Len(t, consume(t, &cfg.Kafka, cfg.Kafka.Topics.Events, 2), 2)
}

func (h *harness) metric(tb testing.TB) string {
	tb.Helper()
	resp, err := h.client.Get(h.url + MetricsPath)
	require.NoError(tb, err)
	defer func() { require.NoError(tb, resp.Body.Close()) }()
	b, err := io.ReadAll(resp.Body)
	require.NoError(tb, err)
	return string(b)
}

func TestMetrics(t *testing.T) {
	_, brokers := newKfake(t)
	cfg := testConfig(t, brokers)
	retries := retry.NewCounter(namespace)
	retry.Default().Counting(retries).OnRetry("provision kafka topics") // as Serve's setup would
	h := startGateway(t, cfg, harnessOpts{retries: retries})
	h.waitReady(t)
	require.Equal(t, http.StatusAccepted, h.post(t, mixedBody).status)
	require.Equal(t, http.StatusUnsupportedMediaType, h.post(t, valid1, "Content-Type", "image/png").status)

	m := h.metric(t)
	for _, want := range []string{
		"boontadata_ingest_events_accepted_total 3",
		"boontadata_ingest_events_rejected_total 2",
		`boontadata_ingest_requests_total{code="202",handler="events"} 1`,
		`boontadata_ingest_requests_total{code="415",handler="events"} 1`,
		"boontadata_ingest_produce_duration_seconds_count 1",
		"boontadata_ingest_in_flight_requests 0",
		"boontadata_ingest_kafka_reachable 1",
		`boontadata_ingest_retries_total{operation="provision kafka topics"} 1`,
		"go_goroutines",
	} {
		require.Contains(t, m, want)
	}
}

// TestManyConcurrentRequests checks that every record of many concurrent
// requests is acknowledged to its own request.
func TestManyConcurrentRequests(t *testing.T) {
	_, brokers := newKfake(t)
	cfg := testConfig(t, brokers)
	h := startGateway(t, cfg, harnessOpts{})
	h.waitReady(t)
	const requests, lines = 20, 50
	var wg sync.WaitGroup
	answers := make([]answer, requests)
	for r := range requests {
		wg.Go(func() {
			var b strings.Builder
			for i := range lines {
				fmt.Fprintf(&b, "m-%d-%d|dev-%d|1472209316326|cat1|%d|1.5\n", r, i, i%7, i)
			}
			answers[r] = h.post(t, b.String())
		})
	}
	wg.Wait()
	for _, a := range answers {
		require.Equal(t, http.StatusAccepted, a.status, a.raw)
		require.Equal(t, lines, a.body.Accepted)
	}
	require.Len(t, consume(t, &cfg.Kafka, cfg.Kafka.Topics.Events, requests*lines), requests*lines)
}
