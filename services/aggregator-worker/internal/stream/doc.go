// Package stream is the edge every runtime of the worker shares between
// Kafka, the engine core and Cassandra: the records of a job's run read from
// the events topic (run filter, control records, headers), the results and
// decisions an engine emits buffered until they are written, the writes to
// the results tables and the decision log, and the dead-letter topic for what
// cannot be processed. The continuous runtime (package worker), the
// micro-batch runtime (package microbatch) and the results ingestion of the
// engine contract (package results) use it; none of them knows the others.
package stream
