package gateway

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// slotAfterBytes is how much of a body must have arrived before its request
// takes an in-flight slot (the whole body when it is smaller): a client that
// opens a request and then sends nothing, or a trickle, never holds a slot.
// Until then the request holds only a receiving place and this much memory.
const slotAfterBytes = 32 << 10

// receivingPerSlot is how many requests may be receiving the start of their
// body per in-flight slot. It bounds the memory of those requests.
const receivingPerSlot = 4

// errTooSlow is a body that arrived slower than --min-body-rate.
var errTooSlow = errors.New("the body arrives too slowly")

// bodyReader reads a request body within the size limit, at the minimum
// rate: once the grace period has passed, each read must end by the time the
// bytes read so far plus one would have taken at the minimum rate. A client
// that falls behind is cut off by the connection's read deadline.
//
// Deadlines are set on the connection, which the network code compares with
// the wall clock; they use time.Now, not the gateway's injected clock.
type bodyReader struct {
	rc       *http.ResponseController
	body     io.Reader
	length   int64 // Content-Length, -1 when unknown
	limit    int64
	rate     int64
	start    time.Time
	grace    time.Duration
	deadline time.Time // the latest deadline: the server's read timeout
	buf      []byte
	eof      bool
}

func (g *Gateway) newBodyReader(w http.ResponseWriter, r *http.Request) *bodyReader {
	now := time.Now()
	return &bodyReader{
		rc:       http.NewResponseController(w),
		body:     http.MaxBytesReader(w, r.Body, g.cfg.MaxBodyBytes),
		length:   r.ContentLength,
		limit:    g.cfg.MaxBodyBytes,
		rate:     g.cfg.MinBodyRate,
		start:    now,
		grace:    g.cfg.BodyGrace,
		deadline: now.Add(readTimeout),
	}
}

// announcedTooLarge refuses a body whose Content-Length is over the limit.
func (br *bodyReader) announcedTooLarge() error {
	if br.length > br.limit {
		return fmt.Errorf("body of %d bytes is larger than the limit of %d bytes", br.length, br.limit)
	}
	return nil
}

// readStart reads the first slotAfterBytes of the body, or all of it when it
// is smaller. It returns the status to answer when it cannot.
func (br *bodyReader) readStart() (int, error) {
	size := int64(slotAfterBytes)
	if br.length >= 0 && br.length < size {
		size = br.length + 1 // +1: room to see the end
	}
	br.buf = make([]byte, 0, size)
	return br.read(slotAfterBytes)
}

// readAll reads the rest of the body and returns all of it.
func (br *bodyReader) readAll() ([]byte, int, error) {
	if br.length >= 0 && int64(cap(br.buf)) < br.length+1 {
		buf := make([]byte, len(br.buf), br.length+1)
		copy(buf, br.buf)
		br.buf = buf
	}
	if status, err := br.read(-1); err != nil {
		return nil, status, err
	}
	if len(br.buf) == 0 {
		return nil, http.StatusBadRequest, errors.New("empty body: send at least one event")
	}
	return br.buf, 0, nil
}

// read reads until the buffer holds upTo bytes (-1: the end of the body).
func (br *bodyReader) read(upTo int) (int, error) {
	for !br.eof && (upTo < 0 || len(br.buf) < upTo) {
		if len(br.buf) == cap(br.buf) {
			br.buf = append(br.buf, 0)[:len(br.buf)]
		}
		br.setDeadline()
		n, err := br.body.Read(br.buf[len(br.buf):cap(br.buf)])
		br.buf = br.buf[:len(br.buf)+n]
		if errors.Is(err, io.EOF) {
			br.eof = true
			// Back to the server's own deadline: the connection is now
			// watched for the client going away while the request is
			// produced, and a passing deadline would count as that.
			_ = br.rc.SetReadDeadline(br.deadline) // not supported: the server's timeouts apply
			break
		}
		if err != nil {
			return classify(err, br.limit, br.rate)
		}
	}
	return 0, nil
}

// setDeadline sets the read deadline of the next read: the time by which one
// more byte must have arrived at the minimum rate, after the grace period.
func (br *bodyReader) setDeadline() {
	next := float64(int64(len(br.buf))+1) / float64(br.rate) * float64(time.Second)
	d := br.start.Add(br.grace + time.Duration(min(next, float64(readTimeout))))
	if d.After(br.deadline) {
		d = br.deadline
	}
	_ = br.rc.SetReadDeadline(d) // not supported: the server's timeouts apply
}

// classify returns the status and error of a failed body read.
func classify(err error, limit, rate int64) (int, error) {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return http.StatusRequestEntityTooLarge, fmt.Errorf("body larger than the limit of %d bytes", limit)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return http.StatusRequestTimeout, fmt.Errorf("%w: at least %d bytes per second are required after the first seconds; "+
			"send faster, or smaller batches", errTooSlow, rate)
	}
	return http.StatusBadRequest, fmt.Errorf("read body: %w", err)
}
