package master

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/boontadata/boontadata/pkg/job"
	"github.com/boontadata/boontadata/services/aggregator-master/internal/api"
)

// metricsDoc is the page whose metrics table must match /metrics.
const metricsDoc = "../../../../docs/master.md"

type documented struct {
	kind   string
	labels []string
}

// readMetricsTable reads the rows `name` | type | labels | ... of the table
// under "### Metrics".
func readMetricsTable(t *testing.T) map[string]documented {
	t.Helper()
	f, err := os.Open(metricsDoc)
	require.NoError(t, err)
	defer func() { require.NoError(t, f.Close()) }()
	row := regexp.MustCompile("^\\| `(boontadata_master_[a-z_]+)` \\| ([a-z]+) \\|([^|]*)\\|")
	out := map[string]documented{}
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "### Metrics"):
			in = true
		case in && strings.HasPrefix(line, "#"):
			in = false
		case in:
			m := row.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			var labels []string
			for _, l := range strings.Split(m[3], ",") {
				if l = strings.Trim(strings.TrimSpace(l), "`"); l != "" {
					labels = append(labels, l)
				}
			}
			slices.Sort(labels)
			_, dup := out[m[1]]
			require.False(t, dup, "%s listed twice", m[1])
			out[m[1]] = documented{kind: m[2], labels: labels}
		}
	}
	require.NoError(t, sc.Err())
	require.NotEmpty(t, out, "no metrics table under ### Metrics in %s", metricsDoc)
	return out
}

// TestMetricsTableMatchesMetrics makes every family of the master's /metrics
// appear (a request, a refusal, a retry, a running job with a watermark, a job of an
// engine under test, a completed micro-batch) and compares them with the
// table of docs/master.md: names, types and labels.
func TestMetricsTableMatchesMetrics(t *testing.T) {
	f, _ := newDashFixture(t, nil)
	submit(t, f, `{"job_id":"j1","preset":"exact","run_id":"r1"}`)
	submit(t, f, `{"job_id":"sp1","preset":"structured","engine":"spark","run_id":"r1"}`)
	submit(t, f, `{"job_id":"s1","preset":"structured","run_id":"r1"}`)
	f.m.Observe(report("w1", "j1", part(0, 5, t0.Add(-time.Second).UnixMilli(), 1.5)))
	f.m.Observe(job.WorkerReport{WorkerID: "w1", JobID: "sp1", Time: t0, External: &job.ExternalProgress{Lines: 1}})
	f.m.history.ObserveBatch("s1", api.Batch{InputRows: 4, ProcessingMs: 10})
	f.m.metrics.badReports.Inc()
	f.m.retry.OnRetry("read progress partition") // a counter vector shows nothing before its first count
	require.Equal(t, http.StatusOK, f.do(t, "GET", "/", "").Code)
	foreign := httptest.NewRequest("GET", "/api/jobs", nil)
	foreign.Host = "rebind.evil.example"
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, foreign)
	require.Equal(t, http.StatusForbidden, rec.Code, "refused: counted by reason")

	families, err := f.m.metrics.reg.Gather()
	require.NoError(t, err)
	exposed := map[string]documented{}
	for _, mf := range families {
		name := mf.GetName()
		if strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_") || strings.HasPrefix(name, "promhttp_") {
			continue
		}
		d := documented{kind: strings.ToLower(mf.GetType().String())}
		for _, lp := range mf.GetMetric()[0].GetLabel() {
			d.labels = append(d.labels, lp.GetName())
		}
		slices.Sort(d.labels)
		exposed[name] = d
	}

	docs := readMetricsTable(t)
	for name, d := range exposed {
		want, ok := docs[name]
		require.True(t, ok, "/metrics serves %s (%s, labels %v), which the table of docs/master.md does not list", name, d.kind, d.labels)
		require.Equal(t, want.kind, d.kind, "type of %s", name)
		require.Equal(t, want.labels, d.labels, "labels of %s", name)
	}
	for name := range docs {
		_, ok := exposed[name]
		require.True(t, ok, "docs/master.md lists %s, which /metrics does not serve", name)
	}
}

// TestGrafanaDashboardUsesDocumentedMetrics: every master metric the Grafana
// dashboard of deploy/ queries is one /metrics serves (the table above).
func TestGrafanaDashboardUsesDocumentedMetrics(t *testing.T) {
	b, err := os.ReadFile("../../../../deploy/grafana/boontadata.json")
	require.NoError(t, err)
	docs := readMetricsTable(t)
	used := regexp.MustCompile(`boontadata_master_[a-z_]+`).FindAllString(string(b), -1)
	require.NotEmpty(t, used)
	for _, name := range used {
		base := name
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if s, ok := strings.CutSuffix(name, suffix); ok && docs[s].kind == "histogram" {
				base = s
			}
		}
		_, ok := docs[base]
		require.True(t, ok, "the Grafana dashboard queries %s, which the master does not serve", name)
	}
}
