package engine

import (
	"math"
	"slices"

	"github.com/boontadata/boontadata/pkg/engine/internal/aggindex"
	"github.com/boontadata/boontadata/pkg/engine/internal/dedup"
	"github.com/boontadata/boontadata/pkg/engine/window"
)

// openWindow is a window that the watermark has not closed yet, with its
// aggregates. They are contiguous, in the order they were opened: the
// newest window's stay in the CPU cache, and closing a window reads its
// aggregates in one sequential pass. A closed window's openWindow is
// recycled for a later window (spareWindows).
type openWindow struct {
	win   window.Window
	aggs  []aggState
	index aggindex.Index // device and category -> position in aggs
	// dedup holds the DedupWithinWindow ids of this window only, so closing
	// the window forgets them with one clear instead of one delete each.
	dedup     dedup.Set
	minOffset int64
}

// aggState is one (device, category, window) aggregate, kept small: the
// device and category are interned ids and the window is its open window's.
type aggState struct {
	dev, cat uint32
	sum1     int64
	sum2     float64
	comp     float64 // compensation of sum2 (TwoSum): see addCompensated
	count    int64
	dirty    bool
}

// aggRef names an aggregate: its open window and its position in it.
type aggRef struct {
	ow  *openWindow
	idx int32
}

// findWindow returns the open window starting at start, or nil and the
// position where it belongs in e.windows.
func (e *Engine) findWindow(start int64) (*openWindow, int) {
	if ow := e.lastWindow; ow != nil && ow.win.Start == start {
		return ow, 0
	}
	i, found := slices.BinarySearchFunc(e.windows, start, func(ow *openWindow, s int64) int {
		switch {
		case ow.win.Start < s:
			return -1
		case ow.win.Start > s:
			return 1
		}
		return 0
	})
	if found {
		return e.windows[i], i
	}
	return nil, i
}

// windowFor returns the open window w, opening it in start order.
func (e *Engine) windowFor(w window.Window) *openWindow {
	ow, i := e.findWindow(w.Start)
	if ow != nil {
		e.lastWindow = ow
		return ow
	}
	if n := len(e.spareWindows); n > 0 {
		ow, e.spareWindows = e.spareWindows[n-1], e.spareWindows[:n-1]
	} else {
		ow = &openWindow{}
	}
	ow.win, ow.minOffset = w, math.MaxInt64
	e.windows = slices.Insert(e.windows, i, ow)
	e.lastWindow = ow
	return ow
}

// recycle keeps a closed window's openWindow, emptied, for a later window.
// The caller takes it out of e.windows.
func (e *Engine) recycle(ow *openWindow) {
	if ow == e.lastWindow {
		e.lastWindow = nil
	}
	e.openAggs -= len(ow.aggs)
	ow.reset()
	e.spareWindows = append(e.spareWindows, ow)
}

// reset empties ow for reuse by another window, keeping its memory unless
// the window used far less of it than it holds, so that one busy window
// does not pin large arrays for good.
func (ow *openWindow) reset() {
	ow.dedup.Clear()
	ow.index.Reset()
	if len(ow.aggs)*8 < cap(ow.aggs) {
		ow.aggs = nil
	}
	ow.aggs = ow.aggs[:0]
}
