// Package hugepage allocates large tables on huge pages where the platform
// allows it, so that their random accesses miss the TLB less often.
package hugepage
