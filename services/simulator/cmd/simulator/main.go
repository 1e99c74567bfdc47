// Command simulator is a fleet of simulated IoT devices: it sends measurements with
// real-world defects (re-sent duplicates, late and out-of-order events) and records
// what it really sent, the truth, in Cassandra.
package main

import (
	"os"

	"github.com/boontadata/boontadata/pkg/cliapp"
)

func main() {
	os.Exit(cliapp.Main(cliapp.App{
		Name:  "simulator",
		Usage: "simulated IoT devices with real-world defects, and the truth they sent",
	}))
}
