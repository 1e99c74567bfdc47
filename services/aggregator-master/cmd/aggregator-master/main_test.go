package main

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

	"github.com/boontadata/boontadata/pkg/cliapp"
	"github.com/boontadata/boontadata/pkg/job"
	"github.com/boontadata/boontadata/services/aggregator-master/internal/api"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fakeMaster validates submitted specs as the master does and remembers the
// last one.
type fakeMaster struct {
	mu   sync.Mutex
	last job.Spec
}

func (f *fakeMaster) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/jobs", func(w http.ResponseWriter, r *http.Request) {
		var s job.Spec
		if err := json.NewDecoder(r.Body).Decode(&s); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if err := s.Validate(); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(w).Encode(api.Error{Error: err.Error()})
			return
		}
		if s.Preset == "dstream" {
			w.WriteHeader(http.StatusUnprocessableEntity)
			_ = json.NewEncoder(w).Encode(api.Error{Error: api.MicroBatchNote()})
			return
		}
		f.mu.Lock()
		f.last = s
		f.mu.Unlock()
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(s.WithDefaults())
	})
	mux.HandleFunc("GET /api/jobs/{id}", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"spec":{"job_id":"`+r.PathValue("id")+`","preset":"exact","state":"running"},"workers":[],"partitions":[]}`)
	})
	mux.HandleFunc("POST /api/jobs/{id}/cancel", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(job.Spec{ID: r.PathValue("id"), Preset: "exact", State: job.StateCancelled})
	})
	mux.HandleFunc("GET /api/jobs", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, `{"jobs":[{"spec":{"job_id":"j1","preset":"exact","state":"running"},"progress":{"workers":2,"lag":7}}]}`)
	})
	return mux
}

func (f *fakeMaster) lastSpec() job.Spec {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last
}

func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	a := app()
	a.Stdout, a.Stderr = &out, &errOut
	code := cliapp.Run(context.Background(), a, append([]string{"aggregator-master"}, args...))
	return code, out.String(), errOut.String()
}

func TestClientCommands(t *testing.T) {
	fm := &fakeMaster{}
	srv := httptest.NewServer(fm.handler())
	defer srv.Close()
	defer srv.Client().CloseIdleConnections()
	url := "--master-url=" + srv.URL

	t.Run("submit prints the id last", func(t *testing.T) {
		code, out, errOut := run(t, "submit", url, "--preset", "flink-event", "--run-id", "r1", "--window", "10s",
			"--watermark", "1m", "--dedup", "watermark", "--output", "update", "--start-offsets", "latest", "--on-out-of-range", "skip")
		require.Equal(t, 0, code, errOut)
		lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
		id := lines[len(lines)-1]
		require.Regexp(t, `^flink-event-[0-9a-f]{6}$`, id)
		s := fm.lastSpec()
		require.Equal(t, id, s.ID)
		require.Equal(t, "r1", s.RunID)
		require.Equal(t, job.Overrides{Window: job.Duration(10e9), Watermark: job.DurationOf(time.Minute), Dedup: "watermark", Output: "update"}, s.Overrides)
		require.Equal(t, job.StartLatest, s.StartOffsets)
		require.Equal(t, job.OutOfRangeSkip, s.OnOutOfRange)
	})
	t.Run("submit with a zero allowed lateness", func(t *testing.T) {
		code, _, errOut := run(t, "submit", url, "--preset", "storm", "--run-id", "r1", "--allowed-lateness", "0s")
		require.Equal(t, 0, code, errOut)
		require.Equal(t, job.Overrides{AllowedLateness: job.DurationOf(0)}, fm.lastSpec().Overrides, "0 is the job's, not the preset's 5 minutes")
	})
	t.Run("submit with a job id and env vars", func(t *testing.T) {
		t.Setenv("BOONTADATA_MASTER_URL", srv.URL)
		t.Setenv("BOONTADATA_PRESET", "storm")
		code, out, errOut := run(t, "submit", "--job-id", "mine")
		require.Equal(t, 0, code, errOut)
		require.True(t, strings.HasSuffix(out, "\nmine\n"), out)
		require.Equal(t, "storm", fm.lastSpec().Preset)
	})
	t.Run("submit a bad spec is a usage error", func(t *testing.T) {
		code, _, errOut := run(t, "submit", url, "--preset", "exact", "--dedup", "forever")
		require.Equal(t, 2, code)
		require.Contains(t, errOut, "none, batch, window or watermark")
	})
	t.Run("submit micro-batch is refused", func(t *testing.T) {
		code, _, errOut := run(t, "submit", url, "--preset", "dstream")
		require.Equal(t, 1, code)
		require.Contains(t, errOut, "422 Unprocessable Entity: micro-batch presets (dstream, structured) are not available on this master")
	})
	t.Run("submit without preset", func(t *testing.T) {
		code, _, errOut := run(t, "submit", url)
		require.Equal(t, 2, code)
		require.Contains(t, errOut, "preset")
	})
	t.Run("list", func(t *testing.T) {
		code, out, errOut := run(t, "list", url)
		require.Equal(t, 0, code, errOut)
		require.Contains(t, out, "JOB  PRESET  RUN  STATE    WORKERS  PARTITIONS  LAG")
		require.Contains(t, out, "j1   exact   -    running  2        0           7")
	})
	t.Run("status json", func(t *testing.T) {
		code, out, errOut := run(t, "status", url, "--json", "j9")
		require.Equal(t, 0, code, errOut)
		require.True(t, json.Valid([]byte(out)))
		require.Contains(t, out, `"job_id":"j9"`)
	})
	t.Run("status text", func(t *testing.T) {
		code, out, errOut := run(t, "status", url, "j9")
		require.Equal(t, 0, code, errOut)
		require.Contains(t, out, "job        j9\n")
	})
	t.Run("status needs one id", func(t *testing.T) {
		code, _, errOut := run(t, "status", url)
		require.Equal(t, 2, code)
		require.Contains(t, errOut, "give exactly one job id")
	})
	t.Run("cancel", func(t *testing.T) {
		code, out, errOut := run(t, "cancel", url, "j1")
		require.Equal(t, 0, code, errOut)
		require.Contains(t, out, "job j1 cancelled")
	})
	t.Run("bad master url", func(t *testing.T) {
		code, _, errOut := run(t, "list", "--master-url", "localhost:8090")
		require.Equal(t, 2, code)
		require.Contains(t, errOut, "want http://host:port")
	})
	t.Run("presets local", func(t *testing.T) {
		code, out, _ := run(t, "presets", "--local")
		require.Equal(t, 0, code)
		require.Contains(t, out, "flink-ingestion")
	})
}

func TestServeRejectsBadFlags(t *testing.T) {
	code, _, errOut := run(t, "serve", "--worker-expiry", "1ms")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "--worker-expiry")
}

func TestHelp(t *testing.T) {
	code, out, _ := run(t, "--help")
	require.Equal(t, 0, code)
	for _, c := range []string{"serve", "submit", "list", "status", "cancel", "presets", "setup"} {
		require.Contains(t, out, "   "+c+" ")
	}
	code, out, _ = run(t, "serve", "--help")
	require.Equal(t, 0, code)
	for _, f := range []string{"--listen", "--shutdown-timeout", "--worker-expiry", "--kafka-brokers", "--cassandra-hosts", "$BOONTADATA_MASTER_LISTEN"} {
		require.Contains(t, out, f)
	}
}
