package main

import "github.com/urfave/cli/v2"

// commands lists the subcommands of aggregator-worker besides version.
func commands() []*cli.Command {
	return []*cli.Command{runCommand(), replayCommand()}
}
