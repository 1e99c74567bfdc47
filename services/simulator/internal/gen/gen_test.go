package gen

import (
	"bytes"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/boontadata/boontadata/pkg/event"
)

func testParams() Params {
	return Params{
		Seed: 42, Devices: 10, Rate: 100, Start: 1_767_225_600_000, Count: 50_000, Categories: 4,
		ResendRate: 0.05, ResendHorizon: 30 * time.Second,
		LateRate: 0.01, LateMin: time.Minute, LateMax: 5 * time.Minute,
		OutOfOrderRate: 0.02, OutOfOrderMin: 500 * time.Millisecond, OutOfOrderMax: 5 * time.Second,
		ClockSkewMax: 2 * time.Second, BurstRate: 0.0001, BurstFactor: 5, BurstDuration: time.Second,
	}
}

// render returns every send as text: pattern, slot and wire line.
func render(t testing.TB, p Params) ([]byte, []Send) {
	t.Helper()
	f, err := NewFleet(p)
	require.NoError(t, err)
	var buf []byte
	var out []Send
	var s Send
	for f.Next(&s) {
		buf = append(buf, s.Pattern.String()...)
		buf = append(buf, ' ')
		buf = append(buf, time.UnixMilli(s.Slot).UTC().Format(time.RFC3339Nano)...)
		buf = append(buf, ' ')
		buf = event.AppendFormat(buf, s.Event)
		buf = append(buf, '\n')
		out = append(out, s)
	}
	return buf, out
}

func TestSameSeedSameSendsByteForByte(t *testing.T) {
	a, _ := render(t, testParams())
	b, _ := render(t, testParams())
	require.True(t, bytes.Equal(a, b), "two fleets with the same params differ")

	other := testParams()
	other.Seed = 43
	c, _ := render(t, other)
	require.False(t, bytes.Equal(a, c), "another seed gives the same sends")
}

func TestSendsAreValidEventsInOrder(t *testing.T) {
	p := testParams()
	_, sends := render(t, p)
	require.Len(t, sends, int(p.Count))
	seqs := map[int32]int64{}
	var last int64
	for i, s := range sends {
		require.NoError(t, s.Event.Validate())
		require.GreaterOrEqual(t, s.Slot, last, "send %d is out of schedule order", i)
		last = s.Slot
		require.Equal(t, seqs[s.Device], s.SendSeq, "send seq of device %d", s.Device)
		seqs[s.Device]++
		require.Equal(t, CategoryName(int(s.Category)), s.Event.Category)
		require.GreaterOrEqual(t, s.Event.Measure1, int64(0))
		require.Less(t, s.Event.Measure1, int64(Measure1Max))
		require.GreaterOrEqual(t, s.Event.Measure2, 0.0)
		require.Less(t, s.Event.Measure2, float64(Measure2Max))
	}
	require.Len(t, seqs, p.Devices)
	for d, n := range seqs {
		require.Equal(t, p.Count/int64(p.Devices), n, "device %d", d)
	}
}

func TestPatternMixWithinTolerance(t *testing.T) {
	p := testParams()
	p.Count = 200_000
	_, sends := render(t, p)
	var c Counts
	for _, s := range sends {
		c[s.Pattern]++
	}
	n := float64(c.Total())
	for _, tt := range []struct {
		pattern Pattern
		want    float64
	}{
		{Resend, p.ResendRate}, {Late, p.LateRate}, {OutOfOrder, p.OutOfOrderRate},
	} {
		got := float64(c[tt.pattern]) / n
		// Within 5 standard deviations of a binomial proportion.
		tol := 5 * math.Sqrt(tt.want*(1-tt.want)/n)
		require.InDelta(t, tt.want, got, tol, "%s: %d of %.0f", tt.pattern, c[tt.pattern], n)
	}
	require.Positive(t, c[Burst])
	require.Positive(t, c[Normal])
}

func TestResendsAreExactCopiesWithinTheHorizon(t *testing.T) {
	p := testParams()
	p.ResendRate = 0.2
	_, sends := render(t, p)
	first := map[string]Send{}
	resends := 0
	for _, s := range sends {
		if s.Pattern != Resend {
			_, dup := first[s.Event.MessageID]
			require.False(t, dup, "new message id %s seen before", s.Event.MessageID)
			first[s.Event.MessageID] = s
			continue
		}
		resends++
		orig, ok := first[s.Event.MessageID]
		require.True(t, ok, "re-send of %s before its first send", s.Event.MessageID)
		require.Equal(t, orig.Event, s.Event, "a re-send is an exact copy")
		require.Equal(t, orig.Device, s.Device)
		require.LessOrEqual(t, s.Slot-orig.Slot, p.ResendHorizon.Milliseconds(), "re-sent beyond the horizon")
	}
	require.Greater(t, resends, 1000)
}

func TestDefectsShiftDeviceTime(t *testing.T) {
	p := testParams()
	p.ClockSkewMax = 0
	_, sends := render(t, p)
	for _, s := range sends {
		if s.Pattern == Resend {
			continue
		}
		behind := s.Slot - s.Event.DeviceTime
		switch s.Pattern {
		case Late:
			require.GreaterOrEqual(t, behind, p.LateMin.Milliseconds())
			require.LessOrEqual(t, behind, p.LateMax.Milliseconds()+1)
		case OutOfOrder:
			require.GreaterOrEqual(t, behind, p.OutOfOrderMin.Milliseconds())
			require.LessOrEqual(t, behind, p.OutOfOrderMax.Milliseconds()+1)
		default:
			require.Zero(t, behind, "%s event of device %d", s.Pattern, s.Device)
		}
	}
}

func TestClockSkewIsFixedPerDevice(t *testing.T) {
	p := testParams()
	p.LateRate, p.OutOfOrderRate, p.ResendRate = 0, 0, 0
	f, err := NewFleet(p)
	require.NoError(t, err)
	skews := map[int32]int64{}
	distinct := map[int64]bool{}
	for _, d := range f.Devices {
		require.LessOrEqual(t, math.Abs(float64(d.Skew)), float64(p.ClockSkewMax.Milliseconds()))
		skews[d.Index] = d.Skew
		distinct[d.Skew] = true
	}
	require.Greater(t, len(distinct), 1)
	var s Send
	for f.Next(&s) {
		require.Equal(t, s.Slot+skews[s.Device], s.Event.DeviceTime)
	}
}

func TestDurationBoundsTheSchedule(t *testing.T) {
	p := testParams()
	p.Count, p.Duration = 0, 10*time.Second
	p.BurstRate = 0
	_, sends := render(t, p)
	for _, s := range sends {
		require.Less(t, s.Slot, p.Start+p.Duration.Milliseconds())
	}
	// 10 devices × 100/s × 10 s.
	require.Equal(t, 10_000, len(sends))
}

func TestBurstsRaiseTheRate(t *testing.T) {
	p := testParams()
	p.Count, p.Duration = 0, 10*time.Second
	p.BurstRate, p.BurstFactor, p.BurstDuration = 1, 4, time.Hour // always in a burst
	_, sends := render(t, p)
	// The random phase of each device (up to one normal interval) costs a few slots.
	require.InDelta(t, 40_000, len(sends), float64(4*p.Devices))
}

func TestDeviceIDsAreUUIDs(t *testing.T) {
	f, err := NewFleet(testParams())
	require.NoError(t, err)
	seen := map[string]bool{}
	for _, d := range f.Devices {
		require.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, d.ID)
		require.False(t, seen[d.ID])
		seen[d.ID] = true
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Params)
		want   error
	}{
		{"defaults", func(*Params) {}, nil},
		{"no devices", func(p *Params) { p.Devices = 0 }, ErrDevices},
		{"zero rate", func(p *Params) { p.Rate = 0 }, ErrRate},
		{"NaN rate", func(p *Params) { p.Rate = math.NaN() }, ErrRate},
		{"count and duration", func(p *Params) { p.Duration = time.Second }, ErrStop},
		{"neither count nor duration", func(p *Params) { p.Count = 0 }, ErrStop},
		{"no category", func(p *Params) { p.Categories = 0 }, ErrCategory},
		{"rate above 1", func(p *Params) { p.LateRate = 1.5 }, ErrDefect},
		{"rates add above 1", func(p *Params) { p.ResendRate, p.LateRate = 0.6, 0.6 }, ErrDefect},
		{"late min above max", func(p *Params) { p.LateMin = 10 * time.Minute }, ErrRange},
		{"sub-millisecond", func(p *Params) { p.OutOfOrderMax = 1500 * time.Microsecond }, ErrRange},
		{"late beyond a day", func(p *Params) { p.LateMax = 48 * time.Hour }, ErrRange},
		{"burst factor below 1", func(p *Params) { p.BurstFactor = 0.5 }, ErrBurst},
		{"start in seconds", func(p *Params) { p.Start = 1_767_225_600 }, ErrStart},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := testParams()
			tt.mutate(&p)
			err := p.Validate()
			if tt.want == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tt.want)
			_, err = NewFleet(p)
			require.ErrorIs(t, err, tt.want)
		})
	}
}

func TestPatternNames(t *testing.T) {
	var c Counts
	c[Resend] = 3
	m := c.Map()
	require.Len(t, m, int(NumPatterns))
	require.Equal(t, int64(3), m["resend"])
	require.Equal(t, "out_of_order", OutOfOrder.String())
	require.Equal(t, "Pattern(9)", Pattern(9).String())
	require.False(t, Normal.Defect())
	require.True(t, Burst.Defect())
	require.Len(t, Patterns(), int(NumPatterns))
}

func BenchmarkFleetNext(b *testing.B) {
	p := testParams()
	p.Count = math.MaxInt64 / 2
	f, err := NewFleet(p)
	require.NoError(b, err)
	var s Send
	b.ReportAllocs()
	for b.Loop() {
		f.Next(&s)
	}
}
