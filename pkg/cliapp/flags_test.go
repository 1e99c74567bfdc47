package cliapp

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/urfave/cli/v2"

	"github.com/boontadata/boontadata/pkg/cassandra"
	"github.com/boontadata/boontadata/pkg/kafka"
)

// runBound runs a command with the Kafka and Cassandra flags bound to kc and
// cc, at the top level or in a subcommand.
func runBound(t *testing.T, sub bool, kc *kafka.Config, cc *cassandra.Config, args ...string) {
	t.Helper()
	flags := append(KafkaFlags(kc), CassandraFlags(cc)...)
	noop := func(*cli.Context) error { return nil }
	app := &cli.App{Name: "demo", Flags: flags, Action: noop}
	argv := append([]string{"demo"}, args...)
	if sub {
		app = &cli.App{Name: "demo", Commands: []*cli.Command{{Name: "sub", Flags: flags, Action: noop}}}
		argv = append([]string{"demo", "sub"}, args...)
	}
	require.NoError(t, app.RunContext(context.Background(), argv))
}

func TestSharedFlagsBindPlainConfigs(t *testing.T) {
	tests := []struct {
		name        string
		env         map[string]string
		args        []string
		wantBrokers []string
		wantHosts   []string
		check       func(*testing.T, kafka.Config, cassandra.Config)
	}{
		{
			name:        "defaults",
			wantBrokers: []string{"127.0.0.1:9092"},
			wantHosts:   []string{"127.0.0.1"},
			check: func(t *testing.T, kc kafka.Config, cc cassandra.Config) {
				require.Equal(t, kafka.DefaultConfig(), kc)
				require.Equal(t, cassandra.DefaultConfig(), cc)
			},
		},
		{
			name:        "flags",
			args:        []string{"--kafka-brokers", "a:1", "--kafka-brokers", "b:2,c:3", "--cassandra-hosts", "h1", "--events-topic", "ev", "--kafka-dial-timeout", "3s", "--cassandra-port", "9043"},
			wantBrokers: []string{"a:1", "b:2", "c:3"},
			wantHosts:   []string{"h1"},
			check: func(t *testing.T, kc kafka.Config, cc cassandra.Config) {
				require.Equal(t, "ev", kc.Topics.Events)
				require.Equal(t, 3*time.Second, kc.DialTimeout)
				require.Equal(t, 9043, cc.Port)
			},
		},
		{
			name:        "environment",
			env:         map[string]string{"BOONTADATA_KAFKA_BROKERS": "e:1, e:2", "BOONTADATA_CASSANDRA_HOSTS": "h1,h2", "BOONTADATA_CASSANDRA_RETRIES": "9"},
			wantBrokers: []string{"e:1", "e:2"},
			wantHosts:   []string{"h1", "h2"},
			check: func(t *testing.T, _ kafka.Config, cc cassandra.Config) {
				require.Equal(t, 9, cc.Retries)
			},
		},
		{
			name:        "flag over environment",
			env:         map[string]string{"BOONTADATA_KAFKA_BROKERS": "e:1"},
			args:        []string{"--kafka-brokers", "f:1"},
			wantBrokers: []string{"f:1"},
			wantHosts:   []string{"127.0.0.1"},
		},
	}
	for _, tt := range tests {
		for _, sub := range []bool{false, true} {
			name := tt.name
			if sub {
				name += " in a subcommand"
			}
			t.Run(name, func(t *testing.T) {
				for k, v := range tt.env {
					t.Setenv(k, v)
				}
				kc, cc := kafka.DefaultConfig(), cassandra.DefaultConfig()
				runBound(t, sub, &kc, &cc, tt.args...)
				require.Equal(t, tt.wantBrokers, kc.BrokerList())
				require.Equal(t, tt.wantHosts, cc.HostList())
				require.NoError(t, kc.Validate())
				require.NoError(t, cc.Validate())
				if tt.check != nil {
					tt.check(t, kc, cc)
				}
			})
		}
	}
}
