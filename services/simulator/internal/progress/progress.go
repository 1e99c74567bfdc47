// Package progress shows how a run is going: a one-line bar refreshed a few
// times a second on a terminal, periodic log lines otherwise.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Snapshot is the state of the run at one moment.
type Snapshot struct {
	// Sent counts acknowledged sends.
	Sent int64
	// Fraction of the run done, in [0, 1]; negative when unknown.
	Fraction float64
	// Failures counts failed delivery attempts (retried).
	Failures int64
	// Pending counts sends waiting for their acknowledgement.
	Pending int64
}

// Reporter displays snapshots until stopped.
type Reporter struct {
	read     func() Snapshot
	w        io.Writer
	log      *zap.Logger
	bar      bool
	interval time.Duration
	now      func() time.Time
	stop     chan struct{}
	wg       sync.WaitGroup
}

// IsTerminal reports whether f is a character device (a terminal).
func IsTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// Start displays progress: a bar on w refreshed every 250 ms when bar is
// set, otherwise an info log line every interval.
func Start(read func() Snapshot, w io.Writer, bar bool, interval time.Duration, now func() time.Time, log *zap.Logger) *Reporter {
	if bar {
		interval = 250 * time.Millisecond
	}
	r := &Reporter{read: read, w: w, log: log, bar: bar, interval: interval, now: now, stop: make(chan struct{})}
	r.wg.Add(1)
	go r.loop()
	return r
}

// Stop ends the display; a bar is finished with a newline.
func (r *Reporter) Stop() {
	close(r.stop)
	r.wg.Wait()
}

func (r *Reporter) loop() {
	defer r.wg.Done()
	t := time.NewTicker(r.interval)
	defer t.Stop()
	start := r.now()
	last, lastAt := r.read(), start
	for {
		select {
		case <-r.stop:
			if r.bar {
				s := r.read()
				el := r.now().Sub(start)
				fmt.Fprintf(r.w, "\r%s\n", Line(s, rate(s.Sent, el), 60))
			}
			return
		case <-t.C:
		}
		s, at := r.read(), r.now()
		rt := rate(s.Sent-last.Sent, at.Sub(lastAt))
		last, lastAt = s, at
		if r.bar {
			fmt.Fprintf(r.w, "\r%s\x1b[K", Line(s, rt, 30))
			continue
		}
		fields := []zap.Field{zap.Int64("sent", s.Sent), zap.Float64("events_per_second", float64(int64(rt))),
			zap.Int64("failures", s.Failures), zap.Int64("pending", s.Pending)}
		if s.Fraction >= 0 {
			fields = append(fields, zap.Float64("percent", float64(int64(s.Fraction*1000))/10))
		}
		r.log.Info("progress", fields...)
	}
}

func rate(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// Line renders one progress line with a bar of width cells.
func Line(s Snapshot, rate float64, width int) string {
	var b strings.Builder
	if s.Fraction >= 0 {
		f := min(max(s.Fraction, 0), 1)
		full := int(f * float64(width))
		b.WriteString("[")
		b.WriteString(strings.Repeat("=", full))
		if full < width {
			b.WriteString(">")
			b.WriteString(strings.Repeat(" ", width-full-1))
		}
		fmt.Fprintf(&b, "] %5.1f%% ", f*100)
	}
	fmt.Fprintf(&b, "%s sent  %s ev/s  errors %d  pending %d", group(s.Sent), group(int64(rate)), s.Failures, s.Pending)
	return b.String()
}

// group formats n with thousands separators.
func group(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
