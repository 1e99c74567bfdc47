#!/usr/bin/env bash
# run.sh - run boontadata's Apache Storm topology behind the engine contract (docs/engines.md).
#
# Builds the topology once with Maven (jar and Storm's classpath cached under
# .state/engines/storm/, rebuilt when pom.xml, src/ or conf/ change), then runs it on a
# LocalCluster in the foreground with an explicit JVM heap.
# Run `run.sh --help` for the flags.
set -euo pipefail

ENGINE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
REPO_ROOT="$(cd "${ENGINE_DIR}/../.." && pwd -P)"
STATE_ROOT="${BOONTADATA_STATE_DIR:-${REPO_ROOT}/.state}"
STATE="${STATE_ROOT}/engines/storm"
JAVA="${BOONTADATA_JAVA_HOME:+${BOONTADATA_JAVA_HOME}/bin/}java"
MVN="${BOONTADATA_MVN:-mvn}"

die() {
  printf 'storm run.sh: error: %s\n' "$*" >&2
  exit 1
}

usage() {
  cat <<USAGE
usage: engines/storm/run.sh --job-id ID --run-id RUN [--flag value]...

Runs boontadata's Apache Storm 2.8 topology (a Kafka spout, at least once, and bolts that count
per device, category and window, tuple by tuple) on a LocalCluster in this process, on one run
of the events topic, and writes its window results and end line to the results topic
(docs/engines.md, "Storm").

contract flags (docs/engines.md):
  --job-id ID              required; written in every result line; the topology is
                           boontadata-ID (ASCII letters, digits, '.', '_', '-')
  --run-id RUN             required; records of other runs are skipped
  --brokers LIST           Kafka bootstrap servers (default 127.0.0.1:9092)
  --events-topic NAME      input topic (default boontadata-events)
  --results-topic NAME     output topic (default boontadata-results; created with the
                           events topic's partition count if missing)
  --time MODE              event (device time) or ingestion (boontadata-ingest-time)
                           (default event)
  --window-ms N            tumbling window size (default 5000)
  --watermark-ms N         delay of each partition's watermark, max time - N (default 0)
  --lateness-ms N          a window accepts tuples until the watermark passes its end + N
                           (default 0)
  --idle-ms N              accepted and ignored: watermarks are per partition
  --dedup MODE             none only: every tuple counts (default none)
  --dedup-horizon-ms N     accepted and ignored
  --output MODE            update (a result line per tuple, plus the finals) or append (the
                           finals only) (default append)
  --trigger-ms N           accepted and ignored: lines are written tuple by tuple
  --master WHERE           local only: a LocalCluster in this process (default local)
  --start-offsets WHERE    earliest (default) or latest: where the events topic is read from;
                           latest commits the topic's end offsets for the spout's consumer
                           group before the topology starts
  --checkpoint-dir DIR     the LocalCluster's working folders go to DIR/JOB
                           (default .state/engines/storm/local)
  --heap SIZE              JVM heap of this process, -Xms/-Xmx (default 1g)

Storm flags:
  --spout-parallelism N    Kafka spout tasks (default 1)
  --parallelism N          tasks of the partition clock and of the aggregation bolts (default 2)
  --message-timeout-secs N topology.message.timeout.secs: a tuple not acked in time is
                           replayed by the spout (default 30)
  --topic-wait-ms N        how long to wait for the events topic to exist (default 60000)

The process writes the start line once the spout has every partition, and exits 0 after
the topology wrote the end line (it then kills the topology and
shuts the LocalCluster down), or after SIGTERM/SIGINT (without an end line); 1 when the
topology fails (the cause on stderr), 2 for a bad flag. Logs: WARN from Storm, ZooKeeper and
Kafka, INFO from the topology, to stderr and to
  ${STATE}/logs/JOB.log

environment:
  BOONTADATA_STATE_DIR     state root (default <repo>/.state)
  BOONTADATA_JAVA_HOME     JDK 17 to use (default: java on PATH)
  BOONTADATA_MVN           Maven command (default mvn)
USAGE
}

heap="1g"
job_id=""
checkpoint_dir=""
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
  --checkpoint-dir) checkpoint_dir="$value" ;;
  esac
  i=$((i + 1))
done
[[ -n "$job_id" ]] || die "--job-id is required (run.sh --help)"
[[ "$job_id" =~ ^[A-Za-z0-9._-]+$ && "$job_id" != .* ]] ||
  die "--job-id $job_id: ASCII letters, digits, '.', '_' and '-' only, no leading '.' (it names the topology, the log file and the working folder)"
[[ "$heap" =~ ^[0-9]+[kKmMgG]?$ ]] || die "--heap $heap: want a JVM size such as 512m or 1g"

command -v "$JAVA" >/dev/null 2>&1 || die "java not found: install a JDK 17 or set BOONTADATA_JAVA_HOME"
java_major="$("$JAVA" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)"
[[ "${java_major:-0}" -ge 17 ]] || die "Java ${java_major:-?} found; the topology needs Java 17 or later (set BOONTADATA_JAVA_HOME)"

mkdir -p "${STATE}/logs"
JAR="${STATE}/boontadata-storm.jar"
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
  printf 'storm run.sh: building the topology with Maven (log: %s)\n' "$log" >&2
  if ! "$MVN" -B -f "${ENGINE_DIR}/pom.xml" -Dstorm.build.dir="${STATE}/build" \
    package dependency:build-classpath \
    -Dmdep.outputFile="${CLASSPATH_FILE}.tmp" -Dmdep.includeScope=runtime >"$log" 2>&1; then
    grep -E '^\[ERROR\]' "$log" | head -20 >&2 || true
    die "the Maven build failed; see $log (the first build downloads Storm from Maven Central)"
  fi
  cp "${STATE}/build/boontadata-storm.jar" "${JAR}.tmp"
  mv "${JAR}.tmp" "$JAR"
  mv "${CLASSPATH_FILE}.tmp" "$CLASSPATH_FILE"
  printf '%s\n' "$want" >"$STAMP"
  printf 'storm run.sh: built %s in %ds\n' "$JAR" $((SECONDS - started)) >&2
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
# LocalCluster puts Nimbus's, the supervisor's and ZooKeeper's folders under java.io.tmpdir
# (org.apache.storm.testing.TmpPath): one folder per job, emptied at the start
if [[ -n "$checkpoint_dir" ]]; then
  [[ "$checkpoint_dir" = /* ]] || checkpoint_dir="${PWD}/${checkpoint_dir}"
  local_dir="${checkpoint_dir}/${job_id}"
else
  local_dir="${STATE}/local/${job_id}"
fi
if [[ -d "$local_dir" && -n "$(ls -A "$local_dir")" && ! -f "${local_dir}/.boontadata-storm-local" ]]; then
  die "$local_dir exists and was not made by run.sh: pass another --checkpoint-dir"
fi
rm -rf "$local_dir"
mkdir -p "$local_dir"
: >"${local_dir}/.boontadata-storm-local"
log_file="${STATE}/logs/${job_id}.log"

cd "$REPO_ROOT"
exec "$JAVA" -Xms"$heap" -Xmx"$heap" \
  -Dlog4j.configurationFile="${ENGINE_DIR}/conf/log4j2.properties" \
  -Djava.io.tmpdir="$local_dir" \
  -Dboontadata.storm.log="$log_file" \
  -cp "${JAR}:$(cat "$CLASSPATH_FILE")" \
  boontadata.storm.StormJob "$@"
