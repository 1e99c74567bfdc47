package truth

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/boontadata/boontadata/pkg/engine/window"
	"github.com/boontadata/boontadata/pkg/event"

	"github.com/boontadata/boontadata/services/simulator/internal/gen"
)

func sumOf(xs []float64) float64 {
	var s Sum
	for _, x := range xs {
		s.Add(x)
	}
	return s.Value()
}

func TestSumIsExactAndOrderIndependent(t *testing.T) {
	tests := []struct {
		name string
		xs   []float64
		want float64
	}{
		{"empty", nil, 0},
		{"one", []float64{789.12}, 789.12},
		{"cancellation", []float64{1e100, 1.0, -1e100}, 1.0},
		{"tenths", []float64{0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1}, 1.0},
		{"tiny and huge", []float64{1, 1e-16, 1e-16}, 1.0000000000000002},
		{"half-even correction", []float64{1, 1e-16 * 1.1102230246251565, 1e-300}, 1.0000000000000002},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, sumOf(tt.xs))
		})
	}

	rng := rand.New(rand.NewPCG(1, 2))
	xs := make([]float64, 10_000)
	for i := range xs {
		xs[i] = float64(rng.IntN(50_000)) / 100
	}
	want := sumOf(xs)
	for range 20 {
		rng.Shuffle(len(xs), func(i, j int) { xs[i], xs[j] = xs[j], xs[i] })
		require.Equal(t, want, sumOf(xs), "the order changed the sum")
	}
	// Exact in cents: the sum of the integers, divided once.
	var cents int64
	for _, x := range xs {
		cents += int64(math.Round(x * 100))
	}
	require.InDelta(t, float64(cents)/100, want, 1e-9)
}

func send(dev, cat int32, pattern gen.Pattern, deviceTime, sendTime, m1 int64, m2 float64) gen.Send {
	return gen.Send{
		Device: dev, Category: cat, Pattern: pattern, SendTime: sendTime, Slot: sendTime,
		Event: event.Event{DeviceTime: deviceTime, Category: gen.CategoryName(int(cat)), Measure1: m1, Measure2: m2},
	}
}

func TestTruthOnAHandMadeSequence(t *testing.T) {
	tr, err := New(2, 5*time.Second)
	require.NoError(t, err)
	const t0 = 1_767_225_600_000 // a window boundary
	sends := []gen.Send{
		send(0, 0, gen.Normal, t0+100, t0+100, 10, 1.5),
		send(0, 0, gen.Normal, t0+4_999, t0+5_001, 20, 2.25), // device window 0, send window 1
		send(0, 0, gen.Resend, t0+100, t0+6_000, 10, 1.5),    // excluded from both tables
		send(0, 1, gen.Late, t0-120_000, t0+6_100, 5, 0.5),   // device time 2 minutes back
		send(1, 0, gen.OutOfOrder, t0+3_000, t0+7_000, 7, 0.1),
		send(1, 0, gen.Burst, t0+5_000, t0+7_001, 1, 0.2), // boundary belongs to the next window
	}
	for i := range sends {
		tr.Add(&sends[i])
	}
	w := func(start int64) window.Window { return window.Window{Start: start, End: start + 5_000} }
	require.Equal(t, []Row{
		{Device: 0, Category: 0, Window: w(t0), M1Sum: 30, M2Sum: 3.75, Count: 2},
		{Device: 0, Category: 1, Window: w(t0 - 120_000), M1Sum: 5, M2Sum: 0.5, Count: 1},
		{Device: 1, Category: 0, Window: w(t0), M1Sum: 7, M2Sum: 0.1, Count: 1},
		{Device: 1, Category: 0, Window: w(t0 + 5_000), M1Sum: 1, M2Sum: 0.2, Count: 1},
	}, tr.ByDeviceTime.Rows())
	require.Equal(t, []Row{
		{Device: 0, Category: 0, Window: w(t0), M1Sum: 10, M2Sum: 1.5, Count: 1},
		{Device: 0, Category: 0, Window: w(t0 + 5_000), M1Sum: 20, M2Sum: 2.25, Count: 1},
		{Device: 0, Category: 1, Window: w(t0 + 5_000), M1Sum: 5, M2Sum: 0.5, Count: 1},
		{Device: 1, Category: 0, Window: w(t0 + 5_000), M1Sum: 8, M2Sum: 0.30000000000000004, Count: 2},
	}, tr.BySendTime.Rows())
	require.Equal(t, gen.Counts{gen.Normal: 2, gen.Burst: 1, gen.Resend: 1, gen.Late: 1, gen.OutOfOrder: 1}, tr.Counts)
	require.Equal(t, []int64{4, 2}, tr.Sends)
	require.Equal(t, []int64{3, 2}, tr.Distinct)
	require.Equal(t, 4, tr.ByDeviceTime.Len())
}

func TestTruthDoesNotDependOnAckOrder(t *testing.T) {
	p := gen.Params{
		Seed: 9, Devices: 3, Rate: 1000, Start: 1_767_225_600_000, Count: 30_000, Categories: 4,
		ResendRate: 0.05, ResendHorizon: 30 * time.Second, LateRate: 0.01, LateMin: time.Minute, LateMax: 5 * time.Minute,
		OutOfOrderRate: 0.02, OutOfOrderMin: time.Second, OutOfOrderMax: 5 * time.Second,
	}
	f, err := gen.NewFleet(p)
	require.NoError(t, err)
	var sends []gen.Send
	var s gen.Send
	for f.Next(&s) {
		sends = append(sends, s)
	}
	a, err := New(3, 5*time.Second)
	require.NoError(t, err)
	for i := range sends {
		a.Add(&sends[i])
	}
	rand.New(rand.NewPCG(3, 4)).Shuffle(len(sends), func(i, j int) { sends[i], sends[j] = sends[j], sends[i] })
	b, err := New(3, 5*time.Second)
	require.NoError(t, err)
	for i := range sends {
		b.Add(&sends[i])
	}
	require.Equal(t, a.ByDeviceTime.Rows(), b.ByDeviceTime.Rows())
	require.Equal(t, a.BySendTime.Rows(), b.BySendTime.Rows())
}

func TestBadWindow(t *testing.T) {
	_, err := New(1, 0)
	require.ErrorIs(t, err, window.ErrBadSize)
}

func BenchmarkTruthAdd(b *testing.B) {
	tr, err := New(10, 5*time.Second)
	require.NoError(b, err)
	s := send(3, 2, gen.Normal, 1_767_225_600_000, 1_767_225_600_000, 42, 123.45)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		s.Device = int32(i % 10)
		s.Event.DeviceTime += 1
		s.SendTime += 1
		tr.Add(&s)
	}
}
