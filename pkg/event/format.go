package event

import (
	"math"
	"strconv"
)

// AppendFormat appends the wire form of e to dst, without a line terminator.
// It does not validate e (see Event.Validate): an invalid event gives a line
// that ParseView rejects, never a line that parses to another event.
func AppendFormat(dst []byte, e Event) []byte {
	dst = append(dst, e.MessageID...)
	dst = append(dst, '|')
	dst = append(dst, e.DeviceID...)
	dst = append(dst, '|')
	dst = strconv.AppendInt(dst, e.DeviceTime, 10)
	dst = append(dst, '|')
	dst = append(dst, e.Category...)
	dst = append(dst, '|')
	dst = strconv.AppendInt(dst, e.Measure1, 10)
	dst = append(dst, '|')
	return AppendMeasure2(dst, e.Measure2)
}

// AppendMeasure2 appends the shortest text that parses back to exactly f:
// plain decimals for the usual magnitudes ("789.12"), an exponent for the
// extremes so that no value needs more than MaxNumberLen bytes.
func AppendMeasure2(dst []byte, f float64) []byte {
	if a := math.Abs(f); a == 0 || (a >= 1e-4 && a < 1e21) {
		return strconv.AppendFloat(dst, f, 'f', -1, 64)
	}
	return strconv.AppendFloat(dst, f, 'e', -1, 64)
}
