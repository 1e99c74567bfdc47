package kafka

import (
	"strconv"

	"github.com/IBM/sarama"
)

// Record headers of the platform. Metadata travels in headers and in the record
// timestamp, never in the value, which stays the wire format of the event.
const (
	// HeaderRunID names the simulator run an event belongs to.
	HeaderRunID = "boontadata-run-id"
	// HeaderSendTime is when the device sent the event, ms since the epoch.
	HeaderSendTime = "boontadata-send-time"
	// HeaderIngestTime is when the platform received the event (the ingest
	// gateway, or the simulator's producer when it writes to Kafka directly),
	// ms since the epoch. The record timestamp carries the same instant.
	HeaderIngestTime = "boontadata-ingest-time"
	// HeaderSource names the producing service.
	HeaderSource = "boontadata-source"

	// Headers of dead-letter records.
	HeaderError           = "boontadata-error"
	HeaderErrorField      = "boontadata-error-field"
	HeaderLineNumber      = "boontadata-line-number"
	HeaderOriginTopic     = "boontadata-origin-topic"
	HeaderOriginPartition = "boontadata-origin-partition"
	HeaderOriginOffset    = "boontadata-origin-offset"
	HeaderRejectedBy      = "boontadata-rejected-by"
	HeaderRejectedAt      = "boontadata-rejected-at"
)

// Header returns the value of the first header named key, or nil.
func Header(headers []*sarama.RecordHeader, key string) []byte {
	for _, h := range headers {
		if h != nil && string(h.Key) == key {
			return h.Value
		}
	}
	return nil
}

// HeaderInt64 returns the header named key as a decimal integer; ok is false
// when the header is missing or not a number.
func HeaderInt64(headers []*sarama.RecordHeader, key string) (v int64, ok bool) {
	b := Header(headers, key)
	if b == nil {
		return 0, false
	}
	v, err := strconv.ParseInt(string(b), 10, 64)
	return v, err == nil
}

// Int64Header builds a header holding a decimal integer.
func Int64Header(key string, v int64) sarama.RecordHeader {
	return sarama.RecordHeader{Key: []byte(key), Value: strconv.AppendInt(nil, v, 10)}
}
