package window

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestAssign(t *testing.T) {
	tests := []struct {
		name        string
		size, slide time.Duration
		t           int64
		want        []Window
	}{
		{name: "tumbling inside", size: 5 * time.Second, slide: 5 * time.Second, t: 1472209316326,
			want: []Window{{1472209315000, 1472209320000}}},
		{name: "tumbling exactly on a boundary opens the next window", size: 5 * time.Second, slide: 5 * time.Second, t: 1472209320000,
			want: []Window{{1472209320000, 1472209325000}}},
		{name: "tumbling last ms of a window", size: 5 * time.Second, slide: 5 * time.Second, t: 1472209319999,
			want: []Window{{1472209315000, 1472209320000}}},
		{name: "tumbling before 1970", size: 5 * time.Second, slide: 5 * time.Second, t: -1,
			want: []Window{{-5000, 0}}},
		{name: "sliding 10s every 5s", size: 10 * time.Second, slide: 5 * time.Second, t: 12000,
			want: []Window{{5000, 15000}, {10000, 20000}}},
		{name: "sliding on a boundary", size: 10 * time.Second, slide: 5 * time.Second, t: 10000,
			want: []Window{{5000, 15000}, {10000, 20000}}},
		{name: "sliding uneven", size: 10 * time.Second, slide: 3 * time.Second, t: 10000,
			want: []Window{{3000, 13000}, {6000, 16000}, {9000, 19000}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := Sliding(tt.size, tt.slide)
			require.NoError(t, err)
			got := a.Assign(make([]Window, 0, a.MaxWindows()), tt.t)
			require.Equal(t, tt.want, got)
			for _, w := range got {
				require.True(t, w.Contains(tt.t))
			}
			require.Equal(t, got[len(got)-1], a.Last(tt.t))
		})
	}
}

func TestSlidingRejects(t *testing.T) {
	for _, c := range [][2]time.Duration{{0, 0}, {time.Second, 2 * time.Second}, {time.Second, -1}, {1500 * time.Microsecond, time.Millisecond}} {
		_, err := Sliding(c[0], c[1])
		require.ErrorIs(t, err, ErrBadSize, "%v", c)
	}
}

func TestEndString(t *testing.T) {
	w := Window{Start: 1472209315000, End: 1472209320000}
	require.Equal(t, "2016-08-26 11:02:00", w.EndString())
}

func TestAssignDoesNotAllocate(t *testing.T) {
	a, err := Sliding(10*time.Second, 5*time.Second)
	require.NoError(t, err)
	buf := make([]Window, 0, a.MaxWindows())
	require.Zero(t, testing.AllocsPerRun(100, func() { buf = a.Assign(buf[:0], 1472209316326) }))
}
