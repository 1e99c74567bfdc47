package event

import (
	"math"
	"regexp"
	"strconv"
	"strings"
)

// measure2Syntax is measure2's documented grammar: -?D+(.D+)?([eE][+-]?D+)?
// (no "inf", "nan", hex, underscores or leading '+').
var measure2Syntax = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

// referenceParse parses a line by the format's rules as the package
// documents them (the package comment and the limits in event.go), written
// independently of ParseView and its slow path: split on '|', check each
// field in order, with strconv for the numbers. It returns the event, or the
// name of the first field that is wrong ("line" for a wrong field count).
func referenceParse(line []byte) (Event, string) {
	f := strings.Split(string(line), "|")
	if len(f) != NumFields {
		return Event{}, "line"
	}
	text := func(s string, maxLen int) bool {
		if s == "" || len(s) > maxLen {
			return false
		}
		for i := 0; i < len(s); i++ {
			if s[i] < 0x20 || s[i] == 0x7f {
				return false
			}
		}
		return true
	}
	digits := func(s string) bool {
		if s == "" {
			return false
		}
		for i := 0; i < len(s); i++ {
			if s[i] < '0' || s[i] > '9' {
				return false
			}
		}
		return true
	}
	var e Event
	if !text(f[0], MaxIDLen) {
		return Event{}, FieldMessageID
	}
	if !text(f[1], MaxIDLen) {
		return Event{}, FieldDeviceID
	}
	if len(f[2]) > MaxNumberLen || !digits(f[2]) {
		return Event{}, FieldDeviceTime
	}
	ts, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil || ts < MinDeviceTime || ts >= MaxDeviceTime {
		return Event{}, FieldDeviceTime
	}
	if !text(f[3], MaxCategoryLen) {
		return Event{}, FieldCategory
	}
	m1s := strings.TrimPrefix(f[4], "-")
	if len(f[4]) > MaxNumberLen || !digits(m1s) {
		return Event{}, FieldMeasure1
	}
	m1, err := strconv.ParseInt(f[4], 10, 64)
	if err != nil {
		return Event{}, FieldMeasure1
	}
	if len(f[5]) > MaxNumberLen || !measure2Syntax.MatchString(f[5]) {
		return Event{}, FieldMeasure2
	}
	m2, err := strconv.ParseFloat(f[5], 64)
	if err != nil && !strings.Contains(err.Error(), "value out of range") {
		return Event{}, FieldMeasure2
	}
	if math.IsInf(m2, 0) || math.Abs(m2) > MaxMeasure2 {
		return Event{}, FieldMeasure2
	}
	e = Event{MessageID: f[0], DeviceID: f[1], DeviceTime: ts, Category: f[3], Measure1: m1, Measure2: m2}
	return e, ""
}
