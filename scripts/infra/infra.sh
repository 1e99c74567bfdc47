#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# infra.sh - fetch, start, health-check and stop the local servers that boontadata's
# services and tests use: Apache Kafka (KRaft) and Apache Cassandra, and the engine
# clusters the real engines run on: a Spark standalone cluster and a Flink session
# cluster.
#
# No Docker: the servers run from Maven Central artifacts on a local JDK 17.
# This file is the command line; lib.sh holds what every server shares, and
# kafka.sh, cassandra.sh, spark.sh and flink.sh what is particular to each.
# See docs/infra.md for the full description. Run `infra.sh --help` for usage.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
# shellcheck source=lib.sh
. "${SCRIPT_DIR}/lib.sh"
# shellcheck source=kafka.sh
. "${SCRIPT_DIR}/kafka.sh"
# shellcheck source=cassandra.sh
. "${SCRIPT_DIR}/cassandra.sh"
# shellcheck source=spark.sh
. "${SCRIPT_DIR}/spark.sh"
# shellcheck source=flink.sh
. "${SCRIPT_DIR}/flink.sh"

# `all`: what the services and their tests need. The engine clusters are started by name.
SERVICES=(kafka cassandra)
ENGINE_CLUSTERS=(spark flink)

usage() {
  cat <<EOF
usage: infra.sh COMMAND [all|kafka|cassandra|spark|flink]

Local Apache Kafka ${KAFKA_VERSION} (KRaft) and Apache Cassandra ${CASSANDRA_VERSION}, and the
engine clusters Spark ${SPARK_VERSION} (standalone: master + ${SPARK_WORKERS} workers) and
Flink ${FLINK_VERSION} (session: JobManager + TaskManager), run from Maven Central
artifacts on JDK 17 (no Docker).

commands:
  fetch  [TARGET]               resolve the pinned artifacts with Maven (cached in the
                                Maven local repo); for cassandra also cqlsh in a venv
  start  [TARGET]               fetch if needed, start, wait until a real client
                                call succeeds; no-op if already running and healthy
  status [TARGET]               running/stopped, pid, port, log; exit 0 if all the
                                requested servers are up and answer, 3 otherwise
  stop   [TARGET]               SIGTERM, wait, SIGKILL after ${STOP_TIMEOUT}s; no-op if stopped
  reset  [TARGET]               stop, then delete data and logs (downloads are kept)
  logs   SERVER [-f]            print the log path(s) and the last lines (-f: follow);
                                SERVER: kafka, cassandra, spark, flink, or one process
                                (spark-master, spark-worker-N, flink-jobmanager,
                                flink-taskmanager)
  cqlsh  [cqlsh args...]        run cqlsh against the local Cassandra
  kafka-topics [args...]        run Kafka's TopicCommand against the local broker
  help, --help, -h              this text

TARGET: all (the default: kafka and cassandra), kafka, cassandra, spark or flink.
The engine clusters are never part of "all": start them by name.
State (data, logs, pid files, generated configs) lives under: ${STATE}

endpoints: kafka 127.0.0.1:${KAFKA_PORT}, cassandra 127.0.0.1:${CASSANDRA_PORT},
           spark spark://127.0.0.1:${SPARK_MASTER_PORT} (web UI http://127.0.0.1:${SPARK_UI_PORT}),
           flink http://127.0.0.1:${FLINK_REST_PORT} (REST API)

environment:
  BOONTADATA_STATE_DIR               state root (default <repo>/.state); infra uses <root>/infra
  BOONTADATA_INFRA_DIR               the infra state itself (default <root>/infra): a second
                                     state root can share the servers of the first
  BOONTADATA_JAVA_HOME               JDK to use (Kafka: 17..23, Cassandra: 17, Spark and Flink: 17..21)
  BOONTADATA_MAVEN_REPO              Maven local repository (default: Maven's, ~/.m2/repository)
  BOONTADATA_PYTHON                  python for the cqlsh venv and JSON health checks (default python3)
  BOONTADATA_KAFKA_PORT              Kafka client port (default 9092)
  BOONTADATA_KAFKA_CONTROLLER_PORT   KRaft controller port (default 9093)
  BOONTADATA_KAFKA_HEAP              Kafka -Xms/-Xmx (default 1g)
  BOONTADATA_KAFKA_START_TIMEOUT     seconds to wait for Kafka health (default 120)
  BOONTADATA_CASSANDRA_PORT          CQL native port (default 9042)
  BOONTADATA_CASSANDRA_STORAGE_PORT  Cassandra storage port (default 7000)
  BOONTADATA_CASSANDRA_JMX_PORT      Cassandra local JMX port (default 7199)
  BOONTADATA_CASSANDRA_HEAP          Cassandra -Xms/-Xmx (default 1G)
  BOONTADATA_CASSANDRA_START_TIMEOUT seconds to wait for Cassandra health (default 240)
  BOONTADATA_SPARK_MASTER_PORT       Spark master port (default 7077)
  BOONTADATA_SPARK_UI_PORT           Spark master web UI and /json (default 8180)
  BOONTADATA_SPARK_WORKERS           number of Spark workers, 1..9 (default 2)
  BOONTADATA_SPARK_WORKER_PORT       port of worker 1, then +1 per worker (default 7078)
  BOONTADATA_SPARK_WORKER_UI_PORT    web UI of worker 1, then +1 per worker (default 8181)
  BOONTADATA_SPARK_DAEMON_HEAP       master and worker -Xms/-Xmx (default 512m)
  BOONTADATA_SPARK_WORKER_MEMORY     memory a worker gives its executors (default 1g)
  BOONTADATA_SPARK_WORKER_CORES      cores a worker gives its executors (default 1)
  BOONTADATA_SPARK_START_TIMEOUT     seconds to wait for Spark health (default 120)
  BOONTADATA_FLINK_REST_PORT         Flink REST API (default 8081)
  BOONTADATA_FLINK_RPC_PORT          JobManager RPC port (default 6123)
  BOONTADATA_FLINK_BLOB_PORT         JobManager blob server port (default 6124)
  BOONTADATA_FLINK_TM_RPC_PORT       TaskManager RPC port (default 6122)
  BOONTADATA_FLINK_TM_DATA_PORT      TaskManager data port (default 6121)
  BOONTADATA_FLINK_SLOTS             task slots of the TaskManager (default 2)
  BOONTADATA_FLINK_START_TIMEOUT     seconds to wait for Flink health (default 120)
  BOONTADATA_STOP_TIMEOUT            seconds between SIGTERM and SIGKILL (default 60)

exit codes: 0 ok; 1 error (start failed, port taken, no JDK, ...); 2 usage;
            3 status: some requested server is not up.
EOF
}

is_server() {
  local s
  for s in "${SERVICES[@]}" "${ENGINE_CLUSTERS[@]}"; do
    [[ "$1" == "$s" ]] && return 0
  done
  return 1
}

# set_targets ARG -> sets TARGETS to the server names (exit 2 on a bad name)
TARGETS=()
set_targets() {
  local t="${1:-all}" svc
  if [[ "$t" == all ]]; then
    TARGETS=("${SERVICES[@]}")
  elif is_server "$t"; then
    TARGETS=("$t")
  else
    warn "unknown target '${t}' (expected all, kafka, cassandra, spark or flink)"
    exit 2
  fi
  for svc in "${TARGETS[@]}"; do
    if has_hook "$svc" validate; then
      hook "$svc" validate
    fi
  done
}

cmd_start() {
  local -a waits=()
  local svc rc=0
  set_targets "${1:-all}"
  take_lock
  # launch everything first, then wait: the servers boot in parallel
  for svc in "${TARGETS[@]}"; do
    if launch_svc "$svc"; then
      waits+=("$svc")
    fi
  done
  for svc in "${waits[@]}"; do
    wait_healthy "$svc" || rc=1
  done
  if ((rc != 0)); then
    die "start failed"
  fi
}

cmd_status() {
  local svc rc=0
  set_targets "${1:-all}"
  for svc in "${TARGETS[@]}"; do
    status_svc "$svc" || rc=3
  done
  return "$rc"
}

cmd_stop() {
  local svc
  set_targets "${1:-all}"
  take_lock
  for svc in "${TARGETS[@]}"; do
    stop_svc "$svc"
  done
}

cmd_reset() {
  local svc d
  set_targets "${1:-all}"
  take_lock
  for svc in "${TARGETS[@]}"; do
    stop_svc "$svc"
    d="$(svc_dir "$svc")"
    rm -rf "${d}/data" "${d}/logs" "${d}/started-at"
    say "${svc}: data and logs deleted (${d}/data, ${d}/logs)"
  done
}

cmd_fetch() {
  local svc
  set_targets "${1:-all}"
  take_lock
  for svc in "${TARGETS[@]}"; do
    fetch_svc "$svc" force
  done
  say "fetch done"
}

cmd_logs() {
  local name="${1:-}" svc proc f
  local -a files=()
  if [[ -n "$name" ]] && is_server "$name"; then
    svc="$name"
    while read -r proc; do
      files+=("$(log_file "$proc")")
    done < <(hook "$svc" procs)
  elif [[ -n "$name" ]] && is_server "$(proc_server "$name")" &&
    grep -qxF -- "$name" < <(hook "$(proc_server "$name")" procs); then
    svc="$(proc_server "$name")"
    files=("$(log_file "$name")")
  else
    warn "usage: infra.sh logs kafka|cassandra|spark|flink|PROCESS [-f]"
    exit 2
  fi
  if ((${#files[@]} == 1)); then
    say "${name} log: ${files[0]}"
  else
    say "${name} logs: ${files[*]}"
  fi
  for f in "${files[@]}"; do
    [[ -f "$f" ]] || die "${name}: no log yet (${f})"
  done
  if [[ "${2:-}" == "-f" ]]; then
    exec tail -n 50 -F "${files[@]}"
  fi
  tail -n 50 "${files[@]}"
}

main() {
  local cmd="${1:-}"
  if (($# > 0)); then shift; fi
  case "$cmd" in
    "" | help | -h | --help) usage ;;
    fetch) cmd_fetch "$@" ;;
    start) cmd_start "$@" ;;
    status) cmd_status "$@" ;;
    stop) cmd_stop "$@" ;;
    reset) cmd_reset "$@" ;;
    logs) cmd_logs "$@" ;;
    cqlsh) cqlsh_cmd "$@" ;;
    kafka-topics) kafka_topics_cmd "$@" ;;
    *)
      warn "unknown command '${cmd}'"
      usage >&2
      exit 2
      ;;
  esac
}

main "$@"
