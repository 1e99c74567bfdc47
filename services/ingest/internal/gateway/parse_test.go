package gateway

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/boontadata/boontadata/pkg/event"
)

func TestParseText(t *testing.T) {
	type rej struct {
		line  int
		field string
		err   error
	}
	tests := []struct {
		name     string
		body     string
		maxLine  int
		accepted []string
		keys     []string
		rejected []rej
	}{
		{name: "one line no newline", body: valid1, accepted: []string{valid1}, keys: []string{"dev-1"}},
		{name: "crlf and blank lines", body: "\r\n" + valid1 + "\r\n\r\n" + valid2 + "\n\n",
			accepted: []string{valid1, valid2}, keys: []string{"dev-1", "dev-2"}},
		{name: "bad neighbours keep their numbers", body: "x\n" + valid1 + "\n\na|b|c|d|e|f\n",
			accepted: []string{valid1}, keys: []string{"dev-1"},
			rejected: []rej{{1, "line", event.ErrFieldCount}, {4, event.FieldDeviceTime, event.ErrNotInteger}}},
		{name: "too long line alone", body: valid1 + "\n" + valid2, maxLine: len(valid1) - 1,
			accepted: []string{valid2}, keys: []string{"dev-2"}, rejected: []rej{{1, "line", event.ErrTooLong}}},
		{name: "a lone CR is a blank line", body: "\r", accepted: nil},
		{name: "CR inside a line is a control character", body: "m-1|dev\r1|1472209316326|c|1|2\n",
			rejected: []rej{{1, event.FieldDeviceID, event.ErrControl}}},
		{name: "empty", body: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			maxLine := tt.maxLine
			if maxLine == 0 {
				maxLine = event.MaxLineLen
			}
			b := parseText([]byte(tt.body), maxLine, 1000)
			values, keys := collect(&b)
			require.Equal(t, tt.accepted, values)
			require.Equal(t, len(tt.accepted), b.accepted)
			require.False(t, b.tooMany)
			require.Equal(t, tt.keys, keys)
			require.Len(t, b.rejected, len(tt.rejected))
			for i, want := range tt.rejected {
				got := b.rejected[i]
				require.Equal(t, want.line, got.line)
				require.Equal(t, want.field, got.err.Field)
				require.ErrorIs(t, got.err, want.err)
			}
		})
	}
}

func TestParseJSON(t *testing.T) {
	const ok = `{"message_id":"j-1","device_id":"dev-1","device_time_ms":1472209316326,"category":"c","measure1":-3,"measure2":2.5}`
	tests := []struct {
		name      string
		body      string
		whole     error // the request fails
		accepted  []string
		keys      []string
		rejFields []string
		rejErrs   []error
	}{
		{name: "one", body: "[" + ok + "]", accepted: []string{"j-1|dev-1|1472209316326|c|-3|2.5"}, keys: []string{"dev-1"}},
		{name: "canonical measure2", body: `[{"message_id":"a","device_id":"d","device_time_ms":1472209316326,"category":"c","measure1":1,"measure2":1.50}]`,
			accepted: []string{"a|d|1472209316326|c|1|1.5"}, keys: []string{"d"}},
		{name: "empty array", body: " [ ] "},
		{name: "wrong type", body: `[{"message_id":1}]`, rejFields: []string{"message_id"}, rejErrs: []error{ErrJSONType}},
		{name: "unknown field", body: `[{"message_id":"a","deviceId":"d"}]`, rejFields: []string{"deviceId"}, rejErrs: []error{ErrUnknownField}},
		{name: "missing field", body: `[{"message_id":"a"}]`, rejFields: []string{"device_id"}, rejErrs: []error{ErrMissingField}},
		{name: "not an object", body: `[null, 3, "x", []]`, rejFields: []string{"element", "element", "element", "element"},
			rejErrs: []error{ErrNotObject, ErrNotObject, ErrNotObject, ErrNotObject}},
		{name: "invalid event", body: `[{"message_id":"","device_id":"d","device_time_ms":1472209316326,"category":"c","measure1":1,"measure2":1}]`,
			rejFields: []string{"message_id"}, rejErrs: []error{event.ErrEmpty}},
		{name: "device time out of range", body: `[{"message_id":"a","device_id":"d","device_time_ms":1472209316,"category":"c","measure1":1,"measure2":1}]`,
			rejFields: []string{"device_time_ms"}, rejErrs: []error{event.ErrRange}},
		{name: "good after bad", body: `[{"x":1},` + ok + `]`, accepted: []string{"j-1|dev-1|1472209316326|c|-3|2.5"}, keys: []string{"dev-1"},
			rejFields: []string{"x"}, rejErrs: []error{ErrUnknownField}},
		{name: "object", body: `{}`, whole: errNotArray},
		{name: "garbage", body: `nope`, whole: errNotArray},
		{name: "truncated", body: `[` + ok, whole: errNotArray},
		{name: "trailing data", body: `[]x`, whole: errNotArray},
		{name: "two arrays", body: `[][]`, whole: errNotArray},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := parseJSON([]byte(tt.body), 1000)
			if tt.whole != nil {
				require.ErrorIs(t, err, tt.whole)
				return
			}
			require.NoError(t, err)
			values, keys := collect(&b)
			require.Equal(t, tt.accepted, values)
			require.Equal(t, len(tt.accepted), b.accepted)
			require.Equal(t, tt.keys, keys)
			require.Len(t, b.rejected, len(tt.rejFields))
			for i, r := range b.rejected {
				require.Equal(t, tt.rejFields[i], r.err.Field, r.err.Error())
				require.ErrorIs(t, r.err, tt.rejErrs[i])
			}
		})
	}
}

// collect returns the values and keys acceptedLines yields.
func collect(b *batch) (values, keys []string) {
	for v, k := range b.acceptedLines() {
		values, keys = append(values, string(v)), append(keys, string(k))
	}
	return values, keys
}

func TestParseStopsBeyondTheRejectedCap(t *testing.T) {
	const ok = `{"message_id":"j-1","device_id":"dev-1","device_time_ms":1472209316326,"category":"c","measure1":-3,"measure2":2.5}`
	tests := []struct {
		name     string
		parse    func(maxRejected int) batch
		lines    int // of the body: 2 valid, then bad ones
		accepted int
	}{
		{name: "text", lines: 12, accepted: 2, parse: func(maxRejected int) batch {
			return parseText([]byte(valid1+"\n"+valid2+"\n"+strings.Repeat("x\n", 10)), event.MaxLineLen, maxRejected)
		}},
		{name: "JSON", lines: 12, accepted: 2, parse: func(maxRejected int) batch {
			b, err := parseJSON([]byte("["+ok+","+ok+strings.Repeat(`,{"x":1}`, 10)+"]"), maxRejected)
			require.NoError(t, err)
			return b
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.parse(10)
			require.False(t, b.tooMany, "exactly the cap is fine")
			require.Len(t, b.rejected, 10)
			require.Equal(t, tt.accepted, b.accepted)

			b = tt.parse(4)
			require.True(t, b.tooMany)
			require.Len(t, b.rejected, 5, "parsing stops at the first line beyond the cap")
			require.Equal(t, 7, b.rejected[4].line)

			b = tt.parse(0)
			require.True(t, b.tooMany, "0: any rejected line refuses the request")
			require.Len(t, b.rejected, 1)
		})
	}
}

// FuzzParseText checks that no body makes the parser panic, that every
// non-blank line is accepted or rejected exactly once, and that what is
// accepted is a valid wire-format line keyed by its device id.
func FuzzParseText(f *testing.F) {
	f.Add([]byte(mixedBody), uint16(event.MaxLineLen))
	f.Add([]byte(valid1+"\r\n\r\n"+valid2), uint16(10))
	f.Add([]byte("\n\n\r\n|||||\n"), uint16(1))
	f.Fuzz(func(t *testing.T, body []byte, maxLine uint16) {
		limit := int(maxLine) + 1
		b := parseText(body, limit, MaxRejectedLinesLimit)
		lines := 0
		for _, l := range bytes.Split(body, []byte{'\n'}) {
			if len(bytes.TrimSuffix(l, []byte{'\r'})) > 0 {
				lines++
			}
		}
		if got := b.accepted + len(b.rejected); got != lines {
			t.Fatalf("%d lines accounted for, %d non-blank lines", got, lines)
		}
		yielded := 0
		for value, key := range b.acceptedLines() {
			yielded++
			var e event.View
			if err := event.ParseView(value, &e); err != nil {
				t.Fatalf("accepted line %q does not parse: %v", value, err)
			}
			if string(e.DeviceID) != string(key) || len(value) > limit {
				t.Fatalf("accepted line %q: key %q", value, key)
			}
		}
		if yielded != b.accepted {
			t.Fatalf("%d accepted lines yielded, %d counted", yielded, b.accepted)
		}
		last := 0
		for _, r := range b.rejected {
			if r.line <= last || r.err == nil || r.err.Error() == "" {
				t.Fatalf("rejection %+v after line %d", r, last)
			}
			last = r.line
		}
	})
}

// FuzzParseJSON checks that no body makes the JSON parser panic and that what
// it accepts is a valid wire-format line keyed by its device id.
func FuzzParseJSON(f *testing.F) {
	f.Add([]byte(`[{"message_id":"j-1","device_id":"dev-1","device_time_ms":1472209316326,"category":"c","measure1":-3,"measure2":2.5}]`))
	f.Add([]byte(`[{"message_id":1},null,{"x":"y"}]`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, body []byte) {
		b, err := parseJSON(body, MaxRejectedLinesLimit)
		if err != nil {
			if !errors.Is(err, errNotArray) && !strings.HasPrefix(err.Error(), "JSON element") {
				t.Fatalf("unexpected error: %v", err)
			}
			return
		}
		yielded := 0
		for value, key := range b.acceptedLines() {
			yielded++
			var e event.View
			if err := event.ParseView(value, &e); err != nil {
				t.Fatalf("accepted %q does not parse: %v", value, err)
			}
			if string(e.DeviceID) != string(key) {
				t.Fatalf("accepted %q: key %q", value, key)
			}
		}
		if yielded != b.accepted {
			t.Fatalf("%d accepted elements yielded, %d counted", yielded, b.accepted)
		}
		for _, r := range b.rejected {
			if r.err == nil || r.err.Error() == "" {
				t.Fatalf("rejection without a reason: %+v", r)
			}
		}
	})
}

func benchBody(lines int) []byte {
	var b bytes.Buffer
	for i := range lines {
		fmt.Fprintf(&b, "m-%d|dev-%d|1472209316326|cat%d|%d|%d.25\n", i, i%1000, i%5, i, i%10000)
	}
	return b.Bytes()
}

// BenchmarkParseText measures both passes over a text body: the check of
// every line, then the walk that yields the valid ones to produce.
func BenchmarkParseText(b *testing.B) {
	body := benchBody(1000)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		bt := parseText(body, event.MaxLineLen, 1000)
		n := 0
		for range bt.acceptedLines() {
			n++
		}
		if n != 1000 {
			b.Fatal(len(bt.rejected))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/event")
}
