package gateway

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/boontadata/boontadata/pkg/ingestapi"
	"github.com/boontadata/boontadata/pkg/kafka"
	"github.com/boontadata/boontadata/pkg/testutil"
)

// TestIntegrationMixedRequestRealKafka posts valid and invalid lines to a
// gateway on the real broker and reads both topics back.
func TestIntegrationMixedRequestRealKafka(t *testing.T) {
	testutil.Integration(t)
	cfg := testConfig(t, testutil.KafkaBrokers())
	h := startGateway(t, cfg, harnessOpts{})
	h.waitReady(t)

	sendTime := time.Now().Add(-time.Second).UnixMilli()
	before := time.Now().UnixMilli()
	a := h.post(t, mixedBody, ingestapi.HeaderRunID, "it-run", ingestapi.HeaderSendTime, fmt.Sprint(sendTime))
	after := time.Now().UnixMilli()
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
		require.Equal(t, strings.Split(string(m.Value), "|")[1], string(m.Key))
		ingest, ok := kafka.HeaderInt64(m.Headers, kafka.HeaderIngestTime)
		require.True(t, ok)
		require.GreaterOrEqual(t, ingest, before)
		require.LessOrEqual(t, ingest, after)
		require.Equal(t, ingest, m.Timestamp.UnixMilli(), "record timestamp is the ingest time")
		require.Equal(t, fmt.Sprint(sendTime), header(m, kafka.HeaderSendTime))
		require.Equal(t, "it-run", header(m, kafka.HeaderRunID))
		require.Equal(t, Source, header(m, kafka.HeaderSource))
	}
	require.ElementsMatch(t, []string{valid1, valid2, valid3}, values)
	// Records of one device keep their order: same key, same partition.
	var dev1 []string
	for _, m := range events {
		if string(m.Key) == "dev-1" {
			dev1 = append(dev1, string(m.Value))
		}
	}
	require.Equal(t, []string{valid1, valid3}, dev1)

	// Both rejected lines, each with its line number and error, in one
	// dead-letter record.
	dead := consume(t, &cfg.Kafka, cfg.Kafka.Topics.DeadLetter, 1)
	m := dead[0]
	require.Equal(t, []string{"m-x|dev-1|1472209316326|cat1|456", "m-y|dev-9|yesterday|cat1|1|2"}, strings.Split(string(m.Value), "\n"))
	require.Equal(t, fmt.Sprintf("%d,%d", a.body.Errors[0].Line, a.body.Errors[1].Line), header(m, kafka.HeaderLineNumbers))
	require.Equal(t, []string{a.body.Errors[0].Error, a.body.Errors[1].Error}, strings.Split(header(m, kafka.HeaderErrors), "\n"))
	require.Equal(t, a.body.Errors[0].Error, header(m, kafka.HeaderError))
	require.Equal(t, "line", header(m, kafka.HeaderErrorField))
	require.Equal(t, "2", header(m, kafka.HeaderLineNumber))
	require.Equal(t, "3", header(m, kafka.HeaderRequestAccepted))
	require.Equal(t, "2", header(m, kafka.HeaderRequestRejected))
	require.Equal(t, Source, header(m, kafka.HeaderRejectedBy))
	require.NotEmpty(t, header(m, kafka.HeaderRejectedAt))
	require.Equal(t, "it-run", header(m, kafka.HeaderRunID))
	require.Equal(t, fmt.Sprint(sendTime), header(m, kafka.HeaderSendTime))
}

// TestIntegrationServeProvisionsTopics runs the whole command path (Serve) on
// the real broker with topics that do not exist yet.
func TestIntegrationServeProvisionsTopics(t *testing.T) {
	testutil.Integration(t)
	cfg := testConfig(t, testutil.KafkaBrokers())
	cfg.Listen = freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, cfg, zapLogger(t)) }()
	h := &harness{url: "http://" + cfg.Listen, client: &http.Client{Timeout: 30 * time.Second}}
	h.waitReady(t)
	a := h.post(t, valid1)
	require.Equal(t, http.StatusAccepted, a.status, a.raw)
	cancel()
	require.NoError(t, <-done)
	h.client.CloseIdleConnections()
	require.Len(t, consume(t, &cfg.Kafka, cfg.Kafka.Topics.Events, 1), 1)
}

// TestDisruptiveKafkaStopped stops the real broker under a running gateway:
// it must answer 503 quickly (no hang, no crash) while Kafka is down, and
// 202 again by itself once Kafka is back.
func TestDisruptiveKafkaStopped(t *testing.T) {
	testutil.Disruptive(t)
	script := testutil.InfraScript(t)
	infra := func(args ...string) {
		out, err := exec.Command(script, args...).CombinedOutput()
		require.NoError(t, err, string(out))
	}
	t.Cleanup(func() { infra("start", "kafka") }) // whatever happens, leave Kafka running

	cfg := testConfig(t, testutil.KafkaBrokers())
	cfg.ProduceTimeout = 3 * time.Second
	cfg.ReadyInterval = 300 * time.Millisecond
	cfg.ShutdownTimeout = 30 * time.Second
	h := startGateway(t, cfg, harnessOpts{})
	h.waitReady(t)
	require.Equal(t, http.StatusAccepted, h.post(t, valid1).status)

	infra("stop", "kafka")
	// Every answer comes within the produce timeout (plus slack) and is a
	// 503 with Retry-After, or a 202 from before the gateway noticed.
	saw503 := false
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; !saw503; i++ {
		require.True(t, time.Now().Before(deadline), "no 503 within 30s of stopping Kafka")
		start := time.Now()
		a := h.post(t, fmt.Sprintf("down-%d|dev-1|1472209316326|cat1|1|1", i))
		require.Less(t, time.Since(start), cfg.ProduceTimeout+2*time.Second, "request hung")
		require.Contains(t, []int{http.StatusAccepted, http.StatusServiceUnavailable}, a.status, a.raw)
		if a.status == http.StatusServiceUnavailable {
			saw503 = true
			require.NotEmpty(t, a.header.Get("Retry-After"))
			require.Zero(t, a.body.Accepted)
		}
	}
	// Once noticed, the answer is immediate.
	require.Eventually(t, func() bool {
		start := time.Now()
		a := h.post(t, valid2)
		return a.status == http.StatusServiceUnavailable && time.Since(start) < 500*time.Millisecond
	}, 15*time.Second, 100*time.Millisecond, "503 not immediate while Kafka is down")
	resp, err := h.client.Get(h.url + ReadyzPath)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)

	infra("start", "kafka")
	var a answer
	require.Eventually(t, func() bool {
		a = h.post(t, "back|dev-7|1472209316326|cat1|1|1")
		return a.status == http.StatusAccepted
	}, 120*time.Second, 250*time.Millisecond, "no 202 after Kafka came back")
	require.Equal(t, 1, a.body.Accepted)
	var found bool
	for _, m := range consumeAvailable(t, &cfg.Kafka, cfg.Kafka.Topics.Events) {
		found = found || string(m.Value) == "back|dev-7|1472209316326|cat1|1|1"
	}
	require.True(t, found, "the event accepted after the restart is on the events topic")
}
