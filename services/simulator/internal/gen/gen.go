package gen

import (
	"container/heap"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/boontadata/boontadata/pkg/event"
)

// Ranges of the generated measures: measure1 in [0, Measure1Max), measure2 in
// [0, Measure2Max) with two decimals, as the original platform's.
const (
	Measure1Max = 100
	Measure2Max = 500
)

// maxHistory bounds the re-send candidates remembered per device, so memory
// stays bounded at any rate; at very high rates the effective horizon is then
// shorter than asked (see Params.ResendHorizon).
const maxHistory = 1 << 16

// maxLate keeps device times of late events within the valid range.
const maxLate = 24 * time.Hour

// Sentinel errors of Params.Validate.
var (
	ErrDevices  = errors.New("the fleet needs 1 to 1000000 devices")
	ErrRate     = errors.New("the rate must be a positive number of events per second, at most 1e9 per device")
	ErrStop     = errors.New("give exactly one of a count and a duration, positive")
	ErrCategory = errors.New("categories must be between 1 and 1000")
	ErrDefect   = errors.New("defect rates must be in [0, 1] and add up to at most 1")
	ErrRange    = errors.New("min must not exceed max, and both must be whole non-negative milliseconds")
	ErrBurst    = errors.New("the burst factor must be at least 1 and the burst duration positive when bursts are on")
	ErrStart    = errors.New("start time must be between 2000-01-01 and 2099-12-31 (ms since the epoch)")
)

// Params fully determine the sends: the same Params give the same sends,
// byte for byte.
type Params struct {
	Seed    uint64
	Devices int
	// Rate is the nominal rate of one device, in events per second.
	Rate float64
	// Start is the nominal time of the first slot, ms since the epoch.
	Start int64
	// Count is the total number of sends over the fleet; Duration the
	// nominal time span of the run. Exactly one is set.
	Count    int64
	Duration time.Duration
	// Categories are named cat-1 ... cat-N.
	Categories int

	// Fractions of sends that are re-sends, late and out-of-order events.
	ResendRate     float64
	LateRate       float64
	OutOfOrderRate float64
	// ResendHorizon bounds how far back (in nominal send time) a re-sent
	// message was first sent.
	ResendHorizon time.Duration
	// Device time of late and out-of-order events is this far in the past,
	// uniformly between min and max.
	LateMin, LateMax             time.Duration
	OutOfOrderMin, OutOfOrderMax time.Duration
	// ClockSkewMax: each device's clock is off by a fixed amount drawn
	// uniformly in [-ClockSkewMax, +ClockSkewMax].
	ClockSkewMax time.Duration
	// BurstRate is the probability, per send outside a burst, that a burst
	// starts: for BurstDuration the device sends BurstFactor times faster.
	BurstRate     float64
	BurstFactor   float64
	BurstDuration time.Duration
}

// Validate reports the first problem of the parameters.
func (p *Params) Validate() error {
	if p.Devices < 1 || p.Devices > 1_000_000 {
		return fmt.Errorf("%w, got %d", ErrDevices, p.Devices)
	}
	if !(p.Rate > 0) || p.Rate > 1e9 || math.IsInf(p.Rate, 0) {
		return fmt.Errorf("%w, got %v", ErrRate, p.Rate)
	}
	if (p.Count > 0) == (p.Duration > 0) || p.Count < 0 || p.Duration < 0 {
		return fmt.Errorf("%w, got count %d and duration %v", ErrStop, p.Count, p.Duration)
	}
	if p.Categories < 1 || p.Categories > 1000 {
		return fmt.Errorf("%w, got %d", ErrCategory, p.Categories)
	}
	for _, r := range []float64{p.ResendRate, p.LateRate, p.OutOfOrderRate, p.BurstRate} {
		if !(r >= 0 && r <= 1) {
			return fmt.Errorf("%w, got %v", ErrDefect, r)
		}
	}
	if p.ResendRate+p.LateRate+p.OutOfOrderRate > 1 {
		return fmt.Errorf("%w: resend %v + late %v + out-of-order %v", ErrDefect, p.ResendRate, p.LateRate, p.OutOfOrderRate)
	}
	for _, r := range [][2]time.Duration{
		{p.LateMin, p.LateMax}, {p.OutOfOrderMin, p.OutOfOrderMax}, {0, p.ClockSkewMax}, {0, p.ResendHorizon},
	} {
		if r[0] < 0 || r[0] > r[1] || r[0]%time.Millisecond != 0 || r[1]%time.Millisecond != 0 {
			return fmt.Errorf("%w, got [%v, %v]", ErrRange, r[0], r[1])
		}
	}
	if p.BurstRate > 0 && (!(p.BurstFactor >= 1) || math.IsInf(p.BurstFactor, 0) || p.BurstDuration <= 0) {
		return fmt.Errorf("%w, got factor %v and duration %v", ErrBurst, p.BurstFactor, p.BurstDuration)
	}
	if p.LateMax > maxLate {
		return fmt.Errorf("%w: late events at most %v in the past, got %v", ErrRange, maxLate, p.LateMax)
	}
	day := int64(24 * time.Hour / time.Millisecond)
	if p.Start < event.MinDeviceTime+day || p.Start >= event.MaxDeviceTime-365*day {
		return fmt.Errorf("%w, got %d", ErrStart, p.Start)
	}
	return nil
}

// CategoryName returns the name of category i (0-based): "cat-1" for 0.
func CategoryName(i int) string { return "cat-" + strconv.Itoa(i+1) }

// Send is one send of one device: a new message or a re-send of an earlier
// one. Times are ms since the epoch.
type Send struct {
	Event event.Event
	// Device is the index of the device in the fleet.
	Device int32
	// Category is the index of Event.Category.
	Category int32
	// SendSeq numbers the sends of a device from 0.
	SendSeq int64
	// Slot is the nominal send time on the platform's clock (no skew).
	Slot int64
	// SendTime is when the send really happened: set by the target, equal
	// to Slot in fast mode.
	SendTime int64
	Pattern  Pattern
}

type past struct {
	slot     int64 // ns
	ev       event.Event
	category int32
}

// Device is one simulated device with its own random stream.
type Device struct {
	Index int32
	ID    string
	// Skew is the fixed offset of the device's clock, in ms.
	Skew int64

	p           *Params
	rng         *rand.Rand
	next        int64 // nominal time of the next slot, ns since the epoch
	interval    int64 // ns between slots
	burstIntvl  int64 // ns between slots during a burst
	burstUntil  int64 // ns
	stopAt      int64 // ns, duration mode
	left        int64 // sends left, count mode
	sendSeq     int64
	msgSeq      int64
	hist        []past
	histHead    int
	histLen     int
	idBuf       []byte
	categoryIDs []string
}

// Fleet is every device, merged into one schedule by nominal send time (ties
// by device index), so the order of sends is deterministic too.
type Fleet struct {
	Devices []*Device
	p       Params
	h       devHeap
}

// NewFleet builds the fleet. The params must be valid.
func NewFleet(p Params) (*Fleet, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	f := &Fleet{p: p}
	cats := make([]string, p.Categories)
	for i := range cats {
		cats[i] = CategoryName(i)
	}
	interval := max(int64(math.Round(1e9/p.Rate)), 1)
	burstIntvl := interval
	if p.BurstRate > 0 {
		burstIntvl = max(int64(math.Round(float64(interval)/p.BurstFactor)), 1)
	}
	histCap := 1
	if p.ResendRate > 0 {
		factor := 1.0
		if p.BurstRate > 0 {
			factor = p.BurstFactor
		}
		histCap = int(min(math.Ceil(p.ResendHorizon.Seconds()*p.Rate*factor)+2, maxHistory))
	}
	startNs := p.Start * int64(time.Millisecond)
	for i := range p.Devices {
		// PCG streams differ by their second seed word: one per device.
		rng := rand.New(rand.NewPCG(p.Seed, uint64(i)^0x9e3779b97f4a7c15))
		d := &Device{
			Index:       int32(i),
			ID:          uuidFrom(rng),
			p:           &f.p,
			rng:         rng,
			interval:    interval,
			burstIntvl:  burstIntvl,
			hist:        make([]past, histCap),
			categoryIDs: cats,
		}
		if sk := p.ClockSkewMax.Milliseconds(); sk > 0 {
			d.Skew = rng.Int64N(2*sk+1) - sk
		}
		// A random phase keeps devices from sending on the same instants.
		d.next = startNs + rng.Int64N(interval)
		if p.Count > 0 {
			d.left = p.Count / int64(p.Devices)
			if int64(i) < p.Count%int64(p.Devices) {
				d.left++
			}
		} else {
			d.left = math.MaxInt64
			d.stopAt = startNs + int64(p.Duration)
		}
		d.idBuf = append(make([]byte, 0, len(d.ID)+21), d.ID...)
		d.idBuf = append(d.idBuf, '-')
		f.Devices = append(f.Devices, d)
		if d.more() {
			f.h = append(f.h, d)
		}
	}
	heap.Init(&f.h)
	return f, nil
}

// Params returns the parameters of the fleet.
func (f *Fleet) Params() Params { return f.p }

// NextSlot returns the nominal time (ns since the epoch) of the next send;
// ok is false when the fleet is done.
func (f *Fleet) NextSlot() (ns int64, ok bool) {
	if len(f.h) == 0 {
		return 0, false
	}
	return f.h[0].next, true
}

// Next fills s with the next send of the fleet; false when the fleet is done.
func (f *Fleet) Next(s *Send) bool {
	if len(f.h) == 0 {
		return false
	}
	d := f.h[0]
	d.generate(s)
	if d.more() {
		heap.Fix(&f.h, 0)
	} else {
		heap.Pop(&f.h)
	}
	return true
}

func (d *Device) more() bool {
	return d.left > 0 && (d.stopAt == 0 || d.next < d.stopAt)
}

// generate makes the send of the current slot and moves to the next slot.
func (d *Device) generate(s *Send) {
	p := d.p
	slot := d.next
	inBurst := slot < d.burstUntil
	if !inBurst && p.BurstRate > 0 && d.rng.Float64() < p.BurstRate {
		d.burstUntil = slot + int64(p.BurstDuration)
		inBurst = true
	}
	if inBurst {
		d.next += d.burstIntvl
	} else {
		d.next += d.interval
	}
	d.left--

	s.Device = d.Index
	s.SendSeq = d.sendSeq
	d.sendSeq++
	s.Slot = slot / int64(time.Millisecond)
	s.SendTime = s.Slot

	u := d.rng.Float64()
	wantResend := u < p.ResendRate
	if wantResend {
		if h, ok := d.pickPast(slot); ok {
			s.Event, s.Category, s.Pattern = h.ev, h.category, Resend
			return
		}
	}
	d.msgSeq++
	d.idBuf = strconv.AppendInt(d.idBuf[:len(d.ID)+1], d.msgSeq, 10)
	cat := int32(d.rng.IntN(len(d.categoryIDs)))
	s.Category = cat
	s.Event = event.Event{
		MessageID: string(d.idBuf),
		DeviceID:  d.ID,
		Category:  d.categoryIDs[cat],
		Measure1:  d.rng.Int64N(Measure1Max),
		Measure2:  float64(d.rng.IntN(Measure2Max*100)) / 100,
	}
	deviceNs := slot + d.Skew*int64(time.Millisecond)
	switch {
	case wantResend:
		// Nothing to re-send yet (the device's first sends): a new event.
		s.Pattern = Normal
		if inBurst {
			s.Pattern = Burst
		}
	case u < p.ResendRate+p.LateRate:
		deviceNs -= between(d.rng, p.LateMin, p.LateMax)
		s.Pattern = Late
	case u < p.ResendRate+p.LateRate+p.OutOfOrderRate:
		deviceNs -= between(d.rng, p.OutOfOrderMin, p.OutOfOrderMax)
		s.Pattern = OutOfOrder
	case inBurst:
		s.Pattern = Burst
	default:
		s.Pattern = Normal
	}
	s.Event.DeviceTime = floorMs(deviceNs)
	if p.ResendRate > 0 {
		d.remember(past{slot: slot, ev: s.Event, category: cat})
	}
}

// between draws a whole number of ms in [lo, hi], returned in ns.
func between(rng *rand.Rand, lo, hi time.Duration) int64 {
	l, h := lo.Milliseconds(), hi.Milliseconds()
	return (l + rng.Int64N(h-l+1)) * int64(time.Millisecond)
}

func floorMs(ns int64) int64 {
	ms := ns / int64(time.Millisecond)
	if ns%int64(time.Millisecond) < 0 {
		ms--
	}
	return ms
}

func (d *Device) remember(h past) {
	if d.histLen < len(d.hist) {
		d.hist[(d.histHead+d.histLen)%len(d.hist)] = h
		d.histLen++
		return
	}
	d.hist[d.histHead] = h
	d.histHead = (d.histHead + 1) % len(d.hist)
}

func (d *Device) histAt(i int) *past { return &d.hist[(d.histHead+i)%len(d.hist)] }

// pickPast chooses uniformly among the messages first sent within the
// horizon before slot (ns).
func (d *Device) pickPast(slot int64) (past, bool) {
	oldest := slot - int64(d.p.ResendHorizon)
	// The history is in slot order: binary search for the first within.
	lo, hi := 0, d.histLen
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if d.histAt(m).slot < oldest {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == d.histLen {
		return past{}, false
	}
	return *d.histAt(lo + d.rng.IntN(d.histLen-lo)), true
}

// uuidFrom draws a version-4-shaped UUID from the device's stream, so device
// ids are deterministic given the seed.
func uuidFrom(rng *rand.Rand) string {
	var b [16]byte
	for i := 0; i < 16; i += 8 {
		v := rng.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}

type devHeap []*Device

func (h devHeap) Len() int { return len(h) }
func (h devHeap) Less(i, j int) bool {
	if h[i].next != h[j].next {
		return h[i].next < h[j].next
	}
	return h[i].Index < h[j].Index
}
func (h devHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *devHeap) Push(x any)   { *h = append(*h, x.(*Device)) }
func (h *devHeap) Pop() any {
	old := *h
	d := old[len(old)-1]
	*h = old[:len(old)-1]
	return d
}
