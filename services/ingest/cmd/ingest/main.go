// Command ingest is the device-facing HTTP gateway: it validates batches of events,
// stamps their ingest time and produces them to Kafka; rejected lines go to the
// dead-letter topic with the reason.
package main

import (
	"os"

	"github.com/boontadata/boontadata/pkg/cliapp"
)

func main() {
	os.Exit(cliapp.Main(cliapp.App{
		Name:  "ingest",
		Usage: "HTTP gateway from devices to Kafka that loses nothing",
	}))
}
