//go:build !amd64 && !arm64

package engine

// prefetch does nothing where the engine has no prefetch instruction: the
// loads that follow just wait for memory.
func prefetch(addrs *uintptr, n int) {}
