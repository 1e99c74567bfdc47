package event

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	long := strings.Repeat("x", MaxIDLen+1)
	tests := []struct {
		name    string
		line    string
		want    Event
		field   string
		problem error
	}{
		{name: "original example", line: "123-12|123|1472209316326|cat1|456|789.12",
			want: Event{MessageID: "123-12", DeviceID: "123", DeviceTime: 1472209316326, Category: "cat1", Measure1: 456, Measure2: 789.12}},
		{name: "negative measures", line: "m|d|1472209316326|c|-5|-0.5",
			want: Event{MessageID: "m", DeviceID: "d", DeviceTime: 1472209316326, Category: "c", Measure1: -5, Measure2: -0.5}},
		{name: "exponent measure2", line: "m|d|1472209316326|c|0|1.5e+12",
			want: Event{MessageID: "m", DeviceID: "d", DeviceTime: 1472209316326, Category: "c", Measure2: 1.5e12}},
		{name: "measure2 at its bound", line: "m|d|1472209316326|c|0|-1e15",
			want: Event{MessageID: "m", DeviceID: "d", DeviceTime: 1472209316326, Category: "c", Measure2: -1e15}},
		{name: "integer measure2", line: "m|d|1472209316326|c|9223372036854775807|7",
			want: Event{MessageID: "m", DeviceID: "d", DeviceTime: 1472209316326, Category: "c", Measure1: math.MaxInt64, Measure2: 7}},
		{name: "min int64 measure1", line: "m|d|1472209316326|c|-9223372036854775808|7",
			want: Event{MessageID: "m", DeviceID: "d", DeviceTime: 1472209316326, Category: "c", Measure1: math.MinInt64, Measure2: 7}},
		{name: "five fields", line: "123|1472209316326|cat1|456|789.12", field: "line", problem: ErrFieldCount},
		{name: "seven fields", line: "a|123|1472209316326|cat1|456|789.12|x", field: "line", problem: ErrFieldCount},
		{name: "empty line", line: "", field: "line", problem: ErrFieldCount},
		{name: "empty message id", line: "|123|1472209316326|cat1|456|789.12", field: FieldMessageID, problem: ErrEmpty},
		{name: "empty device id", line: "m||1472209316326|cat1|456|789.12", field: FieldDeviceID, problem: ErrEmpty},
		{name: "long message id", line: long + "|123|1472209316326|cat1|456|789.12", field: FieldMessageID, problem: ErrTooLong},
		{name: "control char in category", line: "m|d|1472209316326|ca\tt|456|789.12", field: FieldCategory, problem: ErrControl},
		{name: "empty category", line: "m|d|1472209316326||456|789.12", field: FieldCategory, problem: ErrEmpty},
		{name: "long category", line: "m|d|1472209316326|" + strings.Repeat("c", MaxCategoryLen+1) + "|456|789.12", field: FieldCategory, problem: ErrTooLong},
		{name: "time in seconds", line: "m|d|1472209316|cat1|456|789.12", field: FieldDeviceTime, problem: ErrRange},
		{name: "time in the next century", line: "m|d|4102444800000|cat1|456|789.12", field: FieldDeviceTime, problem: ErrRange},
		{name: "time overflow", line: "m|d|99999999999999999999999|cat1|456|789.12", field: FieldDeviceTime, problem: ErrRange},
		{name: "negative time", line: "m|d|-1472209316326|cat1|456|789.12", field: FieldDeviceTime, problem: ErrNotInteger},
		{name: "float time", line: "m|d|1472209316326.5|cat1|456|789.12", field: FieldDeviceTime, problem: ErrNotInteger},
		{name: "non-integer measure1", line: "m|d|1472209316326|cat1|45.6|789.12", field: FieldMeasure1, problem: ErrNotInteger},
		{name: "plus sign measure1", line: "m|d|1472209316326|cat1|+4|789.12", field: FieldMeasure1, problem: ErrNotInteger},
		{name: "lone minus measure1", line: "m|d|1472209316326|cat1|-|789.12", field: FieldMeasure1, problem: ErrNotInteger},
		{name: "overflow measure1", line: "m|d|1472209316326|cat1|9223372036854775808|789.12", field: FieldMeasure1, problem: ErrRange},
		{name: "empty measure1", line: "m|d|1472209316326|cat1||789.12", field: FieldMeasure1, problem: ErrEmpty},
		{name: "long measure1", line: "m|d|1472209316326|cat1|" + strings.Repeat("1", MaxNumberLen+1) + "|789.12", field: FieldMeasure1, problem: ErrTooLong},
		{name: "infinite measure2", line: "m|d|1472209316326|cat1|4|1e999", field: FieldMeasure2, problem: ErrNotFinite},
		{name: "inf text measure2", line: "m|d|1472209316326|cat1|4|inf", field: FieldMeasure2, problem: ErrNotNumber},
		{name: "nan measure2", line: "m|d|1472209316326|cat1|4|NaN", field: FieldMeasure2, problem: ErrNotNumber},
		{name: "hex measure2", line: "m|d|1472209316326|cat1|4|0x1p3", field: FieldMeasure2, problem: ErrNotNumber},
		{name: "trailing dot measure2", line: "m|d|1472209316326|cat1|4|5.", field: FieldMeasure2, problem: ErrNotNumber},
		{name: "empty exponent measure2", line: "m|d|1472209316326|cat1|4|5e", field: FieldMeasure2, problem: ErrNotNumber},
		// Two such values would sum to +Inf: rejected, not summed.
		{name: "measure2 beyond its bound", line: "m|d|1472209316326|cat1|4|1e308", field: FieldMeasure2, problem: ErrRange},
		{name: "measure2 just beyond its bound", line: "m|d|1472209316326|cat1|4|1000000000000000.1", field: FieldMeasure2, problem: ErrRange},
		{name: "trailing newline", line: "m|d|1472209316326|cat1|4|5\n", field: FieldMeasure2, problem: ErrNotNumber},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseString(tt.line)
			if tt.problem == nil {
				require.NoError(t, err)
				require.Equal(t, tt.want, got)
				return
			}
			require.ErrorIs(t, err, tt.problem)
			var pe *ParseError
			require.True(t, errors.As(err, &pe))
			require.Equal(t, tt.field, pe.Field)
			require.Contains(t, err.Error(), tt.field)
			require.Less(t, len(err.Error()), 200, "error messages stay readable")
		})
	}
}

func TestFormat(t *testing.T) {
	tests := []struct {
		name string
		e    Event
		want string
	}{
		{name: "original example",
			e:    Event{MessageID: "123-12", DeviceID: "123", DeviceTime: 1472209316326, Category: "cat1", Measure1: 456, Measure2: 789.12},
			want: "123-12|123|1472209316326|cat1|456|789.12"},
		{name: "tiny and huge measure2 use an exponent",
			e:    Event{MessageID: "a", DeviceID: "b", DeviceTime: 1472209316326, Category: "c", Measure1: -1, Measure2: 1e-7},
			want: "a|b|1472209316326|c|-1|1e-07"},
		{name: "whole measure2 has no dot",
			e:    Event{MessageID: "a", DeviceID: "b", DeviceTime: 1472209316326, Category: "c", Measure2: 3},
			want: "a|b|1472209316326|c|0|3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.NoError(t, tt.e.Validate())
			got := format(tt.e)
			require.Equal(t, tt.want, got)
			back, err := parseString(got)
			require.NoError(t, err)
			require.Equal(t, tt.e, back)
		})
	}
}

func TestValidate(t *testing.T) {
	ok := Event{MessageID: "m", DeviceID: "d", DeviceTime: 1472209316326, Category: "c"}
	tests := []struct {
		name    string
		edit    func(*Event)
		problem error
	}{
		{name: "valid", edit: func(*Event) {}},
		{name: "pipe in id", edit: func(e *Event) { e.MessageID = "a|b" }, problem: ErrFieldCount},
		{name: "newline in device", edit: func(e *Event) { e.DeviceID = "a\nb" }, problem: ErrControl},
		{name: "nan measure2", edit: func(e *Event) { e.Measure2 = math.NaN() }, problem: ErrNotFinite},
		{name: "huge measure2", edit: func(e *Event) { e.Measure2 = -2e15 }, problem: ErrRange},
		{name: "zero time", edit: func(e *Event) { e.DeviceTime = 0 }, problem: ErrRange},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := ok
			tt.edit(&e)
			err := e.Validate()
			if tt.problem == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tt.problem)
		})
	}
}

// The fast path of parseMeasure2 must agree bit for bit with strconv.
func TestMeasure2FastPathIsExact(t *testing.T) {
	for _, s := range []string{"0", "-0", "0.1", "789.12", "123456789012345", "0.000000000000001",
		"99999.9999999999", "1.7976931348623157", "4.35", "-2.675", "123456789012345.6"} {
		got, err := parseMeasure2([]byte(s))
		require.NoError(t, err, s)
		want, err := parseFloatRef(s)
		require.NoError(t, err, s)
		require.Equal(t, math.Float64bits(want), math.Float64bits(got), s)
	}
}

func TestParseViewDoesNotAllocate(t *testing.T) {
	line := []byte("123-12|123|1472209316326|cat1|456|789.12")
	var v View
	allocs := testing.AllocsPerRun(100, func() {
		if err := ParseView(line, &v); err != nil {
			t.Fatal(err)
		}
	})
	require.Zero(t, allocs)
}

// parseString parses line into an Event that owns its strings.
func parseString(line string) (Event, error) {
	var v View
	if err := ParseView([]byte(line), &v); err != nil {
		return Event{}, err
	}
	return v.Event(), nil
}

// format returns the wire form of e.
func format(e Event) string { return string(AppendFormat(nil, e)) }
