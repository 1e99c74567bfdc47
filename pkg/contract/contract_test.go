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
}

func FuzzParseResultLine(f *testing.F) {
	f.Add([]byte("result|j1|r1|dev-1|cat-2|1472209315000|1472209320000|130|13.75|4|4|1|1472209326200"))
	f.Add([]byte("end|j1|r1|1472209326999"))
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
		default:
			again, err = Parse([]byte(FormatEnd(l.JobID, l.RunID, l.EmitTime)))
		}
		require.NoError(t, err)
		if math.IsNaN(l.Result.SumMeasure2) {
			require.True(t, math.IsNaN(again.Result.SumMeasure2))
			l.Result.SumMeasure2, again.Result.SumMeasure2 = 0, 0
		}
		require.Equal(t, l, again)
	})
}
