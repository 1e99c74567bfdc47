// Package window assigns timestamps to tumbling and sliding time windows. A
// window is the half-open interval [Start, End) in ms since the epoch: an
// event exactly on a boundary belongs to the window that starts there.
package window

import (
	"errors"
	"fmt"
	"time"
)

// EndLayout prints a window's end as the original platform's reports did.
const EndLayout = "2006-01-02 15:04:05"

// Window is [Start, End) in ms since the epoch.
type Window struct {
	Start int64
	End   int64
}

// Contains reports whether t (ms) falls in the window.
func (w Window) Contains(t int64) bool { return t >= w.Start && t < w.End }

// EndString formats the end as YYYY-MM-DD HH:MM:SS in UTC.
func (w Window) EndString() string {
	return string(w.AppendEnd(make([]byte, 0, len(EndLayout))))
}

// AppendEnd appends the end as YYYY-MM-DD HH:MM:SS in UTC.
func (w Window) AppendEnd(dst []byte) []byte {
	return time.UnixMilli(w.End).UTC().AppendFormat(dst, EndLayout)
}

func (w Window) String() string {
	return fmt.Sprintf("[%d,%d)", w.Start, w.End)
}

// ErrBadSize reports a window size or slide that cannot define windows.
var ErrBadSize = errors.New("window size and slide must be whole positive milliseconds, slide at most size")

// Assigner maps a timestamp to the windows that contain it.
type Assigner struct {
	size, slide int64
}

// Tumbling returns an assigner of adjacent, non-overlapping windows.
func Tumbling(size time.Duration) (Assigner, error) { return Sliding(size, size) }

// Sliding returns an assigner of windows of length size starting every slide;
// each timestamp falls in ceil(size/slide) windows.
func Sliding(size, slide time.Duration) (Assigner, error) {
	if size <= 0 || slide <= 0 || slide > size || size%time.Millisecond != 0 || slide%time.Millisecond != 0 {
		return Assigner{}, fmt.Errorf("size %v, slide %v: %w", size, slide, ErrBadSize)
	}
	return Assigner{size: size.Milliseconds(), slide: slide.Milliseconds()}, nil
}

// Size is the window length in ms.
func (a Assigner) Size() int64 { return a.size }

// Slide is the distance between window starts in ms.
func (a Assigner) Slide() int64 { return a.slide }

// MaxWindows is how many windows one timestamp can fall in.
func (a Assigner) MaxWindows() int { return int((a.size + a.slide - 1) / a.slide) }

// Assign appends to dst the windows containing t, oldest first. With a dst of
// capacity MaxWindows it does not allocate.
func (a Assigner) Assign(dst []Window, t int64) []Window {
	last := floorDiv(t, a.slide) * a.slide
	if a.slide == a.size {
		return append(dst, Window{Start: last, End: last + a.size})
	}
	first := last - int64(a.MaxWindows()-1)*a.slide
	for s := first; s <= last; s += a.slide {
		if t < s+a.size {
			dst = append(dst, Window{Start: s, End: s + a.size})
		}
	}
	return dst
}

// Last returns the newest window containing t: its end is the last moment
// that any window of t is open.
func (a Assigner) Last(t int64) Window {
	s := floorDiv(t, a.slide) * a.slide
	return Window{Start: s, End: s + a.size}
}

// Align returns the start of the slide-long slot containing t.
func (a Assigner) Align(t int64) int64 { return floorDiv(t, a.slide) * a.slide }

// floorDiv rounds toward minus infinity so windows stay aligned before 1970.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}
