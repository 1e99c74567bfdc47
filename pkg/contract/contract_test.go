package contract

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/boontadata/boontadata/pkg/engine"
	"github.com/boontadata/boontadata/pkg/engine/window"
)

func TestParseResultAndEnd(t *testing.T) {
	l, err := Parse([]byte("result|j1|r1|dev-1|cat-2|1472209315000|1472209320000|130|13.75|4|4|1|1472209326200\n"))
	require.NoError(t, err)
	require.Equal(t, Line{Kind: KindResult, JobID: "j1", RunID: "r1", EmitTime: 1472209326200, Result: engine.Result{
		Window: window.Window{Start: 1472209315000, End: 1472209320000}, DeviceID: "dev-1", Category: "cat-2",
		SumMeasure1: 130, SumMeasure2: 13.75, Count: 4, Revision: 4, Final: true, EmitTime: 1472209326200}}, l)

	l, err = Parse([]byte("end|j1|r1|1472209326999"))
	require.NoError(t, err)
	require.Equal(t, Line{Kind: KindEnd, JobID: "j1", RunID: "r1", EmitTime: 1472209326999}, l)
	l, err = Parse([]byte(FormatStart("j1", "r1", 5)))
	require.NoError(t, err)
	require.Equal(t, Line{Kind: KindStart, JobID: "j1", RunID: "r1", EmitTime: 5}, l)

	// Java's Double.toString forms.
	for in, want := range map[string]float64{"1.0E10": 1e10, "Infinity": math.Inf(1), "-Infinity": math.Inf(-1), "0.1": 0.1} {
		l, err := Parse([]byte("result|j|r|d|c|0|5000|1|" + in + "|1|1|0|5"))
		require.NoError(t, err, in)
		require.Equal(t, want, l.Result.SumMeasure2, in)
	}
}

func TestParseLate(t *testing.T) {
	l, err := Parse([]byte("late|j1|r1|dev-1|cat-2|1472209315000|1472209320000|dev-1-17|3|4711|1472209316326|1472209316326|456|789.12|1472209331000\n"))
	require.NoError(t, err)
	require.Equal(t, Line{Kind: KindLate, JobID: "j1", RunID: "r1", EmitTime: 1472209331000, Late: Late{
		DeviceID: "dev-1", Category: "cat-2", MessageID: "dev-1-17",
		Window:    window.Window{Start: 1472209315000, End: 1472209320000},
		Partition: 3, Offset: 4711, Time: 1472209316326, DeviceTime: 1472209316326,
		Measure1: 456, Measure2: 789.12}}, l)
	// Java's Double.toString of a measure.
	l, err = Parse([]byte("late|j|r|d|c|0|5000|m|0|0|1|1|-5|1.0E-5|9"))
	require.NoError(t, err)
	require.Equal(t, 1e-5, l.Late.Measure2)
	require.Equal(t, int64(-5), l.Late.Measure1)
}

func TestParseRejectsWithTheField(t *testing.T) {
	for line, want := range map[string]string{
		"":                                           "kind",
		"hello":                                      "kind",
		"end|j|r":                                    "end lines have 4 fields",
		"result|j|r|d|c|0|5000|1|1|1|1|0":            "13 fields",
		"result||r|d|c|0|5000|1|1|1|1|0|5":           "job: empty",
		"result|j|r|d|c|x|5000|1|1|1|1|0|5":          "window_start: not an integer",
		"result|j|r|d|c|5000|5000|1|1|1|1|0|5":       "window_end: 5000 is not after",
		"result|j|r|d|c|0|5000|1|one|1|1|0|5":        "sum_measure2: not a number",
		"result|j|r|d|c|0|5000|1|1|-1|1|0|5":         "count: negative",
		"result|j|r|d|c|0|5000|1|1|1|-1|0|5":         "revision: -1 is not in 0..2147483647",
		"result|j|r|d|c|0|5000|1|1|1|2147483648|0|5": "revision: 2147483648 is not in",
		"result|j|r|d|c|0|5000|1|1|1|1|yes|5":        "final: want 0 or 1",
		"result|j|r|d\x01|c|0|5000|1|1|1|1|0|5":      "device: control character",
		"late|j|r|d|c|0|5000|m|0|0|1|1|5|1":          "a late line has 15 fields, got 14",
		"late|j|r|d|c|0|5000||0|0|1|1|5|1|9":         "message_id: empty",
		"late|j|r|d|c|5000|0|m|0|0|1|1|5|1|9":        "window_end: 0 is not after",
		"late|j|r|d|c|0|5000|m|-1|0|1|1|5|1|9":       "partition: -1 is not in",
		"late|j|r|d|c|0|5000|m|0|-3|1|1|5|1|9":       "offset: negative",
		"late|j|r|d|c|0|5000|m|0|0|x|1|5|1|9":        "record_time: not an integer",
		"late|j|r|d|c|0|5000|m|0|0|1|1|5|one|9":      "measure2: not a number",
		"late|j|r|d|c|0|5000|m|0|0|1|1|5|1|":         "emit_time: not an integer",
		"stop|j|r|1":                                 "want start, result, late or end",
	} {
		_, err := Parse([]byte(line))
		require.ErrorIs(t, err, ErrLine, line)
		require.ErrorContains(t, err, want, line)
	}
}

func TestFormatParsesBack(t *testing.T) {
	r := engine.Result{Window: window.Window{Start: 5000, End: 10000}, DeviceID: "d", Category: "c",
		SumMeasure1: -7, SumMeasure2: 0.1 + 0.2, Count: 3, Revision: 3, Final: true, EmitTime: 12345}
	l, err := Parse([]byte(FormatResult("j", "r", &r)))
	require.NoError(t, err)
	require.Equal(t, r, l.Result)
	l, err = Parse([]byte(FormatEnd("j", "r", 99)))
	require.NoError(t, err)
	require.Equal(t, int64(99), l.EmitTime)
	d := Late{DeviceID: "d", Category: "c", MessageID: "d-1", Window: window.Window{Start: 0, End: 5000},
		Partition: 15, Offset: 1 << 40, Time: 4999, DeviceTime: -3, Measure1: 2, Measure2: 0.1 + 0.2}
	l, err = Parse([]byte(FormatLate("j", "r", &d, 7)))
	require.NoError(t, err)
	require.Equal(t, Line{Kind: KindLate, JobID: "j", RunID: "r", Late: d, EmitTime: 7}, l)
}

func FuzzParseResultLine(f *testing.F) {
	f.Add([]byte("result|j1|r1|dev-1|cat-2|1472209315000|1472209320000|130|13.75|4|4|1|1472209326200"))
	f.Add([]byte("end|j1|r1|1472209326999"))
	f.Add([]byte("late|j1|r1|dev-1|cat-2|1472209315000|1472209320000|dev-1-17|3|4711|1472209316326|1472209316326|456|789.12|1472209331000"))
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := Parse(b)
		if err != nil {
			require.ErrorIs(t, err, ErrLine)
			return
		}
		// What parses formats back to a line that parses to the same.
		var again Line
		switch l.Kind {
		case KindResult:
			again, err = Parse([]byte(FormatResult(l.JobID, l.RunID, &l.Result)))
		case KindStart:
			again, err = Parse([]byte(FormatStart(l.JobID, l.RunID, l.EmitTime)))
		case KindLate:
			again, err = Parse([]byte(FormatLate(l.JobID, l.RunID, &l.Late, l.EmitTime)))
		default:
			again, err = Parse([]byte(FormatEnd(l.JobID, l.RunID, l.EmitTime)))
		}
		require.NoError(t, err)
		if math.IsNaN(l.Result.SumMeasure2) {
			require.True(t, math.IsNaN(again.Result.SumMeasure2))
			l.Result.SumMeasure2, again.Result.SumMeasure2 = 0, 0
		}
		if math.IsNaN(l.Late.Measure2) {
			require.True(t, math.IsNaN(again.Late.Measure2))
			l.Late.Measure2, again.Late.Measure2 = 0, 0
		}
		require.Equal(t, l, again)
	})
}
