package store

import (
	"errors"
	"fmt"
	"testing"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/stretchr/testify/require"

	"github.com/boontadata/boontadata/pkg/retry"
)

// requestError is an error answer of Cassandra with its code.
type requestError int

func (e requestError) Code() int       { return int(e) }
func (e requestError) Message() string { return "message" }
func (e requestError) Error() string   { return fmt.Sprintf("cassandra error %#x", int(e)) }

func TestPermanentOnlyForStatementsCassandraRejects(t *testing.T) {
	for _, tc := range []struct {
		name      string
		err       error
		permanent bool
	}{
		{"no host", gocql.ErrNoConnections, false},
		{"unavailable", requestError(gocql.ErrCodeUnavailable), false},
		{"write timeout", fmt.Errorf("write: %w", requestError(gocql.ErrCodeWriteTimeout)), false},
		{"overloaded", requestError(gocql.ErrCodeOverloaded), false},
		{"invalid", requestError(gocql.ErrCodeInvalid), true},
		{"syntax", fmt.Errorf("write: %w", requestError(gocql.ErrCodeSyntax)), true},
		{"unauthorized", requestError(gocql.ErrCodeUnauthorized), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := permanent(tc.err)
			require.ErrorIs(t, err, tc.err)
			require.Equal(t, tc.permanent, errors.Is(err, retry.ErrPermanent))
		})
	}
	require.NoError(t, permanent(nil))
}
