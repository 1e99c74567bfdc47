package progress

import (
	"bytes"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestLine(t *testing.T) {
	tests := []struct {
		name string
		s    Snapshot
		rate float64
		want string
	}{
		{"half", Snapshot{Sent: 1234567, Fraction: 0.5, Failures: 2, Pending: 30}, 301234.7,
			"[=====>    ]  50.0% 1,234,567 sent  301,234 ev/s  errors 2  pending 30"},
		{"done", Snapshot{Sent: 10, Fraction: 1}, 0, "[==========] 100.0% 10 sent  0 ev/s  errors 0  pending 0"},
		{"unknown", Snapshot{Sent: 999, Fraction: -1}, 5, "999 sent  5 ev/s  errors 0  pending 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, Line(tt.s, tt.rate, 10))
		})
	}
}

// syncBuffer is a bytes.Buffer safe for the reporter goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestBarAndLogLines(t *testing.T) {
	var sent atomic.Int64
	read := func() Snapshot { return Snapshot{Sent: sent.Add(100), Fraction: 0.25} }

	var out syncBuffer
	r := Start(read, &out, true, time.Hour, time.Now, zap.NewNop())
	require.Eventually(t, func() bool { return strings.Count(out.String(), "\r") >= 2 }, 5*time.Second, 10*time.Millisecond)
	r.Stop()
	require.True(t, strings.HasSuffix(out.String(), "\n"), "a finished bar ends its line")
	require.Contains(t, out.String(), "25.0%")

	core, logs := observer.New(zap.InfoLevel)
	r = Start(read, &out, false, 10*time.Millisecond, time.Now, zap.New(core))
	require.Eventually(t, func() bool { return logs.FilterMessage("progress").Len() >= 2 }, 5*time.Second, 10*time.Millisecond)
	r.Stop()
	e := logs.FilterMessage("progress").All()[0]
	require.Equal(t, 25.0, e.ContextMap()["percent"])
}

func TestIsTerminal(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "out")
	require.NoError(t, err)
	defer func() { require.NoError(t, f.Close()) }()
	require.False(t, IsTerminal(f))
}
