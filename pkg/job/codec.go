package job

import (
	"encoding/json"
	"errors"
	"fmt"
)

// ErrNotFound is returned for a job id that no store knows.
var ErrNotFound = errors.New("no such job")

// Encode returns a spec as the jobs table and the jobs topic keep it: JSON.
func Encode(s Spec) ([]byte, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("encode job %s: %w", s.ID, err)
	}
	return b, nil
}

// Decode reads a spec written by Encode, with its defaults filled in. It does
// not validate it.
func Decode(b []byte) (Spec, error) {
	var s Spec
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("decode job spec: %w", err)
	}
	return s.WithDefaults(), nil
}
