package render

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/boontadata/boontadata/pkg/engine"
	"github.com/boontadata/boontadata/pkg/testutil"

	"github.com/boontadata/boontadata/services/comparator/internal/compare"
	"github.com/boontadata/boontadata/services/comparator/internal/faults"
)

const t0 = int64(1_767_225_600_000)

// synthetic builds a document of two jobs over devices × categories ×
// windows, with a duplicate counted every 7th window (storm) and a missing
// window every 5th (flink-event).
func synthetic(t testing.TB, devices, categories, windows int) Document {
	t.Helper()
	var run compare.RunData
	run.Run = compare.Run{ID: "synthetic", Status: "done", Devices: devices, WindowMs: 5000, Counts: map[string]int64{"normal": 1}}
	var storm, flink []compare.Result
	n := 0
	for d := range devices {
		dev := fmt.Sprintf("dev-%d", d)
		run.DeviceIDs = append(run.DeviceIDs, dev)
		for c := range categories {
			cat := fmt.Sprintf("cat-%d", c+1)
			for w := range windows {
				n++
				start := t0 + int64(w)*5000
				k := compare.Key{DeviceID: dev, Category: cat, WindowStart: start}
				m1 := int64(10 + (n*37)%90)
				truth := compare.Agg{M1: m1, M2: float64(m1) / 4, Count: 1}
				run.TruthByDevice = append(run.TruthByDevice, compare.TruthRow{Key: k, WindowEnd: start + 5000, Agg: truth})
				id := fmt.Sprintf("%s-%d", dev, n)
				run.Raw = append(run.Raw, compare.RawEvent{DeviceID: dev, SendSeq: int64(n), MessageID: id, DeviceTime: start + 10, SendTime: start + 10, Category: cat, M1: m1, M2: truth.M2, Pattern: "normal"})
				emit := start + 5000 + int64(200+(n*53)%3000)
				s := compare.Result{Key: k, WindowEnd: start + 5000, Agg: truth, Revision: 1, Final: true, EmitTime: emit}
				if n%7 == 0 {
					run.Raw = append(run.Raw, compare.RawEvent{DeviceID: dev, SendSeq: int64(n) + 100000, MessageID: id, DeviceTime: start + 10, SendTime: start + 900, Category: cat, M1: m1, M2: truth.M2, Pattern: "resend"})
					s.M1, s.M2, s.Count = 2*m1, 2*truth.M2, 2
				}
				storm = append(storm, s)
				if n%5 != 0 {
					f := s
					f.Agg, f.EmitTime = truth, emit+5000
					flink = append(flink, f)
				}
			}
		}
	}
	run.TruthBySend = run.TruthByDevice
	cmp := compare.New(&run, compare.Options{M2Tolerance: compare.DefaultM2Tolerance})
	job := func(id, preset string) compare.Job {
		spec, err := engine.Preset(preset)
		require.NoError(t, err)
		return compare.Job{ID: id, RunID: "synthetic", Preset: preset, State: "finished", Engine: spec}
	}
	reports := []compare.Report{
		cmp.Compare(compare.JobData{Job: job("job-storm", "storm"), Results: storm}),
		cmp.Compare(compare.JobData{Job: job("job-flink", "flink-event"), Results: flink}),
		cmp.Compare(compare.JobData{Job: job("job-idle", "exact")}),
	}
	return NewDocument(run.Run, compare.DefaultM2Tolerance, time.UnixMilli(t0), reports)
}

// withFaults adds two faults to doc: one every job recovered from, one the
// first job did not.
func withFaults(doc Document) Document {
	rec := int64(4210)
	for i, kind := range []string{faults.KillWorker, faults.RestartKafka} {
		f := faults.Report{Fault: faults.Fault{Kind: kind, Target: "aggregator-worker-1", OffsetS: 5 + float64(i), AtMs: t0 + 5000, DoneMs: t0 + 5800, OK: true},
			AtUTC: "2026-01-01 00:00:05.000", ActionMs: 800}
		for j, rep := range doc.Jobs {
			e := faults.JobEffect{JobID: rep.JobID, LagBefore: 12, PeakLag: 340, RecoveryMs: &rec}
			if i == 1 && j == 0 {
				e.RecoveryMs, e.Note = nil, "not back to its level before the fault within the samples"
				e.Exceptions, e.Unexplained, e.ResultsChanged = 3, 2, true
			}
			f.Jobs = append(f.Jobs, e)
		}
		doc.Faults = append(doc.Faults, f)
	}
	return doc
}

func TestFaultsInEveryFormat(t *testing.T) {
	doc := withFaults(synthetic(t, 1, 1, 3))
	var text bytes.Buffer
	require.NoError(t, Text(&text, doc, TextOptions{}))
	out := text.String()
	require.Contains(t, out, faultsHeading)
	require.Regexp(t, `kill-worker\s+aggregator-worker-1\s+5\.0\s+2026-01-01 00:00:05\.000\s+800\s+job-storm\s+12\s+340\s+4210\s+0\s+no`, out)
	require.Regexp(t, `restart-kafka .* job-storm\s+12\s+340\s+-\s+3\s+yes \(2 unexplained\)`, out)
	require.Contains(t, out, "Note: restart-kafka at 6.0 s, job-storm: not back to its level before the fault within the samples")

	var js bytes.Buffer
	require.NoError(t, JSON(&js, doc))
	var back struct {
		Faults []faults.Report `json:"faults"`
	}
	require.NoError(t, json.Unmarshal(js.Bytes(), &back))
	require.Equal(t, doc.Faults, back.Faults)
	require.Contains(t, js.String(), `"recovery_ms": null`, "a recovery not seen is null")

	js.Reset()
	require.NoError(t, JSON(&js, synthetic(t, 1, 1, 3)))
	require.Contains(t, js.String(), `"faults": []`, "a run without faults has an empty list")
}

func TestCSVOneRowPerJobAndWindow(t *testing.T) {
	doc := synthetic(t, 2, 2, 5)
	var b bytes.Buffer
	require.NoError(t, CSV(&b, doc))
	recs, err := csv.NewReader(&b).ReadAll()
	require.NoError(t, err)
	require.Equal(t, CSVHeader, recs[0])
	require.Len(t, recs, 1+20+20, "header, then 20 windows of each job with results")
	col := func(name string) int {
		for i, h := range CSVHeader {
			if h == name {
				return i
			}
		}
		t.Fatalf("no column %s", name)
		return -1
	}
	var missing int
	for _, r := range recs[1:] {
		if r[col("kind")] == "missing" {
			missing++
			require.Empty(t, r[col("engine_m1")])
			require.Equal(t, "missing_window", r[col("causes")])
		}
	}
	require.Equal(t, 4, missing)
}

func TestTextHasEveryPart(t *testing.T) {
	doc := synthetic(t, 2, 2, 30)
	var b bytes.Buffer
	require.NoError(t, Text(&b, doc, TextOptions{AllWindows: false}))
	out := b.String()
	for _, want := range []string{
		"boontadata comparator · run synthetic · job job-storm",
		"Comparing ingest device and downstream for m1_sum\n--------------------------------------------------\n17 exceptions out of 120\n",
		"Exceptions are:", "Explanations:", "duplicate counted twice: dev-0-7 (m1 ",
		"Exceptions by cause:", "Result latency (ms)", "… 10 more",
		"Side by side: run synthetic", "Nothing to compare for job-idle",
	} {
		require.Contains(t, out, want)
	}
	require.NotContains(t, out, "showing all lines", "--windows=false leaves the table of every window out")
}

// TestHTMLRendersInHeadlessChromium loads the page in Debian's chromium and
// counts what its script drew: one point per window in each job's
// truth-against-engine chart, one bar per latency bin.
func TestHTMLRendersInHeadlessChromium(t *testing.T) {
	testutil.Integration(t)
	const chromium = "/usr/bin/chromium"
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("%s not installed: the HTML report must be checked in a browser (apt-get install chromium, or ./scripts/bootstrap.sh --browser)", chromium)
	}
	doc := withFaults(synthetic(t, 3, 4, 24))
	doc.Conformance = []compare.Conformance{{Preset: "flink-event", Job: "job-flink", Engine: "flink", Against: "job-flink-event",
		AgainstEngine: "boontadata", Windows: 24, Differ: 2, Note: "event time: the same records and rules give the same windows",
		Rows: []compare.ConformanceRow{
			{DeviceID: "dev-0", Category: "cat-1", WindowEndUTC: "2026-01-01 00:00:05", Engine: &compare.Agg{M1: 30, Count: 2},
				Against: &compare.Agg{M1: 10, Count: 1}, AgainstCauses: []compare.Cause{{Code: compare.CauseLateDropped, Text: "late event dropped: dev-0-2"}},
				Dropped: &compare.LateDifference{Engine: []string{}, Against: []string{"dev-0-2"}, Text: "the answers differ by late drops: dev-0-2 (m1 20, dropped as late by boontadata)"}},
			{DeviceID: "dev-1", Category: "cat-1", WindowEndUTC: "2026-01-01 00:00:10", Engine: nil, Against: &compare.Agg{M1: 7, Count: 1}},
		}}}
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	f, err := os.Create(page)
	require.NoError(t, err)
	require.NoError(t, HTML(f, doc))
	require.NoError(t, f.Close())

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + filepath.Join(dir, "profile"), "--virtual-time-budget=5000"}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, chromium, append(args, "--dump-dom", "file://"+page)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), stderr.String())
	dom := stdout.String()
	require.True(t, strings.Contains(dom, `data-rendered="true"`), "the page's script did not finish")

	for i, rep := range doc.Jobs {
		svg := element(t, dom, fmt.Sprintf("scatter-%d", i))
		if rep.Problem != "" {
			require.Empty(t, svg)
			continue
		}
		require.Equal(t, rep.Windows, strings.Count(svg, "<circle"), "job %s: one point per window", rep.JobID)
		require.Equal(t, rep.Exceptions, strings.Count(svg, `class="point exception"`), "job %s", rep.JobID)
		hist := element(t, dom, fmt.Sprintf("histogram-%d", i))
		require.Equal(t, len(rep.LatencyHistogram), strings.Count(hist, `class="bar"`), "job %s", rep.JobID)
		series := element(t, dom, fmt.Sprintf("series-%d", i))
		require.Contains(t, series, fmt.Sprintf(`data-points="%d"`, len(rep.LatencySeries)))
		require.Equal(t, 2, strings.Count(series, "<polyline"))
	}
	require.Contains(t, dom, `id="matrix-table"`)
	faultRows := regexp.MustCompile(`(?s)<table id="faults-table">.*?</table>`).FindString(dom)
	require.Equal(t, 1+len(doc.Faults)*len(doc.Jobs), strings.Count(faultRows, "<tr>"), "a header, then a row per fault and job")
	require.Contains(t, faultRows, "yes (2 unexplained)")
	conf := regexp.MustCompile(`(?s)<table id="conformance-table-0"[^>]*>.*?</table>`).FindString(dom)
	require.Equal(t, 3, strings.Count(conf, "<tr>"), "a header, then a row per window that differs")
	require.Contains(t, conf, "the answers differ by late drops: dev-0-2 (m1 20, dropped as late by boontadata)")
	require.Contains(t, conf, "<td>no result</td>")
	require.Contains(t, dom, "2 of 24 windows differ")

	if shot := os.Getenv("BOONTADATA_COMPARATOR_SCREENSHOT"); shot != "" {
		cmd := exec.CommandContext(ctx, chromium, append(args, "--screenshot="+shot, "--window-size=1200,900", "file://"+page)...)
		require.NoError(t, cmd.Run())
	}
}

// element returns the <svg> with the id, or "" when the page has none.
func element(t *testing.T, dom, id string) string {
	t.Helper()
	return regexp.MustCompile(`(?s)<svg id="` + regexp.QuoteMeta(id) + `"[^>]*>.*?</svg>`).FindString(dom)
}

// The latency row over revisions says when it covers a revision sample.
func TestRevisionLabel(t *testing.T) {
	require.Equal(t, "every revision", revisionLabel(&compare.Report{RevisionWindows: 4, ResultWindows: 4}))
	require.Equal(t, "every revision", revisionLabel(&compare.Report{ResultWindows: 4}), "no revision rows: engine_results")
	require.Equal(t, "every revision of 1 of 4 windows (revision sample)", revisionLabel(&compare.Report{RevisionWindows: 1, ResultWindows: 4}))
}
