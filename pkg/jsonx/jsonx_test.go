package jsonx

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFloatRoundTrip(t *testing.T) {
	for _, v := range []float64{0, -1.5, 789.12, 1e300, math.Inf(1), math.Inf(-1), math.NaN()} {
		b, err := json.Marshal(struct{ X Float }{Float(v)})
		require.NoError(t, err, v)
		var back struct{ X Float }
		require.NoError(t, json.Unmarshal(b, &back), string(b))
		if math.IsNaN(v) {
			require.True(t, math.IsNaN(float64(back.X)))
			continue
		}
		require.Equal(t, v, float64(back.X), string(b))
	}
	var f Float
	require.Error(t, json.Unmarshal([]byte(`"Infinity"`), &f))
}
