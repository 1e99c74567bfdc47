// Package ingestapi is the contract between devices (the simulator) and the
// ingest gateway: the HTTP path, headers, bodies and answers of POST /v1/events.
package ingestapi

import "net/url"

// EventsPath is where devices post batches of events.
const EventsPath = "/v1/events"

// EndOfRunPattern is the route of the end-of-run call: once every event of
// a run was acknowledged (202), its producer posts an empty body to
// EndOfRunPath(runID), and the gateway writes the run's end-of-run marker to
// every partition of the events topic (docs/engines.md). Engines then close
// the run's last windows at once instead of waiting for more events.
const EndOfRunPattern = "/v1/runs/{run_id}/end"

// EndOfRunPath is the end-of-run call of one run.
func EndOfRunPath(runID string) string { return "/v1/runs/" + url.PathEscape(runID) + "/end" }

// EndOfRunResponse is the body of a 202 answer of the end-of-run call.
type EndOfRunResponse struct {
	RunID string `json:"run_id"`
	// Partitions is the number of partitions that received the marker.
	Partitions int `json:"partitions"`
}

// Content types accepted by EventsPath. A text body is newline-separated lines
// in the wire format (event.AppendFormat); a JSON body is a JSON array of Event.
const (
	ContentTypeText = "text/plain"
	ContentTypeJSON = "application/json"
)

// Request headers.
const (
	// HeaderRunID names the simulator run the events belong to (optional).
	HeaderRunID = "X-Boontadata-Run-Id"
	// HeaderSendTime is when the device sent the batch, ms since the epoch
	// (optional; the gateway's receive time is used when it is missing).
	HeaderSendTime = "X-Boontadata-Send-Time"
	// HeaderIdempotencyKey (optional; draft-ietf-httpapi-idempotency-key-header)
	// names one request across its retries: a retry with the same key and
	// the same body stores only what earlier attempts did not, so a resend
	// after a 503 or a lost answer writes each line once. A key sent with
	// another body is answered 422; a retry while an earlier attempt is in
	// progress, 409 with Retry-After.
	HeaderIdempotencyKey = "Idempotency-Key"
)

// Event is the JSON form of one event, with the field names of the wire format.
type Event struct {
	MessageID  string  `json:"message_id"`
	DeviceID   string  `json:"device_id"`
	DeviceTime int64   `json:"device_time_ms"`
	Category   string  `json:"category"`
	Measure1   int64   `json:"measure1"`
	Measure2   float64 `json:"measure2"`
}

// Response is the body of a 202 answer, and of 4xx/5xx answers when the
// request could be read.
type Response struct {
	Accepted int `json:"accepted"`
	Rejected int `json:"rejected"`
	// Errors explains the first rejected lines, in order: at most
	// MaxAnswerErrors of them.
	Errors []LineError `json:"errors,omitempty"`
	// ErrorsOmitted counts the rejected lines not listed in Errors.
	ErrorsOmitted int `json:"errors_omitted,omitempty"`
	// Error explains a failure of the whole request (4xx, 5xx).
	Error string `json:"error,omitempty"`
}

// MaxAnswerErrors bounds the line errors an answer lists; the dead-letter
// topic holds every rejected line with its error.
const MaxAnswerErrors = 100

// LineError explains one rejected line (1-based) or JSON array element.
type LineError struct {
	Line  int    `json:"line"`
	Error string `json:"error"`
}
