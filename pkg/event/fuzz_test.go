package event

import (
	"math"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

func parseFloatRef(s string) (float64, error) { return strconv.ParseFloat(s, 64) }

func addSeeds(f *testing.F) {
	for _, s := range []string{
		"123-12|123|1472209316326|cat1|456|789.12",
		"m|d|1472209316326|c|-9223372036854775808|-0",
		"m|d|1472209316326|c|1|1e-07",
		"m|d|1472209316326|c|1|1.5E+300",
		"m|d|1472209316326|c|1|1e999",
		"||||",
		"a|b|c|d|e|f|g",
		"m|d|1472209316326|c|1|0x1p3",
		"m|d|946684800000|c|1|1000000000000000",
		"m|d|946684799999|c|1|1",
		"m|d|4102444800000|c|1|1",
		"m|d|1472209316326|c|1|1000000000000001",
		"m|d|1472209316326|c|1|1.0000000000000001e15",
		"m|d|1472209316326|c|9223372036854775808|1",
		"m|d|1472209316326|c|-9223372036854775809|1",
		"m\x7f|d|1472209316326|c|1|1",
		"m|d|1472209316326|c|+1|1",
	} {
		f.Add([]byte(s))
	}
}

// FuzzParse: parsing never panics, accepts exactly the lines the reference
// parser (written from the documented format, independently of both of
// ParseView's paths) accepts, with the same event, and rejects the others
// with a *ParseError naming the same first wrong field; a line that parses
// formats to a line that parses back to the same event. The slow path alone
// (parseSplit, which ParseView falls back to) is held to the reference too,
// so that the fast path's fallback cannot hide a slow-path mistake.
func FuzzParse(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, line []byte) {
		want, wantField := referenceParse(line)
		for name, parse := range map[string]func([]byte, *View) error{"ParseView": ParseView, "parseSplit": parseSplit} {
			var v View
			err := parse(line, &v)
			if wantField != "" {
				var pe *ParseError
				require.ErrorAs(t, err, &pe, "%s accepted %q, which the reference rejects in %s", name, line, wantField)
				require.Equal(t, wantField, pe.Field, "%s: first wrong field of %q", name, line)
				continue
			}
			require.NoError(t, err, "%s rejected %q, which the reference accepts", name, line)
			requireSameEvent(t, want, v.Event())
		}
		var v View
		if err := ParseView(line, &v); err != nil {
			return
		}
		e := v.Event()
		require.NoError(t, e.Validate())
		out := format(e)
		require.LessOrEqual(t, len(out), MaxLineLen)
		back, err := parseString(out)
		require.NoError(t, err, "formatted %q", out)
		requireSameEvent(t, e, back)
		require.Equal(t, out, format(back), "format is a fixed point")
		// The fast path and strconv agree.
		m2, err := strconv.ParseFloat(string(lastField(line)), 64)
		require.NoError(t, err)
		require.Equal(t, math.Float64bits(m2), math.Float64bits(e.Measure2))
	})
}

// FuzzFormat: any event that validates formats to a line that parses back to
// it exactly; any event formats without panicking.
func FuzzFormat(f *testing.F) {
	f.Add("123-12", "123", int64(1472209316326), "cat1", int64(456), 789.12)
	f.Add("a", "b", int64(0), "", int64(-1), math.Inf(1))
	f.Add("a|b", "b\n", int64(MaxDeviceTime), "c", int64(math.MinInt64), 5e-324)
	f.Fuzz(func(t *testing.T, id, dev string, ts int64, cat string, m1 int64, m2 float64) {
		e := Event{MessageID: id, DeviceID: dev, DeviceTime: ts, Category: cat, Measure1: m1, Measure2: m2}
		out := format(e)
		if e.Validate() != nil {
			return
		}
		back, err := parseString(out)
		require.NoError(t, err, "formatted %q", out)
		requireSameEvent(t, e, back)
	})
}

func requireSameEvent(t *testing.T, want, got Event) {
	t.Helper()
	require.Equal(t, math.Float64bits(want.Measure2), math.Float64bits(got.Measure2))
	want.Measure2, got.Measure2 = 0, 0
	require.Equal(t, want, got)
}

func lastField(line []byte) []byte {
	for i := len(line) - 1; i >= 0; i-- {
		if line[i] == '|' {
			return line[i+1:]
		}
	}
	return line
}
