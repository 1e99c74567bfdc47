package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/boontadata/boontadata/pkg/job"
	"github.com/boontadata/boontadata/services/aggregator-master/internal/api"
)

// TestClientCommandsPassTheToken runs the subcommands against a master that
// requires a token on every request, as with --api-token --api-token-reads.
func TestClientCommandsPassTheToken(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("Authorization") != "Bearer s3cret" {
			w.WriteHeader(http.StatusUnauthorized)
			_ = json.NewEncoder(w).Encode(api.Error{Error: "an API token is required"})
			return
		}
		if r.Method != http.MethodGet && r.Header.Get("Content-Type") != "application/json" {
			w.WriteHeader(http.StatusUnsupportedMediaType)
			return
		}
		switch {
		case r.Method == http.MethodPost && r.URL.Path == api.JobsPath:
			w.WriteHeader(http.StatusCreated)
			_ = json.NewEncoder(w).Encode(job.Spec{ID: "j1", Preset: "exact", State: job.StateRunning})
		case r.Method == http.MethodPost:
			_ = json.NewEncoder(w).Encode(job.Spec{ID: "j1", Preset: "exact", State: job.StateCancelled})
		case r.URL.Path == api.JobsPath:
			_ = json.NewEncoder(w).Encode(api.Jobs{})
		default:
			_, _ = w.Write([]byte(`{"spec":{"job_id":"j1","preset":"exact","state":"running"},"workers":[],"partitions":[]}`))
		}
	}))
	defer srv.Close()
	defer srv.Client().CloseIdleConnections()
	url := "--master-url=" + srv.URL

	commands := [][]string{
		{"submit", url, "--preset", "exact", "--job-id", "j1"},
		{"cancel", url, "j1"},
		{"list", url},
		{"status", url, "j1"},
	}
	for _, args := range commands {
		t.Run(args[0]+" without the token", func(t *testing.T) {
			code, _, errOut := run(t, args...)
			require.Equal(t, 1, code)
			require.Contains(t, errOut, "401 Unauthorized")
		})
		t.Run(args[0]+" with --api-token", func(t *testing.T) {
			code, _, errOut := run(t, append([]string{args[0], "--api-token", "s3cret"}, args[1:]...)...)
			require.Equal(t, 0, code, errOut)
		})
		t.Run(args[0]+" with BOONTADATA_API_TOKEN", func(t *testing.T) {
			t.Setenv("BOONTADATA_API_TOKEN", "s3cret")
			code, _, errOut := run(t, args...)
			require.Equal(t, 0, code, errOut)
		})
	}
}

func TestServeRefusesAnOpenAPIBeyondLoopback(t *testing.T) {
	code, _, errOut := run(t, "serve", "--listen", "0.0.0.0:8090")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "--allow-no-auth")
	require.Contains(t, errOut, "--api-token")
}
