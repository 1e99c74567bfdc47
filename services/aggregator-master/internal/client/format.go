package client

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/boontadata/boontadata/pkg/job"
	"github.com/boontadata/boontadata/services/aggregator-master/internal/api"
)

func table(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0) }

// WriteJobs writes the job list as a table, one job a line.
func WriteJobs(w io.Writer, jobs []api.Job) error {
	if len(jobs) == 0 {
		_, err := fmt.Fprintln(w, "no job (submit one: aggregator-master submit --preset exact)")
		return err
	}
	tw := table(w)
	fmt.Fprintln(tw, "JOB\tPRESET\tRUN\tSTATE\tWORKERS\tPARTITIONS\tLAG\tEVENTS/S\tWATERMARK (UTC)\tERRORS")
	for _, j := range jobs {
		p := j.Progress
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\t%d\n", j.Spec.ID, j.Spec.Preset, dash(j.Spec.RunID), j.Spec.State,
			p.Workers, p.Partitions, p.Lag, api.FormatRate(p.EventsPerSecond), api.FormatWatermark(p.Watermark), len(p.Errors))
	}
	return tw.Flush()
}

// WriteDetail writes one job: its spec and semantics, the aggregate of its
// progress, then a table of its workers and one of its partitions.
func WriteDetail(w io.Writer, d api.JobDetail, now time.Time) error {
	s, sem, p := d.Spec, d.Semantics, d.Progress
	tw := table(w)
	row := func(k, format string, args ...any) { fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{k}, args...)...) }
	row("job", "%s", s.ID)
	row("preset", "%s (%s)", s.Preset, sem.Mirrors)
	row("run", "%s", dash(s.RunID))
	row("state", "%s", s.State)
	row("semantics", "%s", Semantics(sem))
	if sem.Note != "" {
		row("note", "%s", sem.Note)
	}
	row("start", "%s offsets; offsets out of range: %s", s.StartOffsets, s.OnOutOfRange)
	row("created", "%s", stamp(s.CreatedAt))
	row("updated", "%s", stamp(s.UpdatedAt))
	row("progress", "%d workers, %d partitions, lag %d, %s events/s, watermark %s, last report %s",
		p.Workers, p.Partitions, p.Lag, api.FormatRate(p.EventsPerSecond), api.FormatWatermark(p.Watermark), ago(now, p.LastReport))
	row("records", "%d processed, %d accepted, %d late, %d duplicates, %d poison, %d of other runs",
		p.Records, p.Accepted, p.Late, p.Duplicates, p.Poison, p.OtherRuns)
	row("results", "%d emitted, %d written; %d open windows; %d offset resets", p.ResultsEmitted, p.ResultsWritten, p.OpenWindows, p.OffsetResets)
	for _, e := range p.Errors {
		row("error", "worker %s: %s", e.WorkerID, e.Error)
	}
	if p.LastError != nil {
		row("last error", "worker %s at %s: %s", p.LastError.WorkerID, stamp(p.LastError.Time), p.LastError.Error)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(d.Batches) > 0 {
		if err := writeBatches(w, d.Batches); err != nil {
			return err
		}
	}
	if len(d.Workers) == 0 {
		_, err := fmt.Fprintln(w, "\nno worker reports this job (workers report about every second; see aggregator-worker)")
		return err
	}
	fmt.Fprintln(w)
	tw = table(w)
	fmt.Fprintln(tw, "WORKER\tPARTITIONS\tLAG\tEVENTS/S\tLAST REPORT\tERROR")
	for _, wk := range d.Workers {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", wk.WorkerID, Ranges(wk.Partitions), wk.Lag,
			api.FormatRate(wk.EventsPerSecond), ago(now, wk.ReceivedAt), dash(wk.Error))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = table(w)
	fmt.Fprintln(tw, "PARTITION\tWORKER\tNEXT OFFSET\tHIGH WATERMARK\tLAG\tCOMMITTED\tEVENTS/S\tWATERMARK (UTC)\tRECORDS\tLATE\tDUPLICATES\tPOISON\tOPEN WINDOWS\tRESULTS WRITTEN\tOFFSET RESETS")
	for _, pp := range d.Partitions {
		fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%d\t%d\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", pp.Partition, pp.WorkerID,
			pp.NextOffset, pp.HighWatermark, pp.Lag, pp.CommittedOffset, api.FormatRate(pp.EventsPerSecond),
			api.FormatWatermark(pp.Watermark), pp.Records, pp.Late, pp.Duplicates, pp.Poison, pp.OpenWindows,
			pp.ResultsWritten, pp.OffsetResets)
	}
	return tw.Flush()
}

// writeBatches writes the latest micro-batches, as Spark's streaming UI
// lists them.
func writeBatches(w io.Writer, bs []api.Batch) error {
	fmt.Fprintln(w)
	tw := table(w)
	fmt.Fprintln(tw, "BATCH\tBATCH TIME (UTC)\tSTATE\tINPUT ROWS\tPROCESSING\tSCHEDULING DELAY\tLATE")
	for _, b := range bs {
		proc := "-"
		if !b.CompletedAt.IsZero() {
			proc = (time.Duration(b.ProcessingMs) * time.Millisecond).String()
		}
		late := ""
		if b.Late {
			late = "late: the batch before overran the trigger"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%s\t%s\n", b.BatchID, b.BatchTime.UTC().Format("2006-01-02 15:04:05"), b.State,
			b.InputRows, proc, time.Duration(b.SchedulingDelayMs)*time.Millisecond, late)
	}
	return tw.Flush()
}

// WritePresets writes the preset table.
func WritePresets(w io.Writer, ps []api.Semantics) error {
	tw := table(w)
	fmt.Fprintln(tw, "PRESET\tMIRRORS\tTIME\tWINDOW\tTRIGGER\tWATERMARK\tLATENESS\tDEDUP\tOUTPUT\tDELIVERY\tENGINES\tAVAILABLE")
	for _, p := range ps {
		trigger := p.Trigger
		if p.TriggerInterval != "" {
			trigger += " " + p.TriggerInterval
		}
		avail := "yes"
		if !p.Runnable {
			avail = "not yet (micro-batch)"
		}
		engines := strings.Join(p.Engines, ",")
		if engines == "" {
			engines = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.Name, p.Mirrors, p.Time, window(p), trigger,
			p.Watermark, p.AllowedLateness, p.Dedup, p.Output, p.Delivery, engines, avail)
	}
	return tw.Flush()
}

// WriteEngines writes the engines under test.
func WriteEngines(w io.Writer, es []job.EngineUnderTest) error {
	tw := table(w)
	fmt.Fprintln(tw, "ENGINE\tPRESETS\tDIRECTORY\tWHAT")
	for _, e := range es {
		dir := e.Dir
		if dir == "" {
			dir = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.Name, strings.Join(e.Presets, ","), dir, e.About)
	}
	return tw.Flush()
}

// Semantics writes a job's semantics on one line.
func Semantics(s api.Semantics) string {
	if s.Time == "" {
		return s.Note
	}
	dedup := s.Dedup
	if s.DedupHorizon != "" {
		dedup += " (horizon " + s.DedupHorizon + ")"
	}
	wm := "watermark " + s.Watermark
	switch s.WatermarkScope {
	case "partition":
		wm += " per partition"
	case "min":
		wm += " min over partitions, idle timeout " + s.IdleTimeout
	case "global":
		wm += " global"
	case "":
		wm = "watermark by processing time"
	}
	out := fmt.Sprintf("%s time, window %s, %s, %s, allowed lateness %s, dedup %s, %s output, %s",
		s.Time, window(s), s.Trigger, wm, s.AllowedLateness, dedup, s.Output, s.Delivery)
	if s.EmitPerRecord {
		out += ", emit per record"
	}
	if s.EmitInterval != "" {
		out += ", updates at most every " + s.EmitInterval
	}
	return out
}

func window(s api.Semantics) string {
	if s.Slide == "" || s.Slide == s.Window {
		return s.Window
	}
	return s.Window + " sliding " + s.Slide
}

// Ranges writes sorted partition numbers compactly: 0-3,7,9-10.
func Ranges(ps []int32) string {
	if len(ps) == 0 {
		return "-"
	}
	var b strings.Builder
	for i := 0; i < len(ps); {
		j := i
		for j+1 < len(ps) && ps[j+1] == ps[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(int(ps[i])))
		if j > i {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(int(ps[j])))
		}
		i = j + 1
	}
	return b.String()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return now.Sub(t).Round(100*time.Millisecond).String() + " ago"
}

// WriteSubmitted says what a submit did and ends with the job id alone on
// its line, for scripts: JOB=$(aggregator-master submit ... | tail -n1).
func WriteSubmitted(w io.Writer, s job.Spec, created bool) error {
	what := "submitted"
	if !created {
		what = "already submitted with the same spec: nothing changed"
	}
	_, err := fmt.Fprintf(w, "job %s %s (preset %s, run %s, state %s)\n%s\n", s.ID, what, s.Preset, dash(s.RunID), s.State, s.ID)
	return err
}

// WriteJSON writes v as indented JSON.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
