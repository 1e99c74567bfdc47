package cassandra

// ResultBuckets is how many partitions a job's results, revisions and
// decision log are spread over (the *_by_bucket tables): few enough that a
// worker's write of many devices' windows is a few partition mutations in
// batches of one partition each, which Cassandra applies for a fraction of
// the cost of as many one-device mutations (BENCHMARKS.md, "Results by
// bucket"); enough that a partition stays small, 1/64 of a job's rows, and
// that the writes of two workers spread over the cluster's nodes.
const ResultBuckets = 64

// ResultBucket is the bucket of a device's rows: FNV-1a of the device id,
// modulo ResultBuckets, the same for every writer and reader.
func ResultBucket(deviceID string) int {
	h := uint32(2166136261)
	for i := range len(deviceID) {
		h = (h ^ uint32(deviceID[i])) * 16777619
	}
	return int(h % ResultBuckets)
}
