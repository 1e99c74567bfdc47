package simulator

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/boontadata/boontadata/pkg/cassandra"
	"github.com/boontadata/boontadata/pkg/kafka"
	"github.com/boontadata/boontadata/pkg/testutil"

	"github.com/boontadata/boontadata/services/simulator/internal/gen"
)

// integrationConfig is a small seeded fast run against the real servers,
// with topics of its own; runs share the keyspace, partitioned by run id.
func integrationConfig(t *testing.T) Config {
	t.Helper()
	testutil.Integration(t)
	c := DefaultConfig()
	c.Clock, c.StartTime, c.Seed = ClockFast, "2026-01-01T00:00:00Z", 20260101
	c.Devices, c.Rate, c.Count = 5, 200, 20_000
	c.Progress = ProgressOff
	c.Kafka.Brokers = testutil.KafkaBrokers()
	prefix := testutil.Unique("it-sim-")
	c.Kafka.Topics = kafka.PrefixedTopics(prefix)
	c.Kafka.Partitions = 4
	c.Cassandra.Hosts = testutil.CassandraHosts()
	return c
}

// expectedCounts generates the same run without sending it.
func expectedCounts(t *testing.T, c Config) gen.Counts {
	t.Helper()
	start, err := ParseStartTime(c.StartTime)
	require.NoError(t, err)
	p, err := c.Params(start)
	require.NoError(t, err)
	f, err := gen.NewFleet(p)
	require.NoError(t, err)
	var counts gen.Counts
	var s gen.Send
	for f.Next(&s) {
		counts[s.Pattern]++
	}
	return counts
}

type aggKey struct {
	device, category string
	start            int64
}

type aggVal struct {
	end   int64
	m1    int64
	m2    float64
	count int64
}

// recompute aggregates raw_events rows again, independently of package
// truth: an exact big.Float sum of measure2, rounded once.
type recompute struct {
	byDevice, bySend map[aggKey]*aggBig
}

type aggBig struct {
	m1    int64
	m2    *big.Float
	count int64
}

func (r *recompute) add(m map[aggKey]*aggBig, k aggKey, m1 int64, m2 float64) {
	a := m[k]
	if a == nil {
		a = &aggBig{m2: new(big.Float).SetPrec(4096)}
		m[k] = a
	}
	a.m1 += m1
	a.m2.Add(a.m2, new(big.Float).SetFloat64(m2))
	a.count++
}

func (r *recompute) result(m map[aggKey]*aggBig, windowMs int64) map[aggKey]aggVal {
	out := map[aggKey]aggVal{}
	for k, a := range m {
		f, _ := a.m2.Float64() // nearest, ties to even
		out[k] = aggVal{end: k.start + windowMs, m1: a.m1, m2: f, count: a.count}
	}
	return out
}

func floorTo(t, size int64) int64 {
	s := t - t%size
	if t%size < 0 {
		s -= size
	}
	return s
}

type rawCheck struct {
	counts   map[string]int64
	sends    int64
	byDevice map[aggKey]aggVal
	bySend   map[aggKey]aggVal
	devices  []string
}

// readRaw reads raw_events of every device of the run back and recomputes
// the truth from them.
func readRaw(t *testing.T, ctx context.Context, s *gocql.Session, runID string, windowMs int64, contiguous bool) rawCheck {
	t.Helper()
	rc := rawCheck{counts: map[string]int64{}}
	iter := s.Query(`SELECT device_id FROM run_devices WHERE run_id = ?`, runID).IterContext(ctx)
	var dev string
	for iter.Scan(&dev) {
		rc.devices = append(rc.devices, dev)
	}
	require.NoError(t, iter.Close())
	r := &recompute{byDevice: map[aggKey]*aggBig{}, bySend: map[aggKey]*aggBig{}}
	for _, dev := range rc.devices {
		iter := s.Query(`SELECT send_seq, message_id, device_time, send_time, category, measure1, measure2, pattern
FROM raw_events WHERE run_id = ? AND device_id = ?`, runID, dev).IterContext(ctx)
		var (
			seq, m1              int64
			msg, cat, pattern    string
			deviceTime, sendTime time.Time
			m2                   float64
			expectSeq            int64
		)
		for iter.Scan(&seq, &msg, &deviceTime, &sendTime, &cat, &m1, &m2, &pattern) {
			if contiguous {
				require.Equal(t, expectSeq, seq, "send_seq of device %s has a gap", dev)
			}
			require.GreaterOrEqual(t, seq, expectSeq, "send_seq of device %s goes back", dev)
			expectSeq = seq + 1
			require.True(t, strings.HasPrefix(msg, dev+"-"), "message id %s of device %s", msg, dev)
			rc.counts[pattern]++
			rc.sends++
			if pattern == gen.Resend.String() {
				continue
			}
			r.add(r.byDevice, aggKey{dev, cat, floorTo(deviceTime.UnixMilli(), windowMs)}, m1, m2)
			r.add(r.bySend, aggKey{dev, cat, floorTo(sendTime.UnixMilli(), windowMs)}, m1, m2)
		}
		require.NoError(t, iter.Close())
	}
	rc.byDevice, rc.bySend = r.result(r.byDevice, windowMs), r.result(r.bySend, windowMs)
	return rc
}

func readTruth(t *testing.T, ctx context.Context, s *gocql.Session, table, runID string, devices []string) map[aggKey]aggVal {
	t.Helper()
	out := map[aggKey]aggVal{}
	for _, dev := range devices {
		iter := s.Query(fmt.Sprintf(`SELECT category, window_start, window_end, m1_sum, m2_sum, event_count
FROM %s WHERE run_id = ? AND device_id = ?`, table), runID, dev).IterContext(ctx)
		var (
			cat        string
			start, end time.Time
			v          aggVal
		)
		for iter.Scan(&cat, &start, &end, &v.m1, &v.m2, &v.count) {
			v.end = end.UnixMilli()
			out[aggKey{dev, cat, start.UnixMilli()}] = v
		}
		require.NoError(t, iter.Close())
	}
	return out
}

type runRow struct {
	status                    string
	seed                      int64
	devices                   int
	windowMs, resendHorizonMs int64
	counts                    map[string]int64
	flags                     map[string]string
	ended                     time.Time
}

func readRun(t *testing.T, ctx context.Context, s *gocql.Session, runID string) runRow {
	t.Helper()
	var r runRow
	require.NoError(t, s.Query(`SELECT status, seed, devices, window_ms, resend_horizon_ms, counts, flags, ended_at FROM runs WHERE run_id = ?`, runID).
		ScanContext(ctx, &r.status, &r.seed, &r.devices, &r.windowMs, &r.resendHorizonMs, &r.counts, &r.flags, &r.ended))
	return r
}

func session(t *testing.T, c Config) *gocql.Session {
	t.Helper()
	s, err := cassandra.NewSession(&c.Cassandra, zaptest.NewLogger(t), true)
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return s
}

// topicRecords reads every partition of the topic (fresh for the test) to
// its end and returns the number of events; it requires that each partition
// ends with exactly one end-of-run marker of runID, after every event.
func topicRecords(t *testing.T, c Config, runID string) int64 {
	t.Helper()
	sc, err := c.Kafka.Sarama("it-sim-check")
	require.NoError(t, err)
	client, err := sarama.NewClient(c.Kafka.BrokerList(), sc)
	require.NoError(t, err)
	defer func() { require.NoError(t, client.Close()) }()
	consumer, err := sarama.NewConsumerFromClient(client)
	require.NoError(t, err)
	defer func() { require.NoError(t, consumer.Close()) }()
	parts, err := client.Partitions(c.Kafka.Topics.Events)
	require.NoError(t, err)
	var n int64
	for _, p := range parts {
		end, err := client.GetOffset(c.Kafka.Topics.Events, p, sarama.OffsetNewest)
		require.NoError(t, err)
		require.Positive(t, end, "partition %d has at least its end-of-run marker", p)
		pc, err := consumer.ConsumePartition(c.Kafka.Topics.Events, p, sarama.OffsetOldest)
		require.NoError(t, err)
		for m := range pc.Messages() {
			run, marker := kafka.EndOfRun(m.Headers)
			if m.Offset == end-1 {
				require.True(t, marker, "partition %d ends with the end-of-run marker", p)
				require.Equal(t, runID, run)
				break
			}
			require.False(t, marker, "partition %d: a marker before offset %d", p, m.Offset)
			n++
		}
		require.NoError(t, pc.Close())
	}
	return n
}

func TestIntegrationSeededRunToKafkaRecordsTheTruth(t *testing.T) {
	c := integrationConfig(t)
	c.Target = TargetKafka
	ctx := context.Background()
	var stdout bytes.Buffer
	res, err := Run(ctx, c, Deps{Log: zaptest.NewLogger(t), Stdout: &stdout, Stderr: io.Discard})
	require.NoError(t, err)
	require.Equal(t, StatusDone, res.Status)

	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	require.Equal(t, res.RunID, lines[len(lines)-1], "the run id is the last line of stdout")

	want := expectedCounts(t, c)
	require.Equal(t, want, res.Counts, "counts by pattern of a dry generation with the same seed")
	require.Equal(t, c.Count, want.Total())

	s := session(t, c)
	run := readRun(t, ctx, s, res.RunID)
	require.Equal(t, StatusDone, run.status)
	require.Equal(t, want.Map(), run.counts)
	require.Equal(t, c.Seed, run.seed)
	require.Equal(t, c.Devices, run.devices)
	require.Equal(t, int64(5000), run.windowMs)
	require.Equal(t, int64(30_000), run.resendHorizonMs)
	require.Equal(t, "kafka", run.flags["target"])
	require.False(t, run.ended.IsZero())

	raw := readRaw(t, ctx, s, res.RunID, run.windowMs, true)
	require.Len(t, raw.devices, c.Devices)
	require.Equal(t, c.Count, raw.sends, "raw_events holds every send")
	require.Equal(t, want.Map(), withZeros(raw.counts))
	require.Equal(t, raw.byDevice, readTruth(t, ctx, s, "truth_by_device_time", res.RunID, raw.devices),
		"truth by device time equals a recomputation from raw_events")
	require.Equal(t, raw.bySend, readTruth(t, ctx, s, "truth_by_send_time", res.RunID, raw.devices),
		"truth by send time equals a recomputation from raw_events")
	require.Equal(t, res.TruthRows[0], len(raw.byDevice))

	var sends, distinct int64
	iter := s.Query(`SELECT sends, distinct_events FROM simulator_devices WHERE run_id = ?`, res.RunID).IterContext(ctx)
	var sd, dd int64
	for iter.Scan(&sd, &dd) {
		sends += sd
		distinct += dd
	}
	require.NoError(t, iter.Close())
	require.Equal(t, c.Count, sends)
	require.Equal(t, c.Count-want[gen.Resend], distinct)

	require.Equal(t, c.Count, topicRecords(t, c, res.RunID), "the topic holds one record per send, then the end-of-run markers")
	require.Equal(t, c.Kafka.Partitions, res.EndMarkers)
}

func withZeros(m map[string]int64) map[string]int64 {
	out := (&gen.Counts{}).Map()
	for k, v := range m {
		out[k] = v
	}
	return out
}

// TestIntegrationHTTPTargetRetriesAndRecordsDefects runs through a stand-in
// gateway that is unavailable at first, recording only the defects.
func TestIntegrationHTTPTargetRetriesAndRecordsDefects(t *testing.T) {
	c := integrationConfig(t)
	c.Count, c.BatchSize, c.Record = 5_000, 250, RecordDefects
	var calls, accepted, ends atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if endOfRun(w, r, &ends) {
			return
		}
		if calls.Add(1) <= 3 {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		body, _ := io.ReadAll(r.Body)
		n := len(strings.Split(string(body), "\n"))
		accepted.Add(int64(n))
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprintf(w, `{"accepted":%d,"rejected":0}`, n)
	}))
	defer srv.Close()
	c.IngestURL = srv.URL
	ctx := context.Background()
	res, err := Run(ctx, c, Deps{Log: zaptest.NewLogger(t), Stdout: io.Discard, Stderr: io.Discard})
	require.NoError(t, err)
	require.Equal(t, c.Count, accepted.Load())
	require.Equal(t, int64(1), ends.Load(), "one end-of-run call after the events")
	require.Equal(t, 4, res.EndMarkers)
	want := expectedCounts(t, c)
	require.Equal(t, want, res.Counts)

	s := session(t, c)
	run := readRun(t, ctx, s, res.RunID)
	require.Equal(t, StatusDone, run.status)
	require.Equal(t, want.Map(), run.counts)
	raw := readRaw(t, ctx, s, res.RunID, run.windowMs, false)
	require.Equal(t, c.Count-want[gen.Normal], raw.sends, "only defects are recorded")
	require.Zero(t, raw.counts[gen.Normal.String()])
	truth := readTruth(t, ctx, s, "truth_by_device_time", res.RunID, raw.devices)
	var total int64
	for _, v := range truth {
		total += v.count
	}
	require.Equal(t, c.Count-want[gen.Resend], total, "the truth counts every distinct message")
}

// TestIntegrationLiveRunIsPacedAndInterruptible runs on the wall clock and
// is interrupted half-way: what was acknowledged is recorded.
func TestIntegrationLiveRunIsPacedAndInterruptible(t *testing.T) {
	c := integrationConfig(t)
	c.Clock, c.StartTime = ClockLive, ""
	c.Count, c.Duration, c.Rate, c.Devices = 0, 10*time.Second, 50, 4
	c.BatchSize, c.BatchLinger = 1000, 50*time.Millisecond
	var accepted, ends atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if endOfRun(w, r, &ends) {
			return
		}
		body, _ := io.ReadAll(r.Body)
		n := len(strings.Split(string(body), "\n"))
		accepted.Add(int64(n))
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprintf(w, `{"accepted":%d,"rejected":0}`, n)
	}))
	defer srv.Close()
	c.IngestURL = srv.URL
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		time.Sleep(1500 * time.Millisecond)
		cancel()
	}()
	start := time.Now()
	res, err := Run(ctx, c, Deps{Log: zaptest.NewLogger(t), Stdout: io.Discard, Stderr: io.Discard})
	require.NoError(t, err)
	require.Less(t, time.Since(start), 8*time.Second)
	require.Equal(t, StatusInterrupted, res.Status)
	// About 1.5 s at 4 × 50 events/s.
	require.InDelta(t, 300, res.Counts.Total(), 150)
	require.Equal(t, accepted.Load(), res.Counts.Total())
	require.Equal(t, int64(1), ends.Load(), "an interrupted run still ends its input")

	s := session(t, c)
	r := readRun(t, context.Background(), s, res.RunID)
	require.Equal(t, StatusInterrupted, r.status)
	raw := readRaw(t, context.Background(), s, res.RunID, r.windowMs, true)
	require.Equal(t, res.Counts.Total(), raw.sends)
	for k := range raw.bySend {
		require.InDelta(t, start.UnixMilli(), k.start, float64(10*time.Second/time.Millisecond), "live send times are wall-clock times")
	}
}

// endOfRun answers the end-of-run call of a stand-in gateway (4 partitions)
// and counts it; it returns false for other requests.
func endOfRun(w http.ResponseWriter, r *http.Request, calls *atomic.Int64) bool {
	if !strings.HasPrefix(r.URL.Path, "/v1/runs/") || !strings.HasSuffix(r.URL.Path, "/end") {
		return false
	}
	calls.Add(1)
	w.WriteHeader(http.StatusAccepted)
	fmt.Fprintf(w, `{"run_id":%q,"partitions":4}`, strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/v1/runs/"), "/end"))
	return true
}
