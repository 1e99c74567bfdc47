package client

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/boontadata/boontadata/pkg/job"
)

// TestTokenAndContentType checks what the client sends: the bearer token on
// every request when it has one, and a JSON content type on every write, also
// a cancel without a body.
func TestTokenAndContentType(t *testing.T) {
	var mu sync.Mutex
	seen := map[string][2]string{} // "METHOD path" -> authorization, content type
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.Method+" "+r.URL.Path] = [2]string{r.Header.Get("Authorization"), r.Header.Get("Content-Type")}
		mu.Unlock()
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/api/jobs":
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write([]byte(`{"job_id":"j1","preset":"exact","state":"running"}`))
		case r.Method == http.MethodPost:
			_, _ = w.Write([]byte(`{"job_id":"j1","preset":"exact","state":"cancelled"}`))
		default:
			_, _ = w.Write([]byte(`{"jobs":[]}`))
		}
	}))
	defer srv.Close()
	defer srv.Client().CloseIdleConnections()

	for _, token := range []string{"", "s3cret"} {
		c, err := New(srv.URL, srv.Client())
		require.NoError(t, err)
		c = c.WithToken(token)
		ctx := context.Background()
		_, _, err = c.Submit(ctx, job.Spec{ID: "j1", Preset: "exact"})
		require.NoError(t, err)
		_, err = c.Cancel(ctx, "j1")
		require.NoError(t, err)
		_, err = c.List(ctx)
		require.NoError(t, err)

		auth := ""
		if token != "" {
			auth = "Bearer " + token
		}
		mu.Lock()
		require.Equal(t, [2]string{auth, "application/json"}, seen["POST /api/jobs"], token)
		require.Equal(t, [2]string{auth, "application/json"}, seen["POST /api/jobs/j1/cancel"], "a cancel has no body but is JSON")
		require.Equal(t, [2]string{auth, ""}, seen["GET /api/jobs"])
		mu.Unlock()
	}
}
