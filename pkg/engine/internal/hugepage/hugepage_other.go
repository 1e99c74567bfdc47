//go:build !linux

package engine

// makeHuge returns a zeroed slice of n T (huge pages are advised on Linux
// only).
func makeHuge[T any](n int) []T { return make([]T, n) }
