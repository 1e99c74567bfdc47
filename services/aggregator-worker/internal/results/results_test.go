package results

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/boontadata/boontadata/pkg/engine"
	"github.com/boontadata/boontadata/pkg/engine/window"
)

func TestTurnsWriteEachWindowOncePerCall(t *testing.T) {
	r := func(dev string, start, rev int64) engine.Result {
		return engine.Result{DeviceID: dev, Category: "c", Window: window.Window{Start: start, End: start + 5}, Revision: rev}
	}
	got := turns([]engine.Result{r("a", 0, 1), r("b", 0, 1), r("a", 0, 2), r("a", 5, 1), r("a", 0, 3)})
	require.Equal(t, [][]engine.Result{
		{r("a", 0, 1), r("b", 0, 1), r("a", 5, 1)},
		{r("a", 0, 2)},
		{r("a", 0, 3)},
	}, got)
}
