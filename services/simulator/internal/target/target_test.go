package target

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/boontadata/boontadata/pkg/event"
	"github.com/boontadata/boontadata/pkg/ingestapi"
	"github.com/boontadata/boontadata/pkg/kafka"

	"github.com/boontadata/boontadata/services/simulator/internal/gen"
)

func TestMain(m *testing.M) {
	// sarama's metrics registry starts a process-wide ticker that never stops.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/rcrowley/go-metrics.(*meterArbiter).tick"))
}

// acks collects acknowledged sends.
type acks struct {
	mu    sync.Mutex
	sends []gen.Send
}

func (a *acks) ack(s []gen.Send) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.sends = append(a.sends, s...)
	return nil
}

func (a *acks) ids() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, s := range a.sends {
		out = append(out, s.Event.MessageID)
	}
	return out
}

func sends(n int) []gen.Send {
	out := make([]gen.Send, n)
	for i := range out {
		out[i] = gen.Send{
			Device: int32(i % 2), SendSeq: int64(i), Slot: 1_767_225_600_000 + int64(i), Category: 0,
			Event: event.Event{MessageID: fmt.Sprintf("d%d-%d", i%2, i), DeviceID: fmt.Sprintf("d%d", i%2),
				DeviceTime: 1_767_225_600_000 + int64(i), Category: "cat-1", Measure1: int64(i), Measure2: 1.5},
		}
	}
	return out
}

func fastRetry() Retry { return Retry{Initial: time.Millisecond, Max: 5 * time.Millisecond} }

func httpOptions(url string) HTTPOptions {
	return HTTPOptions{URL: url, RunID: "run-1", BatchSize: 3, Concurrency: 2, Timeout: 5 * time.Second,
		Now: time.Now, Retry: fastRetry()}
}

func accept(w http.ResponseWriter, r *http.Request) []string {
	body, _ := io.ReadAll(r.Body)
	lines := strings.Split(string(body), "\n")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	fmt.Fprintf(w, `{"accepted":%d,"rejected":0}`, len(lines))
	return lines
}

func TestHTTPRetriesUnavailableThenAcknowledges(t *testing.T) {
	tests := []struct {
		name   string
		status int
		header string
	}{
		{"503", http.StatusServiceUnavailable, ""},
		{"429 with Retry-After", http.StatusTooManyRequests, "1"},
		{"502", http.StatusBadGateway, ""},
		{"409 (an earlier attempt in progress)", http.StatusConflict, "1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			var mu sync.Mutex
			var got, keys []string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				keys = append(keys, r.Header.Get(ingestapi.HeaderIdempotencyKey))
				mu.Unlock()
				require.Equal(t, ingestapi.EventsPath, r.URL.Path)
				require.Equal(t, "run-1", r.Header.Get(ingestapi.HeaderRunID))
				require.Equal(t, ingestapi.ContentTypeText, r.Header.Get("Content-Type"))
				require.Equal(t, "1767225600002", r.Header.Get(ingestapi.HeaderSendTime), "fast mode: the batch's last slot")
				if calls.Add(1) <= 2 {
					if tt.header != "" {
						w.Header().Set("Retry-After", tt.header)
					}
					w.WriteHeader(tt.status)
					return
				}
				lines := accept(w, r)
				mu.Lock()
				got = append(got, lines...)
				mu.Unlock()
			}))
			defer srv.Close()
			var a acks
			h := NewHTTP(httpOptions(srv.URL), a.ack, zaptest.NewLogger(t))
			ss := sends(3)
			for i := range ss {
				require.NoError(t, h.Send(context.Background(), &ss[i]))
			}
			require.NoError(t, h.Close(context.Background()))
			require.Equal(t, int32(3), calls.Load())
			require.Equal(t, []string{"d0-0", "d1-1", "d0-2"}, a.ids())
			require.Len(t, got, 3)
			require.Equal(t, string(event.AppendFormat(nil, ss[0].Event)), got[0])
			require.Equal(t, int64(2), h.Stats().Failures)
			require.Zero(t, h.Stats().Pending)
			for _, s := range a.sends {
				require.Equal(t, int64(1_767_225_600_002), s.SendTime)
			}
			require.Len(t, keys, 3)
			require.Regexp(t, `^[0-9a-f]{32}$`, keys[0])
			require.Equal(t, []string{keys[0], keys[0], keys[0]}, keys, "every attempt of the batch carries its Idempotency-Key")
		})
	}
}

func TestHTTPBatchesHaveTheirOwnKeys(t *testing.T) {
	var mu sync.Mutex
	keys := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		keys[r.Header.Get(ingestapi.HeaderIdempotencyKey)] = true
		mu.Unlock()
		accept(w, r)
	}))
	defer srv.Close()
	var a acks
	h := NewHTTP(httpOptions(srv.URL), a.ack, zaptest.NewLogger(t))
	ss := sends(12)
	for i := range ss {
		require.NoError(t, h.Send(context.Background(), &ss[i]))
	}
	require.NoError(t, h.Close(context.Background()))
	require.Len(t, a.sends, 12)
	require.Len(t, keys, 4, "four batches of three, four keys: a new batch is a new request")
}

func TestHTTPConnectionRefusedIsRetriedUntilTimeout(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more
	var a acks
	opts := httpOptions(url)
	opts.Retry.Timeout = 50 * time.Millisecond
	h := NewHTTP(opts, a.ack, zaptest.NewLogger(t))
	ss := sends(3)
	for i := range ss {
		require.NoError(t, h.Send(context.Background(), &ss[i]))
	}
	err := h.Close(context.Background())
	require.ErrorIs(t, err, ErrGaveUp)
	require.Empty(t, a.ids(), "nothing was acknowledged")
	require.Greater(t, h.Stats().Failures, int64(1))
}

func TestHTTPRejectedLinesAreLeftOut(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprint(w, `{"accepted":2,"rejected":1,"errors":[{"line":2,"error":"measure2: not a decimal number"}]}`)
	}))
	defer srv.Close()
	var a acks
	h := NewHTTP(httpOptions(srv.URL), a.ack, zaptest.NewLogger(t))
	ss := sends(3)
	for i := range ss {
		require.NoError(t, h.Send(context.Background(), &ss[i]))
	}
	require.NoError(t, h.Close(context.Background()))
	require.Equal(t, []string{"d0-0", "d0-2"}, a.ids())
}

func TestHTTPFatalAnswers(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
	}{
		{"unauthorized", http.StatusUnauthorized, `{"error":"missing bearer token"}`},
		{"unexplained rejections", http.StatusAccepted, `{"accepted":2,"rejected":1}`},
		{"unreadable", http.StatusAccepted, `not json`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				fmt.Fprint(w, tt.body)
			}))
			defer srv.Close()
			var a acks
			h := NewHTTP(httpOptions(srv.URL), a.ack, zaptest.NewLogger(t))
			ss := sends(6)
			for i := range ss {
				if err := h.Send(context.Background(), &ss[i]); err != nil {
					require.ErrorIs(t, err, ErrRejected)
					break
				}
			}
			require.ErrorIs(t, h.Close(context.Background()), ErrRejected)
			require.Empty(t, a.ids())
		})
	}
}

func TestHTTPLiveLingerSendsPartialBatches(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		sendTime, err := strconv.ParseInt(r.Header.Get(ingestapi.HeaderSendTime), 10, 64)
		require.NoError(t, err)
		require.InDelta(t, time.Now().UnixMilli(), sendTime, 5000, "live mode: wall clock")
		accept(w, r)
	}))
	defer srv.Close()
	var a acks
	opts := httpOptions(srv.URL)
	opts.BatchSize, opts.Live, opts.Linger = 100, true, 10*time.Millisecond
	h := NewHTTP(opts, a.ack, zaptest.NewLogger(t))
	ss := sends(2)
	for i := range ss {
		require.NoError(t, h.Send(context.Background(), &ss[i]))
	}
	require.Eventually(t, func() bool { return len(a.ids()) == 2 }, 5*time.Second, 5*time.Millisecond)
	require.NoError(t, h.Close(context.Background()))
	require.Equal(t, int32(1), calls.Load())
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	require.Equal(t, 3*time.Second, retryAfter("3", now))
	require.Equal(t, time.Duration(0), retryAfter("", now))
	require.Equal(t, time.Duration(0), retryAfter("soon", now))
	require.Equal(t, 10*time.Second, retryAfter(now.Add(10*time.Second).Format(http.TimeFormat), now))
}

func TestRetryDelayGrowsToTheMax(t *testing.T) {
	r := Retry{Initial: 100 * time.Millisecond, Max: time.Second}
	require.InDelta(t, float64(100*time.Millisecond), float64(r.delay(1)), float64(20*time.Millisecond))
	require.InDelta(t, float64(400*time.Millisecond), float64(r.delay(3)), float64(80*time.Millisecond))
	require.InDelta(t, float64(time.Second), float64(r.delay(30)), float64(200*time.Millisecond))
}

func TestKafkaProducesKeyedRecordsWithHeaders(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(4, "events"))
	require.NoError(t, err)
	defer cluster.Close()
	k, a, brokers, sc := newKafkaTarget(t, cluster, []string{"d0", "d1"}, 16, fastRetry())
	ss := sends(100)
	for i := range ss {
		require.NoError(t, k.Send(context.Background(), &ss[i]))
	}
	require.NoError(t, k.Close(context.Background()))
	require.Len(t, a.ids(), 100)
	require.Zero(t, k.Stats().Pending)

	got := readBack(t, brokers, sc, "events")
	require.Len(t, got, 100)
	m := got["d1-7"]
	require.Equal(t, []byte("d1"), m.Key)
	require.Equal(t, string(event.AppendFormat(nil, ss[7].Event)), string(m.Value))
	var hs []*sarama.RecordHeader
	hs = append(hs, m.Headers...)
	require.Equal(t, []byte("run-1"), kafka.Header(hs, kafka.HeaderRunID))
	require.Equal(t, []byte(SourceSimulator), kafka.Header(hs, kafka.HeaderSource))
	st, ok := kafka.HeaderInt64(hs, kafka.HeaderSendTime)
	require.True(t, ok)
	require.Equal(t, ss[7].Slot, st, "fast mode: send time is the slot")
	it, ok := kafka.HeaderInt64(hs, kafka.HeaderIngestTime)
	require.True(t, ok)
	require.Equal(t, m.Timestamp.UnixMilli(), it)
}

// newKafkaTarget starts a Kafka target on cluster for topic events, run
// run-1, with the acknowledgements collected in a.
func newKafkaTarget(t *testing.T, cluster *kfake.Cluster, devices []string, maxPending int, retry Retry) (*Kafka, *acks, []string, *sarama.Config) {
	t.Helper()
	kc := kafka.DefaultConfig()
	kc.Brokers = cluster.ListenAddrs()
	sc, err := kc.Sarama("simulator-test")
	require.NoError(t, err)
	Tune(sc)
	a := &acks{}
	k, err := NewKafka(context.Background(), kc.BrokerList(), sc, KafkaOptions{
		Topic: "events", RunID: "run-1", DeviceIDs: devices, MaxPending: maxPending, Now: time.Now, Retry: retry,
	}, a.ack, zaptest.NewLogger(t))
	require.NoError(t, err)
	return k, a, kc.BrokerList(), sc
}

// readBack reads every record of topic, by message id.
func readBack(t *testing.T, brokers []string, sc *sarama.Config, topic string) map[string]*sarama.ConsumerMessage {
	t.Helper()
	consumer, err := sarama.NewConsumer(brokers, sc)
	require.NoError(t, err)
	defer func() { require.NoError(t, consumer.Close()) }()
	parts, err := consumer.Partitions(topic)
	require.NoError(t, err)
	got := map[string]*sarama.ConsumerMessage{}
	for _, p := range parts {
		pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
		require.NoError(t, err)
		hwm := pc.HighWaterMarkOffset()
		for n := int64(0); n < hwm; n++ {
			m := <-pc.Messages()
			var v event.View
			require.NoError(t, event.ParseView(m.Value, &v))
			id := string(v.MessageID)
			require.NotContains(t, got, id, "written once")
			got[id] = m
		}
		require.NoError(t, pc.Close())
	}
	return got
}

// TestKafkaRetriesRefusedBatchesAndLostConnections makes the broker refuse
// the first produce request (not the leader) and drop the connection on the
// second: every send is still acknowledged once and written once.
func TestKafkaRetriesRefusedBatchesAndLostConnections(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(4, "events"))
	require.NoError(t, err)
	defer cluster.Close()
	var produces atomic.Int32
	cluster.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		switch produces.Add(1) {
		case 1:
			pr := req.(*kmsg.ProduceRequest)
			resp := pr.ResponseKind().(*kmsg.ProduceResponse)
			for _, rt := range pr.Topics {
				st := kmsg.NewProduceResponseTopic()
				st.Topic = rt.Topic
				for _, rp := range rt.Partitions {
					sp := kmsg.NewProduceResponseTopicPartition()
					sp.Partition = rp.Partition
					sp.ErrorCode = kerr.NotLeaderForPartition.Code
					st.Partitions = append(st.Partitions, sp)
				}
				resp.Topics = append(resp.Topics, st)
			}
			return resp, nil, true
		case 2:
			return nil, errors.New("connection lost"), true
		}
		return nil, nil, false
	})
	k, a, brokers, sc := newKafkaTarget(t, cluster, []string{"d0", "d1", "d2"}, 64, fastRetry())
	ss := sends(300)
	for i := range ss {
		require.NoError(t, k.Send(context.Background(), &ss[i]))
	}
	require.NoError(t, k.Close(context.Background()))
	require.Len(t, a.ids(), 300)
	require.GreaterOrEqual(t, k.Stats().Failures, int64(2))
	require.GreaterOrEqual(t, produces.Load(), int32(3))
	require.Len(t, readBack(t, brokers, sc, "events"), 300)
}

// TestKafkaGivesUpAfterTheRetryTimeout: a broker that refuses every batch
// makes Send fail with ErrGaveUp once the retry timeout has passed, and
// Close reports the sends that were never acknowledged.
func TestKafkaGivesUpAfterTheRetryTimeout(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "events"))
	require.NoError(t, err)
	defer cluster.Close()
	cluster.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		return nil, errors.New("broker unwell"), true
	})
	retry := fastRetry()
	retry.Timeout = 200 * time.Millisecond
	k, a, _, _ := newKafkaTarget(t, cluster, []string{"d0", "d1"}, 4, retry)
	ss := sends(100)
	var sendErr error
	for i := range ss {
		if sendErr = k.Send(context.Background(), &ss[i]); sendErr != nil {
			break
		}
	}
	require.ErrorIs(t, sendErr, ErrGaveUp)
	require.ErrorIs(t, k.Close(context.Background()), ErrGaveUp)
	require.Empty(t, a.ids())
}
