package master

import (
	"mime"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/boontadata/boontadata/pkg/httpsec"
	"github.com/boontadata/boontadata/services/aggregator-master/internal/api"
)

// access guards the HTTP API against callers it should not obey: web pages
// of other sites (Origin), pages that rebind their name to the master's
// address (Host), and, when a token is configured, anyone without it. Writes
// must carry a JSON body type, which a page of another site cannot send
// without a CORS preflight that the master never grants.
type access struct {
	policy *httpsec.Policy
	token  httpsec.Token
	// reads requires the token on reads too (the API, the status page and
	// /metrics).
	reads   bool
	refused *prometheus.CounterVec
	log     *zap.Logger
}

// Reasons of refused requests (label of boontadata_master_requests_refused_total).
const (
	refusedHost        = "host"
	refusedOrigin      = "origin"
	refusedNoToken     = "token_missing"
	refusedWrongToken  = "token_wrong"
	refusedContentType = "content_type"
)

func newAccess(cfg Config, log *zap.Logger) (*access, error) {
	policy, err := cfg.policy()
	if err != nil {
		return nil, err
	}
	return &access{
		policy: policy,
		token:  httpsec.NewToken(cfg.APIToken),
		reads:  cfg.APITokenReads,
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "requests_refused_total",
			Help: "Requests refused before reaching the API: foreign Host or Origin (403), missing or wrong token (401, 403), a write without a JSON body type (415).",
		}, []string{"reason"}),
		log: log,
	}, nil
}

// isProbe tells the paths every caller may reach: the liveness and readiness
// probes, which reveal nothing and are called by address.
func isProbe(path string) bool { return path == api.HealthzPath || path == api.ReadyzPath }

// isWrite tells the methods that change something.
func isWrite(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// wrap returns next behind the checks, in this order: Host and Origin (403),
// the token (401 without, 403 wrong) on writes, and on reads when asked, and
// the JSON body type on writes (415).
func (a *access) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isProbe(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		if err := a.policy.CheckHost(r.Host); err != nil {
			a.refuse(w, refusedHost, http.StatusForbidden, err.Error()+" (--allowed-hosts)")
			return
		}
		if err := a.policy.CheckOrigin(r.Header.Get("Origin"), r.Host); err != nil {
			a.refuse(w, refusedOrigin, http.StatusForbidden, err.Error()+" (--allowed-origins)")
			return
		}
		write := isWrite(r.Method)
		if write || a.reads {
			switch a.token.Check(r) {
			case httpsec.Missing:
				w.Header().Set("WWW-Authenticate", `Bearer realm="boontadata-master"`)
				a.refuse(w, refusedNoToken, http.StatusUnauthorized,
					"an API token is required (Authorization: Bearer TOKEN; the CLI sends --api-token or BOONTADATA_API_TOKEN)")
				return
			case httpsec.Wrong:
				a.refuse(w, refusedWrongToken, http.StatusForbidden, "the API token is not valid")
				return
			}
		}
		if write && !isJSON(r.Header.Get("Content-Type")) {
			a.refuse(w, refusedContentType, http.StatusUnsupportedMediaType,
				"writes need Content-Type: application/json (also with an empty body)")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/json"
}

func (a *access) refuse(w http.ResponseWriter, reason string, code int, msg string) {
	a.refused.WithLabelValues(reason).Inc()
	writeError(w, code, msg)
}

// logStart says how the API is protected once it listens on addr, loudly
// when anyone who reaches it may submit and cancel jobs.
func (a *access) logStart(addr string) {
	a.log.Info("api access", zap.Bool("token", a.token.IsSet()), zap.Bool("token_on_reads", a.reads && a.token.IsSet()))
	if !a.token.IsSet() && !httpsec.IsLoopback(addr) {
		a.log.Warn("NO AUTHENTICATION: the master's API listens beyond loopback without --api-token (--allow-no-auth); "+
			"anyone who reaches this address can submit and cancel jobs", zap.String("addr", addr))
	}
}
