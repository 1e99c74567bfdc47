package hugepage

import (
	"syscall"
	"unsafe"
)

// hugePage is the size of a transparent huge page on the platforms the
// engine runs large state on (amd64, arm64 with 4 KiB base pages).
const hugePage = 2 << 20

// Make returns a zeroed slice of n T. A large one is aligned to huge
// pages and advised to use them (MADV_HUGEPAGE): with transparent huge pages
// in their common "madvise" mode, the kernel then backs it with 2 MiB pages,
// so the random accesses of a large table miss the TLB far less often. It
// is ordinary Go memory, freed by the garbage collector.
func Make[T any](n int) []T {
	var zero T
	size := n * int(unsafe.Sizeof(zero))
	if size < 2*hugePage {
		return make([]T, n)
	}
	pad := hugePage / int(unsafe.Sizeof(zero))
	b := make([]T, n+pad)
	p := uintptr(unsafe.Pointer(&b[0]))
	skip := int((-p & (hugePage - 1)) / unsafe.Sizeof(zero))
	if (p+uintptr(skip)*unsafe.Sizeof(zero))&(hugePage-1) != 0 {
		return b[:n] // T's size does not divide the page: no alignment
	}
	b = b[skip : skip+n : skip+n]
	mem := unsafe.Slice((*byte)(unsafe.Pointer(&b[0])), size&^(hugePage-1))
	_ = syscall.Madvise(mem, 14) // MADV_HUGEPAGE; an error only means small pages
	return b
}
