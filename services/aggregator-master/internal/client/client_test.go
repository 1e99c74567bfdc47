package client

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/boontadata/boontadata/pkg/job"
	"github.com/boontadata/boontadata/services/aggregator-master/internal/api"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fakeMaster answers the API with canned documents and records requests.
func fakeMaster(t *testing.T) (*Client, func() []string) {
	t.Helper()
	var mu sync.Mutex
	var requests []string
	seen := func(r string) {
		mu.Lock()
		defer mu.Unlock()
		requests = append(requests, r)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/jobs", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		seen("POST /api/jobs " + string(b))
		var s job.Spec
		require.NoError(t, json.Unmarshal(b, &s))
		switch s.Preset {
		case "dstream":
			w.WriteHeader(http.StatusUnprocessableEntity)
			_ = json.NewEncoder(w).Encode(api.Error{Error: "micro-batch presets (dstream, structured) are not available yet"})
			return
		case "again":
			w.WriteHeader(http.StatusOK)
		default:
			w.WriteHeader(http.StatusCreated)
		}
		s = s.WithDefaults()
		s.CreatedAt = t0
		_ = json.NewEncoder(w).Encode(s)
	})
	mux.HandleFunc("GET /api/jobs/{id}", func(w http.ResponseWriter, r *http.Request) {
		seen("GET " + r.URL.Path)
		if r.PathValue("id") != "j1" {
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"error":"no such job: `+r.PathValue("id")+`"}`)
			return
		}
		_ = json.NewEncoder(w).Encode(detail())
	})
	mux.HandleFunc("POST /api/jobs/{id}/cancel", func(w http.ResponseWriter, r *http.Request) {
		seen("POST " + r.URL.Path)
		_ = json.NewEncoder(w).Encode(job.Spec{ID: r.PathValue("id"), Preset: "exact", State: job.StateCancelled})
	})
	mux.HandleFunc("GET /api/jobs", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(api.Jobs{Jobs: []api.Job{detail().Job}})
	})
	mux.HandleFunc("GET /api/presets", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(api.Presets{Presets: api.PresetTable()})
	})
	mux.HandleFunc("GET /broken", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
		_, _ = io.WriteString(w, "upstream gone\n")
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	c, err := New(srv.URL+"/", srv.Client())
	require.NoError(t, err)
	return c, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), requests...)
	}
}

func TestClient(t *testing.T) {
	c, seen := fakeMaster(t)
	ctx := context.Background()

	s, created, err := c.Submit(ctx, job.Spec{ID: "j1", Preset: "exact", Overrides: job.Overrides{Window: job.Duration(10 * time.Second)}})
	require.NoError(t, err)
	require.True(t, created)
	require.Equal(t, t0, s.CreatedAt)
	require.Contains(t, seen()[0], `"overrides":{"window":"10s"}`)

	_, created, err = c.Submit(ctx, job.Spec{ID: "j1", Preset: "again"})
	require.NoError(t, err)
	require.False(t, created)

	_, _, err = c.Submit(ctx, job.Spec{ID: "j1", Preset: "dstream"})
	var se *StatusError
	require.ErrorAs(t, err, &se)
	require.Equal(t, http.StatusUnprocessableEntity, se.Code)
	require.Contains(t, err.Error(), "not available yet")

	d, raw, err := c.Status(ctx, "j1")
	require.NoError(t, err)
	require.Equal(t, "j1", d.Spec.ID)
	require.True(t, json.Valid(raw))

	_, _, err = c.Status(ctx, "nope")
	require.True(t, IsNotFound(err))
	require.EqualError(t, err, "master answered 404 Not Found: no such job: nope")

	cancelled, err := c.Cancel(ctx, "j1")
	require.NoError(t, err)
	require.Contains(t, seen(), "POST /api/jobs/j1/cancel")
	require.Equal(t, job.StateCancelled, cancelled.State)

	jobs, err := c.List(ctx)
	require.NoError(t, err)
	require.Len(t, jobs, 1)

	ps, err := c.Presets(ctx)
	require.NoError(t, err)
	require.Len(t, ps, 7)

	_, _, err = c.do(ctx, http.MethodGet, "/broken", nil, nil)
	require.EqualError(t, err, "master answered 502 Bad Gateway: upstream gone")
}

func TestClientUnreachable(t *testing.T) {
	c, err := New("http://127.0.0.1:1", nil)
	require.NoError(t, err)
	_, err = c.List(context.Background())
	require.ErrorContains(t, err, "is 'aggregator-master serve' running?")
}

func TestNewRejectsBadURLs(t *testing.T) {
	for _, u := range []string{"", "127.0.0.1:8090", "ftp://host", "http://"} {
		_, err := New(u, nil)
		require.Error(t, err, u)
	}
}

func detail() api.JobDetail {
	spec := job.Spec{ID: "j1", RunID: "r1", Preset: "exact", State: job.StateRunning,
		StartOffsets: job.StartEarliest, OnOutOfRange: job.OutOfRangeFail, CreatedAt: t0, UpdatedAt: t0}
	pp := func(p int32, worker string, lag int64) api.Partition {
		return api.Partition{WorkerID: worker, PartitionProgress: job.PartitionProgress{
			Partition: p, NextOffset: 100, HighWatermark: 100 + lag, Lag: lag, CommittedOffset: 90,
			Watermark: t0.UnixMilli(), EventsPerSecond: 12.34, Records: 100, Accepted: 95, Late: 2, Duplicates: 3,
			OpenWindows: 4, ResultsWritten: 20}}
	}
	return api.JobDetail{
		Job: api.Job{
			Spec: spec, Semantics: api.PresetTable()[6],
			Progress: api.Progress{Workers: 2, Partitions: 3, Lag: 30, EventsPerSecond: 37.02, Watermark: t0.UnixMilli(),
				Records: 300, Accepted: 285, Late: 6, Duplicates: 9, ResultsWritten: 60, OpenWindows: 12,
				LastReport: t0.Add(-time.Second),
				Errors:     []api.WorkerError{{WorkerID: "w2", Error: "cassandra timeout", Time: t0}}},
		},
		Workers: []api.Worker{
			{WorkerID: "w1", Time: t0, ReceivedAt: t0.Add(-time.Second), Partitions: []int32{0, 1}, Lag: 20, EventsPerSecond: 24.68},
			{WorkerID: "w2", Time: t0, ReceivedAt: t0.Add(-2 * time.Second), Partitions: []int32{2}, Lag: 10, EventsPerSecond: 12.34, Error: "cassandra timeout"},
		},
		Partitions: []api.Partition{pp(0, "w1", 10), pp(1, "w1", 10), pp(2, "w2", 10)},
	}
}

func TestWriteJobs(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, WriteJobs(&b, []api.Job{detail().Job, {Spec: job.Spec{ID: "old", Preset: "storm", State: job.StateCancelled}}}))
	want := `JOB  PRESET  RUN  STATE      WORKERS  PARTITIONS  LAG  EVENTS/S  WATERMARK (UTC)          ERRORS
j1   exact   r1   running    2        3           30   37.0      2026-03-01 12:00:00.000  1
old  storm   -    cancelled  0        0           0    0.0       -                        0
`
	require.Equal(t, want, b.String())

	b.Reset()
	require.NoError(t, WriteJobs(&b, nil))
	require.Contains(t, b.String(), "no job")
}

func TestWriteDetail(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, WriteDetail(&b, detail(), t0))
	out := b.String()
	for _, want := range []string{
		"job        j1\n",
		"preset     exact (the best this engine can do)\n",
		"semantics  event time, window 5s, continuous, watermark 10s per partition, allowed lateness 5m0s, dedup until watermark (horizon 30s), update output, exactly-once\n",
		"progress   2 workers, 3 partitions, lag 30, 37.0 events/s, watermark 2026-03-01 12:00:00.000, last report 1s ago\n",
		"error      worker w2: cassandra timeout\n",
		"WORKER  PARTITIONS  LAG  EVENTS/S  LAST REPORT  ERROR\n",
		"w1      0-1         20   24.7      1s ago       -\n",
		"w2      2           10   12.3      2s ago       cassandra timeout\n",
		"0          w1      100          110             10   90         12.3      2026-03-01 12:00:00.000  100      2     3           0       4             20               0\n",
	} {
		require.Contains(t, out, want)
	}

	b.Reset()
	d := detail()
	d.Workers, d.Partitions = nil, nil
	require.NoError(t, WriteDetail(&b, d, t0))
	require.Contains(t, b.String(), "no worker reports this job")
}

func TestWriteSubmitted(t *testing.T) {
	for _, created := range []bool{true, false} {
		var b bytes.Buffer
		require.NoError(t, WriteSubmitted(&b, job.Spec{ID: "exact-1a2b3c", Preset: "exact", State: job.StateRunning}, created))
		lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
		require.Equal(t, "exact-1a2b3c", lines[len(lines)-1], "the id alone on the last line")
	}
}

func TestWritePresets(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, WritePresets(&b, api.PresetTable()))
	out := b.String()
	require.Contains(t, out, "micro-batch 5s")
	require.NotContains(t, out, "not yet (micro-batch)")
	require.Regexp(t, `(?m)^exact\s+the best this engine can do\s+event\s+5s\s+continuous\s+10s\s+5m0s\s+until watermark\s+update\s+exactly-once\s+boontadata,kafka-streams\s+yes$`, out)
}

func TestRanges(t *testing.T) {
	tests := []struct {
		in   []int32
		want string
	}{
		{nil, "-"},
		{[]int32{3}, "3"},
		{[]int32{0, 1, 2, 3}, "0-3"},
		{[]int32{0, 1, 2, 3, 7, 9, 10}, "0-3,7,9-10"},
		{[]int32{1, 3, 5}, "1,3,5"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, Ranges(tt.in))
	}
}
