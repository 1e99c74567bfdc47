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
	} {
		f.Add([]byte(s))
	}
}

// FuzzParse: parsing never panics, fails only with a *ParseError, and a line
// that parses formats to a line that parses back to the same event.
func FuzzParse(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, line []byte) {
		var v, slow View
		err := ParseView(line, &v)
		slowErr := parseSplit(line, &slow)
		require.Equal(t, slowErr, err, "fast and slow paths agree on errors")
		if err == nil {
			requireSameEvent(t, slow.Event(), v.Event())
		}
		if err != nil {
			var pe *ParseError
			require.ErrorAs(t, err, &pe)
			require.NotEmpty(t, pe.Field)
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
		want, err := strconv.ParseFloat(string(lastField(line)), 64)
		require.NoError(t, err)
		require.Equal(t, math.Float64bits(want), math.Float64bits(e.Measure2))
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
