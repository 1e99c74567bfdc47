package kafka

import (
	"testing"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   error
	}{
		{"default is valid", func(*Config) {}, nil},
		{"no brokers", func(c *Config) { c.Brokers = []string{" "} }, ErrNoBrokers},
		{"old protocol", func(c *Config) { c.Version = "2.0.0" }, ErrOldVersion},
		{"no partitions", func(c *Config) { c.Partitions = 0 }, ErrBadPartitions},
		{"no replicas", func(c *Config) { c.ReplicationFactor = 0 }, ErrBadReplication},
		{"bad topic", func(c *Config) { c.Topics.Events = "has space" }, ErrBadTopicName},
		{"empty topic", func(c *Config) { c.Topics.Tasks = "" }, ErrBadTopicName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mutate(&c)
			err := c.Validate()
			if tt.want == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tt.want)
		})
	}
}

func TestBrokerListSplitsCommas(t *testing.T) {
	c := DefaultConfig()
	c.Brokers = []string{"a:1, b:2", "c:3"}
	require.Equal(t, []string{"a:1", "b:2", "c:3"}, c.BrokerList())
}

func TestSaramaIsIdempotentAndNeverAutoCommits(t *testing.T) {
	c := DefaultConfig()
	sc, err := c.Sarama("boontadata-test")
	require.NoError(t, err)
	require.True(t, sc.Producer.Idempotent)
	require.Equal(t, sarama.WaitForAll, sc.Producer.RequiredAcks)
	require.Equal(t, 1, sc.Net.MaxOpenRequests)
	require.False(t, sc.Consumer.Offsets.AutoCommit.Enable)
	require.True(t, sc.Version.IsAtLeast(MinVersion))
	require.Equal(t, "boontadata-test", sc.ClientID)
}

func TestHeaders(t *testing.T) {
	h := Int64Header(HeaderSendTime, 1472209316326)
	hs := []*sarama.RecordHeader{{Key: []byte(HeaderRunID), Value: []byte("run-1")}, &h}
	require.Equal(t, []byte("run-1"), Header(hs, HeaderRunID))
	v, ok := HeaderInt64(hs, HeaderSendTime)
	require.True(t, ok)
	require.Equal(t, int64(1472209316326), v)
	_, ok = HeaderInt64(hs, HeaderIngestTime)
	require.False(t, ok)
	_, ok = HeaderInt64(hs, HeaderRunID)
	require.False(t, ok)
	require.Nil(t, Header(nil, HeaderRunID))
}
