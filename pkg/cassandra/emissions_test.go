package cassandra

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// The answer of a window is its row written last, as an upsert of one row
// would keep: a higher revision written earlier (a stale micro-batch
// task's, or an engine's that numbers its answers otherwise) is not it. At
// the same write time, the higher revision is.
func TestSupersedes(t *testing.T) {
	older, newer := Emission{Revision: 9, Written: 100}, Emission{Revision: 2, Written: 200}
	require.True(t, newer.Supersedes(&older))
	require.False(t, older.Supersedes(&newer))
	low, high := Emission{Revision: 3, Written: 100}, Emission{Revision: 4, Written: 100}
	require.True(t, high.Supersedes(&low))
	require.False(t, low.Supersedes(&high))
	require.False(t, low.Supersedes(&low), "a row does not supersede itself")
}
