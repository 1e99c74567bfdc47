package master

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/boontadata/boontadata/pkg/job"
	"github.com/boontadata/boontadata/pkg/probe"
	"github.com/boontadata/boontadata/services/aggregator-master/internal/api"
)

func TestSubmit(t *testing.T) {
	tests := []struct {
		name     string
		before   []string // bodies submitted first
		body     string
		wantCode int
		wantErr  string // in the error message
	}{
		{name: "new job", body: `{"job_id":"j1","preset":"exact","run_id":"r1"}`, wantCode: http.StatusCreated},
		{name: "with overrides", body: `{"job_id":"j1","preset":"flink-event","overrides":{"window":"10s","watermark":"1m","dedup":"watermark","output":"update"}}`,
			wantCode: http.StatusCreated},
		{name: "same spec again", before: []string{`{"job_id":"j1","preset":"exact"}`},
			body: `{"job_id":"j1","preset":"exact","start_offsets":"earliest"}`, wantCode: http.StatusOK},
		{name: "same overrides again", before: []string{`{"job_id":"j1","preset":"storm","overrides":{"watermark":"1s","allowed_lateness":"0s"}}`},
			body: `{"job_id":"j1","preset":"storm","overrides":{"allowed_lateness":"0s","watermark":"1s"}}`, wantCode: http.StatusOK},
		{name: "a zero override is another spec", before: []string{`{"job_id":"j1","preset":"storm"}`},
			body: `{"job_id":"j1","preset":"storm","overrides":{"allowed_lateness":"0s"}}`, wantCode: http.StatusConflict, wantErr: "has another spec"},
		{name: "another spec under the same id", before: []string{`{"job_id":"j1","preset":"exact"}`},
			body: `{"job_id":"j1","preset":"storm"}`, wantCode: http.StatusConflict, wantErr: "job id already used: j1 has another spec (preset exact"},
		{name: "unknown preset", body: `{"job_id":"j1","preset":"kinesis"}`, wantCode: http.StatusBadRequest,
			wantErr: "known: dstream, structured, flink-processing"},
		{name: "bad id", body: `{"job_id":"a b","preset":"exact"}`, wantCode: http.StatusBadRequest, wantErr: "job ids are 1 to 64"},
		{name: "bad override", body: `{"job_id":"j1","preset":"exact","overrides":{"dedup":"forever"}}`, wantCode: http.StatusBadRequest,
			wantErr: "none, batch, window or watermark"},
		{name: "bad duration", body: `{"job_id":"j1","preset":"exact","overrides":{"window":"soon"}}`, wantCode: http.StatusBadRequest,
			wantErr: "invalid duration"},
		{name: "unknown field", body: `{"job_id":"j1","preset":"exact","windw":"5s"}`, wantCode: http.StatusBadRequest,
			wantErr: `unknown field "windw"`},
		{name: "not JSON", body: `preset=exact`, wantCode: http.StatusBadRequest, wantErr: "job spec JSON"},
		{name: "two specs", body: `{"job_id":"j1","preset":"exact"}{}`, wantCode: http.StatusBadRequest, wantErr: "one job spec per request"},
		{name: "submitted cancelled", body: `{"job_id":"j1","preset":"exact","state":"cancelled"}`, wantCode: http.StatusBadRequest,
			wantErr: "a job is submitted running"},
		{name: "micro-batch dstream", body: `{"job_id":"j1","preset":"dstream"}`, wantCode: http.StatusUnprocessableEntity,
			wantErr: "micro-batch presets (dstream, structured) are not available on this master"},
		{name: "micro-batch structured", body: `{"job_id":"j1","preset":"structured"}`, wantCode: http.StatusUnprocessableEntity,
			wantErr: "micro-batch driver"},
		{name: "too large", body: `{"job_id":"` + strings.Repeat("x", maxSpecBytes) + `"}`, wantCode: http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			for _, b := range tt.before {
				require.Equal(t, http.StatusCreated, f.do(t, "POST", "/api/jobs", b).Code)
			}
			published := len(f.pub.published())
			rec := f.do(t, "POST", "/api/jobs", tt.body)
			require.Equal(t, tt.wantCode, rec.Code, rec.Body.String())
			require.Equal(t, "application/json", rec.Header().Get("Content-Type"))
			if tt.wantCode >= 300 {
				e := decode[api.Error](t, rec)
				require.Contains(t, e.Error, tt.wantErr)
				if tt.wantCode != http.StatusConflict {
					require.Len(t, f.pub.published(), published, "nothing published")
				}
				return
			}
			s := decode[job.Spec](t, rec)
			require.Equal(t, "j1", s.ID)
			require.Equal(t, job.StateRunning, s.State)
			require.Equal(t, job.StartEarliest, s.StartOffsets)
			require.Equal(t, "/api/jobs/j1", rec.Header().Get("Location"))
			stored, err := f.store.Get(context.Background(), "j1")
			require.NoError(t, err)
			require.Equal(t, stored, s, "the answer is the stored spec")
			require.Equal(t, t0, s.CreatedAt)
			pub := f.pub.published()
			require.Len(t, pub, published+1, "published, also when it existed")
			require.Equal(t, s, pub[len(pub)-1])
		})
	}
}

func TestSubmitGeneratesAnID(t *testing.T) {
	f := newFixture(t)
	f.m.jobs.newID = func() string { return "abc123" }
	rec := f.do(t, "POST", "/api/jobs", `{"preset":"storm"}`)
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	require.Equal(t, "storm-abc123", decode[job.Spec](t, rec).ID)
}

func TestSubmitFailures(t *testing.T) {
	t.Run("store down", func(t *testing.T) {
		f := newFixture(t)
		f.store.err = errDown
		rec := f.do(t, "POST", "/api/jobs", `{"job_id":"j1","preset":"exact"}`)
		require.Equal(t, http.StatusServiceUnavailable, rec.Code)
		require.Contains(t, decode[api.Error](t, rec).Error, "connection refused")
		require.Empty(t, f.pub.published())
		_, ok := f.m.jobs.Get("j1")
		require.False(t, ok)
	})
	t.Run("kafka down: saved, published by the next submit", func(t *testing.T) {
		f := newFixture(t)
		f.pub.fail(errDown)
		rec := f.do(t, "POST", "/api/jobs", `{"job_id":"j1","preset":"exact"}`)
		require.Equal(t, http.StatusServiceUnavailable, rec.Code)
		require.Contains(t, decode[api.Error](t, rec).Error, "job saved but not published")
		require.Equal(t, "1", rec.Header().Get("Retry-After"))
		_, err := f.store.Get(context.Background(), "j1")
		require.NoError(t, err)

		f.pub.fail(nil)
		rec = f.do(t, "POST", "/api/jobs", `{"job_id":"j1","preset":"exact"}`)
		require.Equal(t, http.StatusOK, rec.Code)
		require.Len(t, f.pub.published(), 1)
	})
}

func TestCancel(t *testing.T) {
	for _, method := range []string{"POST /api/jobs/j1/cancel", "DELETE /api/jobs/j1"} {
		t.Run(method, func(t *testing.T) {
			f := newFixture(t)
			require.Equal(t, http.StatusCreated, f.do(t, "POST", "/api/jobs", `{"job_id":"j1","preset":"exact"}`).Code)
			f.clock.Add(time.Minute)
			m, path, _ := strings.Cut(method, " ")
			rec := f.do(t, m, path, "")
			require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
			s := decode[job.Spec](t, rec)
			require.Equal(t, job.StateCancelled, s.State)
			require.Equal(t, t0, s.CreatedAt)
			require.Equal(t, t0.Add(time.Minute), s.UpdatedAt)
			stored, err := f.store.Get(context.Background(), "j1")
			require.NoError(t, err)
			require.Equal(t, job.StateCancelled, stored.State)
			pub := f.pub.published()
			require.Equal(t, job.StateCancelled, pub[len(pub)-1].State, "the workers learn it")

			// Again: nothing changes but it is published again.
			f.clock.Add(time.Minute)
			rec = f.do(t, m, path, "")
			require.Equal(t, http.StatusOK, rec.Code)
			require.Equal(t, t0.Add(time.Minute), decode[job.Spec](t, rec).UpdatedAt)
			require.Len(t, f.pub.published(), 3)

			// A cancelled job does not restart under its id.
			rec = f.do(t, "POST", "/api/jobs", `{"job_id":"j1","preset":"exact"}`)
			require.Equal(t, http.StatusConflict, rec.Code)
			require.Contains(t, decode[api.Error](t, rec).Error, "is cancelled since")
		})
	}
	t.Run("unknown job", func(t *testing.T) {
		f := newFixture(t)
		rec := f.do(t, "POST", "/api/jobs/nope/cancel", "")
		require.Equal(t, http.StatusNotFound, rec.Code)
		require.Contains(t, decode[api.Error](t, rec).Error, "no such job: nope")
	})
}

func TestListAndStatus(t *testing.T) {
	f := newFixture(t)
	require.Equal(t, http.StatusCreated, f.do(t, "POST", "/api/jobs", `{"job_id":"old","preset":"storm"}`).Code)
	f.clock.Add(time.Second)
	require.Equal(t, http.StatusCreated, f.do(t, "POST", "/api/jobs", `{"job_id":"new","preset":"exact","run_id":"r1"}`).Code)
	f.m.Observe(report("w1", "new", part(0, 5, 1000, 1.5), part(1, 7, 900, 2)))
	f.m.Observe(report("w2", "new", part(2, 11, 0, 0.5)))
	f.m.Observe(report("w9", "unknown-job", part(2, 11, 0, 0.5)))

	rec := f.do(t, "GET", "/api/jobs", "")
	require.Equal(t, http.StatusOK, rec.Code)
	list := decode[api.Jobs](t, rec)
	require.Len(t, list.Jobs, 2, "jobs the master does not know are not listed")
	require.Equal(t, "new", list.Jobs[0].Spec.ID, "newest first")
	require.Equal(t, "old", list.Jobs[1].Spec.ID)
	p := list.Jobs[0].Progress
	require.Equal(t, 2, p.Workers)
	require.Equal(t, 3, p.Partitions)
	require.Equal(t, int64(23), p.Lag)
	require.InDelta(t, 4.0, p.EventsPerSecond, 1e-9)
	require.Equal(t, int64(900), p.Watermark)
	require.Equal(t, "event", list.Jobs[0].Semantics.Time)
	require.Equal(t, "update", list.Jobs[0].Semantics.Output)
	require.Zero(t, list.Jobs[1].Progress.Workers)

	rec = f.do(t, "GET", "/api/jobs/new", "")
	require.Equal(t, http.StatusOK, rec.Code)
	d := decode[api.JobDetail](t, rec)
	require.Equal(t, "r1", d.Spec.RunID)
	require.Len(t, d.Workers, 2)
	require.Equal(t, "w1", d.Workers[0].WorkerID)
	require.Equal(t, []int32{0, 1}, d.Workers[0].Partitions)
	require.Equal(t, int64(12), d.Workers[0].Lag)
	require.Len(t, d.Partitions, 3)
	require.Equal(t, "w2", d.Partitions[2].WorkerID)
	require.Equal(t, int64(11), d.Partitions[2].Lag)

	rec = f.do(t, "GET", "/api/jobs/old", "")
	require.Equal(t, http.StatusOK, rec.Code)
	require.Contains(t, rec.Body.String(), `"workers": []`, "empty lists, not null")

	rec = f.do(t, "GET", "/api/jobs/nope", "")
	require.Equal(t, http.StatusNotFound, rec.Code)

	// Workers expire.
	f.clock.Add(11 * time.Second)
	require.Zero(t, decode[api.JobDetail](t, f.do(t, "GET", "/api/jobs/new", "")).Progress.Workers)
}

func TestPresets(t *testing.T) {
	f := newFixture(t)
	rec := f.do(t, "GET", "/api/presets", "")
	require.Equal(t, http.StatusOK, rec.Code)
	ps := decode[api.Presets](t, rec).Presets
	require.Len(t, ps, 7)
	byName := map[string]api.Semantics{}
	for _, p := range ps {
		byName[p.Name] = p
	}
	require.True(t, byName["dstream"].Runnable, "the master's micro-batch driver runs it")
	require.Equal(t, "micro-batch", byName["dstream"].Trigger)
	require.Equal(t, "5s", byName["dstream"].TriggerInterval)
	require.Empty(t, byName["structured"].Note)
	require.True(t, byName["exact"].Runnable)
	require.Equal(t, "until watermark", byName["exact"].Dedup)
	require.Equal(t, "30s", byName["exact"].DedupHorizon)
	require.Equal(t, "Flink EventTime, bounded out-of-orderness", byName["flink-event"].Mirrors)
	require.Equal(t, "at-least-once", byName["storm"].Delivery)
}

func TestHealthAndReadiness(t *testing.T) {
	f := newFixture(t)
	require.Equal(t, http.StatusOK, f.do(t, "GET", "/healthz", "").Code)

	rec := f.do(t, "GET", "/readyz", "")
	require.Equal(t, http.StatusServiceUnavailable, rec.Code)
	require.Contains(t, rec.Body.String(), "not checked yet")

	f.m.ready.Check(context.Background())
	rec = f.do(t, "GET", "/readyz", "")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())

	f.checker.set(errDown)
	f.m.ready.Check(context.Background())
	rec = f.do(t, "GET", "/readyz", "")
	require.Equal(t, http.StatusServiceUnavailable, rec.Code)
	require.Contains(t, rec.Body.String(), "connection refused")

	f.checker.set(nil)
	f.m.ready.Check(context.Background())
	f.m.ready.SetStopping()
	rec = f.do(t, "GET", "/readyz", "")
	require.Equal(t, http.StatusServiceUnavailable, rec.Code)
	require.Contains(t, rec.Body.String(), "stopping")
	require.Equal(t, http.StatusOK, f.do(t, "GET", "/healthz", "").Code, "alive while stopping")
}

func TestMetrics(t *testing.T) {
	f := newFixture(t)
	require.Equal(t, http.StatusCreated, f.do(t, "POST", "/api/jobs", `{"job_id":"j1","preset":"exact"}`).Code)
	require.Equal(t, http.StatusCreated, f.do(t, "POST", "/api/jobs", `{"job_id":"j2","preset":"storm"}`).Code)
	require.Equal(t, http.StatusOK, f.do(t, "POST", "/api/jobs/j2/cancel", "").Code)
	f.m.Observe(report("w1", "j1", part(0, 5, 2500, 1.5), part(1, 7, 2000, 2)))
	f.m.retry.OnRetry("read progress partition")

	body := f.do(t, "GET", "/metrics", "").Body.String()
	for _, want := range []string{
		`boontadata_master_jobs{state="running"} 1`,
		`boontadata_master_jobs{state="cancelled"} 1`,
		`boontadata_master_job_lag_records{job_id="j1",preset="exact"} 12`,
		`boontadata_master_job_events_per_second{job_id="j1",preset="exact"} 3.5`,
		`boontadata_master_job_workers{job_id="j1",preset="exact"} 1`,
		`boontadata_master_job_watermark_seconds{job_id="j1",preset="exact"} 2`,
		`boontadata_master_job_records{job_id="j1",outcome="late",preset="exact"} 2`,
		`boontadata_master_job_records{job_id="j1",outcome="duplicate",preset="exact"} 2`,
		`boontadata_master_job_records{job_id="j1",outcome="poison",preset="exact"} 2`,
		`boontadata_master_progress_reports_total 1`,
		`boontadata_master_requests_total{code="201",handler="submit"} 2`,
		`boontadata_master_retries_total{operation="read progress partition"} 1`,
	} {
		require.Contains(t, body, want)
	}
	require.NotContains(t, body, `job_id="j2"`, "no series for a cancelled job")
}

func TestRunLoadsRepublishesAndStops(t *testing.T) {
	store, pub := newFakeStore(), &fakePublisher{}
	ctx := context.Background()
	for _, s := range []job.Spec{
		{ID: "a", Preset: "exact", State: job.StateRunning, CreatedAt: t0},
		{ID: "b", Preset: "storm", State: job.StateCancelled, CreatedAt: t0},
	} {
		require.NoError(t, store.Save(ctx, s))
	}
	m, err := New(testConfig(), Deps{Store: store, Publisher: pub, Clock: newClock(),
		Checkers: map[string]probe.Checker{"kafka": &fakeChecker{}}})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx, ln) }()

	url := "http://" + ln.Addr().String()
	require.Eventually(t, func() bool {
		resp, err := http.Get(url + "/readyz")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 5*time.Second, 10*time.Millisecond)
	require.Len(t, pub.published(), 2, "every stored job published again")
	_, ok := m.Jobs().Get("b")
	require.True(t, ok)

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop")
	}
	_, err = http.Get(url + "/healthz")
	require.Error(t, err, "the listener is closed")
	http.DefaultClient.CloseIdleConnections()
}

func TestRunFailsWhenTheStoreIsDown(t *testing.T) {
	store := newFakeStore()
	store.err = errDown
	m, err := New(testConfig(), Deps{Store: store, Publisher: &fakePublisher{}})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	err = m.Run(context.Background(), ln)
	require.ErrorIs(t, err, errDown)
	require.ErrorContains(t, err, "load jobs")
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		change  func(*Config)
		want    error  // sentinel, or
		wantMsg string // the start of the message
	}{
		{name: "defaults", change: func(*Config) {}},
		{name: "no listen", change: func(c *Config) { c.Listen = "" }, want: ErrNoListen},
		{name: "zero shutdown", change: func(c *Config) { c.ShutdownTimeout = 0 }, want: ErrBadTimeout},
		{name: "short expiry", change: func(c *Config) { c.WorkerExpiry = 500 * time.Millisecond }, want: ErrBadExpiry},
		{name: "fast readiness", change: func(c *Config) { c.ReadyInterval = time.Millisecond }, want: ErrBadReadiness},
		{name: "bad kafka", change: func(c *Config) { c.Kafka.Topics.Jobs = "a b" }, wantMsg: "kafka: "},
		{name: "bad cassandra", change: func(c *Config) { c.Cassandra.Keyspace = "1x" }, wantMsg: "cassandra: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.change(&c)
			err := c.Validate()
			switch {
			case tt.want != nil:
				require.ErrorIs(t, err, tt.want)
			case tt.wantMsg != "":
				require.Error(t, err)
				require.True(t, strings.HasPrefix(err.Error(), tt.wantMsg), err.Error())
			default:
				require.NoError(t, err)
			}
		})
	}
}

func TestGenerateID(t *testing.T) {
	require.Equal(t, "exact-abc", GenerateID("exact", "abc"))
	require.Equal(t, "flinkevent-abc", GenerateID("flink event!", "abc"))
	require.Equal(t, "job-abc", GenerateID("", "abc"))
	require.NoError(t, job.Spec{ID: NewJobID("flink-processing"), Preset: "flink-processing"}.Validate())
}
