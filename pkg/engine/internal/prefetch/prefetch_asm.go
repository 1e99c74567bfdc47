//go:build amd64 || arm64

package prefetch

// Lines asks the CPU to bring the cache lines at addrs[:n] into cache,
// without waiting for them: the loads that follow, a few records later,
// then hit. An address need not be valid: a prefetch never faults.
//
//go:noescape
func Lines(addrs *uintptr, n int)
