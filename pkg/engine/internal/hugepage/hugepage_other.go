//go:build !linux

package hugepage

// Make returns a zeroed slice of n T (huge pages are advised on Linux only).
func Make[T any](n int) []T { return make([]T, n) }
