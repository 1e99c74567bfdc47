// Package buildinfo reports the version of the running binary.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Version is set at link time with
// -ldflags "-X github.com/boontadata/boontadata/pkg/buildinfo.Version=v1.2.3".
// Without it, the VCS revision recorded by the Go toolchain is used.
var Version = ""

// String returns a one-line description: version, revision and Go version.
func String(service string) string {
	version, revision := Version, "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				revision = s.Value
			}
		}
		if version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			version = bi.Main.Version
		}
	}
	if version == "" {
		version = "dev"
	}
	return fmt.Sprintf("%s %s (revision %s, %s, %s/%s)", service, version, revision, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
