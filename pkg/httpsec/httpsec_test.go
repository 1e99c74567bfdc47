package httpsec

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestToken(t *testing.T) {
	tests := []struct {
		name   string
		token  string
		header string
		want   Outcome
	}{
		{name: "no token configured", token: "", header: "", want: Allowed},
		{name: "no token configured, any header", token: "", header: "Bearer x", want: Allowed},
		{name: "missing", token: "s3cret", header: "", want: Missing},
		{name: "basic scheme", token: "s3cret", header: "Basic czNjcmV0", want: Missing},
		{name: "empty bearer", token: "s3cret", header: "Bearer ", want: Missing},
		{name: "prefix of the token", token: "s3cret", header: "Bearer s3cre", want: Wrong},
		{name: "longer than the token", token: "s3cret", header: "Bearer s3cret-and-more", want: Wrong},
		{name: "right", token: "s3cret", header: "Bearer s3cret", want: Allowed},
		{name: "scheme case-insensitive", token: "s3cret", header: "bearer s3cret", want: Allowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			if tt.header != "" {
				r.Header.Set("Authorization", tt.header)
			}
			require.Equal(t, tt.want, NewToken(tt.token).Check(r))
		})
	}
	require.False(t, Token{}.Matches(""), "no token matches nothing, not even empty")
	require.False(t, NewToken("").IsSet())
	require.True(t, NewToken("a").IsSet())
}

func TestCheckTokenFormat(t *testing.T) {
	require.NoError(t, CheckTokenFormat(""))
	require.NoError(t, CheckTokenFormat("abc.DEF-123_~+/="))
	for _, bad := range []string{"a b", "a\tb", "é", "a\x7f"} {
		require.ErrorIs(t, CheckTokenFormat(bad), ErrTokenFormat, bad)
	}
}

func TestIsLoopback(t *testing.T) {
	tests := map[string]bool{
		"127.0.0.1:8080":       true,
		"127.0.0.2:8080":       true,
		"[::1]:8080":           true,
		"localhost:8080":       true,
		"LOCALHOST.:8080":      true,
		"app.localhost:8080":   true,
		":8080":                false,
		"0.0.0.0:8080":         false,
		"[::]:8080":            false,
		"10.0.0.5:8080":        false,
		"myhost.example:8080":  false,
		"localhost.evil.com:1": false,
	}
	for addr, want := range tests {
		require.Equal(t, want, IsLoopback(addr), addr)
	}
}

func TestPolicy(t *testing.T) {
	p, err := NewPolicy("master.lan:8090", []string{"aggregator-master", "*.corp.example"},
		[]string{"https://dash.example.com", "http://tools.example:8080/"})
	require.NoError(t, err)
	hosts := []struct {
		host string
		ok   bool
	}{
		{"127.0.0.1:8090", true},
		{"[::1]:8090", true},
		{"10.1.2.3:8090", true},
		{"localhost:8090", true},
		{"localhost", true},
		{"master.lan:8090", true},
		{"MASTER.LAN.:8090", true},
		{"aggregator-master:8090", true},
		{"a.corp.example:8090", true},
		{"a.b.corp.example", true},
		{"", true},
		{"corp.example:8090", false},
		{"evil.example:8090", false},
		{"aggregator-master.evil.example:8090", false},
		{"localhost.evil.example:8090", false},
	}
	for _, h := range hosts {
		err := p.CheckHost(h.host)
		if h.ok {
			require.NoError(t, err, h.host)
		} else {
			require.ErrorContains(t, err, "DNS rebinding", h.host)
		}
	}
	origins := []struct {
		origin, host string
		ok           bool
	}{
		{"", "127.0.0.1:8090", true},
		{"http://127.0.0.1:8090", "127.0.0.1:8090", true},
		{"http://localhost:8090", "localhost:8090", true},
		{"https://dash.example.com", "127.0.0.1:8090", true},
		{"https://DASH.example.com:443", "127.0.0.1:8090", true},
		{"http://tools.example:8080", "127.0.0.1:8090", true},
		{"http://localhost:8091", "localhost:8090", false},
		{"http://127.0.0.1:8090", "localhost:8090", false},
		{"https://evil.example", "127.0.0.1:8090", false},
		{"http://dash.example.com", "127.0.0.1:8090", false},
		{"null", "127.0.0.1:8090", false},
	}
	for _, o := range origins {
		err := p.CheckOrigin(o.origin, o.host)
		if o.ok {
			require.NoError(t, err, o.origin)
		} else {
			require.ErrorContains(t, err, "cross-origin", o.origin)
		}
	}

	open, err := NewPolicy("0.0.0.0:8090", []string{"*"}, []string{"*"})
	require.NoError(t, err)
	require.NoError(t, open.CheckHost("evil.example"))
	require.NoError(t, open.CheckOrigin("https://evil.example", "x"))

	for _, bad := range []string{"a/b", "*.", "a b", "x:1"} {
		_, err := NewPolicy(":1", []string{bad}, nil)
		require.ErrorIs(t, err, ErrBadHost, bad)
	}
	for _, bad := range []string{"dash.example.com", "ftp://x", "https://x/path", "https://u@x", "null"} {
		_, err := NewPolicy(":1", nil, []string{bad})
		require.ErrorIs(t, err, ErrBadOrigin, bad)
	}
}

func TestGuard(t *testing.T) {
	p, err := NewPolicy("127.0.0.1:8090", nil, nil)
	require.NoError(t, err)
	h := p.Guard(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }),
		func(w http.ResponseWriter, status int, msg string) { http.Error(w, msg, status) })
	do := func(host, origin string) int {
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		r.Host = host
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return rec.Code
	}
	require.Equal(t, http.StatusNoContent, do("127.0.0.1:8090", ""))
	require.Equal(t, http.StatusNoContent, do("127.0.0.1:8090", "http://127.0.0.1:8090"))
	require.Equal(t, http.StatusForbidden, do("rebound.evil.example:8090", ""))
	require.Equal(t, http.StatusForbidden, do("127.0.0.1:8090", "https://evil.example"))
}
