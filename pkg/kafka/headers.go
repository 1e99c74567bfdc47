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

	// Headers of the ingest gateway's dead-letter records, each of which
	// holds a group of rejected lines of one request, one per line of its
	// value. HeaderError, HeaderErrorField and HeaderLineNumber describe the
	// group's first line.
	//
	// HeaderLineNumbers lists the line numbers of the value's lines,
	// comma-separated; HeaderErrors their errors, newline-separated.
	HeaderLineNumbers = "boontadata-line-numbers"
	HeaderErrors      = "boontadata-errors"
	// HeaderLines counts the lines of the record; HeaderGroup is "i/n", the
	// record's place among the dead-letter records of its request.
	HeaderLines = "boontadata-lines"
	HeaderGroup = "boontadata-group"
	// HeaderRequestAccepted and HeaderRequestRejected count the valid and
	// rejected lines of the whole request.
	HeaderRequestAccepted = "boontadata-request-accepted"
	HeaderRequestRejected = "boontadata-request-rejected"
	// HeaderContentType says what the value's lines are: text/plain (lines
	// of a text body, as sent) or application/x-ndjson (elements of a JSON
	// body, one compacted element per line).
	HeaderContentType = "boontadata-content-type"
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

// MaxDeadValue bounds the copy of a record's value kept on the dead-letter
// topic: a value of megabytes is cut, its error says what was wrong.
const MaxDeadValue = 64 << 10

// DeadLetter returns the dead-letter record of a consumed record that cannot
// be processed: its key and (cut) value, the error and its field, where it
// came from, who rejected it and when, and its run id.
func DeadLetter(deadTopic string, msg *sarama.ConsumerMessage, err error, field, rejectedBy string, at int64) *sarama.ProducerMessage {
	value := msg.Value
	if len(value) > MaxDeadValue {
		value = value[:MaxDeadValue]
	}
	headers := []sarama.RecordHeader{
		{Key: []byte(HeaderError), Value: []byte(err.Error())},
		{Key: []byte(HeaderErrorField), Value: []byte(field)},
		{Key: []byte(HeaderOriginTopic), Value: []byte(msg.Topic)},
		Int64Header(HeaderOriginPartition, int64(msg.Partition)),
		Int64Header(HeaderOriginOffset, msg.Offset),
		{Key: []byte(HeaderRejectedBy), Value: []byte(rejectedBy)},
		Int64Header(HeaderRejectedAt, at),
	}
	if run := Header(msg.Headers, HeaderRunID); run != nil {
		headers = append(headers, sarama.RecordHeader{Key: []byte(HeaderRunID), Value: run})
	}
	return &sarama.ProducerMessage{Topic: deadTopic, Key: sarama.ByteEncoder(msg.Key),
		Value: sarama.ByteEncoder(value), Headers: headers}
}
