package gateway

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/urfave/cli/v2"

	"github.com/boontadata/boontadata/pkg/kafka"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		want   error
	}{
		{name: "defaults", change: func(*Config) {}},
		{name: "no listen", change: func(c *Config) { c.Listen = "" }, want: ErrNoListen},
		{name: "zero body", change: func(c *Config) { c.MaxBodyBytes = 0 }, want: ErrBadBodyLimit},
		{name: "zero line", change: func(c *Config) { c.MaxLineBytes = 0 }, want: ErrBadLineLimit},
		{name: "line above body", change: func(c *Config) { c.MaxBodyBytes, c.MaxLineBytes = 10, 11 }, want: ErrBadLineLimit},
		{name: "zero in flight", change: func(c *Config) { c.MaxInFlight = 0 }, want: ErrBadInFlight},
		{name: "zero produce timeout", change: func(c *Config) { c.ProduceTimeout = 0 }, want: ErrBadTimeout},
		{name: "zero shutdown timeout", change: func(c *Config) { c.ShutdownTimeout = 0 }, want: ErrBadTimeout},
		{name: "fast ready checks", change: func(c *Config) { c.ReadyInterval = time.Millisecond }, want: ErrBadReadInterval},
		{name: "sub-second retry-after", change: func(c *Config) { c.RetryAfter = 500 * time.Millisecond }, want: ErrBadRetryAfter},
		{name: "token with space", change: func(c *Config) { c.AuthToken = "a b" }, want: ErrBadTokenFormat},
		{name: "token ok", change: func(c *Config) { c.AuthToken = "abc.DEF-123_~" }},
		{name: "kafka", change: func(c *Config) { c.Kafka.Brokers = nil }, want: kafka.ErrNoBrokers},
		{name: "negative rejected cap", change: func(c *Config) { c.MaxRejectedLines = -1 }, want: ErrBadRejectedCap},
		{name: "huge rejected cap", change: func(c *Config) { c.MaxRejectedLines = MaxRejectedLinesLimit + 1 }, want: ErrBadRejectedCap},
		{name: "no rejected line allowed", change: func(c *Config) { c.MaxRejectedLines = 0 }},
		{name: "zero body rate", change: func(c *Config) { c.MinBodyRate = 0 }, want: ErrBadBodyRate},
		{name: "zero body grace", change: func(c *Config) { c.BodyGrace = 0 }, want: ErrBadTimeout},
		{name: "all interfaces without token", change: func(c *Config) { c.Listen = ":8080" }, want: ErrNoAuth},
		{name: "0.0.0.0 without token", change: func(c *Config) { c.Listen = "0.0.0.0:8080" }, want: ErrNoAuth},
		{name: "LAN address without token", change: func(c *Config) { c.Listen = "192.168.1.10:8080" }, want: ErrNoAuth},
		{name: "all interfaces with token", change: func(c *Config) { c.Listen, c.AuthToken = ":8080", "tok" }},
		{name: "all interfaces, open on purpose", change: func(c *Config) { c.Listen, c.AllowNoAuth = ":8080", true }},
		{name: "localhost without token", change: func(c *Config) { c.Listen = "localhost:8080" }},
		{name: "IPv6 loopback without token", change: func(c *Config) { c.Listen = "[::1]:8080" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.change(&c)
			err := c.Validate()
			if tt.want == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tt.want)
		})
	}
}

func TestFlagsSetConfig(t *testing.T) {
	c := DefaultConfig()
	app := &cli.App{Flags: c.Flags(), Action: func(*cli.Context) error { return nil }}
	t.Setenv("BOONTADATA_MAX_IN_FLIGHT", "7")
	require.NoError(t, app.Run([]string{"ingest", "--listen", ":9999", "--auth-token", "tok", "--produce-timeout", "3s"}))
	require.Equal(t, ":9999", c.Listen)
	require.Equal(t, "tok", c.AuthToken)
	require.Equal(t, 3*time.Second, c.ProduceTimeout)
	require.Equal(t, 7, c.MaxInFlight, "environment variable")
	require.NoError(t, c.Validate())
}
