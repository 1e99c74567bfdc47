#!/usr/bin/env bash
# run.sh - run a boontadata Spark job (Structured Streaming or DStream) behind
# the engine contract of docs/engines.md. Builds the job with Maven when its jar
# is missing or its sources changed (cached under .state/engines/spark/), then
# runs it in the foreground: `java -cp` with the Maven-resolved classpath, in
# local mode (local[2]) or as the driver of an application on a Spark
# standalone cluster (client mode). Run `run.sh --help` for the flags.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
REPO_ROOT="$(cd "${SCRIPT_DIR}/../.." && pwd -P)"
STATE_ROOT="${BOONTADATA_STATE_DIR:-${REPO_ROOT}/.state}"
STATE="${STATE_ROOT}/engines/spark"

JAR="${STATE}/boontadata-spark.jar"
CLASSPATH_FILE="${STATE}/classpath.txt"
JVM_OPTIONS_FILE="${STATE}/jvm-options.txt"
SOURCES_SUM_FILE="${STATE}/sources.sha256"

die() {
  printf 'spark engine: error: %s\n' "$*" >&2
  exit 2
}
say() { printf 'spark engine: %s\n' "$*" >&2; }

usage() {
  cat <<'EOF'
usage: engines/spark/run.sh --job-id ID --run-id RUN [flags]

Runs a real Apache Spark 4.2 job on the events topic and writes its window
results to the results topic, as docs/engines.md ("Spark") describes. The job
ends by itself once every partition delivered the run's end-of-run marker:
it writes the `end` line and exits 0.

contract flags (docs/engines.md):
  --job-id ID             required; written in every result line
  --run-id RUN            required; records of other runs are skipped
  --brokers LIST          Kafka bootstrap servers (127.0.0.1:9092)
  --events-topic NAME     input topic (boontadata-events)
  --results-topic NAME    output topic (boontadata-results; created with 16
                          partitions when missing)
  --time MODE             event | ingestion | processing (event; dstream: processing only)
  --window-ms MS          tumbling window size (5000; dstream: = --trigger-ms)
  --watermark-ms MS       withWatermark delay (0; structured only)
  --lateness-ms MS        must be 0: Spark has no allowed lateness
  --idle-ms MS            accepted and ignored: Spark's watermark is one global
                          max(event time) - delay, no partition holds it back
  --dedup SCOPE           none | watermark (structured) | batch (dstream) (none)
  --dedup-horizon-ms MS   structured, --dedup watermark: 0 = dropDuplicates(id,
                          event time); = --watermark-ms: dropDuplicatesWithinWatermark(id)
  --output MODE           append | update (append; dstream: append)
  --trigger-ms MS         micro-batch trigger / DStream batch interval (5000)
  --master URL            local (= local[2]), local[N], or spark://HOST:PORT of a
                          standalone master (client mode: the driver runs here)
  --checkpoint-dir DIR    query checkpoint and end-of-run state
  --start-offsets WHERE   earliest (default) or latest: where the events topic is read from
                          (.state/engines/spark/checkpoints/JOB-ID)
  --heap SIZE             heap of this JVM, the driver (and, in local mode, the
                          executors) (1g)

Spark flags:
  --mode MODE             structured (Structured Streaming) | dstream (Spark
                          Streaming DStreams, direct Kafka stream) (structured)
  --shuffle-partitions N  spark.sql.shuffle.partitions / DStream reduce partitions (4)
  --executor-memory SIZE  spark.executor.memory on a cluster (512m)
  --cores-max N           spark.cores.max on a cluster (2)
  --driver-host HOST      address executors reach the driver at (127.0.0.1)
  --results-partitions N  partitions of the results topic if it is created (16)
  --log-level LEVEL       Spark's log level: ERROR, WARN, INFO, DEBUG (WARN)

Logs go to stderr and to .state/engines/spark/logs/JOB-ID.log.
Exit status: 0 after the end line or after SIGTERM/SIGINT (without end),
2 for a bad command line, 1 when the job failed.

environment:
  BOONTADATA_STATE_DIR   state root (default <repo>/.state)
  BOONTADATA_JAVA_HOME   JDK 17+ to use (default: java on PATH)
  BOONTADATA_MAVEN_REPO  Maven local repository (default: Maven's, ~/.m2/repository)
EOF
}

# ---------------------------------------------------------------------------
# flags run.sh needs itself; everything is passed on to the job, which checks it
# ---------------------------------------------------------------------------
HEAP="1g"
LOG_LEVEL="WARN"
JOB_ID=""
MASTER="local"
DRIVER_HOST="127.0.0.1"
args=("$@")
i=0
while ((i < ${#args[@]})); do
  a="${args[i]}"
  case "${a}" in
    -h | --help | help)
      usage
      exit 0
      ;;
  esac
  name="" value=""
  if [[ "${a}" == --*=* ]]; then
    name="${a%%=*}" value="${a#*=}"
  elif [[ "${a}" == --* ]] && ((i + 1 < ${#args[@]})); then
    name="${a}" value="${args[i + 1]}"
    i=$((i + 1))
  fi
  case "${name}" in
    --heap) HEAP="${value}" ;;
    --log-level) LOG_LEVEL="${value}" ;;
    --job-id) JOB_ID="${value}" ;;
    --master) MASTER="${value}" ;;
    --driver-host) DRIVER_HOST="${value}" ;;
  esac
  i=$((i + 1))
done
[[ "${HEAP}" =~ ^[0-9]+[kKmMgG]?$ ]] || die "--heap ${HEAP}: want a JVM size such as 512m or 1g"
LOG_LEVEL="$(printf '%s' "${LOG_LEVEL}" | tr '[:lower:]' '[:upper:]')"
case "${LOG_LEVEL}" in
  OFF | FATAL | ERROR | WARN | INFO | DEBUG | TRACE | ALL) ;;
  *) die "--log-level ${LOG_LEVEL}: want one of ERROR, WARN, INFO, DEBUG" ;;
esac

# ---------------------------------------------------------------------------
# tools
# ---------------------------------------------------------------------------
if [[ -n "${BOONTADATA_JAVA_HOME:-}" ]]; then
  JAVA="${BOONTADATA_JAVA_HOME}/bin/java"
else
  JAVA="$(command -v java || true)"
fi
[[ -n "${JAVA}" && -x "${JAVA}" ]] ||
  die "java not found: install a JDK 17+ (apt-get install openjdk-17-jdk-headless) or set BOONTADATA_JAVA_HOME"
java_major="$("${JAVA}" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)"
[[ -n "${java_major}" && "${java_major}" -ge 17 ]] ||
  die "Spark 4 needs Java 17 or newer; ${JAVA} is version ${java_major:-unknown}: set BOONTADATA_JAVA_HOME"

MVN_ARGS=(-B -q -f "${SCRIPT_DIR}/pom.xml")
if [[ -n "${BOONTADATA_MAVEN_REPO:-}" ]]; then
  MVN_ARGS+=("-Dmaven.repo.local=${BOONTADATA_MAVEN_REPO}")
fi

# ---------------------------------------------------------------------------
# build: once, and again when pom.xml or src/ changed
# ---------------------------------------------------------------------------
sources_sum() {
  (cd "${SCRIPT_DIR}" && find pom.xml src -type f -print0 | LC_ALL=C sort -z |
    xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
}

build_is_current() {
  [[ -f "${JAR}" && -f "${CLASSPATH_FILE}" && -f "${JVM_OPTIONS_FILE}" && -f "${SOURCES_SUM_FILE}" ]] &&
    [[ "$(cat "${SOURCES_SUM_FILE}")" == "$(sources_sum)" ]]
}

build() {
  command -v mvn >/dev/null 2>&1 ||
    die "mvn not found: install Maven (apt-get install maven) to build the Spark job"
  local sum log started
  sum="$(sources_sum)"
  log="${STATE}/build.log"
  started=$(date +%s)
  say "building the Spark job with Maven (first build downloads Spark's dependencies, ~300 MB); log: ${log}"
  if ! JAVA_HOME="$(dirname "$(dirname "$(readlink -f "${JAVA}")")")" \
    mvn "${MVN_ARGS[@]}" "-Dboontadata.build.dir=${STATE}/build" package >"${log}" 2>&1; then
    tail -n 40 "${log}" >&2
    die "Maven build failed (full log: ${log})"
  fi
  if ! mvn "${MVN_ARGS[@]}" "-Dboontadata.build.dir=${STATE}/build" dependency:build-classpath \
    -Dmdep.includeScope=runtime "-Dmdep.outputFile=${CLASSPATH_FILE}.new" >>"${log}" 2>&1; then
    tail -n 20 "${log}" >&2
    die "resolving the classpath failed (full log: ${log})"
  fi
  cp "${STATE}/build/boontadata-spark.jar" "${JAR}.new"
  "${JAVA}" -cp "${JAR}.new:$(cat "${CLASSPATH_FILE}.new")" boontadata.spark.JvmOptions \
    >"${JVM_OPTIONS_FILE}.new" || die "cannot read Spark's JVM options (see ${log})"
  mv "${JAR}.new" "${JAR}"
  mv "${CLASSPATH_FILE}.new" "${CLASSPATH_FILE}"
  mv "${JVM_OPTIONS_FILE}.new" "${JVM_OPTIONS_FILE}"
  printf '%s\n' "${sum}" >"${SOURCES_SUM_FILE}"
  say "built ${JAR} in $(($(date +%s) - started)) s"
}

mkdir -p "${STATE}/logs"
if ! build_is_current; then
  # One build at a time, whoever starts it.
  exec 9>"${STATE}/build.lock"
  flock 9
  build_is_current || build
  flock -u 9
  exec 9>&-
fi

# ---------------------------------------------------------------------------
# run
# ---------------------------------------------------------------------------
CP="${JAR}:$(cat "${CLASSPATH_FILE}")"
read -r -a JVM_OPTS <<<"$(cat "${JVM_OPTIONS_FILE}")"
# Spark's launcher options minus the vector incubator module (used by MLlib's
# BLAS only), whose use the JVM announces on every start.
opts=()
for o in "${JVM_OPTS[@]}"; do
  [[ "${o}" == --add-modules=jdk.incubator.vector ]] || opts+=("${o}")
done
JVM_OPTS=("${opts[@]}")

# Cluster mode: executors get the job's jar, the Kafka connectors and Spark
# Streaming (not every worker classpath has it) from the driver (spark.jars);
# Spark core and SQL are on the workers' classpath.
SPARK_JARS="${JAR}"
if [[ "${MASTER}" == spark://* ]]; then
  while IFS= read -r jar; do
    case "$(basename "${jar}")" in
      spark-sql-kafka-0-10_* | spark-streaming-kafka-0-10_* | spark-token-provider-kafka-0-10_* | \
        spark-streaming_* | kafka-clients-* | commons-pool2-*)
        SPARK_JARS="${SPARK_JARS},${jar}"
        ;;
    esac
  done < <(tr ':' '\n' <"${CLASSPATH_FILE}")
fi

safe_job="$(printf '%s' "${JOB_ID:-spark}" | tr -c 'A-Za-z0-9._-' '_')"
LOG_FILE="${STATE}/logs/${safe_job}.log"
say "log file: ${LOG_FILE}"

# The address Spark binds and advertises (else it warns that the host name
# resolves to a loopback address and picks another interface).
export SPARK_LOCAL_IP="${SPARK_LOCAL_IP:-${DRIVER_HOST}}"

exec "${JAVA}" "${JVM_OPTS[@]}" "-Xmx${HEAP}" \
  -XX:+UseG1GC \
  "-Dlog4j2.configurationFile=${SCRIPT_DIR}/conf/log4j2.properties" \
  "-Dboontadata.spark.log.file=${LOG_FILE}" \
  "-Dboontadata.spark.log.level=${LOG_LEVEL}" \
  "-Dboontadata.spark.state=${STATE}" \
  "-Dboontadata.spark.jars=${SPARK_JARS}" \
  -cp "${CP}" boontadata.spark.Main "$@"
