package master

import (
	"html/template"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/boontadata/boontadata/pkg/job"
	"github.com/boontadata/boontadata/services/aggregator-master/internal/api"
)

// pageRefresh is how often the status page reloads itself.
const pageRefresh = 2

// page is the status page: self-contained (no external asset), reloaded by
// the browser every pageRefresh seconds.
const page = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="{{.Refresh}}">
<title>boontadata aggregator-master</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.3em;margin:0 0 .3em}h2{font-size:1.1em;margin:1.5em 0 .4em}
table{border-collapse:collapse;margin:.3em 0 1em}
th,td{padding:.25em .6em;border-bottom:1px solid #ddd;text-align:left;white-space:nowrap}
td.n{text-align:right;font-variant-numeric:tabular-nums}
th{background:#f3f3f3}
.running{color:#1a7f37;font-weight:600}.cancelled{color:#888}
.bad{color:#b42318;font-weight:600}.muted{color:#777}
code{background:#f3f3f3;padding:0 .2em}
</style></head><body>
<h1>boontadata aggregator-master</h1>
<p class="muted">{{.Now}} · {{if .Ready}}ready{{else}}<span class="bad">not ready: {{.NotReady}}</span>{{end}} ·
JSON: <code>/api/jobs</code>, <code>/api/presets</code> · <code>/metrics</code> · refreshes every {{.Refresh}} s</p>
<h2>Jobs</h2>
{{if not .Jobs}}<p class="muted">No job yet. Submit one: <code>aggregator-master submit --preset exact</code></p>{{else}}
<table><tr><th>job</th><th>preset</th><th>run</th><th>state</th><th>workers</th><th>partitions</th><th>lag</th>
<th>events/s</th><th>watermark (UTC)</th><th>late</th><th>duplicates</th><th>poison</th><th>results written</th><th>offset resets</th><th>last report</th></tr>
{{range .Jobs}}<tr><td><a href="/api/jobs/{{.Spec.ID}}">{{.Spec.ID}}</a></td><td>{{.Spec.Preset}}</td><td>{{or .Spec.RunID "-"}}</td>
<td class="{{.Spec.State}}">{{.Spec.State}}</td><td class="n">{{.Progress.Workers}}</td><td class="n">{{.Progress.Partitions}}</td>
<td class="n">{{.Progress.Lag}}</td><td class="n">{{rate .Progress.EventsPerSecond}}</td><td>{{watermark .Progress.Watermark}}</td>
<td class="n">{{.Progress.Late}}</td><td class="n">{{.Progress.Duplicates}}</td><td class="n">{{.Progress.Poison}}</td>
<td class="n">{{.Progress.ResultsWritten}}</td><td class="n">{{.Progress.OffsetResets}}</td><td>{{ago .Progress.LastReport}}</td></tr>
{{range .Progress.Errors}}<tr><td></td><td colspan="14" class="bad">worker {{.WorkerID}}: {{.Error}}</td></tr>{{end}}
{{end}}</table>{{end}}
{{range .Details}}{{if .Partitions}}
<h2>{{.Spec.ID}} · partitions</h2>
<table><tr><th>partition</th><th>worker</th><th>next offset</th><th>high watermark</th><th>lag</th><th>committed</th>
<th>events/s</th><th>watermark (UTC)</th><th>records</th><th>late</th><th>duplicates</th><th>poison</th><th>open windows</th><th>results written</th></tr>
{{range .Partitions}}<tr><td class="n">{{.Partition}}</td><td>{{.WorkerID}}</td><td class="n">{{.NextOffset}}</td><td class="n">{{.HighWatermark}}</td>
<td class="n">{{.Lag}}</td><td class="n">{{.CommittedOffset}}</td><td class="n">{{rate .EventsPerSecond}}</td><td>{{watermark .Watermark}}</td>
<td class="n">{{.Records}}</td><td class="n">{{.Late}}</td><td class="n">{{.Duplicates}}</td><td class="n">{{.Poison}}</td>
<td class="n">{{.OpenWindows}}</td><td class="n">{{.ResultsWritten}}</td></tr>{{end}}
</table>{{end}}{{end}}
<h2>Presets</h2>
<table><tr><th>preset</th><th>mirrors</th><th>time</th><th>window</th><th>trigger</th><th>watermark</th><th>lateness</th><th>dedup</th><th>output</th><th>delivery</th><th></th></tr>
{{range .Presets}}<tr><td>{{.Name}}</td><td>{{.Mirrors}}</td><td>{{.Time}}</td><td>{{.Window}}</td><td>{{.Trigger}}</td><td>{{.Watermark}}</td>
<td>{{.AllowedLateness}}</td><td>{{.Dedup}}</td><td>{{.Output}}</td><td>{{.Delivery}}</td><td class="muted">{{if not .Runnable}}not available yet (micro-batch){{end}}</td></tr>{{end}}
</table>
</body></html>
`

type pageData struct {
	Refresh  int
	Now      string
	Ready    bool
	NotReady string
	Jobs     []api.Job
	Details  []api.JobDetail
	Presets  []api.Semantics
}

func newPageTemplate(now func() time.Time) (*template.Template, error) {
	return template.New("page").Funcs(template.FuncMap{
		"rate":      api.FormatRate,
		"watermark": api.FormatWatermark,
		"ago": func(t time.Time) string {
			if t.IsZero() {
				return "-"
			}
			return now().Sub(t).Round(100*time.Millisecond).String() + " ago"
		},
	}).Parse(page)
}

func (m *Master) handlePage(w http.ResponseWriter, _ *http.Request) {
	d := pageData{Refresh: pageRefresh, Now: m.clock.Now().UTC().Format(time.RFC3339), Jobs: m.list(), Presets: api.PresetTable()}
	if err := m.ready.Status(); err != nil {
		d.NotReady = err.Error()
	} else {
		d.Ready = true
	}
	for _, j := range d.Jobs {
		if j.Spec.State != job.StateRunning {
			continue
		}
		if det, ok := m.detail(j.Spec.ID); ok {
			d.Details = append(d.Details, det)
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := m.page.Execute(w, d); err != nil {
		m.log.Debug("status page not written", zap.Error(err))
	}
}
