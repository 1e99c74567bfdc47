// Package httpsec holds what the services' HTTP servers share to defend
// themselves: bearer tokens compared in constant time, the rule that a server
// listening beyond loopback needs a token, and the Host and Origin checks that
// keep web pages (cross-origin requests, DNS rebinding) away from an API.
package httpsec

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// ErrTokenFormat is returned by CheckTokenFormat.
var ErrTokenFormat = errors.New("a token must be printable ASCII without spaces")

// CheckTokenFormat accepts an empty token (no authentication) or one of
// printable ASCII characters without spaces, which an Authorization header
// carries unchanged.
func CheckTokenFormat(token string) error {
	for _, r := range token {
		if r <= ' ' || r > '~' {
			return ErrTokenFormat
		}
	}
	return nil
}

// Token is a configured bearer token. Only its SHA-256 digest is kept, and a
// presented token is compared digest to digest: the comparison takes the
// same time whatever the presented token's length and content, so timing
// reveals neither the token nor its length.
type Token struct {
	digest [sha256.Size]byte
	set    bool
}

// NewToken returns the token s; an empty s is no token (IsSet is false).
func NewToken(s string) Token {
	if s == "" {
		return Token{}
	}
	return Token{digest: sha256.Sum256([]byte(s)), set: true}
}

// IsSet reports whether a token is configured.
func (t Token) IsSet() bool { return t.set }

// Matches reports whether presented is the token. It is false when no token
// is configured.
func (t Token) Matches(presented string) bool {
	d := sha256.Sum256([]byte(presented))
	return subtle.ConstantTimeCompare(d[:], t.digest[:]) == 1 && t.set
}

// Bearer returns the token of an "Authorization: Bearer TOKEN" header (the
// scheme is case-insensitive); ok is false when there is none.
func Bearer(r *http.Request) (token string, ok bool) {
	scheme, token, found := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	if !found || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", false
	}
	return token, true
}

// Outcome of Token.Check.
type Outcome int

// Outcomes of Token.Check, each with the status code it is answered with.
const (
	// Allowed: no token is configured, or the right one was presented.
	Allowed Outcome = iota
	// Missing: no bearer token was presented (401).
	Missing
	// Wrong: a bearer token was presented and is not the configured one (403).
	Wrong
)

// Check tells whether r may pass: always when no token is configured, else
// when it carries the token as a bearer token.
func (t Token) Check(r *http.Request) Outcome {
	if !t.set {
		return Allowed
	}
	presented, ok := Bearer(r)
	switch {
	case !ok:
		return Missing
	case !t.Matches(presented):
		return Wrong
	}
	return Allowed
}

// IsLoopback reports whether a listen address (host:port) accepts connections
// from this machine only: a loopback IP or "localhost". An empty host,
// 0.0.0.0 or :: listen on every interface; any other name may resolve to a
// public address and counts as beyond loopback.
func IsLoopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		host = listen
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// ErrBadOrigin is returned by NewPolicy for a malformed allowed origin.
var ErrBadOrigin = errors.New(`an allowed origin is "*" or scheme://host[:port], such as https://dashboard.example.com`)

// ErrBadHost is returned by NewPolicy for a malformed allowed host.
var ErrBadHost = errors.New(`an allowed host is "*", a host name such as master.example.com, or "*.example.com" for its subdomains`)

// Policy decides which Host and Origin headers a server answers. A browser
// sends the name it resolved in Host, so a page that rebinds its own name to
// this server's address (DNS rebinding) shows up with a foreign Host; and a
// page that calls the server from another site sends its own Origin.
//
// A Host passes when its name is an IP literal (no page can rebind an
// address), localhost or a *.localhost name, the host of the listen address,
// or one of the allowed hosts. An Origin passes when the request has none
// (not a browser, or a same-origin navigation), when it is the origin the
// request was sent to (the server's own pages: the Host of the request), or
// when it is one of the allowed origins.
type Policy struct {
	listenHost string
	hosts      []string // exact names, or ".suffix" for "*.suffix"
	anyHost    bool
	origins    map[string]bool
	anyOrigin  bool
}

// NewPolicy builds the policy of a server listening on listen with the
// allowed hosts and origins given by its flags.
func NewPolicy(listen string, hosts, origins []string) (*Policy, error) {
	p := &Policy{origins: map[string]bool{}}
	if h, _, err := net.SplitHostPort(listen); err == nil {
		p.listenHost = normalizeHost(h)
	}
	for _, h := range hosts {
		h = strings.TrimSpace(h)
		switch {
		case h == "*":
			p.anyHost = true
		case strings.HasPrefix(h, "*."):
			name := normalizeHost(h[1:])
			if len(name) < 2 || strings.ContainsAny(name[1:], "*/:@ ") {
				return nil, fmt.Errorf("%w: got %q", ErrBadHost, h)
			}
			p.hosts = append(p.hosts, name)
		default:
			name := normalizeHost(h)
			if name == "" || strings.ContainsAny(name, "*/:@ ") {
				return nil, fmt.Errorf("%w: got %q", ErrBadHost, h)
			}
			p.hosts = append(p.hosts, name)
		}
	}
	for _, o := range origins {
		o = strings.TrimSpace(o)
		if o == "*" {
			p.anyOrigin = true
			continue
		}
		n, ok := normalizeOrigin(o)
		if !ok {
			return nil, fmt.Errorf("%w: got %q", ErrBadOrigin, o)
		}
		p.origins[n] = true
	}
	return p, nil
}

// CheckHost returns an error saying why a request's Host is refused, or nil.
func (p *Policy) CheckHost(hostport string) error {
	if p.anyHost || hostport == "" {
		return nil
	}
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = normalizeHost(host)
	if net.ParseIP(host) != nil || host == "localhost" || strings.HasSuffix(host, ".localhost") ||
		(host == p.listenHost && host != "") {
		return nil
	}
	for _, h := range p.hosts {
		if host == h || (h[0] == '.' && strings.HasSuffix(host, h)) {
			return nil
		}
	}
	return fmt.Errorf("host %q is not one this server answers to (DNS rebinding protection): "+
		"reach it by IP address or localhost, or add the name to the allowed hosts", host)
}

// CheckOrigin returns an error saying why a request's Origin is refused, or
// nil. hostport is the request's Host.
func (p *Policy) CheckOrigin(origin, hostport string) error {
	if origin == "" || p.anyOrigin {
		return nil
	}
	if n, ok := normalizeOrigin(origin); ok {
		if p.origins[n] {
			return nil
		}
		// The server's own pages: the origin the request was sent to.
		scheme, _, _ := strings.Cut(n, "://")
		if self, ok := normalizeOrigin(scheme + "://" + hostport); ok && self == n {
			return nil
		}
	}
	return fmt.Errorf("origin %q may not call this server (cross-origin request): "+
		"add it to the allowed origins to let that site's pages call the API", origin)
}

// Guard answers 403 to a request whose Host or Origin the policy refuses,
// with the message written by deny, and passes the others to next.
func (p *Policy) Guard(next http.Handler, deny func(w http.ResponseWriter, status int, msg string)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := p.CheckHost(r.Host); err != nil {
			deny(w, http.StatusForbidden, err.Error())
			return
		}
		if err := p.CheckOrigin(r.Header.Get("Origin"), r.Host); err != nil {
			deny(w, http.StatusForbidden, err.Error())
			return
		}
		next.ServeHTTP(w, r)
	})
}

func normalizeHost(h string) string {
	return strings.TrimSuffix(strings.ToLower(strings.Trim(h, "[]")), ".")
}

// normalizeOrigin returns scheme://host[:port] in lower case, without the
// default port of the scheme.
func normalizeOrigin(o string) (string, bool) {
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", false
	}
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if (u.Scheme == "http" && port == "80") || (u.Scheme == "https" && port == "443") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	return strings.ToLower(u.Scheme) + "://" + host, true
}
