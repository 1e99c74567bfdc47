// Command comparator shows, window by window, where the engine's answer differs
// from the truth, why, and how late it came.
package main

import (
	"os"

	"github.com/boontadata/boontadata/pkg/cliapp"
)

func main() {
	os.Exit(cliapp.Main(cliapp.App{
		Name:  "comparator",
		Usage: "compare the engine's results with the truth, window by window",
	}))
}
