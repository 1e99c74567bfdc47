package event

import (
	"bytes"
	"encoding/binary"
	"math"
	"strconv"
)

// ParseView parses one line (without its line terminator) into v, whose text
// fields then point into line. It does not allocate unless it fails, so the
// engine can parse millions of lines per second into one reused View.
func ParseView(line []byte, v *View) error {
	// One pass over the line: text fields are scanned for the separator and
	// control characters at once, integers are parsed as they are scanned.
	// Any irregularity falls back to the field parsers, which say what is
	// wrong; the fast path only has to be right about valid lines.
	i := 0
	id, ok := scanText(line, &i)
	if !ok {
		return parseSplit(line, v)
	}
	dev, ok := scanText(line, &i)
	if !ok {
		return parseSplit(line, v)
	}
	ts, ok := scanTime(line, &i)
	if !ok || ts < uint64(MinDeviceTime) || ts >= uint64(MaxDeviceTime) {
		return parseSplit(line, v)
	}
	cat, ok := scanText(line, &i)
	if !ok {
		return parseSplit(line, v)
	}
	neg := i < len(line) && line[i] == '-'
	if neg {
		i++
	}
	m1, ok := scanUint(line, &i)
	if !ok || m1 > math.MaxInt64 {
		return parseSplit(line, v)
	}
	m2, err := parseMeasure2(line[i:])
	if err != nil || len(id) > MaxIDLen || len(dev) > MaxIDLen || len(cat) > MaxCategoryLen {
		return parseSplit(line, v)
	}
	v.MessageID, v.DeviceID, v.Category = id, dev, cat
	v.DeviceTime, v.Measure2 = int64(ts), m2
	v.Measure1 = int64(m1)
	if neg {
		v.Measure1 = -v.Measure1
	}
	return nil
}

// scanText reads a non-empty field without control characters up to and
// past the next '|'.
func scanText(line []byte, i *int) ([]byte, bool) {
	start, j := *i, *i
	for j < len(line) && !textStop[line[j]] {
		j++
	}
	if j == start || j == len(line) || line[j] != '|' {
		return nil, false
	}
	*i = j + 1
	return line[start:j], true
}

// textStop holds the bytes that end a text field or make it invalid: '|',
// control characters and DEL.
var textStop = func() (t [256]bool) {
	for c := range 0x20 {
		t[c] = true
	}
	t['|'], t[0x7f] = true, true
	return t
}()

// scanUint reads 1 to 18 digits (no overflow possible) up to and past the
// next '|'.
func scanUint(line []byte, i *int) (uint64, bool) {
	return scanDigits(line, i, *i, 0)
}

// scanDigits goes on with the digits of a field that starts at *i, from j,
// where the digits before make n.
func scanDigits(line []byte, i *int, j int, n uint64) (uint64, bool) {
	start := *i
	for j < len(line) {
		d := uint64(line[j]) - '0'
		if d > 9 {
			break
		}
		n = n*10 + d
		j++
	}
	if j == start || j-start > 18 || j == len(line) || line[j] != '|' {
		return 0, false
	}
	*i = j + 1
	return n, true
}

// scanTime is scanUint for device_time_ms, whose 13 digits (until 2286) it
// reads eight at a time: one load, a digit check and three multiplies
// instead of eight dependent steps.
func scanTime(line []byte, i *int) (uint64, bool) {
	j := *i
	if j+8 > len(line) {
		return scanUint(line, i)
	}
	x := binary.LittleEndian.Uint64(line[j:]) - 0x3030303030303030
	// Every byte a digit: none borrowed below '0' or reaches 10.
	if (x|(x+0x7676767676767676))&0x8080808080808080 != 0 {
		return scanUint(line, i)
	}
	x = (x*10 + x>>8) & 0x00ff00ff00ff00ff
	x = (x*100 + x>>16) & 0x0000ffff0000ffff
	return scanDigits(line, i, j+8, (x*10000+x>>32)&0xffffffff)
}

// parseSplit splits the line first, then parses each field, reporting the
// first one that is wrong. ParseView falls back to it for any line its fast
// path does not accept, which may still be valid (a measure1 of 19 digits).
func parseSplit(line []byte, v *View) error {
	var f [NumFields][]byte
	var ctl [NumFields]bool
	i := 0
	for k := 0; k < NumFields; k++ {
		start := i
		bad := false
		for i < len(line) && line[i] != '|' {
			c := line[i]
			bad = bad || c < 0x20 || c == 0x7f
			i++
		}
		f[k], ctl[k] = line[start:i], bad
		if i == len(line) {
			if k != NumFields-1 {
				return fieldCountError(line)
			}
			break
		}
		if k == NumFields-1 {
			return fieldCountError(line) // a '|' after the sixth field
		}
		i++ // skip the '|'
	}

	if err := checkParsedText(FieldMessageID, f[0], ctl[0], MaxIDLen); err != nil {
		return err
	}
	if err := checkParsedText(FieldDeviceID, f[1], ctl[1], MaxIDLen); err != nil {
		return err
	}
	ts, err := parseDeviceTime(f[2])
	if err != nil {
		return err
	}
	if err := checkParsedText(FieldCategory, f[3], ctl[3], MaxCategoryLen); err != nil {
		return err
	}
	m1, err := parseMeasure1(f[4])
	if err != nil {
		return err
	}
	m2, err := parseMeasure2(f[5])
	if err != nil {
		return err
	}
	*v = View{MessageID: f[0], DeviceID: f[1], DeviceTime: ts, Category: f[3], Measure1: m1, Measure2: m2}
	return nil
}

func checkParsedText(field string, b []byte, ctl bool, maxLen int) error {
	if len(b) == 0 || len(b) > maxLen || ctl {
		return checkText(field, b, maxLen)
	}
	return nil
}

func fieldCountError(line []byte) error {
	n := bytes.Count(line, []byte{'|'}) + 1
	return &ParseError{
		Field:  "line",
		Err:    ErrFieldCount,
		Detail: "want " + strconv.Itoa(NumFields) + " '|'-separated fields, got " + strconv.Itoa(n),
	}
}

func checkNumberText(field string, b []byte) error {
	if len(b) == 0 {
		return &ParseError{Field: field, Err: ErrEmpty}
	}
	if len(b) > MaxNumberLen {
		return fieldError(field, b, ErrTooLong, "at most "+strconv.Itoa(MaxNumberLen)+" bytes, got "+strconv.Itoa(len(b)))
	}
	return nil
}

// parseDigits reads an unsigned decimal integer made only of digits.
// overflow reports a value above math.MaxUint64.
func parseDigits(b []byte) (n uint64, ok, overflow bool) {
	if len(b) == 0 {
		return 0, false, false
	}
	for _, c := range b {
		d := uint64(c) - '0'
		if d > 9 {
			return 0, false, false
		}
		n = n*10 + d
	}
	// Up to 19 digits cannot overflow a uint64; beyond, redo it carefully
	// rather than dividing on every digit of the common case.
	if len(b) > maxSafeDigits {
		n = 0
		for _, c := range b {
			d := uint64(c) - '0'
			if n > (math.MaxUint64-d)/10 {
				return 0, true, true
			}
			n = n*10 + d
		}
	}
	return n, true, false
}

// maxSafeDigits is the most decimal digits that always fit in a uint64.
const maxSafeDigits = 19

func parseDeviceTime(b []byte) (int64, error) {
	if err := checkNumberText(FieldDeviceTime, b); err != nil {
		return 0, err
	}
	n, ok, overflow := parseDigits(b)
	if !ok {
		return 0, fieldError(FieldDeviceTime, b, ErrNotInteger, "ms since the epoch, digits only")
	}
	if overflow || n > math.MaxInt64 {
		return 0, checkDeviceTime(math.MaxInt64, b)
	}
	if err := checkDeviceTime(int64(n), b); err != nil {
		return 0, err
	}
	return int64(n), nil
}

func parseMeasure1(b []byte) (int64, error) {
	if err := checkNumberText(FieldMeasure1, b); err != nil {
		return 0, err
	}
	neg := b[0] == '-'
	digits := b
	if neg {
		digits = b[1:]
	}
	n, ok, overflow := parseDigits(digits)
	if !ok {
		return 0, fieldError(FieldMeasure1, b, ErrNotInteger, "")
	}
	switch {
	case overflow, !neg && n > math.MaxInt64, neg && n > 1<<63:
		return 0, fieldError(FieldMeasure1, b, ErrRange, "64-bit signed integer")
	case neg:
		return -int64(n), nil // n == 1<<63 wraps to MinInt64, which is right
	}
	return int64(n), nil
}

// maxExactDigits is the most decimal digits whose integer is exact in a
// float64 (10^15 < 2^53): the fast path of parseMeasure2 depends on it.
const maxExactDigits = 15

// parseMeasure2 accepts -?D+(.D+)?([eE][+-]?D+)? only: no "inf", "nan", hex,
// underscores or leading '+', which strconv.ParseFloat would take. Short
// plain decimals (the common case) take an exact fast path.
func parseMeasure2(b []byte) (float64, error) {
	if err := checkNumberText(FieldMeasure2, b); err != nil {
		return 0, err
	}
	i, neg := 0, false
	if b[0] == '-' {
		i, neg = 1, true
	}
	var mant uint64
	digits, frac := 0, 0
	start := i
	for ; i < len(b) && b[i]-'0' <= 9; i++ {
		mant = mant*10 + uint64(b[i]-'0')
		digits++
	}
	if i == start {
		return 0, fieldError(FieldMeasure2, b, ErrNotNumber, "")
	}
	if i < len(b) && b[i] == '.' {
		i++
		fs := i
		for ; i < len(b) && b[i]-'0' <= 9; i++ {
			mant = mant*10 + uint64(b[i]-'0')
			digits++
		}
		frac = i - fs
		if frac == 0 {
			return 0, fieldError(FieldMeasure2, b, ErrNotNumber, "a digit must follow '.'")
		}
	}
	plain := true
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		plain = false
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		es := i
		for ; i < len(b) && b[i]-'0' <= 9; i++ {
		}
		if i == es {
			return 0, fieldError(FieldMeasure2, b, ErrNotNumber, "an exponent needs digits")
		}
	}
	if i != len(b) {
		return 0, fieldError(FieldMeasure2, b, ErrNotNumber, "")
	}
	// A plain decimal of at most 15 digits is below 10^15: within
	// MaxMeasure2.
	if plain && digits <= maxExactDigits {
		// Both operands are exact and the division rounds once, so this is
		// the correctly rounded value, the same strconv.ParseFloat returns.
		f := float64(mant) / math.Pow10(frac)
		if neg {
			f = -f
		}
		return f, nil
	}
	// The compiler does not allocate for string(b) here: ParseFloat copies
	// the text before keeping it in an error.
	f, err := strconv.ParseFloat(string(b), 64)
	if math.IsInf(f, 0) {
		return 0, fieldError(FieldMeasure2, b, ErrNotFinite, "beyond the float64 range")
	}
	if err != nil {
		return 0, fieldError(FieldMeasure2, b, ErrNotNumber, "")
	}
	if math.Abs(f) > MaxMeasure2 {
		return 0, fieldError(FieldMeasure2, b, ErrRange, measure2Range)
	}
	return f, nil
}
