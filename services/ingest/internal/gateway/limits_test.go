package gateway

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/boontadata/boontadata/pkg/event"
	"github.com/boontadata/boontadata/pkg/ingestapi"
	"github.com/boontadata/boontadata/pkg/kafka"
)

// fakeGateway starts a gateway on a fake producer and checker: no Kafka.
func fakeGateway(tb testing.TB, cfg Config, prod *fakeProducer) *harness {
	tb.Helper()
	return startGateway(tb, cfg, harnessOpts{prod: prod, checker: &fakeChecker{}})
}

func TestTooManyRejectedLinesRefusesTheWholeRequest(t *testing.T) {
	cfg := testConfig(t, []string{"127.0.0.1:1"})
	cfg.MaxRejectedLines = 3
	prod := newFakeProducer(nil)
	h := fakeGateway(t, cfg, prod)
	const ok = `{"message_id":"j","device_id":"d","device_time_ms":1472209316326,"category":"c","measure1":1,"measure2":2}`
	tests := []struct {
		name, body, contentType string
		lastLine                int
	}{
		{name: "text", body: valid1 + "\nbad\n" + valid2 + "\nbad\nbad\n\nbad\n" + valid3, contentType: ingestapi.ContentTypeText, lastLine: 7},
		{name: "JSON", body: "[" + ok + `,1,` + ok + `,2,3,4,` + ok + "]", contentType: ingestapi.ContentTypeJSON, lastLine: 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := h.post(t, tt.body, "Content-Type", tt.contentType)
			require.Equal(t, http.StatusUnprocessableEntity, a.status, a.raw)
			require.Contains(t, a.body.Error, "more than 3 lines rejected")
			require.Contains(t, a.body.Error, "nothing of it was stored")
			require.Contains(t, a.body.Error, fmt.Sprintf("line %d", tt.lastLine))
			require.Zero(t, a.body.Accepted, "a refused request claims nothing")
			require.Zero(t, a.body.Rejected)
			require.Len(t, a.body.Errors, 4, "the errors found before parsing stopped")
			require.Equal(t, tt.lastLine, a.body.Errors[3].Line)
			require.Zero(t, prod.received.Load(), "nothing of the request was produced")
		})
	}
	t.Run("at the cap it is accepted", func(t *testing.T) {
		a := h.post(t, valid1+"\nbad\nbad\nbad\n"+valid2)
		require.Equal(t, http.StatusAccepted, a.status, a.raw)
		require.Equal(t, 2, a.body.Accepted)
		require.Equal(t, 3, a.body.Rejected)
	})
	require.Contains(t, h.metric(t), "boontadata_ingest_requests_refused_rejected_lines_total 2")
}

// TestDeadLetterGroups checks the summarised dead-letter records on the fake
// Kafka: every rejected line is in one of them with its number and error,
// every valid line is on the events topic, and the answer lists the first
// errors and counts the others.
func TestDeadLetterGroups(t *testing.T) {
	_, brokers := newKfake(t)
	cfg := testConfig(t, brokers)
	h := startGateway(t, cfg, harnessOpts{})
	h.waitReady(t)

	// 250 short bad lines, then 40 too long ones, among 300 valid lines.
	var body strings.Builder
	wantDead := map[int]string{}
	fullLen := map[int]int{}
	line := 0
	add := func(s string) {
		line++
		body.WriteString(s + "\n")
	}
	for i := range 300 {
		add(fmt.Sprintf("v-%d|dev-%d|1472209316326|cat1|%d|1.5", i, i%7, i))
		if i < 250 {
			add(fmt.Sprintf("bad-%d", i))
			wantDead[line] = fmt.Sprintf("bad-%d", i)
		} else if i < 290 {
			long := fmt.Sprintf("long-%d-", i) + strings.Repeat("x", MaxDeadLetterValue+100)
			add(long)
			wantDead[line], fullLen[line] = long[:MaxDeadLetterValue], len(long)
		}
	}
	a := h.post(t, body.String())
	require.Equal(t, http.StatusAccepted, a.status, a.raw[:min(len(a.raw), 500)])
	require.Equal(t, 300, a.body.Accepted)
	require.Equal(t, 290, a.body.Rejected)
	require.Len(t, a.body.Errors, ingestapi.MaxAnswerErrors, "the answer lists the first errors")
	require.Equal(t, 290-ingestapi.MaxAnswerErrors, a.body.ErrorsOmitted)
	require.Equal(t, 2, a.body.Errors[0].Line)
	require.Less(t, len(a.raw), 16<<10, "the answer stays small")

	require.Len(t, consume(t, &cfg.Kafka, cfg.Kafka.Topics.Events, 300), 300, "nothing valid lost")
	// In line order: 100 short lines, 100 more, then the last 50 short
	// lines and 15 of the long ones (4 KiB each) fill 64 KiB, then 15 and 10
	// long lines.
	records := consumeAvailable(t, &cfg.Kafka, cfg.Kafka.Topics.DeadLetter)
	require.Len(t, records, 5)
	got := map[int]string{}
	groups := map[string]bool{}
	for _, m := range records {
		require.LessOrEqual(t, len(m.Value), deadLetterGroupBytes)
		values := strings.Split(string(m.Value), "\n")
		numbers := strings.Split(header(m, kafka.HeaderLineNumbers), ",")
		errs := strings.Split(header(m, kafka.HeaderErrors), "\n")
		require.Len(t, numbers, len(values))
		require.Len(t, errs, len(values))
		require.LessOrEqual(t, len(values), deadLetterGroupLines)
		require.Equal(t, strconv.Itoa(len(values)), header(m, kafka.HeaderLines))
		require.Equal(t, numbers[0], header(m, kafka.HeaderLineNumber))
		require.Equal(t, errs[0], header(m, kafka.HeaderError))
		require.Equal(t, "300", header(m, kafka.HeaderRequestAccepted))
		require.Equal(t, "290", header(m, kafka.HeaderRequestRejected))
		groups[header(m, kafka.HeaderGroup)] = true
		for i, v := range values {
			n, err := strconv.Atoi(numbers[i])
			require.NoError(t, err)
			got[n] = v
			if strings.HasPrefix(v, "long-") {
				require.Equal(t, "line: too long (at most 421 bytes, got "+strconv.Itoa(fullLen[n])+")", errs[i])
			} else {
				require.Equal(t, "line: wrong number of fields (want 6 '|'-separated fields, got 1)", errs[i])
			}
		}
	}
	require.Equal(t, wantDead, got, "every rejected line reported once")
	require.Equal(t, map[string]bool{"1/5": true, "2/5": true, "3/5": true, "4/5": true, "5/5": true}, groups)
}

// memProbe measures the heap from a baseline taken after a collection.
type memProbe struct{ base runtime.MemStats }

func newMemProbe() *memProbe {
	p := &memProbe{}
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&p.base)
	return p
}

// live is the growth of the live heap since the baseline.
func (p *memProbe) live() int64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc) - int64(p.base.HeapAlloc)
}

// allocated is everything allocated since the baseline, garbage included: an
// upper bound of how much the heap may have grown.
func (p *memProbe) allocated() int64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.TotalAlloc - p.base.TotalAlloc)
}

const mib = 1 << 20

// Bodies of TestMemoryPerRequestIsBounded, each about maxBody bytes.
const maxBody = 16 << 20

func repeatTo(size int, prefix, item, sep, suffix string) string {
	var b strings.Builder
	b.Grow(size + len(item))
	b.WriteString(prefix)
	for b.Len()+len(item)+len(sep)+len(suffix) <= size {
		if b.Len() > len(prefix) {
			b.WriteString(sep)
		}
		b.WriteString(item)
	}
	b.WriteString(suffix)
	return b.String()
}

func validLines(size int) string {
	var b strings.Builder
	b.Grow(size)
	for i := 0; ; i++ {
		l := "m-" + strconv.Itoa(i) + "|dev-" + strconv.Itoa(i%1000) + "|1472209316326|cat1|" + strconv.Itoa(i) + "|1.5\n"
		if b.Len()+len(l) > size {
			return b.String()
		}
		b.WriteString(l)
	}
}

func validElements(size int) string {
	var b strings.Builder
	b.Grow(size)
	b.WriteString("[")
	for i := 0; ; i++ {
		e := `{"message_id":"m-` + strconv.Itoa(i) + `","device_id":"dev-` + strconv.Itoa(i%1000) +
			`","device_time_ms":1472209316326,"category":"cat1","measure1":` + strconv.Itoa(i) + `,"measure2":1.5}`
		if b.Len()+len(e)+2 > size {
			b.WriteString("]")
			return b.String()
		}
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(e)
	}
}

// expectedHeld is how many records a request with d dead-letter records and
// n valid events has handed to the producer when it waits for room in its
// window.
func expectedHeld(d, n int) int {
	held := d
	for n > 0 {
		c := min(n, chunkRecords)
		if held+c > windowRecords {
			break
		}
		held, n = held+c, n-c
	}
	return held
}

// The bounds docs/ingest.md states, per request: a refused request allocates
// at most its body plus 4 MiB; a request being produced holds at most its
// body (a JSON body: the body and its canonical lines, which are shorter),
// 4 MiB (its window of records, about 2 MiB, and the rest) and 8 KiB per rejected line
// (its dead-letter copy, and for JSON the element's own copy, each cut at 4 KiB).
func refusedBound(body int) int64 { return int64(body) + 4*mib }

func textBound(rejected int) func(int) int64 {
	return func(body int) int64 { return int64(body) + 4*mib + int64(rejected)*2*MaxDeadLetterValue }
}

func jsonBound(rejected int) func(int) int64 {
	return func(body int) int64 { return 2*int64(body) + 4*mib + int64(rejected)*2*MaxDeadLetterValue }
}

// TestMemoryPerRequestIsBounded measures what one request of ~16 MiB (the
// default --max-body-bytes) costs the gateway's heap, with the fake producer
// (sarama's own buffers are not counted), and holds it to the bounds above.
// A refused request is measured by everything it allocated, garbage included;
// a produced one by its live heap while its window of records waits for
// Kafka, which is when it holds the most. Before rejected lines were capped
// and summarised, a 1 MiB body of "x\n" lines held about 728 MB.
func TestMemoryPerRequestIsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 16 MiB bodies")
	}
	const (
		okElement   = `{"message_id":"m","device_id":"d","device_time_ms":1472209316326,"category":"c","measure1":1,"measure2":2}`
		longRejects = 1000 // the default --max-rejected-lines
	)
	longLine := strings.Repeat("x", maxBody/longRejects-100)
	longElement := `{"x":"` + strings.Repeat("y", maxBody/longRejects-100) + `"}`
	longText := func() string {
		return valid1 + "\n" + strings.Repeat(longLine+"\n", longRejects) + valid2
	}
	longJSON := func() string {
		return "[" + okElement + strings.Repeat(","+longElement, longRejects) + "]"
	}
	tests := []struct {
		name        string
		contentType string
		body        func() string
		status      int
		accepted    int
		rejected    int
		bound       func(body int) int64
	}{
		{name: "text: a body of rejected lines", contentType: ingestapi.ContentTypeText,
			body:   func() string { return repeatTo(maxBody, "", "x", "\n", "\n") },
			status: http.StatusUnprocessableEntity, bound: refusedBound},
		{name: "JSON: a body of rejected elements", contentType: ingestapi.ContentTypeJSON,
			body:   func() string { return repeatTo(maxBody, "[", `{"x":1}`, ",", "]") },
			status: http.StatusUnprocessableEntity, bound: refusedBound},
		{name: "text: the most rejected lines, each longer than kept", contentType: ingestapi.ContentTypeText,
			body:   longText,
			status: http.StatusAccepted, accepted: 2, rejected: longRejects, bound: textBound(longRejects)},
		{name: "JSON: the most rejected elements, each longer than kept", contentType: ingestapi.ContentTypeJSON,
			body:   longJSON,
			status: http.StatusAccepted, accepted: 1, rejected: longRejects, bound: jsonBound(longRejects)},
		{name: "text: valid lines", contentType: ingestapi.ContentTypeText,
			body: func() string { return validLines(maxBody) }, status: http.StatusAccepted, bound: textBound(0)},
		{name: "JSON: valid elements", contentType: ingestapi.ContentTypeJSON,
			body: func() string { return validElements(maxBody) }, status: http.StatusAccepted, bound: jsonBound(0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t, []string{"127.0.0.1:1"})
			cfg.MaxBodyBytes = maxBody
			cfg.ProduceTimeout = time.Minute
			prod := newGatedProducer()
			h := fakeGateway(t, cfg, prod)
			body := tt.body()
			require.LessOrEqual(t, len(body), maxBody)
			if tt.accepted == 0 && tt.status == http.StatusAccepted {
				tt.accepted = strings.Count(body, "message_id") + strings.Count(body, "\n")
			}

			probe := newMemProbe()
			answered := make(chan answer, 1)
			go func() { answered <- h.post(t, body, "Content-Type", tt.contentType) }()
			var a answer
			var held, live int64
			if tt.status == http.StatusAccepted {
				// The request waits for acknowledgements: all it holds is live.
				deadLetters := (tt.rejected + 14) / 15 // 4 KiB lines, 64 KiB records
				want := int64(expectedHeld(deadLetters, tt.accepted))
				require.Eventually(t, func() bool { return prod.received.Load() == want }, time.Minute, 10*time.Millisecond,
					"records handed to the producer: %d, want %d", prod.received.Load(), want)
				held, live = prod.received.Load(), probe.live()
				prod.open()
			}
			a = <-answered
			allocated := probe.allocated()
			require.Equal(t, tt.status, a.status, a.raw[:min(len(a.raw), 300)])
			bound := tt.bound(len(body))
			t.Logf("body %.1f MiB: live while produced %.1f MiB (%d records held), allocated %.1f MiB in all; bound %.1f MiB",
				float64(len(body))/mib, float64(live)/mib, held, float64(allocated)/mib, float64(bound)/mib)
			if tt.status == http.StatusAccepted {
				require.Equal(t, tt.accepted, a.body.Accepted)
				require.Equal(t, tt.rejected, a.body.Rejected)
				require.LessOrEqual(t, live, bound, "live heap of a request being produced")
			} else {
				require.Zero(t, prod.received.Load())
				require.LessOrEqual(t, allocated, bound, "everything a refused request allocated")
			}
			require.LessOrEqual(t, len(a.body.Errors), ingestapi.MaxAnswerErrors)
			require.Less(t, len(a.raw), 64<<10, "the answer stays small")
		})
	}
}

// slowClient sends the headers of a POST and the first bytes of its body at
// once, then one byte per interval, and returns the status of the answer
// (0 if the connection closed without one).
func slowClient(t *testing.T, addr string, first int, interval time.Duration, stop <-chan struct{}) int {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer func() { _ = conn.Close() }()
	require.NoError(t, conn.SetDeadline(time.Now().Add(30*time.Second)))
	head := "POST " + ingestapi.EventsPath + " HTTP/1.1\r\nHost: " + addr + "\r\nContent-Type: text/plain\r\nContent-Length: 1000000\r\n\r\n"
	if _, err := io.WriteString(conn, head+strings.Repeat("x", first)); err != nil {
		return 0
	}
	var wg sync.WaitGroup
	done := make(chan struct{})
	defer func() {
		close(done)
		wg.Wait()
	}()
	wg.Go(func() {
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-stop:
				return
			case <-tick.C:
				if _, err := conn.Write([]byte{'x'}); err != nil {
					return
				}
			}
		}
	})
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

// TestSlowClientsDoNotStarveOthers runs 64 clients, as many as the in-flight
// slots, that send their body one byte at a time: they never take a slot, and
// are cut off once their body falls behind the minimum rate; clients that
// send the start of their body quickly and then trickle hold a slot only for
// about the grace period.
func TestSlowClientsDoNotStarveOthers(t *testing.T) {
	cfg := testConfig(t, []string{"127.0.0.1:1"})
	cfg.MinBodyRate = 64 << 10
	cfg.BodyGrace = 500 * time.Millisecond
	require.Equal(t, 64, cfg.MaxInFlight)
	h := fakeGateway(t, cfg, newFakeProducer(nil))
	addr := strings.TrimPrefix(h.url, "http://")

	for _, tc := range []struct {
		name  string
		first int // bytes sent at once
	}{
		{name: "trickle from the first byte", first: 10},
		{name: "fast start, then trickle", first: slotAfterBytes + 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const slow = 64
			stop := make(chan struct{})
			statuses := make(chan int, slow)
			var wg sync.WaitGroup
			start := time.Now()
			for range slow {
				wg.Go(func() { statuses <- slowClient(t, addr, tc.first, 100*time.Millisecond, stop) })
			}
			defer func() {
				close(stop)
				wg.Wait()
			}()
			if tc.first < slotAfterBytes {
				// Wait until every slow client is connected and sending.
				time.Sleep(200 * time.Millisecond)
				require.Contains(t, h.metric(t), "boontadata_ingest_in_flight_requests 0", "no slot held by a slow client")
				for i := range 5 {
					a := h.post(t, fmt.Sprintf("ok-%d|dev-1|1472209316326|cat1|1|1", i))
					require.Equal(t, http.StatusAccepted, a.status, a.raw)
				}
			}
			// Every slow client is cut off with 408, soon after the grace.
			for range slow {
				select {
				case s := <-statuses:
					require.Equal(t, http.StatusRequestTimeout, s)
				case <-time.After(20 * time.Second):
					t.Fatal("a slow client was not cut off")
				}
			}
			elapsed := time.Since(start)
			require.Less(t, elapsed, 10*time.Second)
			require.Eventually(t, func() bool { return strings.Contains(h.metric(t), "boontadata_ingest_in_flight_requests 0") },
				5*time.Second, 10*time.Millisecond)
			a := h.post(t, valid1)
			require.Equal(t, http.StatusAccepted, a.status, a.raw)
			t.Logf("%d slow clients cut off within %v", slow, elapsed.Round(10*time.Millisecond))
		})
	}
	require.Contains(t, h.metric(t), "boontadata_ingest_slow_bodies_total 128")
}

func TestBodyArrivingAtTheMinimumRateIsAccepted(t *testing.T) {
	cfg := testConfig(t, []string{"127.0.0.1:1"})
	cfg.MinBodyRate = 2000
	cfg.BodyGrace = 200 * time.Millisecond
	h := fakeGateway(t, cfg, newFakeProducer(nil))
	// 40 lines of ~45 bytes, one line every 10 ms: about 4500 bytes/s.
	pr, pw := io.Pipe()
	go func() {
		for i := range 40 {
			if _, err := fmt.Fprintf(pw, "m-%d|dev-1|1472209316326|cat1|%d|1.5\n", i, i); err != nil {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		_ = pw.Close()
	}()
	req, err := http.NewRequest(http.MethodPost, h.url+ingestapi.EventsPath, pr)
	require.NoError(t, err)
	req.Header.Set("Content-Type", ingestapi.ContentTypeText)
	a := h.do(t, req)
	require.Equal(t, http.StatusAccepted, a.status, a.raw)
	require.Equal(t, 40, a.body.Accepted)
}

func TestEndOfRun(t *testing.T) {
	cfg := testConfig(t, []string{"127.0.0.1:1"})
	cfg.AuthToken = "s3cret"
	var mu sync.Mutex
	var marked []string
	endRun := func(_ context.Context, runID string) (int, error) {
		if runID == "broken" {
			return 0, errors.New("kafka: not enough replicas")
		}
		mu.Lock()
		defer mu.Unlock()
		marked = append(marked, runID)
		return 16, nil
	}
	checker := &fakeChecker{}
	h := startGateway(t, cfg, harnessOpts{prod: newFakeProducer(nil), checker: checker, endRun: endRun})
	end := func(path, auth string) answer {
		req, err := http.NewRequest(http.MethodPost, h.url+path, nil)
		require.NoError(t, err)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		return h.do(t, req)
	}
	tests := []struct {
		name   string
		path   string
		auth   string
		status int
		want   string
	}{
		{name: "no token", path: ingestapi.EndOfRunPath("r1"), status: http.StatusUnauthorized, want: "bearer token is required"},
		{name: "wrong token", path: ingestapi.EndOfRunPath("r1"), auth: "Bearer nope", status: http.StatusForbidden},
		{name: "marked", path: ingestapi.EndOfRunPath("r1"), auth: "Bearer s3cret", status: http.StatusAccepted},
		{name: "escaped run id", path: ingestapi.EndOfRunPath("run 2/b"), auth: "Bearer s3cret", status: http.StatusAccepted},
		{name: "run id too long", path: ingestapi.EndOfRunPath(strings.Repeat("r", event.MaxIDLen+1)), auth: "Bearer s3cret",
			status: http.StatusBadRequest, want: "at most 128 bytes"},
		{name: "control character", path: "/v1/runs/a%01b/end", auth: "Bearer s3cret", status: http.StatusBadRequest, want: "control character"},
		{name: "kafka fails", path: ingestapi.EndOfRunPath("broken"), auth: "Bearer s3cret", status: http.StatusServiceUnavailable,
			want: "not enough replicas"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := end(tt.path, tt.auth)
			require.Equal(t, tt.status, a.status, a.raw)
			require.Contains(t, a.raw, tt.want)
			if tt.status == http.StatusServiceUnavailable {
				require.NotEmpty(t, a.header.Get("Retry-After"))
			}
		})
	}
	a := end(ingestapi.EndOfRunPath("r1"), "Bearer s3cret")
	require.JSONEq(t, `{"run_id":"r1","partitions":16}`, a.raw)
	mu.Lock()
	require.Equal(t, []string{"r1", "run 2/b", "r1"}, marked, "only authorized, valid calls reach Kafka")
	mu.Unlock()

	t.Run("not ready", func(t *testing.T) {
		checker.set(errors.New("broker gone"))
		h2 := startGateway(t, cfg, harnessOpts{prod: newFakeProducer(nil), checker: checker, endRun: endRun})
		req, err := http.NewRequest(http.MethodPost, h2.url+ingestapi.EndOfRunPath("r9"), nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer s3cret")
		require.Equal(t, http.StatusServiceUnavailable, h2.do(t, req).status)
	})
	t.Run("without a marker writer", func(t *testing.T) {
		h3 := startGateway(t, cfg, harnessOpts{prod: newFakeProducer(nil), checker: &fakeChecker{}})
		req, err := http.NewRequest(http.MethodPost, h3.url+ingestapi.EndOfRunPath("r9"), nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer s3cret")
		require.Equal(t, http.StatusNotImplemented, h3.do(t, req).status)
	})
}

// TestLargeRequestProducedInWindows sends more events than a request's window
// through sarama to the fake Kafka: all of them are stored, in order per
// device, and the answer counts them.
func TestLargeRequestProducedInWindows(t *testing.T) {
	_, brokers := newKfake(t)
	cfg := testConfig(t, brokers)
	h := startGateway(t, cfg, harnessOpts{})
	h.waitReady(t)
	const n = 3*windowRecords + 123
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "big-%d|dev-%d|1472209316326|cat1|%d|1.5\n", i, i%5, i)
	}
	a := h.post(t, b.String()+"bad\n")
	require.Equal(t, http.StatusAccepted, a.status, a.raw)
	require.Equal(t, n, a.body.Accepted)
	require.Equal(t, 1, a.body.Rejected)
	events := consume(t, &cfg.Kafka, cfg.Kafka.Topics.Events, n)
	last := map[string]int{}
	for _, m := range events {
		f := strings.Split(string(m.Value), "|")
		i, err := strconv.Atoi(f[4])
		require.NoError(t, err)
		require.Greater(t, i+1, last[f[1]], "per-device order kept")
		last[f[1]] = i + 1
	}
	require.Len(t, consume(t, &cfg.Kafka, cfg.Kafka.Topics.DeadLetter, 1), 1)
}
