// Package jsonx holds JSON encodings the standard library does not give:
// floats that may be NaN or infinite, which encoding/json refuses.
package jsonx

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// Float is a float64 that encodes as a JSON number when finite and as the
// string "NaN", "+Inf" or "-Inf" otherwise, and decodes both forms.
type Float float64

// MarshalJSON implements json.Marshaler.
func (f Float) MarshalJSON() ([]byte, error) {
	v := float64(f)
	switch {
	case math.IsNaN(v):
		return []byte(`"NaN"`), nil
	case math.IsInf(v, 1):
		return []byte(`"+Inf"`), nil
	case math.IsInf(v, -1):
		return []byte(`"-Inf"`), nil
	}
	return json.Marshal(v)
}

// UnmarshalJSON implements json.Unmarshaler.
func (f *Float) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		switch s {
		case "NaN", "+Inf", "-Inf":
			v, _ := strconv.ParseFloat(s, 64) // these three always parse
			*f = Float(v)
			return nil
		}
		return fmt.Errorf("jsonx.Float: %q is not a number, NaN, +Inf or -Inf", s)
	}
	var v float64
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*f = Float(v)
	return nil
}
