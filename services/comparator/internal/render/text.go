package render

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/boontadata/boontadata/services/comparator/internal/compare"
	"github.com/boontadata/boontadata/services/comparator/internal/faults"
)

// TextOptions tune the text report.
type TextOptions struct {
	// AllWindows prints the table of every window before the exceptions.
	AllWindows bool
}

const (
	seriesHead = 10
	seriesTail = 10
	// maxConformanceRows bounds the differing windows printed per pair.
	maxConformanceRows = 20
)

// Text writes the report users of the original platform know, one section
// per job, followed by the side-by-side matrix when there are several jobs.
func Text(w io.Writer, doc Document, opts TextOptions) error {
	bw := bufio.NewWriter(w)
	for i := range doc.Jobs {
		if i > 0 {
			fmt.Fprintln(bw)
		}
		if err := textJob(bw, doc, &doc.Jobs[i], opts); err != nil {
			return err
		}
	}
	if len(doc.Jobs) > 1 {
		fmt.Fprintln(bw)
		if err := Matrix(bw, doc); err != nil {
			return err
		}
	}
	for _, cf := range doc.Conformance {
		fmt.Fprintln(bw)
		conformance(bw, cf, opts)
	}
	if len(doc.Faults) > 0 {
		fmt.Fprintln(bw)
		if err := faultTable(bw, doc.Faults); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// faultsHeading heads the faults section of the text report.
const faultsHeading = "Faults injected during the run"

// faultTable writes the faults of a run: when each happened, how long each job
// took to recover, and whether it changed the job's final results.
func faultTable(w io.Writer, fs []faults.Report) error {
	fmt.Fprintln(w, faultsHeading)
	fmt.Fprintln(w, "--------------------------------------------------")
	t := newTable("fault", "target", "after send s", "at (UTC)", "action ms", "job", "lag before", "peak lag", "recovery ms",
		"exceptions", "results changed").alignRight(2, 4, 6, 7, 8, 9)
	var notes []string
	for _, f := range fs {
		for _, j := range f.Jobs {
			rec := "-"
			if j.RecoveryMs != nil {
				rec = strconv.FormatInt(*j.RecoveryMs, 10)
			}
			changed := "no"
			if j.ResultsChanged {
				changed = fmt.Sprintf("yes (%d unexplained)", j.Unexplained)
			}
			t.add(f.Kind, f.Target, strconv.FormatFloat(f.OffsetS, 'f', 1, 64), f.AtUTC, strconv.FormatInt(f.ActionMs, 10), j.JobID,
				strconv.FormatInt(j.LagBefore, 10), strconv.FormatInt(j.PeakLag, 10), rec, strconv.Itoa(j.Exceptions), changed)
			if j.Note != "" {
				notes = append(notes, fmt.Sprintf("%s at %.1f s, %s: %s", f.Kind, f.OffsetS, j.JobID, j.Note))
			}
		}
		if f.Note != "" {
			notes = append(notes, fmt.Sprintf("%s at %.1f s: %s", f.Kind, f.OffsetS, f.Note))
		}
	}
	if err := t.write(w, ""); err != nil {
		return err
	}
	fmt.Fprintln(w, "(recovery: from the start of the fault until the job's lag was back to its level before it — the highest lag of the 5 s before —")
	fmt.Fprintln(w, " with every partition reported again after the fault and the worker it hit running the job again; exceptions: in windows still open")
	fmt.Fprintln(w, " when the fault began; results changed: some of them are differences the preset's semantics do not explain)")
	for _, n := range notes {
		fmt.Fprintf(w, "Note: %s\n", n)
	}
	return nil
}

func textJob(w *bufio.Writer, doc Document, r *compare.Report, opts TextOptions) error {
	title := fmt.Sprintf("boontadata comparator · run %s · job %s", r.RunID, r.JobID)
	fmt.Fprintf(w, "%s\n%s\n", title, strings.Repeat("=", len([]rune(title))))
	fmt.Fprintln(w, runLine(doc.Run))
	if r.Time != "" {
		fmt.Fprintf(w, "preset %s (%s): %s time, %s windows, watermark %s, allowed lateness %s, dedup %s, output %s; job state %s\n",
			r.Preset, r.Mirrors, r.Time, ms(r.WindowMs), ms(r.WatermarkDelayMs), ms(r.AllowedLateMs), r.Dedup, r.Output, r.JobState)
	} else {
		fmt.Fprintf(w, "preset %s; job state %s\n", r.Preset, r.JobState)
	}
	if r.Problem != "" {
		fmt.Fprintf(w, "\nNothing to compare: %s\n", r.Problem)
		return nil
	}
	fmt.Fprintf(w, "delta = truth by device time − engine; measure1 compared exactly, measure2 within a relative tolerance of %g\n", r.M2Tolerance)
	fmt.Fprintf(w, "latency = emit time − window end%s\n", wmSuffix(r))

	if opts.AllWindows {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "showing all lines from aggregated events")
		fmt.Fprintln(w, "----------------------------------------------")
		t := newTable("window_end", "device_id", "category", "m1 truth", "m1 engine", "m1 delta", "m1 send",
			"m2 truth", "m2 engine", "m2 delta", "m2 send", "final").alignRight(3, 4, 5, 6, 7, 8, 9, 10)
		for i := range r.Rows {
			row := &r.Rows[i]
			t.add(row.WindowEndUTC, row.DeviceID, row.Category, m1(row.Truth), engineM1(row.Engine), strconv.FormatInt(row.DeltaM1, 10), m1(row.BySendTime),
				m2(row.Truth), engineM2(row.Engine), fmtM2Delta(row.DeltaM2), m2(row.BySendTime), final(row.Engine))
		}
		if err := t.write(w, ""); err != nil {
			return err
		}
	}

	fmt.Fprintln(w)
	fmt.Fprintln(w, "Comparing ingest device and downstream for m1_sum")
	fmt.Fprintln(w, "--------------------------------------------------")
	fmt.Fprintf(w, "%d exceptions out of %d\n", r.M1Exceptions, r.Windows)
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Comparing ingest device and downstream for m2_sum (relative tolerance %g)\n", r.M2Tolerance)
	fmt.Fprintln(w, "--------------------------------------------------")
	fmt.Fprintf(w, "%d exceptions out of %d\n", r.M2Exceptions, r.Windows)
	fmt.Fprintln(w)
	exc := r.ExceptionRows()
	fmt.Fprintf(w, "%d windows are exceptions (m1_sum, m2_sum or count differs, or a window is missing on one side) out of %d\n", r.Exceptions, r.Windows)
	if len(exc) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Exceptions are:")
		t := newTable("#", "window_end", "device_id", "category", "m1 truth", "m1 engine", "m1 delta", "m1 send", "cause").alignRight(0, 4, 5, 6, 7)
		for i, row := range exc {
			t.add(strconv.Itoa(i+1), row.WindowEndUTC, row.DeviceID, row.Category, m1(row.Truth), engineM1(row.Engine),
				strconv.FormatInt(row.DeltaM1, 10), m1(row.BySendTime), row.CauseLabels())
		}
		if err := t.write(w, ""); err != nil {
			return err
		}
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Explanations:")
		for i, row := range exc {
			for j, c := range row.Causes {
				num := fmt.Sprintf("%4d. ", i+1)
				if j > 0 {
					num = "      "
				}
				fmt.Fprintf(w, "%s%s\n", num, c.Text)
			}
		}
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Exceptions by cause:")
		t = newTable("cause", "exceptions").alignRight(1)
		for _, code := range compare.Causes() {
			t.add(compare.CauseLabel(code), strconv.Itoa(r.ByCause[code]))
		}
		if err := t.write(w, "  "); err != nil {
			return err
		}
		fmt.Fprintln(w, "  (an exception with two causes counts under each)")
	}

	fmt.Fprintln(w)
	fmt.Fprintf(w, "Result latency (ms): emit time − window end%s\n", wmSuffix(r))
	t := newTable("", "results", "min", "p50", "p95", "p99", "p99.9", "max").alignRight(1, 2, 3, 4, 5, 6, 7)
	for _, l := range []struct {
		name string
		v    compare.Latency
	}{{revisionLabel(r), r.LatencyMs}, {"latest per window", r.FinalLatencyMs}} {
		t.add(l.name, strconv.FormatInt(l.v.Count, 10), strconv.FormatInt(l.v.Min, 10), strconv.FormatInt(l.v.P50, 10),
			strconv.FormatInt(l.v.P95, 10), strconv.FormatInt(l.v.P99, 10), strconv.FormatInt(l.v.P999, 10), strconv.FormatInt(l.v.Max, 10))
	}
	if err := t.write(w, "  "); err != nil {
		return err
	}
	if len(r.LatencySeries) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Latency over the run (ms, every revision, by window end):")
		t := newTable("window_end", "results", "p50", "max").alignRight(1, 2, 3)
		for i, p := range r.LatencySeries {
			n := len(r.LatencySeries)
			if n > seriesHead+seriesTail && i == seriesHead {
				t.add(fmt.Sprintf("… %d more", n-seriesHead-seriesTail), "", "", "")
			}
			if n > seriesHead+seriesTail && i >= seriesHead && i < n-seriesTail {
				continue
			}
			t.add(p.WindowEndUTC, strconv.FormatInt(p.Count, 10), strconv.FormatInt(p.P50, 10), strconv.FormatInt(p.Max, 10))
		}
		if err := t.write(w, "  "); err != nil {
			return err
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Events: truth %d, engine %d; sends by pattern: %s; raw_events rows read: %d\n",
		r.Events.Truth, r.Events.Engine, patterns(r.Events.ByPattern), r.Events.RawRecorded)
	if r.AfterInputEndMs != nil {
		fmt.Fprintf(w, "Final results: the last one was written %d ms after the run's input ended (its end-of-run markers)\n", *r.AfterInputEndMs)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "Note: %s\n", n)
	}
	return nil
}

// Matrix writes the side-by-side table of every job of the document.
func Matrix(w io.Writer, doc Document) error {
	fmt.Fprintf(w, "Side by side: run %s, the same input through every semantic\n", doc.RunID)
	fmt.Fprintln(w, "--------------------------------------------------")
	header := []string{"job", "engine", "preset", "time", "windows", "exceptions"}
	for _, code := range compare.Causes() {
		header = append(header, compare.CauseLabel(code))
	}
	header = append(header, "p50 ms", "p95 ms", "p99 ms", "max ms", "final after end ms")
	t := newTable(header...)
	for i := 4; i < len(header); i++ {
		t.alignRight(i)
	}
	var problems []string
	for i := range doc.Jobs {
		r := &doc.Jobs[i]
		if r.Problem != "" {
			cells := []string{r.JobID, r.Engine, r.Preset, r.Time}
			for len(cells) < len(header) {
				cells = append(cells, "-")
			}
			t.add(cells...)
			problems = append(problems, fmt.Sprintf("%s: %s", r.JobID, r.Problem))
			continue
		}
		cells := []string{r.JobID, r.Engine, r.Preset, r.Time, strconv.Itoa(r.Windows), strconv.Itoa(r.Exceptions)}
		for _, code := range compare.Causes() {
			cells = append(cells, strconv.Itoa(r.ByCause[code]))
		}
		l := r.LatencyMs
		after := "-"
		if r.AfterInputEndMs != nil {
			after = strconv.FormatInt(*r.AfterInputEndMs, 10)
		}
		cells = append(cells, strconv.FormatInt(l.P50, 10), strconv.FormatInt(l.P95, 10),
			strconv.FormatInt(l.P99, 10), strconv.FormatInt(l.Max, 10), after)
		t.add(cells...)
	}
	if err := t.write(w, ""); err != nil {
		return err
	}
	fmt.Fprintln(w, "(latency over every revision: emit time − window end − watermark delay; final after end: last result written − the run's end-of-run markers)")
	for _, p := range problems {
		fmt.Fprintf(w, "Nothing to compare for %s\n", p)
	}
	return nil
}

func runLine(r RunInfo) string {
	s := fmt.Sprintf("run %s: status %s, %d devices, %s truth windows", r.RunID, r.Status, r.Devices, ms(r.WindowMs))
	if r.StartedAt != nil {
		s += ", started " + r.StartedAt.Format(time.RFC3339)
	}
	if r.EndedAt != nil {
		s += ", ended " + r.EndedAt.Format(time.RFC3339)
	}
	return s
}

func wmSuffix(r *compare.Report) string {
	if r.WatermarkDelayMs > 0 {
		return fmt.Sprintf(" − watermark delay (%s)", ms(r.WatermarkDelayMs))
	}
	return ""
}

func patterns(m map[string]int64) string {
	order := []string{compare.PatternNormal, compare.PatternBurst, compare.PatternResend, compare.PatternLate, compare.PatternOutOfOrder}
	var parts []string
	seen := map[string]bool{}
	for _, p := range order {
		if v, ok := m[p]; ok {
			parts = append(parts, fmt.Sprintf("%s %d", p, v))
			seen[p] = true
		}
	}
	for p, v := range m {
		if !seen[p] {
			parts = append(parts, fmt.Sprintf("%s %d", p, v))
		}
	}
	if len(parts) == 0 {
		return "unknown"
	}
	return strings.Join(parts, ", ")
}

func ms(v int64) string { return (time.Duration(v) * time.Millisecond).String() }

func m1(a *compare.Agg) string {
	if a == nil {
		return "-"
	}
	return strconv.FormatInt(a.M1, 10)
}

func m2(a *compare.Agg) string {
	if a == nil {
		return "-"
	}
	return strconv.FormatFloat(a.M2, 'f', 2, 64)
}

func engineM1(e *compare.EngineAgg) string {
	if e == nil {
		return "-"
	}
	return m1(&e.Agg)
}

func engineM2(e *compare.EngineAgg) string {
	if e == nil {
		return "-"
	}
	return m2(&e.Agg)
}

func final(e *compare.EngineAgg) string {
	switch {
	case e == nil:
		return "-"
	case e.Final:
		return "yes"
	}
	return "no"
}

func fmtM2Delta(v float64) string {
	if v == 0 {
		return "0"
	}
	return strconv.FormatFloat(v, 'g', 6, 64)
}

// conformance writes the comparison of a real engine's job with its preset's.
func conformance(w io.Writer, cf compare.Conformance, opts TextOptions) {
	fmt.Fprintf(w, "Conformance: %s (%s) against %s (%s), preset %s: %d of %d windows differ\n",
		cf.Job, cf.Engine, cf.Against, cf.AgainstEngine, cf.Preset, cf.Differ, cf.Windows)
	fmt.Fprintln(w, "--------------------------------------------------")
	fmt.Fprintf(w, "(%s)\n", cf.Note)
	limit := len(cf.Rows)
	if !opts.AllWindows {
		limit = min(limit, maxConformanceRows)
	}
	for _, r := range cf.Rows[:limit] {
		fmt.Fprintf(w, "  %s %s %s: %s\n", r.WindowEndUTC, r.DeviceID, r.Category, r.Describe(cf.Engine, cf.AgainstEngine))
	}
	if limit < len(cf.Rows) {
		fmt.Fprintf(w, "  … %d more (the JSON report lists them all)\n", len(cf.Rows)-limit)
	}
}

// revisionLabel names the latency row over revisions: every revision, or,
// with a revision sample, every revision of the windows sampled.
func revisionLabel(r *compare.Report) string {
	if r.RevisionWindows > 0 && r.RevisionWindows < r.ResultWindows {
		return fmt.Sprintf("every revision of %d of %d windows (revision sample)", r.RevisionWindows, r.ResultWindows)
	}
	return "every revision"
}
