package master

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/urfave/cli/v2"

	"github.com/boontadata/boontadata/pkg/httpsec"
	"github.com/boontadata/boontadata/pkg/probe"
	"github.com/boontadata/boontadata/services/aggregator-master/internal/api"
)

// newFixtureWith is newFixture with a configuration of the test's own.
func newFixtureWith(tb testing.TB, change func(*Config)) *fixture {
	tb.Helper()
	cfg := testConfig()
	change(&cfg)
	require.NoError(tb, cfg.Validate())
	f := &fixture{store: newFakeStore(), pub: &fakePublisher{}, clock: newClock(), checker: &fakeChecker{}}
	m, err := New(cfg, Deps{Store: f.store, Publisher: f.pub, Clock: f.clock,
		Checkers: map[string]probe.Checker{"cassandra": f.checker}})
	require.NoError(tb, err)
	f.m, f.h = m, m.Handler()
	return f
}

// request is one request to the handler, as a browser or a script sends it.
type request struct {
	method, path, body string
	host               string // default 127.0.0.1:8090
	headers            map[string]string
}

func (f *fixture) send(tb testing.TB, r request) *httptest.ResponseRecorder {
	tb.Helper()
	req := httptest.NewRequest(r.method, r.path, bytes.NewBufferString(r.body))
	req.Host = "127.0.0.1:8090"
	if r.host != "" {
		req.Host = r.host
	}
	for k, v := range r.headers {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	return rec
}

const spec = `{"job_id":"j1","preset":"exact"}`

func TestCrossSiteRequestsRefused(t *testing.T) {
	tests := []struct {
		name    string
		req     request
		code    int
		errPart string
	}{
		{name: "cross-origin text/plain submit", code: http.StatusForbidden, errPart: "cross-origin",
			req: request{method: "POST", path: "/api/jobs", body: spec,
				headers: map[string]string{"Content-Type": "text/plain", "Origin": "https://evil.example"}}},
		{name: "cross-origin JSON submit", code: http.StatusForbidden, errPart: "--allowed-origins",
			req: request{method: "POST", path: "/api/jobs", body: spec,
				headers: map[string]string{"Content-Type": "application/json", "Origin": "http://127.0.0.1:9999"}}},
		{name: "text/plain submit without Origin", code: http.StatusUnsupportedMediaType, errPart: "application/json",
			req: request{method: "POST", path: "/api/jobs", body: spec, headers: map[string]string{"Content-Type": "text/plain"}}},
		{name: "form submit", code: http.StatusUnsupportedMediaType,
			req: request{method: "POST", path: "/api/jobs", body: "preset=exact",
				headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}}},
		{name: "submit without content type", code: http.StatusUnsupportedMediaType,
			req: request{method: "POST", path: "/api/jobs", body: spec}},
		{name: "cancel without content type", code: http.StatusUnsupportedMediaType,
			req: request{method: "POST", path: "/api/jobs/j1/cancel"}},
		{name: "delete without content type", code: http.StatusUnsupportedMediaType,
			req: request{method: "DELETE", path: "/api/jobs/j1"}},
		{name: "foreign Host: submit (DNS rebinding)", code: http.StatusForbidden, errPart: "DNS rebinding",
			req: request{method: "POST", path: "/api/jobs", body: spec, host: "rebind.evil.example:8090",
				headers: map[string]string{"Content-Type": "application/json"}}},
		{name: "foreign Host: list", code: http.StatusForbidden, errPart: "--allowed-hosts",
			req: request{method: "GET", path: "/api/jobs", host: "rebind.evil.example:8090"}},
		{name: "foreign Host: status page", code: http.StatusForbidden,
			req: request{method: "GET", path: "/", host: "rebind.evil.example:8090"}},
		{name: "foreign Host: metrics", code: http.StatusForbidden,
			req: request{method: "GET", path: "/metrics", host: "rebind.evil.example"}},
		{name: "foreign Host: health probes still answer", code: http.StatusOK,
			req: request{method: "GET", path: "/healthz", host: "rebind.evil.example"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			require.Equal(t, http.StatusCreated, f.do(t, "POST", "/api/jobs", `{"job_id":"j1","preset":"exact"}`).Code)
			before := len(f.pub.published())
			rec := f.send(t, tt.req)
			require.Equal(t, tt.code, rec.Code, rec.Body.String())
			if tt.code >= 400 {
				require.Contains(t, decode[api.Error](t, rec).Error, tt.errPart)
				require.Len(t, f.pub.published(), before, "nothing published")
				s, ok := f.m.jobs.Get("j1")
				require.True(t, ok)
				require.Equal(t, "running", string(s.State), "not cancelled")
			}
		})
	}
}

func TestSameSiteRequestsServed(t *testing.T) {
	f := newFixtureWith(t, func(c *Config) {
		c.Listen = "master.lan:8090"
		c.APIToken = "t0k"
		c.AllowedHosts = *cli.NewStringSlice("aggregator-master", "*.corp.example")
		c.AllowedOrigins = *cli.NewStringSlice("https://dash.example.com")
	})
	json := map[string]string{"Content-Type": "application/json; charset=utf-8", "Authorization": "Bearer t0k"}
	for _, host := range []string{"127.0.0.1:8090", "[::1]:8090", "10.0.0.7:8090", "localhost:8090",
		"master.lan:8090", "aggregator-master:8090", "master.corp.example"} {
		require.Equal(t, http.StatusOK, f.send(t, request{method: "GET", path: "/api/jobs", host: host}).Code, host)
	}
	rec := f.send(t, request{method: "POST", path: "/api/jobs", body: spec, host: "aggregator-master:8090", headers: json})
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	withOrigin := map[string]string{"Origin": "https://dash.example.com"}
	for k, v := range json {
		withOrigin[k] = v
	}
	rec = f.send(t, request{method: "POST", path: "/api/jobs/j1/cancel", headers: withOrigin})
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	// The server's own origin: the page it serves.
	rec = f.send(t, request{method: "GET", path: "/api/presets", headers: map[string]string{"Origin": "http://127.0.0.1:8090"}})
	require.Equal(t, http.StatusOK, rec.Code)
}

func TestAPIToken(t *testing.T) {
	tests := []struct {
		name  string
		reads bool
		req   request
		code  int
	}{
		{name: "submit without token", req: request{method: "POST", path: "/api/jobs", body: spec}, code: http.StatusUnauthorized},
		{name: "submit with a wrong token", req: request{method: "POST", path: "/api/jobs", body: spec,
			headers: map[string]string{"Authorization": "Bearer s3cre"}}, code: http.StatusForbidden},
		{name: "submit with a longer token", req: request{method: "POST", path: "/api/jobs", body: spec,
			headers: map[string]string{"Authorization": "Bearer s3cret-plus"}}, code: http.StatusForbidden},
		{name: "submit with the token", req: request{method: "POST", path: "/api/jobs", body: `{"job_id":"j2","preset":"storm"}`,
			headers: map[string]string{"Authorization": "Bearer s3cret"}}, code: http.StatusCreated},
		{name: "cancel without token", req: request{method: "POST", path: "/api/jobs/j1/cancel"}, code: http.StatusUnauthorized},
		{name: "delete without token", req: request{method: "DELETE", path: "/api/jobs/j1"}, code: http.StatusUnauthorized},
		{name: "cancel with a basic password", req: request{method: "POST", path: "/api/jobs/j1/cancel",
			headers: map[string]string{"Authorization": "Basic OnMzY3JldA=="}}, code: http.StatusUnauthorized},
		{name: "cancel with the token", req: request{method: "POST", path: "/api/jobs/j1/cancel",
			headers: map[string]string{"Authorization": "Bearer s3cret"}}, code: http.StatusOK},
		{name: "delete with the token", req: request{method: "DELETE", path: "/api/jobs/j1",
			headers: map[string]string{"Authorization": "Bearer s3cret"}}, code: http.StatusOK},
		{name: "list needs no token", req: request{method: "GET", path: "/api/jobs"}, code: http.StatusOK},
		{name: "status page needs no token", req: request{method: "GET", path: "/"}, code: http.StatusOK},
		{name: "metrics need no token", req: request{method: "GET", path: "/metrics"}, code: http.StatusOK},
		{name: "reads: list without token", reads: true, req: request{method: "GET", path: "/api/jobs"}, code: http.StatusUnauthorized},
		{name: "reads: status page without token", reads: true, req: request{method: "GET", path: "/"}, code: http.StatusUnauthorized},
		{name: "reads: metrics without token", reads: true, req: request{method: "GET", path: "/metrics"}, code: http.StatusUnauthorized},
		{name: "reads: list with the token", reads: true, req: request{method: "GET", path: "/api/jobs",
			headers: map[string]string{"Authorization": "Bearer s3cret"}}, code: http.StatusOK},
		{name: "reads: health probes need no token", reads: true, req: request{method: "GET", path: "/healthz"}, code: http.StatusOK},
		{name: "reads: readiness probe needs no token", reads: true, req: request{method: "GET", path: "/readyz"}, code: http.StatusServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixtureWith(t, func(c *Config) { c.APIToken, c.APITokenReads = "s3cret", tt.reads })
			req := httptest.NewRequest("POST", "/api/jobs", strings.NewReader(spec))
			req.Host, req.Header = "127.0.0.1:8090", http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer s3cret"}}
			rec := httptest.NewRecorder()
			f.h.ServeHTTP(rec, req)
			require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
			before := len(f.pub.published())

			if tt.req.method != http.MethodGet {
				if tt.req.headers == nil {
					tt.req.headers = map[string]string{}
				}
				tt.req.headers["Content-Type"] = "application/json"
			}
			rec = f.send(t, tt.req)
			require.Equal(t, tt.code, rec.Code, rec.Body.String())
			switch tt.code {
			case http.StatusUnauthorized:
				require.Contains(t, rec.Header().Get("WWW-Authenticate"), "Bearer")
				require.Contains(t, decode[api.Error](t, rec).Error, "BOONTADATA_API_TOKEN")
				require.Len(t, f.pub.published(), before, "nothing published")
			case http.StatusForbidden:
				require.Contains(t, decode[api.Error](t, rec).Error, "not valid")
				require.Len(t, f.pub.published(), before, "nothing published")
			}
		})
	}
}

func TestRefusalsCounted(t *testing.T) {
	f := newFixtureWith(t, func(c *Config) { c.APIToken = "s3cret" })
	f.send(t, request{method: "POST", path: "/api/jobs", body: spec, headers: map[string]string{"Content-Type": "application/json"}})
	f.send(t, request{method: "GET", path: "/api/jobs", host: "evil.example"})
	f.send(t, request{method: "GET", path: "/api/jobs", headers: map[string]string{"Origin": "https://evil.example"}})
	f.send(t, request{method: "POST", path: "/api/jobs", body: spec, headers: map[string]string{"Authorization": "Bearer s3cret"}})
	body := f.send(t, request{method: "GET", path: "/metrics"}).Body.String()
	for _, want := range []string{
		`boontadata_master_requests_refused_total{reason="token_missing"} 1`,
		`boontadata_master_requests_refused_total{reason="host"} 1`,
		`boontadata_master_requests_refused_total{reason="origin"} 1`,
		`boontadata_master_requests_refused_total{reason="content_type"} 1`,
	} {
		require.Contains(t, body, want)
	}
}

func TestAccessConfig(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		want   error
	}{
		{name: "loopback without token", change: func(*Config) {}},
		{name: "localhost without token", change: func(c *Config) { c.Listen = "localhost:8090" }},
		{name: "all interfaces without token", change: func(c *Config) { c.Listen = ":8090" }, want: ErrNoAuth},
		{name: "0.0.0.0 without token", change: func(c *Config) { c.Listen = "0.0.0.0:8090" }, want: ErrNoAuth},
		{name: "all interfaces with token", change: func(c *Config) { c.Listen, c.APIToken = "0.0.0.0:8090", "tok" }},
		{name: "all interfaces, open on purpose", change: func(c *Config) { c.Listen, c.AllowNoAuth = "0.0.0.0:8090", true }},
		{name: "token with a space", change: func(c *Config) { c.APIToken = "a b" }, want: ErrBadToken},
		{name: "bad allowed origin", change: func(c *Config) { c.AllowedOrigins = *cli.NewStringSlice("dash.example.com") }, want: httpsec.ErrBadOrigin},
		{name: "bad allowed host", change: func(c *Config) { c.AllowedHosts = *cli.NewStringSlice("a/b") }, want: httpsec.ErrBadHost},
		{name: "comma-separated lists", change: func(c *Config) {
			c.AllowedHosts = *cli.NewStringSlice("a.example, *.b.example")
			c.AllowedOrigins = *cli.NewStringSlice("https://a.example,http://b.example:8080")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.change(&c)
			err := c.Validate()
			if tt.want == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tt.want)
		})
	}
	err := (&Config{Listen: ":8090", ShutdownTimeout: time.Second, SetupWait: time.Second, WorkerExpiry: time.Second,
		ReadyInterval: time.Second}).Validate()
	require.ErrorContains(t, err, "--allow-no-auth", "the error names the flag")
}
