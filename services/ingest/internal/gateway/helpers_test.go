package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/boontadata/boontadata/pkg/ingestapi"
	"github.com/boontadata/boontadata/pkg/kafka"
	"github.com/boontadata/boontadata/pkg/testutil"
)

// testConfig returns a gateway configuration on brokers with topics of its own.
func testConfig(tb testing.TB, brokers []string) Config {
	tb.Helper()
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.Kafka.Brokers = brokers
	prefix := testutil.Unique("ingest-test-")
	cfg.Kafka.Topics = kafka.PrefixedTopics(prefix)
	cfg.Kafka.Partitions = 4
	cfg.Kafka.DialTimeout = 3 * time.Second
	cfg.ReadyInterval = 200 * time.Millisecond
	cfg.ProduceTimeout = 5 * time.Second
	cfg.ShutdownTimeout = 10 * time.Second
	require.NoError(tb, cfg.Validate())
	return cfg
}

// newKfake starts a one-broker Kafka fake that sarama talks to as to Kafka.
func newKfake(tb testing.TB) (*kfake.Cluster, []string) {
	tb.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	require.NoError(tb, err)
	tb.Cleanup(c.Close)
	return c, c.ListenAddrs()
}

// harness runs a gateway on a loopback port for one test.
type harness struct {
	cfg    Config
	url    string
	client *http.Client
	cancel context.CancelFunc
	done   chan error
	stop   sync.Once
}

type harnessOpts struct {
	checker Checker              // default: a KafkaChecker of cfg
	ticker  Ticker               // default: the system's
	clock   Clock                // default: the system's
	prod    sarama.AsyncProducer // default: a producer of cfg
	endRun  func(ctx context.Context, runID string) (int, error)
	retries *prometheus.CounterVec // default: a counter of its own
}

// startGateway provisions the topics of cfg, starts a gateway and stops it
// at the end of the test, requiring a clean stop.
func startGateway(tb testing.TB, cfg Config, o harnessOpts) *harness {
	tb.Helper()
	log := zaptest.NewLogger(tb)
	if o.prod == nil {
		require.NoError(tb, kafka.Provision(context.Background(), &cfg.Kafka, "ingest-test-setup", log))
		sc, err := ProducerConfig(&cfg.Kafka)
		require.NoError(tb, err)
		o.prod, err = sarama.NewAsyncProducer(cfg.Kafka.BrokerList(), sc)
		require.NoError(tb, err)
	}
	if o.checker == nil {
		kc, err := NewKafkaChecker(&cfg.Kafka, 2*time.Second)
		require.NoError(tb, err)
		tb.Cleanup(func() { require.NoError(tb, kc.Close()) })
		o.checker = kc
	}
	g, err := New(cfg, Deps{Producer: o.prod, Checker: o.checker, Log: log, Clock: o.clock, Ticker: o.ticker, EndOfRun: o.endRun, Retries: o.retries})
	require.NoError(tb, err)
	ln, err := net.Listen("tcp", cfg.Listen)
	require.NoError(tb, err)
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{
		cfg: cfg, url: "http://" + ln.Addr().String(), cancel: cancel, done: make(chan error, 1),
		client: &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{}},
	}
	go func() { h.done <- g.Run(ctx, ln) }()
	tb.Cleanup(func() {
		require.NoError(tb, h.shutdown())
		h.client.CloseIdleConnections()
	})
	return h
}

// shutdown stops the gateway and returns what Run returned.
func (h *harness) shutdown() error {
	var err error
	h.stop.Do(func() {
		h.cancel()
		err = <-h.done
	})
	return err
}

// waitReady polls /readyz until it answers 200.
func (h *harness) waitReady(tb testing.TB) {
	tb.Helper()
	require.Eventually(tb, func() bool {
		resp, err := h.client.Get(h.url + ReadyzPath)
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 30*time.Second, 20*time.Millisecond, "gateway never ready")
}

type answer struct {
	status int
	header http.Header
	body   ingestapi.Response
	raw    string
}

// post sends body to /v1/events with the given headers ("Content-Type"
// defaults to text/plain).
func (h *harness) post(tb testing.TB, body string, headers ...string) answer {
	tb.Helper()
	req, err := http.NewRequest(http.MethodPost, h.url+ingestapi.EventsPath, strings.NewReader(body))
	require.NoError(tb, err)
	req.Header.Set("Content-Type", ingestapi.ContentTypeText)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return h.do(tb, req)
}

func (h *harness) do(tb testing.TB, req *http.Request) answer {
	tb.Helper()
	resp, err := h.client.Do(req)
	require.NoError(tb, err)
	defer func() { require.NoError(tb, resp.Body.Close()) }()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(tb, err)
	a := answer{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		require.NoError(tb, json.NewDecoder(bytes.NewReader(raw)).Decode(&a.body), string(raw))
	}
	return a
}

// consume reads n records of topic from the beginning of every partition.
func consume(tb testing.TB, cfg *kafka.Config, topic string, n int) []*sarama.ConsumerMessage {
	tb.Helper()
	sc, err := cfg.Sarama("ingest-test-consumer")
	require.NoError(tb, err)
	c, err := sarama.NewConsumer(cfg.BrokerList(), sc)
	require.NoError(tb, err)
	defer func() { require.NoError(tb, c.Close()) }()
	parts, err := c.Partitions(topic)
	require.NoError(tb, err)
	out := make(chan *sarama.ConsumerMessage)
	done := make(chan struct{})
	var pcs []sarama.PartitionConsumer
	for _, p := range parts {
		pc, err := c.ConsumePartition(topic, p, sarama.OffsetOldest)
		require.NoError(tb, err)
		pcs = append(pcs, pc)
		go func() {
			for m := range pc.Messages() {
				select {
				case out <- m:
				case <-done:
				}
			}
		}()
	}
	var msgs []*sarama.ConsumerMessage
	deadline := time.After(60 * time.Second)
	for len(msgs) < n {
		select {
		case m := <-out:
			msgs = append(msgs, m)
		case <-deadline:
			tb.Fatalf("consumed %d of %d records of %s", len(msgs), n, topic)
		}
	}
	close(done)
	for _, pc := range pcs {
		require.NoError(tb, pc.Close())
	}
	return msgs
}

// header returns the value of a record header as a string.
func header(m *sarama.ConsumerMessage, key string) string {
	return string(kafka.Header(m.Headers, key))
}

// consumeAvailable reads every record of topic up to the current end of each
// partition.
func consumeAvailable(tb testing.TB, cfg *kafka.Config, topic string) []*sarama.ConsumerMessage {
	tb.Helper()
	sc, err := cfg.Sarama("ingest-test-consumer")
	require.NoError(tb, err)
	client, err := sarama.NewClient(cfg.BrokerList(), sc)
	require.NoError(tb, err)
	defer func() { require.NoError(tb, client.Close()) }()
	c, err := sarama.NewConsumerFromClient(client)
	require.NoError(tb, err)
	defer func() { require.NoError(tb, c.Close()) }()
	parts, err := client.Partitions(topic)
	require.NoError(tb, err)
	var out []*sarama.ConsumerMessage
	for _, p := range parts {
		end, err := client.GetOffset(topic, p, sarama.OffsetNewest)
		require.NoError(tb, err)
		first, err := client.GetOffset(topic, p, sarama.OffsetOldest)
		require.NoError(tb, err)
		if end <= first {
			continue
		}
		pc, err := c.ConsumePartition(topic, p, first)
		require.NoError(tb, err)
		timeout := time.After(60 * time.Second)
		for done := false; !done; {
			select {
			case m := <-pc.Messages():
				out = append(out, m)
				done = m.Offset >= end-1
			case <-timeout:
				tb.Fatalf("partition %d of %s: not read up to offset %d", p, topic, end)
			}
		}
		require.NoError(tb, pc.Close())
	}
	return out
}

// freeAddr returns a loopback address with a port free right now.
func freeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	addr := ln.Addr().String()
	require.NoError(tb, ln.Close())
	return addr
}

func zapLogger(tb testing.TB) *zap.Logger { return zaptest.NewLogger(tb) }
