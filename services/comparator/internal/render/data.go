package render

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
)

// JSON writes the document, indented. Field names are documented in
// docs/comparator.md and stay stable.
func JSON(w io.Writer, doc Document) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("encode json report: %w", err)
	}
	return nil
}

// CSVHeader is the header of the CSV of windows.
var CSVHeader = []string{
	"run_id", "job_id", "preset", "device_id", "category", "window_start", "window_end", "window_end_utc",
	"truth_m1", "engine_m1", "delta_m1", "send_m1",
	"truth_m2", "engine_m2", "delta_m2", "send_m2",
	"truth_count", "engine_count", "revision", "final", "emit_time", "latency_ms",
	"exception", "kind", "causes", "explanation",
}

// CSV writes one row per (job, window). Empty cells stand for a side that has
// no row; times are ms since the epoch, plus window_end_utc.
func CSV(w io.Writer, doc Document) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	i64 := func(v int64) string { return strconv.FormatInt(v, 10) }
	f64 := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	for _, rep := range doc.Jobs {
		for i := range rep.Rows {
			r := &rep.Rows[i]
			var tm1, tm2, tc, em1, em2, ec, rev, fin, emit, lat, sm1, sm2 string
			if r.Truth != nil {
				tm1, tm2, tc = i64(r.Truth.M1), f64(r.Truth.M2), i64(r.Truth.Count)
			}
			if r.Engine != nil {
				em1, em2, ec = i64(r.Engine.M1), f64(r.Engine.M2), i64(r.Engine.Count)
				rev, fin, emit = strconv.Itoa(r.Engine.Revision), strconv.FormatBool(r.Engine.Final), i64(r.Engine.EmitTime)
			}
			if r.LatencyMs != nil {
				lat = i64(*r.LatencyMs)
			}
			if r.BySendTime != nil {
				sm1, sm2 = i64(r.BySendTime.M1), f64(r.BySendTime.M2)
			}
			expl := ""
			for j, c := range r.Causes {
				if j > 0 {
					expl += " | "
				}
				expl += c.Text
			}
			rec := []string{rep.RunID, rep.JobID, rep.Preset, r.DeviceID, r.Category, i64(r.WindowStart), i64(r.WindowEnd), r.WindowEndUTC,
				tm1, em1, i64(r.DeltaM1), sm1, tm2, em2, f64(r.DeltaM2), sm2, tc, ec, rev, fin, emit, lat,
				strconv.FormatBool(r.Exception), r.Kind, r.CauseCodes(), expl}
			if err := cw.Write(rec); err != nil {
				return fmt.Errorf("write csv: %w", err)
			}
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	return nil
}
