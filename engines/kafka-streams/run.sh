#!/usr/bin/env bash
# run.sh - run boontadata's Kafka Streams application behind the engine contract (docs/engines.md).
#
# Builds the application once with Maven (jar and classpath cached under
# .state/engines/kafka-streams/, rebuilt when pom.xml, src/ or conf/ change), then runs one
# Kafka Streams instance in the foreground with an explicit JVM heap. Start run.sh again with the
# same --job-id to add instances to the application (Kafka spreads the partitions over them).
# Run `run.sh --help` for the flags.
set -euo pipefail

ENGINE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
REPO_ROOT="$(cd "${ENGINE_DIR}/../.." && pwd -P)"
STATE_ROOT="${BOONTADATA_STATE_DIR:-${REPO_ROOT}/.state}"
STATE="${STATE_ROOT}/engines/kafka-streams"
JAVA="${BOONTADATA_JAVA_HOME:+${BOONTADATA_JAVA_HOME}/bin/}java"
MVN="${BOONTADATA_MVN:-mvn}"

die() {
  printf 'kafka-streams run.sh: error: %s\n' "$*" >&2
  exit 1
}

usage() {
  cat <<USAGE
usage: engines/kafka-streams/run.sh --job-id ID --run-id RUN [--flag value]...

Runs boontadata's Kafka Streams 4.3 application (application id boontadata-ID) on one run of
the events topic and writes its window results and end line to the results topic
(docs/engines.md, "Kafka Streams").

contract flags (docs/engines.md):
  --job-id ID              required; written in every result line; the application id is
                           boontadata-ID (ASCII letters, digits, '.', '_', '-')
  --run-id RUN             required; records of other runs are skipped
  --brokers LIST           Kafka bootstrap servers (default 127.0.0.1:9092)
  --events-topic NAME      input topic (default boontadata-events)
  --results-topic NAME     output topic (default boontadata-results; created with the
                           events topic's partition count if missing)
  --time MODE              event (device time), ingestion (boontadata-ingest-time) or
                           processing (the wall clock at extraction) (default event)
  --window-ms N            tumbling window size (default 5000)
  --watermark-ms N         watermark delay; Kafka Streams has none of its own: it is part of
                           the windows' grace, grace = watermark + lateness (default 0)
  --lateness-ms N          allowed lateness, the rest of the grace (default 0)
  --idle-ms N              accepted and ignored: stream time is per partition, no idle
                           partition holds another back
  --dedup MODE             none, or watermark: by message id, remembered until the
                           partition's watermark passes it (default none)
  --dedup-horizon-ms N     watermark dedup: remember ids at least this long (default 0)
  --output MODE            append (suppress(untilWindowCloses): finals only) or update (the
                           aggregation's changes at every commit, plus the finals) (default append)
  --trigger-ms N           commit interval: how often the record caches forward changes
                           and commits happen (default 5000)
  --master WHERE           local only: Kafka Streams is a library; scale out by starting more
                           instances with the same --job-id (default local)
  --start-offsets WHERE    earliest (default) or latest: where the events topic is read from;
                           latest commits the topic's end offsets for the application's
                           consumer group before Kafka Streams starts
  --checkpoint-dir DIR     state stores of the instance go to DIR/JOB/N (N: instance number)
                           (default .state/engines/kafka-streams/state)
  --heap SIZE              JVM heap of this process, -Xms/-Xmx (default 1g)

Kafka Streams flags:
  --threads N              stream threads of this instance (default 2)
  --store KIND             rocksdb or memory: the state stores (default rocksdb)
  --changelog BOOL         true: changelog topics for the state stores (fault tolerance; they
                           are created on the brokers); false: none (default false)
  --cache-bytes N          statestore.cache.max.bytes, the record caches (default 10485760)
  --topic-wait-ms N        how long to wait for the events topic to exist (default 60000)

The process writes the start line once it reads the events topic, and exits 0 after it
wrote the end line (it then closes Kafka Streams and deletes its
local state), or after SIGTERM/SIGINT (without an end line); 1 when Kafka Streams fails (the
cause on stderr), 2 for a bad flag. Logs: WARN from Kafka Streams and Kafka, INFO from the
application, to stderr and to
  ${STATE}/logs/JOB.log   (JOB.N.log for the instance N > 0 of a job on this machine)

environment:
  BOONTADATA_STATE_DIR     state root (default <repo>/.state)
  BOONTADATA_JAVA_HOME     JDK 17 to use (default: java on PATH)
  BOONTADATA_MVN           Maven command (default mvn)
USAGE
}

heap="1g"
job_id=""
have_checkpoint_dir=0
args=("$@")
i=0
while ((i < ${#args[@]})); do
  a="${args[i]}"
  case "$a" in
  -h | --help | help)
    usage
    exit 0
    ;;
  --*=*)
    name="${a%%=*}"
    value="${a#*=}"
    ;;
  --*)
    name="$a"
    ((i + 1 < ${#args[@]})) || die "$a needs a value (run.sh --help)"
    value="${args[i + 1]}"
    i=$((i + 1))
    ;;
  *) die "unexpected argument \"$a\": flags are --name value (run.sh --help)" ;;
  esac
  case "$name" in
  --heap) heap="$value" ;;
  --job-id) job_id="$value" ;;
  --checkpoint-dir) have_checkpoint_dir=1 ;;
  --instance) die "--instance is set by run.sh itself" ;;
  esac
  i=$((i + 1))
done
[[ -n "$job_id" ]] || die "--job-id is required (run.sh --help)"
[[ "$job_id" =~ ^[A-Za-z0-9._-]+$ && "$job_id" != .* ]] ||
  die "--job-id $job_id: ASCII letters, digits, '.', '_' and '-' only, no leading '.' (it names the application id, the log file and the state folder)"
[[ "$heap" =~ ^[0-9]+[kKmMgG]?$ ]] || die "--heap $heap: want a JVM size such as 512m or 1g"

command -v "$JAVA" >/dev/null 2>&1 || die "java not found: install a JDK 17 or set BOONTADATA_JAVA_HOME"
java_major="$("$JAVA" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)"
[[ "${java_major:-0}" -ge 17 ]] || die "Java ${java_major:-?} found; the application needs Java 17 or later (set BOONTADATA_JAVA_HOME)"

mkdir -p "${STATE}/logs"
JAR="${STATE}/boontadata-kafka-streams.jar"
CLASSPATH_FILE="${STATE}/classpath.txt"
STAMP="${STATE}/build.sha256"

# ---------------------------------------------------------------------------
# build (once, and again when the sources change)
# ---------------------------------------------------------------------------
sources_hash() {
  (cd "$ENGINE_DIR" && find pom.xml src conf -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum) |
    sha256sum | cut -d' ' -f1
}

build() {
  local want="$1" log="${STATE}/logs/build.log" started=$SECONDS
  command -v "$MVN" >/dev/null 2>&1 || die "Maven ($MVN) not found: install it (apt-get install maven) or set BOONTADATA_MVN"
  printf 'kafka-streams run.sh: building the application with Maven (log: %s)\n' "$log" >&2
  if ! "$MVN" -B -f "${ENGINE_DIR}/pom.xml" -Dks.build.dir="${STATE}/build" \
    package dependency:build-classpath \
    -Dmdep.outputFile="${CLASSPATH_FILE}.tmp" -Dmdep.includeScope=runtime >"$log" 2>&1; then
    grep -E '^\[ERROR\]' "$log" | head -20 >&2 || true
    die "the Maven build failed; see $log (the first build downloads kafka-streams from Maven Central)"
  fi
  cp "${STATE}/build/boontadata-kafka-streams.jar" "${JAR}.tmp"
  mv "${JAR}.tmp" "$JAR"
  mv "${CLASSPATH_FILE}.tmp" "$CLASSPATH_FILE"
  printf '%s\n' "$want" >"$STAMP"
  printf 'kafka-streams run.sh: built %s in %ds\n' "$JAR" $((SECONDS - started)) >&2
}

exec 9>"${STATE}/build.lock"
flock 9
want="$(sources_hash)"
if [[ ! -f "$JAR" || ! -f "$CLASSPATH_FILE" || "$(cat "$STAMP" 2>/dev/null)" != "$want" ]]; then
  build "$want"
fi
flock -u 9
exec 9>&-

# ---------------------------------------------------------------------------
# run
# ---------------------------------------------------------------------------
# The instances of a job on this machine take numbers 0, 1, ... by a lock that the JVM keeps
# (file descriptor 8 is inherited by exec): each gets its own state folder (Kafka Streams locks
# a state directory per process) and log file.
instance=0
while :; do
  exec 8>"${STATE}/logs/${job_id}.${instance}.lock"
  if flock -n 8; then
    break
  fi
  exec 8>&-
  instance=$((instance + 1))
  ((instance < 100)) || die "100 instances of job ${job_id} already run on this machine"
done
extra=(--instance "$instance")
if ((!have_checkpoint_dir)); then
  extra+=(--checkpoint-dir "${STATE}/state")
fi
if ((instance == 0)); then
  log_file="${STATE}/logs/${job_id}.log"
else
  log_file="${STATE}/logs/${job_id}.${instance}.log"
fi

cd "$REPO_ROOT"
exec "$JAVA" -Xms"$heap" -Xmx"$heap" \
  -Dlog4j.configurationFile="${ENGINE_DIR}/conf/log4j2.properties" \
  -Dboontadata.kstreams.log="$log_file" \
  -cp "${JAR}:$(cat "$CLASSPATH_FILE")" \
  boontadata.kstreams.KafkaStreamsJob "$@" "${extra[@]}"
