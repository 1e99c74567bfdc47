// Package logging builds the zap loggers every boontadata service uses, so that
// log levels, formats and field names are the same across services.
package logging

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Formats accepted by New.
const (
	FormatConsole = "console"
	FormatJSON    = "json"
)

// ErrBadFormat is returned for a log format other than console or json.
var ErrBadFormat = errors.New("log format must be console or json")

// Field names shared by all services, so that logs can be joined across them.
const (
	KeyService   = "service"
	KeyRunID     = "run_id"
	KeyJobID     = "job_id"
	KeyTopic     = "topic"
	KeyPartition = "partition"
	KeyOffset    = "offset"
	KeyWorker    = "worker"
)

// New returns a logger writing to stderr at the given level ("debug", "info",
// "warn", "error") in the given format. Console output is meant for a person at a
// terminal, JSON output for a log pipeline.
func New(level, format string) (*zap.Logger, error) {
	var lvl zapcore.Level
	if err := lvl.UnmarshalText([]byte(strings.ToLower(level))); err != nil {
		return nil, fmt.Errorf("log level %q: must be debug, info, warn or error", level)
	}
	var enc zapcore.Encoder
	switch strings.ToLower(format) {
	case FormatConsole:
		cfg := zap.NewDevelopmentEncoderConfig()
		cfg.EncodeTime = zapcore.ISO8601TimeEncoder
		enc = zapcore.NewConsoleEncoder(cfg)
	case FormatJSON:
		cfg := zap.NewProductionEncoderConfig()
		cfg.EncodeTime = zapcore.ISO8601TimeEncoder
		enc = zapcore.NewJSONEncoder(cfg)
	default:
		return nil, fmt.Errorf("%w, got %q", ErrBadFormat, format)
	}
	core := zapcore.NewCore(enc, zapcore.Lock(os.Stderr), lvl)
	return zap.New(core, zap.AddCaller()), nil
}
