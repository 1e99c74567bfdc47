#!/usr/bin/env bash
# run.sh - run boontadata's Apache Flink job behind the engine contract (docs/engines.md).
#
# Builds the job once with Maven (jar and Flink's classpath cached under
# .state/engines/flink/, rebuilt when pom.xml, src/ or conf/ change), then runs the job's
# client in the foreground with an explicit JVM heap: a local MiniCluster (--master local) or
# a submission to a Flink session cluster's REST endpoint (--master HOST:PORT).
# Run `run.sh --help` for the flags.
set -euo pipefail

ENGINE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
REPO_ROOT="$(cd "${ENGINE_DIR}/../.." && pwd -P)"
STATE_ROOT="${BOONTADATA_STATE_DIR:-${REPO_ROOT}/.state}"
STATE="${STATE_ROOT}/engines/flink"
JAVA="${BOONTADATA_JAVA_HOME:+${BOONTADATA_JAVA_HOME}/bin/}java"
MVN="${BOONTADATA_MVN:-mvn}"

die() {
  printf 'flink run.sh: error: %s\n' "$*" >&2
  exit 1
}

usage() {
  cat <<USAGE
usage: engines/flink/run.sh --job-id ID --run-id RUN [--flag value]...

Runs boontadata's Apache Flink 2.2 DataStream job on one run of the events topic and writes
its window results and end line to the results topic (docs/engines.md, "Flink").

contract flags (docs/engines.md):
  --job-id ID              required; written in every result line
  --run-id RUN             required; records of other runs are skipped
  --brokers LIST           Kafka bootstrap servers (default 127.0.0.1:9092)
  --events-topic NAME      input topic (default boontadata-events)
  --results-topic NAME     output topic (default boontadata-results; created with the
                           events topic's partition count if missing)
  --time MODE              event (device time), ingestion (boontadata-ingest-time) or
                           processing (Flink's processing time) (default event)
  --window-ms N            tumbling window size (default 5000)
  --watermark-ms N         WatermarkStrategy.forBoundedOutOfOrderness (default 0)
  --lateness-ms N          allowedLateness of the windows (default 0; event/ingestion only)
  --idle-ms N              WatermarkStrategy.withIdleness; 0: none (default 0)
  --dedup MODE             none, or window: by message id within the window (default none)
  --dedup-horizon-ms N     accepted; only the watermark dedup, which this job lacks, uses it
  --output MODE            append (firings at the watermark) or update (also early firings
                           every --trigger-ms of processing time) (default append)
  --trigger-ms N           early-firing interval of --output update (default 5000)
  --master WHERE           local (a MiniCluster in this process) or HOST:PORT of a Flink
                           session cluster's REST endpoint, e.g. 127.0.0.1:8081 (default local)
  --checkpoint-dir DIR     checkpoints of the job go to DIR/JOB
                           (default .state/engines/flink/checkpoints)
  --start-offsets WHERE    earliest (default) or latest: where the events topic is read from;
                           latest is the end offsets read before the job is submitted
  --heap SIZE              JVM heap of this process, -Xms/-Xmx (default 1g)

Flink job flags:
  --parallelism N          source and window parallelism (default 2)
  --checkpoint-interval-ms N
                           checkpoint interval; the end line waits for the checkpoint after
                           the run's end, which flushes the Kafka sink (default 1000; 0: no
                           checkpoints, the end line is written at once)
  --topic-wait-ms N        how long to wait for the events topic to exist (default 60000)

The process exits 0 after the job wrote its end line (it then cancels the job), or after
SIGTERM/SIGINT (without an end line); 1 when the job fails (the cause on stderr), 2 for a bad
flag. Logs: WARN from Flink and Kafka, INFO from the job, to stderr and to
  ${STATE}/logs/JOB.log

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
  esac
  i=$((i + 1))
done
[[ -n "$job_id" ]] || die "--job-id is required (run.sh --help)"
[[ "$job_id" != */* && "$job_id" != .* ]] || die "--job-id $job_id: no '/' and no leading '.' (it names the log file and checkpoint folder)"
[[ "$heap" =~ ^[0-9]+[kKmMgG]?$ ]] || die "--heap $heap: want a JVM size such as 512m or 1g"

command -v "$JAVA" >/dev/null 2>&1 || die "java not found: install a JDK 17 or set BOONTADATA_JAVA_HOME"
java_major="$("$JAVA" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)"
[[ "${java_major:-0}" -ge 17 ]] || die "Java ${java_major:-?} found; the Flink job needs Java 17 or later (set BOONTADATA_JAVA_HOME)"

mkdir -p "${STATE}/logs"
JAR="${STATE}/boontadata-flink.jar"
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
  printf 'flink run.sh: building the job with Maven (log: %s)\n' "$log" >&2
  if ! "$MVN" -B -f "${ENGINE_DIR}/pom.xml" -Dflink.build.dir="${STATE}/build" \
    package dependency:build-classpath \
    -Dmdep.outputFile="${CLASSPATH_FILE}.tmp" -Dmdep.includeScope=test >"$log" 2>&1; then
    grep -E '^\[ERROR\]' "$log" | head -20 >&2 || true
    die "the Maven build failed; see $log (the first build downloads Flink from Maven Central)"
  fi
  cp "${STATE}/build/boontadata-flink.jar" "${JAR}.tmp"
  mv "${JAR}.tmp" "$JAR"
  mv "${CLASSPATH_FILE}.tmp" "$CLASSPATH_FILE"
  printf '%s\n' "$want" >"$STAMP"
  printf 'flink run.sh: built %s in %ds\n' "$JAR" $((SECONDS - started)) >&2
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
extra=(--jar "$JAR")
if ((!have_checkpoint_dir)); then
  extra+=(--checkpoint-dir "${STATE}/checkpoints")
fi
log_file="${STATE}/logs/${job_id}.log"

# the module openings that Flink's distribution gives its JVMs on Java 17
# (env.java.default-opts.all in its config.yaml)
opens=(
  --add-exports=java.base/sun.net.util=ALL-UNNAMED
  --add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED
  --add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED
  --add-opens=java.base/java.lang=ALL-UNNAMED
  --add-opens=java.base/java.net=ALL-UNNAMED
  --add-opens=java.base/java.io=ALL-UNNAMED
  --add-opens=java.base/java.nio=ALL-UNNAMED
  --add-opens=java.base/sun.nio.ch=ALL-UNNAMED
  --add-opens=java.base/java.lang.reflect=ALL-UNNAMED
  --add-opens=java.base/java.text=ALL-UNNAMED
  --add-opens=java.base/java.time=ALL-UNNAMED
  --add-opens=java.base/java.util=ALL-UNNAMED
  --add-opens=java.base/java.util.concurrent=ALL-UNNAMED
  --add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED
  --add-opens=java.base/java.util.concurrent.locks=ALL-UNNAMED
)

cd "$REPO_ROOT"
exec "$JAVA" -Xms"$heap" -Xmx"$heap" \
  "${opens[@]}" \
  -Dlog4j.configurationFile="${ENGINE_DIR}/conf/log4j2.properties" \
  -Dboontadata.flink.log="$log_file" \
  -cp "${JAR}:$(cat "$CLASSPATH_FILE")" \
  boontadata.flink.FlinkJob "$@" "${extra[@]}"
