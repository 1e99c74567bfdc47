package gateway

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/IBM/sarama"

	"github.com/boontadata/boontadata/pkg/kafka"
)

// Bounds of one dead-letter record. The rejected lines of a request go to the
// dead-letter topic in groups, one record per group, rather than one record
// each: a request of many bad lines then costs a few records, not headers
// and error texts per line.
const (
	// deadLetterGroupLines bounds the lines of one dead-letter record.
	deadLetterGroupLines = 100
	// deadLetterGroupBytes bounds its value; a group has at least one line.
	deadLetterGroupBytes = 64 << 10
	// maxErrorText bounds the text of one error in HeaderErrors.
	maxErrorText = 256
)

// Content types of a dead-letter record's value (kafka.HeaderContentType).
const (
	deadLetterText = "text/plain"
	deadLetterJSON = "application/x-ndjson"
)

// oneLine returns a copy of a JSON element compacted onto one line and cut
// at MaxDeadLetterValue, as its dead-letter record keeps it.
func oneLine(raw []byte) []byte {
	var buf bytes.Buffer
	buf.Grow(min(len(raw), MaxDeadLetterValue))
	if json.Compact(&buf, raw) != nil { // not expected: the decoder returned it
		buf.Reset()
		for _, c := range raw[:min(len(raw), MaxDeadLetterValue)] {
			if c == '\n' || c == '\r' {
				c = ' '
			}
			buf.WriteByte(c)
		}
	}
	out := buf.Bytes()
	if len(out) > MaxDeadLetterValue {
		out = bytes.Clone(out[:MaxDeadLetterValue])
	}
	return out
}

// errorText is an error on one line of HeaderErrors.
func errorText(s string) string {
	if len(s) > maxErrorText {
		s = s[:maxErrorText]
	}
	if strings.ContainsAny(s, "\r\n") {
		s = strings.Map(func(r rune) rune {
			if r == '\n' || r == '\r' {
				return ' '
			}
			return r
		}, s)
	}
	return s
}

// deadLetters builds the dead-letter records of the rejected lines of b: the
// lines in groups of at most deadLetterGroupLines lines and
// deadLetterGroupBytes bytes, each record with the request's common headers,
// the first line's error, the line numbers and errors of all its lines, and
// the counts of the request.
func (g *Gateway) deadLetters(b *batch, common []sarama.RecordHeader, m requestMeta) []sarama.ProducerMessage {
	if len(b.rejected) == 0 {
		return nil
	}
	lines := make([][]byte, len(b.rejected))
	var groups [][2]int // [first, end) indexes into b.rejected
	start, size := 0, 0
	for i, r := range b.rejected {
		lines[i] = r.raw
		if len(lines[i]) > MaxDeadLetterValue {
			lines[i] = lines[i][:MaxDeadLetterValue]
		}
		if i > start && (i-start == deadLetterGroupLines || size+len(lines[i])+1 > deadLetterGroupBytes) {
			groups = append(groups, [2]int{start, i})
			start, size = i, 0
		}
		size += len(lines[i]) + 1
	}
	groups = append(groups, [2]int{start, len(b.rejected)})

	contentType := deadLetterText
	if b.json {
		contentType = deadLetterJSON
	}
	total := strconv.Itoa(len(groups))
	msgs := make([]sarama.ProducerMessage, len(groups))
	for gi, span := range groups {
		rs := b.rejected[span[0]:span[1]]
		var value []byte
		var numbers, errs strings.Builder
		for i, r := range rs {
			if i > 0 {
				value = append(value, '\n')
				numbers.WriteByte(',')
				errs.WriteByte('\n')
			}
			value = append(value, lines[span[0]+i]...)
			numbers.WriteString(strconv.Itoa(r.line))
			errs.WriteString(errorText(r.err.Error()))
		}
		first := rs[0]
		h := make([]sarama.RecordHeader, len(common), len(common)+12)
		copy(h, common)
		h = append(h,
			sarama.RecordHeader{Key: []byte(kafka.HeaderError), Value: []byte(errorText(first.err.Error()))},
			sarama.RecordHeader{Key: []byte(kafka.HeaderErrorField), Value: []byte(first.err.Field)},
			kafka.Int64Header(kafka.HeaderLineNumber, int64(first.line)),
			sarama.RecordHeader{Key: []byte(kafka.HeaderLineNumbers), Value: []byte(numbers.String())},
			sarama.RecordHeader{Key: []byte(kafka.HeaderErrors), Value: []byte(errs.String())},
			kafka.Int64Header(kafka.HeaderLines, int64(len(rs))),
			sarama.RecordHeader{Key: []byte(kafka.HeaderGroup), Value: []byte(strconv.Itoa(gi+1) + "/" + total)},
			kafka.Int64Header(kafka.HeaderRequestAccepted, int64(b.accepted)),
			kafka.Int64Header(kafka.HeaderRequestRejected, int64(len(b.rejected))),
			sarama.RecordHeader{Key: []byte(kafka.HeaderContentType), Value: []byte(contentType)},
			sarama.RecordHeader{Key: []byte(kafka.HeaderRejectedBy), Value: []byte(Source)},
			kafka.Int64Header(kafka.HeaderRejectedAt, m.ingest.UnixMilli()),
		)
		enc := sarama.ByteEncoder(value)
		// No key: a rejected line may have no device id; the hash
		// partitioner spreads keyless records.
		msgs[gi] = sarama.ProducerMessage{Topic: g.cfg.Kafka.Topics.DeadLetter, Value: enc, Headers: h, Timestamp: m.ingest}
	}
	return msgs
}
