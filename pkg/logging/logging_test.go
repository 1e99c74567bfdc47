package logging

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestNew(t *testing.T) {
	tests := []struct {
		level, format string
		ok            bool
	}{
		{"info", "console", true},
		{"DEBUG", "json", true},
		{"warn", "JSON", true},
		{"error", "console", true},
		{"verbose", "console", false},
		{"info", "xml", false},
	}
	for _, tt := range tests {
		log, err := New(tt.level, tt.format)
		if !tt.ok {
			require.Error(t, err, "%s/%s", tt.level, tt.format)
			continue
		}
		require.NoError(t, err)
		require.NotNil(t, log)
	}
	_, err := New("info", "xml")
	require.ErrorIs(t, err, ErrBadFormat)
}
