//go:build !amd64 && !arm64

package prefetch

// Lines does nothing where the engine has no prefetch instruction: the
// loads that follow just wait for memory.
func Lines(addrs *uintptr, n int) {}
