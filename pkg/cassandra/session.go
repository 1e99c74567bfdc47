package cassandra

import (
	"fmt"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/apache/cassandra-gocql-driver/v2/gocqlzap"
	"go.uber.org/zap"
)

// NewSession connects to the cluster. With inKeyspace the session's queries run
// in the configured keyspace, which must exist (see Migrate).
func NewSession(c *Config, log *zap.Logger, inKeyspace bool) (*gocql.Session, error) {
	cons, err := c.consistency()
	if err != nil {
		return nil, err
	}
	cluster := gocql.NewCluster(c.HostList()...)
	cluster.Port = c.Port
	if inKeyspace {
		cluster.Keyspace = c.Keyspace
	}
	cluster.Consistency = cons
	cluster.Timeout = c.Timeout
	cluster.ConnectTimeout = c.ConnectTimeout
	cluster.WriteTimeout = c.Timeout
	cluster.RetryPolicy = &gocql.ExponentialBackoffRetryPolicy{NumRetries: c.Retries, Min: 100 * time.Millisecond, Max: 5 * time.Second}
	cluster.ReconnectionPolicy = &gocql.ExponentialReconnectionPolicy{MaxRetries: 10, InitialInterval: time.Second, MaxInterval: 10 * time.Second}
	// The driver's info lines (protocol discovered, ring refreshed) are
	// noise at every start of every command; its warnings and errors stay.
	cluster.Logger = gocqlzap.NewZapLogger(log.Named("gocql").WithOptions(zap.IncreaseLevel(zap.WarnLevel)))
	cluster.MaxWaitSchemaAgreement = 2 * time.Minute
	if c.Datacenter != "" {
		cluster.PoolConfig.HostSelectionPolicy = gocql.TokenAwareHostPolicy(gocql.DCAwareRoundRobinPolicy(c.Datacenter))
	}
	if c.Username != "" {
		cluster.Authenticator = gocql.PasswordAuthenticator{Username: c.Username, Password: c.Password}
	}
	s, err := cluster.CreateSession()
	if err != nil {
		return nil, fmt.Errorf("connect to Cassandra at %v port %d: %w (is it running? locally: ./scripts/infra/infra.sh start cassandra)",
			c.HostList(), c.Port, err)
	}
	return s, nil
}
