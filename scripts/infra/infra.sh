#!/usr/bin/env bash
# infra.sh - fetch, start, health-check and stop the local Apache Kafka (KRaft)
# and Apache Cassandra servers that boontadata's services and tests use.
#
# No Docker: the servers run from Maven Central artifacts on a local JDK 17.
# See docs/infra.md for the full description. Run `infra.sh --help` for usage.
set -euo pipefail

# ---------------------------------------------------------------------------
# locations and settings
# ---------------------------------------------------------------------------
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
REPO_ROOT="$(cd "${SCRIPT_DIR}/../.." && pwd -P)"
STATE_ROOT="${BOONTADATA_STATE_DIR:-${REPO_ROOT}/.state}"
STATE="${STATE_ROOT}/infra"

KAFKA_VERSION="4.3.1"
CASSANDRA_VERSION="5.0.9"

KAFKA_PORT="${BOONTADATA_KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${BOONTADATA_KAFKA_CONTROLLER_PORT:-9093}"
KAFKA_HEAP="${BOONTADATA_KAFKA_HEAP:-1g}"
KAFKA_START_TIMEOUT="${BOONTADATA_KAFKA_START_TIMEOUT:-120}"

CASSANDRA_PORT="${BOONTADATA_CASSANDRA_PORT:-9042}"
CASSANDRA_STORAGE_PORT="${BOONTADATA_CASSANDRA_STORAGE_PORT:-7000}"
CASSANDRA_JMX_PORT="${BOONTADATA_CASSANDRA_JMX_PORT:-7199}"
CASSANDRA_HEAP="${BOONTADATA_CASSANDRA_HEAP:-1G}"
CASSANDRA_START_TIMEOUT="${BOONTADATA_CASSANDRA_START_TIMEOUT:-240}"

STOP_TIMEOUT="${BOONTADATA_STOP_TIMEOUT:-60}"

SERVICES=(kafka cassandra)

# ---------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------
say() { printf 'infra: %s\n' "$*"; }
warn() { printf 'infra: %s\n' "$*" >&2; }
die() {
  printf 'infra: error: %s\n' "$*" >&2
  exit 1
}

usage() {
  cat <<EOF
usage: infra.sh COMMAND [all|kafka|cassandra]

Local Apache Kafka ${KAFKA_VERSION} (KRaft) and Apache Cassandra ${CASSANDRA_VERSION},
run from Maven Central artifacts on JDK 17 (no Docker).

commands:
  fetch  [all|kafka|cassandra]  resolve the pinned artifacts with Maven (cached in
                                the Maven local repo) and install cqlsh in a venv
  start  [all|kafka|cassandra]  fetch if needed, start, wait until a real client
                                call succeeds; no-op if already running and healthy
  status [all|kafka|cassandra]  running/stopped, pid, port, log; exit 0 if all the
                                requested servers are up and answer, 3 otherwise
  stop   [all|kafka|cassandra]  SIGTERM, wait, SIGKILL after ${STOP_TIMEOUT}s; no-op if stopped
  reset  [all|kafka|cassandra]  stop, then delete data and logs (downloads are kept)
  logs   kafka|cassandra [-f]   print the log path and its last lines (-f: follow)
  cqlsh  [cqlsh args...]        run cqlsh against the local Cassandra
  kafka-topics [args...]        run Kafka's TopicCommand against the local broker
  help, --help, -h              this text

The target defaults to "all". State (data, logs, pid files, generated configs)
lives under: ${STATE}

environment:
  BOONTADATA_STATE_DIR               state root (default <repo>/.state); infra uses <root>/infra
  BOONTADATA_JAVA_HOME               JDK to use (Kafka: 17..23, Cassandra: 17)
  BOONTADATA_MAVEN_REPO              Maven local repository (default: Maven's, ~/.m2/repository)
  BOONTADATA_PYTHON                  python for the cqlsh venv (default python3)
  BOONTADATA_KAFKA_PORT              Kafka client port (default 9092)
  BOONTADATA_KAFKA_CONTROLLER_PORT   KRaft controller port (default 9093)
  BOONTADATA_KAFKA_HEAP              Kafka -Xms/-Xmx (default 1g)
  BOONTADATA_KAFKA_START_TIMEOUT     seconds to wait for Kafka health (default 120)
  BOONTADATA_CASSANDRA_PORT          CQL native port (default 9042)
  BOONTADATA_CASSANDRA_STORAGE_PORT  Cassandra storage port (default 7000)
  BOONTADATA_CASSANDRA_JMX_PORT      Cassandra local JMX port (default 7199)
  BOONTADATA_CASSANDRA_HEAP          Cassandra -Xms/-Xmx (default 1G)
  BOONTADATA_CASSANDRA_START_TIMEOUT seconds to wait for Cassandra health (default 240)
  BOONTADATA_STOP_TIMEOUT            seconds between SIGTERM and SIGKILL (default 60)

exit codes: 0 ok; 1 error (start failed, port taken, no JDK, ...); 2 usage;
            3 status: some requested server is not up.
EOF
}

# set_targets ARG -> sets TARGETS to the service names (exit 2 on a bad name)
TARGETS=()
set_targets() {
  case "${1:-all}" in
    all) TARGETS=("${SERVICES[@]}") ;;
    kafka | cassandra) TARGETS=("$1") ;;
    *)
      warn "unknown target '$1' (expected all, kafka or cassandra)"
      exit 2
      ;;
  esac
}

svc_dir() { printf '%s/%s' "$STATE" "$1"; }
pid_file() { printf '%s/%s.pid' "$(svc_dir "$1")" "$1"; }
marker() { printf -- '-Dboontadata.infra.id=%s@%s' "$1" "$STATE"; }

log_file() {
  case "$1" in
    kafka) printf '%s/logs/server.log' "$(svc_dir kafka)" ;;
    cassandra) printf '%s/logs/system.log' "$(svc_dir cassandra)" ;;
  esac
}

stdout_file() { printf '%s/logs/stdout.log' "$(svc_dir "$1")"; }

svc_port() {
  case "$1" in
    kafka) printf '%s' "$KAFKA_PORT" ;;
    cassandra) printf '%s' "$CASSANDRA_PORT" ;;
  esac
}

# every TCP port a service binds
svc_ports() {
  case "$1" in
    kafka) printf '%s\n' "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" ;;
    cassandra) printf '%s\n' "$CASSANDRA_PORT" "$CASSANDRA_STORAGE_PORT" "$CASSANDRA_JMX_PORT" ;;
  esac
}

start_timeout() {
  case "$1" in
    kafka) printf '%s' "$KAFKA_START_TIMEOUT" ;;
    cassandra) printf '%s' "$CASSANDRA_START_TIMEOUT" ;;
  esac
}

# serialize start/stop/reset/fetch between concurrent callers
take_lock() {
  mkdir -p "$STATE"
  exec 9>"${STATE}/.lock"
  if command -v flock >/dev/null 2>&1; then
    if ! flock -w 900 9; then
      die "another infra.sh holds ${STATE}/.lock for too long"
    fi
  fi
}

# ---------------------------------------------------------------------------
# processes and ports
# ---------------------------------------------------------------------------

# is PID a live process started by this script for SERVICE (same state dir)?
pid_is_ours() {
  local svc="$1" pid="$2"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  local args
  # no `tr | grep -q` pipeline here: with pipefail, grep -q's early exit can make
  # tr die of SIGPIPE on a long command line and the check fail at random
  args="$(tr '\0' '\n' <"/proc/${pid}/cmdline" 2>/dev/null)" || return 1
  grep -qxF -- "$(marker "$svc")" <<<"$args"
}

# finds our process by its marker even without a pid file
find_pid_by_marker() {
  local svc="$1" p
  for p in $(pgrep -f "boontadata[.]infra[.]id=${svc}@" 2>/dev/null || true); do
    if pid_is_ours "$svc" "$p"; then
      printf '%s' "$p"
      return 0
    fi
  done
  return 1
}

# prints the pid of the running SERVICE and returns 0, or returns 1.
# Cleans up a stale pid file and re-adopts a running server whose pid file is gone.
running_pid() {
  local svc="$1" pf pid=""
  pf="$(pid_file "$svc")"
  if [[ -f "$pf" ]]; then
    pid="$(tr -dc '0-9' <"$pf" || true)"
    if pid_is_ours "$svc" "$pid"; then
      printf '%s' "$pid"
      return 0
    fi
    warn "${svc}: removing stale pid file ${pf} (pid ${pid:-?} is not running)"
    rm -f "$pf"
  fi
  if pid="$(find_pid_by_marker "$svc")"; then
    mkdir -p "$(dirname "$pf")"
    printf '%s\n' "$pid" >"$pf"
    printf '%s' "$pid"
    return 0
  fi
  return 1
}

port_listening() {
  local port="$1"
  if command -v ss >/dev/null 2>&1; then
    [[ -n "$(ss -Hltn "sport = :${port}" 2>/dev/null)" ]]
  else
    (exec 3<>"/dev/tcp/127.0.0.1/${port}") 2>/dev/null
  fi
}

port_owner() {
  local port="$1"
  if command -v ss >/dev/null 2>&1; then
    ss -Hltnp "sport = :${port}" 2>/dev/null | sed -n 's/.*users:((\(.*\)))$/\1/p' | head -n1 || true
  fi
}

# fails if any port of SERVICE is already taken by something else
check_ports_free() {
  local svc="$1" port owner bad=0
  while read -r port; do
    if port_listening "$port"; then
      owner="$(port_owner "$port")"
      warn "${svc}: port ${port} is already in use by another process${owner:+ (${owner})}"
      bad=1
    fi
  done < <(svc_ports "$svc")
  if ((bad)); then
    die "${svc}: cannot start; stop whatever holds the port(s) or set BOONTADATA_*_PORT"
  fi
}

# keep the previous run's log as <log>.previous so the log holds only the current run
rotate_logs() {
  local f
  for f in "$(log_file "$1")" "$(stdout_file "$1")"; do
    if [[ -s "$f" ]]; then
      mv -f "$f" "${f}.previous"
    fi
  done
}

show_log_tail() {
  local svc="$1" f
  for f in "$(log_file "$svc")" "$(stdout_file "$svc")"; do
    if [[ -s "$f" ]]; then
      warn "${svc}: last 30 lines of ${f}:"
      tail -n 30 "$f" >&2 || true
    fi
  done
  warn "${svc}: log: $(log_file "$svc")"
}

# ---------------------------------------------------------------------------
# JDK selection
# ---------------------------------------------------------------------------

# prints the major version of the java binary ($1), e.g. 17
java_major() {
  local v
  v="$("$1" -XshowSettings:properties -version 2>&1 | awk -F'= ' '/java.specification.version/ {print $2; exit}')" || true
  v="${v#1.}"
  printf '%s' "${v%%.*}"
}

# java_ok SERVICE MAJOR
java_ok() {
  local svc="$1" major="$2"
  [[ "$major" =~ ^[0-9]+$ ]] || return 1
  case "$svc" in
    cassandra) ((major == 17)) ;;                 # Cassandra 5.0 runs on 11 and 17; we use 17 (never 24+)
    kafka | maven) ((major >= 17 && major <= 23)) ;; # Kafka 4.x brokers need 17+
  esac
}

# select_java SERVICE -> prints the path of a java binary fit for SERVICE
select_java() {
  local svc="$1" j major
  if [[ -n "${BOONTADATA_JAVA_HOME:-}" ]]; then
    j="${BOONTADATA_JAVA_HOME}/bin/java"
    [[ -x "$j" ]] || die "BOONTADATA_JAVA_HOME=${BOONTADATA_JAVA_HOME} has no bin/java"
    major="$(java_major "$j")"
    java_ok "$svc" "$major" ||
      die "BOONTADATA_JAVA_HOME=${BOONTADATA_JAVA_HOME} is Java ${major:-?}, ${svc} needs Java 17 (install: apt-get install openjdk-17-jdk-headless)"
    printf '%s' "$j"
    return 0
  fi
  for j in /usr/lib/jvm/*17*/bin/java; do
    [[ -x "$j" ]] || continue
    major="$(java_major "$j")"
    if [[ "$major" == 17 ]]; then
      printf '%s' "$j"
      return 0
    fi
  done
  if j="$(command -v java 2>/dev/null)"; then
    major="$(java_major "$j")"
    if java_ok "$svc" "$major"; then
      printf '%s' "$j"
      return 0
    fi
  fi
  die "no suitable JDK for ${svc}: need JDK 17 (install it with: apt-get install openjdk-17-jdk-headless, or set BOONTADATA_JAVA_HOME)"
}

java_home_of() {
  local j
  j="$(readlink -f "$1")"
  dirname "$(dirname "$j")"
}

# ---------------------------------------------------------------------------
# fetch (Maven) and cqlsh venv
# ---------------------------------------------------------------------------
cp_file() { printf '%s/classpath.txt' "$(svc_dir "$1")"; }
pom_file() { printf '%s/%s/pom.xml' "$SCRIPT_DIR" "$1"; }

file_hash() { sha256sum "$1" | awk '{print $1}'; }

# the classpath file is current: made from the present pom, every jar exists
fetched() {
  local svc="$1" cpf stamp jar
  cpf="$(cp_file "$svc")"
  stamp="${cpf}.pom-sha256"
  [[ -s "$cpf" && -f "$stamp" ]] || return 1
  [[ "$(cat "$stamp")" == "$(file_hash "$(pom_file "$svc")")" ]] || return 1
  while IFS= read -r jar; do
    [[ -f "$jar" ]] || return 1
  done < <(tr ':' '\n' <"$cpf")
  return 0
}

maven_fetch() {
  local svc="$1" cpf java mvn_log
  command -v mvn >/dev/null 2>&1 || die "mvn not found (install it with: apt-get install maven)"
  java="$(select_java maven)" || exit 1
  cpf="$(cp_file "$svc")"
  mkdir -p "$(svc_dir "$svc")"
  mvn_log="$(svc_dir "$svc")/fetch.log"
  local -a args=(-B -q -f "$(pom_file "$svc")" dependency:build-classpath
    "-Dmdep.outputFile=${cpf}.tmp" -Dmdep.includeScope=runtime)
  if [[ -n "${BOONTADATA_MAVEN_REPO:-}" ]]; then
    args+=("-Dmaven.repo.local=${BOONTADATA_MAVEN_REPO}")
  fi
  say "${svc}: resolving artifacts with Maven (pom: $(pom_file "$svc"))"
  if ! JAVA_HOME="$(java_home_of "$java")" mvn "${args[@]}" >"$mvn_log" 2>&1; then
    tail -n 40 "$mvn_log" >&2 || true
    die "${svc}: Maven could not resolve the artifacts (full output: ${mvn_log})"
  fi
  mv -f "${cpf}.tmp" "$cpf"
  file_hash "$(pom_file "$svc")" >"${cpf}.pom-sha256"
  say "${svc}: $(tr ':' '\n' <"$cpf" | wc -l) jars on the classpath (${cpf})"
}

VENV="${STATE}/cqlsh-venv"
REQS="${SCRIPT_DIR}/cqlsh-requirements.txt"

venv_ready() {
  [[ -x "${VENV}/bin/cqlsh" && -f "${VENV}/.req-sha256" ]] &&
    [[ "$(cat "${VENV}/.req-sha256")" == "$(file_hash "$REQS")" ]]
}

ensure_cqlsh() {
  venv_ready && return 0
  local py="${BOONTADATA_PYTHON:-python3}"
  command -v "$py" >/dev/null 2>&1 || die "python3 not found (needed for cqlsh; install: apt-get install python3 python3-venv)"
  say "cassandra: installing cqlsh into ${VENV}"
  rm -rf "$VENV"
  "$py" -m venv "$VENV" || die "could not create a venv with ${py} (install: apt-get install python3-venv)"
  if ! "${VENV}/bin/pip" install -q --disable-pip-version-check -r "$REQS" >"${STATE}/cqlsh-pip.log" 2>&1; then
    tail -n 30 "${STATE}/cqlsh-pip.log" >&2 || true
    die "pip could not install cqlsh (full output: ${STATE}/cqlsh-pip.log)"
  fi
  file_hash "$REQS" >"${VENV}/.req-sha256"
}

# fetch SERVICE [force]
fetch_svc() {
  local svc="$1" force="${2:-}"
  if [[ -n "$force" ]] || ! fetched "$svc"; then
    maven_fetch "$svc"
  fi
  if [[ "$svc" == cassandra ]]; then
    ensure_cqlsh
  fi
}

# ---------------------------------------------------------------------------
# health checks (real client calls)
# ---------------------------------------------------------------------------
kafka_client() {
  local java="$1"
  shift
  local d
  d="$(svc_dir kafka)"
  timeout 40 "$java" -Xms64m -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
    "-Dlog4j2.configurationFile=${d}/config/tools-log4j2.xml" \
    -cp "$(cat "$(cp_file kafka)")" "$@"
}

write_kafka_client_config() {
  local d
  d="$(svc_dir kafka)"
  mkdir -p "${d}/config"
  cat >"${d}/config/client.properties" <<EOF
request.timeout.ms=5000
default.api.timeout.ms=8000
socket.connection.setup.timeout.ms=2000
socket.connection.setup.timeout.max.ms=3000
EOF
  cat >"${d}/config/tools-log4j2.xml" <<'EOF'
<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="WARN">
  <Appenders>
    <Console name="STDERR" target="SYSTEM_ERR">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
    </Console>
  </Appenders>
  <Loggers>
    <Root level="ERROR"><AppenderRef ref="STDERR"/></Root>
  </Loggers>
</Configuration>
EOF
}

# real Kafka client call: list topics through the broker
kafka_healthy() {
  port_listening "$KAFKA_PORT" || return 1
  local java
  java="$(select_java kafka)" || exit 1
  [[ -f "$(svc_dir kafka)/config/client.properties" ]] || write_kafka_client_config
  kafka_client "$java" org.apache.kafka.tools.TopicCommand \
    --bootstrap-server "127.0.0.1:${KAFKA_PORT}" \
    --command-config "$(svc_dir kafka)/config/client.properties" --list >/dev/null 2>&1
}

cqlsh_query() {
  timeout 40 "${VENV}/bin/cqlsh" 127.0.0.1 "$CASSANDRA_PORT" \
    --connect-timeout=5 --request-timeout=10 -e "$1"
}

# real CQL query
cassandra_healthy() {
  port_listening "$CASSANDRA_PORT" || return 1
  venv_ready || return 1
  cqlsh_query "SELECT release_version FROM system.local" >/dev/null 2>&1
}

svc_healthy() {
  case "$1" in
    kafka) kafka_healthy ;;
    cassandra) cassandra_healthy ;;
  esac
}

# ---------------------------------------------------------------------------
# Kafka
# ---------------------------------------------------------------------------
write_kafka_config() {
  local d
  d="$(svc_dir kafka)"
  mkdir -p "${d}/config" "${d}/data" "${d}/logs"
  cat >"${d}/config/server.properties" <<EOF
# generated by scripts/infra/infra.sh - edits are overwritten at each start
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:${KAFKA_CONTROLLER_PORT}
listeners=PLAINTEXT://127.0.0.1:${KAFKA_PORT},CONTROLLER://127.0.0.1:${KAFKA_CONTROLLER_PORT}
advertised.listeners=PLAINTEXT://127.0.0.1:${KAFKA_PORT}
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=${d}/data

# single node: every internal topic has replication factor 1
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1

# tests: no rebalance delay, topics are created explicitly by the software
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
delete.topic.enable=true
EOF
  cat >"${d}/config/log4j2.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!-- generated by scripts/infra/infra.sh -->
<Configuration status="WARN">
  <Appenders>
    <RollingFile name="FILE" fileName="${d}/logs/server.log"
                 filePattern="${d}/logs/server.log.%i">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
      <Policies><SizeBasedTriggeringPolicy size="100 MB"/></Policies>
      <DefaultRolloverStrategy max="5"/>
    </RollingFile>
  </Appenders>
  <Loggers>
    <Root level="INFO"><AppenderRef ref="FILE"/></Root>
    <Logger name="kafka.request.logger" level="WARN"/>
    <Logger name="org.apache.kafka.clients" level="WARN"/>
  </Loggers>
</Configuration>
EOF
  write_kafka_client_config
}

kafka_launch() {
  local java="$1" d cp
  d="$(svc_dir kafka)"
  cp="$(cat "$(cp_file kafka)")"
  write_kafka_config
  if [[ ! -f "${d}/data/meta.properties" ]]; then
    local cluster_id
    cluster_id="$(kafka_client "$java" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n1)"
    [[ -n "$cluster_id" ]] || die "kafka: could not generate a cluster id with kafka.tools.StorageTool"
    say "kafka: formatting ${d}/data (KRaft, cluster id ${cluster_id})"
    if ! kafka_client "$java" kafka.tools.StorageTool format \
      -t "$cluster_id" -c "${d}/config/server.properties" >"${d}/logs/format.log" 2>&1; then
      cat "${d}/logs/format.log" >&2
      die "kafka: formatting the log dir failed"
    fi
  fi
  local -a jvm=(
    "-Xms${KAFKA_HEAP}" "-Xmx${KAFKA_HEAP}"
    -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
    -XX:+ExplicitGCInvokesConcurrent -XX:MaxInlineLevel=15 -Djava.awt.headless=true
    "-Xlog:gc*:file=${d}/logs/gc.log:time,tags:filecount=3,filesize=20M"
    "-Dlog4j2.configurationFile=${d}/config/log4j2.xml"
    # keep logging during Kafka's own shutdown hook (appenders flush every line)
    -Dlog4j2.shutdownHookEnabled=false
    "-Dkafka.logs.dir=${d}/logs"
    "$(marker kafka)"
  )
  nohup setsid "$java" "${jvm[@]}" -cp "$cp" kafka.Kafka "${d}/config/server.properties" \
    >>"$(stdout_file kafka)" 2>&1 </dev/null 9>&- &
  LAUNCHED_PID="$!"
}

# ---------------------------------------------------------------------------
# Cassandra
# ---------------------------------------------------------------------------
write_cassandra_config() {
  local d
  d="$(svc_dir cassandra)"
  mkdir -p "${d}/conf/triggers" "${d}/logs" "${d}/data"/{data,commitlog,saved_caches,hints,cdc_raw}
  cat >"${d}/conf/cassandra.yaml" <<EOF
# generated by scripts/infra/infra.sh - edits are overwritten at each start
cluster_name: boontadata
num_tokens: 16
# no allocate_tokens_for_*: random tokens are fine for one node, and the token
# allocator would wait RING_DELAY (30 s) for a non-system schema on a fresh node
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
endpoint_snitch: SimpleSnitch
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "127.0.0.1:${CASSANDRA_STORAGE_PORT}"
listen_address: 127.0.0.1
rpc_address: 127.0.0.1
storage_port: ${CASSANDRA_STORAGE_PORT}
start_native_transport: true
native_transport_port: ${CASSANDRA_PORT}

data_file_directories:
  - ${d}/data/data
commitlog_directory: ${d}/data/commitlog
saved_caches_directory: ${d}/data/saved_caches
hints_directory: ${d}/data/hints
cdc_raw_directory: ${d}/data/cdc_raw

commitlog_sync: periodic
commitlog_sync_period: 10000ms
commitlog_segment_size: 32MiB
auto_snapshot: false
disk_failure_policy: stop
commit_failure_policy: stop

authenticator: AllowAllAuthenticator
authorizer: AllowAllAuthorizer
role_manager: CassandraRoleManager
network_authorizer: AllowAllNetworkAuthorizer

# a brand-new single-node 5.0 cluster: no 4.x compatibility needed
storage_compatibility_mode: NONE
EOF
  cat >"${d}/conf/logback.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!-- generated by scripts/infra/infra.sh -->
<configuration scan="false">
  <appender name="FILE" class="ch.qos.logback.core.rolling.RollingFileAppender">
    <file>${d}/logs/system.log</file>
    <rollingPolicy class="ch.qos.logback.core.rolling.FixedWindowRollingPolicy">
      <fileNamePattern>${d}/logs/system.log.%i</fileNamePattern>
      <minIndex>1</minIndex>
      <maxIndex>5</maxIndex>
    </rollingPolicy>
    <triggeringPolicy class="ch.qos.logback.core.rolling.SizeBasedTriggeringPolicy">
      <maxFileSize>100MB</maxFileSize>
    </triggeringPolicy>
    <encoder>
      <pattern>%-5level [%thread] %date{ISO8601} %F:%L - %msg%n</pattern>
    </encoder>
  </appender>
  <root level="INFO">
    <appender-ref ref="FILE"/>
  </root>
</configuration>
EOF
}

cassandra_launch() {
  local java="$1" d cp jamm
  d="$(svc_dir cassandra)"
  cp="$(cat "$(cp_file cassandra)")"
  jamm="$(tr ':' '\n' <"$(cp_file cassandra)" | grep -E '/jamm-[^/]*\.jar$' | head -n1 || true)"
  [[ -n "$jamm" ]] || die "cassandra: jamm jar not found on the classpath ($(cp_file cassandra))"
  write_cassandra_config
  local -a jvm=(
    # heap and GC (conf/jvm17-server.options)
    "-Xms${CASSANDRA_HEAP}" "-Xmx${CASSANDRA_HEAP}"
    -XX:+UseG1GC -XX:+ParallelRefProcEnabled -XX:MaxTenuringThreshold=1 -XX:G1HeapRegionSize=16m
    -XX:G1RSetUpdatingPauseTimePercent=5 -XX:MaxGCPauseMillis=300 -XX:InitiatingHeapOccupancyPercent=70
    "-Xlog:gc=info,heap*=warning:file=${d}/logs/gc.log:time,uptime:filecount=3,filesize=20M"
    # general (conf/jvm-server.options)
    -ea -da:net.openhft... -XX:+UseThreadPriorities -XX:+HeapDumpOnOutOfMemoryError
    "-XX:HeapDumpPath=${d}/logs" -XX:+ExitOnOutOfMemoryError -Xss256k -XX:+UseTLAB -XX:+ResizeTLAB -XX:+PerfDisableSharedMem
    -Djava.net.preferIPv4Stack=true
    # JPMS (conf/jvm17-server.options)
    -Djdk.attach.allowAttachSelf=true
    --add-exports java.base/jdk.internal.misc=ALL-UNNAMED
    --add-exports java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED
    --add-exports java.rmi/sun.rmi.registry=ALL-UNNAMED
    --add-exports java.rmi/sun.rmi.server=ALL-UNNAMED
    --add-exports java.sql/java.sql=ALL-UNNAMED
    --add-exports java.base/java.lang.ref=ALL-UNNAMED
    --add-exports jdk.unsupported/sun.misc=ALL-UNNAMED
    --add-exports jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED
    --add-exports jdk.attach/sun.tools.attach=ALL-UNNAMED
    --add-opens java.base/java.lang.module=ALL-UNNAMED
    --add-opens java.base/jdk.internal.loader=ALL-UNNAMED
    --add-opens java.base/jdk.internal.ref=ALL-UNNAMED
    --add-opens java.base/jdk.internal.reflect=ALL-UNNAMED
    --add-opens java.base/jdk.internal.math=ALL-UNNAMED
    --add-opens java.base/jdk.internal.module=ALL-UNNAMED
    --add-opens java.base/jdk.internal.util.jar=ALL-UNNAMED
    --add-opens jdk.management/com.sun.management.internal=ALL-UNNAMED
    --add-opens java.base/sun.nio.ch=ALL-UNNAMED
    --add-opens java.base/java.io=ALL-UNNAMED
    --add-opens java.base/java.lang.reflect=ALL-UNNAMED
    --add-opens jdk.compiler/com.sun.tools.javac=ALL-UNNAMED
    --add-opens java.base/java.lang=ALL-UNNAMED
    --add-opens java.base/java.util=ALL-UNNAMED
    # netty (conf/jvm17-server.options)
    -Dio.netty.tryReflectionSetAccessible=true
    -Dio.netty.allocator.useCacheForAllThreads=true
    -Dio.netty.allocator.maxOrder=11
    # cassandra-env.sh
    "-javaagent:${jamm}"
    "-Dcassandra.jmx.local.port=${CASSANDRA_JMX_PORT}"
    # this setup
    -Dcassandra-foreground=yes
    "-Dcassandra.config=file://${d}/conf/cassandra.yaml"
    "-Dcassandra.storagedir=${d}/data"
    "-Dcassandra.logdir=${d}/logs"
    "-Dcassandra.triggers_dir=${d}/conf/triggers"
    "-Dlogback.configurationFile=${d}/conf/logback.xml"
    # single node: nothing to wait for
    -Dcassandra.skip_wait_for_gossip_to_settle=0
    -Dcassandra.superuser_setup_delay_ms=0
    "$(marker cassandra)"
  )
  nohup setsid "$java" "${jvm[@]}" -cp "$cp" org.apache.cassandra.service.CassandraDaemon \
    >>"$(stdout_file cassandra)" 2>&1 </dev/null 9>&- &
  LAUNCHED_PID="$!"
}

# ---------------------------------------------------------------------------
# start / wait / status / stop
# ---------------------------------------------------------------------------

# launch SERVICE if it is not running. Prints nothing on stdout.
# Returns 0 if the caller must wait for health, 1 if already healthy.
launch_svc() {
  local svc="$1" pid java
  if pid="$(running_pid "$svc")"; then
    if svc_healthy "$svc"; then
      say "${svc}: already running and healthy (pid ${pid}, 127.0.0.1:$(svc_port "$svc")); nothing to do"
      return 1
    fi
    say "${svc}: already running (pid ${pid}) but not answering yet; waiting for it"
    return 0
  fi
  check_ports_free "$svc"
  local t0
  t0="$(date +%s)"
  java="$(select_java "$svc")" || exit 1
  fetch_svc "$svc"
  mkdir -p "$(svc_dir "$svc")/logs"
  rotate_logs "$svc"
  say "${svc}: starting with $(java_home_of "$java") (log: $(log_file "$svc"))"
  LAUNCHED_PID=""
  case "$svc" in
    kafka) kafka_launch "$java" ;;
    cassandra) cassandra_launch "$java" ;;
  esac
  pid="$LAUNCHED_PID"
  sleep 0.3
  if ! pid_is_ours "$svc" "$pid"; then
    # setsid may have forked: find the JVM by its marker
    pid="$(find_pid_by_marker "$svc" || true)"
  fi
  if [[ -z "$pid" ]]; then
    show_log_tail "$svc"
    die "${svc}: the JVM exited right after launch"
  fi
  printf '%s\n' "$pid" >"$(pid_file "$svc")"
  printf '%s\n' "$t0" >"$(svc_dir "$svc")/started-at"
  say "${svc}: launched (pid ${pid}); waiting up to $(start_timeout "$svc")s for a real client call to succeed"
  return 0
}

wait_healthy() {
  local svc="$1" timeout start now pid elapsed last_report=0
  timeout="$(start_timeout "$svc")"
  start="$(cat "$(svc_dir "$svc")/started-at" 2>/dev/null || date +%s)"
  while :; do
    if ! pid="$(running_pid "$svc" 2>/dev/null)"; then
      warn "${svc}: the server process died during startup"
      show_log_tail "$svc"
      rm -f "$(pid_file "$svc")"
      return 1
    fi
    if svc_healthy "$svc"; then
      now="$(date +%s)"
      say "${svc}: healthy after $((now - start))s (pid ${pid}, 127.0.0.1:$(svc_port "$svc"))"
      return 0
    fi
    now="$(date +%s)"
    elapsed=$((now - start))
    if ((elapsed >= timeout)); then
      warn "${svc}: not healthy after ${timeout}s; stopping it"
      show_log_tail "$svc"
      stop_svc "$svc" >&2 || true
      return 1
    fi
    if ((elapsed - last_report >= 10)); then
      say "${svc}: waiting... ${elapsed}s/${timeout}s"
      last_report=$elapsed
    fi
    sleep 2
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

status_svc() {
  local svc="$1" pid port
  port="$(svc_port "$svc")"
  if pid="$(running_pid "$svc")"; then
    if svc_healthy "$svc"; then
      printf 'infra: %-9s running  pid=%-7s port=%s healthy      log=%s\n' "$svc" "$pid" "$port" "$(log_file "$svc")"
      return 0
    fi
    printf 'infra: %-9s running  pid=%-7s port=%s NOT ANSWERING log=%s\n' "$svc" "$pid" "$port" "$(log_file "$svc")"
    return 3
  fi
  local note=""
  if port_listening "$port"; then
    note=" (port ${port} is held by another process: $(port_owner "$port"))"
  fi
  printf 'infra: %-9s stopped  pid=-       port=%s%s log=%s\n' "$svc" "$port" "$note" "$(log_file "$svc")"
  return 3
}

cmd_status() {
  local svc rc=0
  set_targets "${1:-all}"
  for svc in "${TARGETS[@]}"; do
    status_svc "$svc" || rc=3
  done
  return "$rc"
}

stop_svc() {
  local svc="$1" pid waited=0
  if ! pid="$(running_pid "$svc")"; then
    say "${svc}: not running; nothing to do"
    return 0
  fi
  say "${svc}: stopping pid ${pid} (SIGTERM)"
  kill -TERM "$pid" 2>/dev/null || true
  while pid_is_ours "$svc" "$pid"; do
    if ((waited >= STOP_TIMEOUT * 2)); then
      warn "${svc}: still running after ${STOP_TIMEOUT}s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 1
      break
    fi
    sleep 0.5
    waited=$((waited + 1))
  done
  rm -f "$(pid_file "$svc")"
  say "${svc}: stopped after $((waited / 2))s"
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
  local svc="${1:-}" f
  case "$svc" in
    kafka | cassandra) ;;
    *)
      warn "usage: infra.sh logs kafka|cassandra [-f]"
      exit 2
      ;;
  esac
  f="$(log_file "$svc")"
  say "${svc} log: ${f}"
  [[ -f "$f" ]] || die "${svc}: no log yet (${f})"
  if [[ "${2:-}" == "-f" ]]; then
    exec tail -n 50 -F "$f"
  fi
  tail -n 50 "$f"
}

cmd_cqlsh() {
  mkdir -p "$STATE"
  if ! venv_ready; then
    take_lock
    ensure_cqlsh
    exec 9>&-
  fi
  exec "${VENV}/bin/cqlsh" 127.0.0.1 "$CASSANDRA_PORT" "$@"
}

cmd_kafka_topics() {
  local java
  fetched kafka || die "kafka: not fetched yet (run: infra.sh fetch kafka)"
  java="$(select_java kafka)" || exit 1
  [[ -f "$(svc_dir kafka)/config/tools-log4j2.xml" ]] || write_kafka_client_config
  exec "$java" -Xmx256m "-Dlog4j2.configurationFile=$(svc_dir kafka)/config/tools-log4j2.xml" \
    -cp "$(cat "$(cp_file kafka)")" org.apache.kafka.tools.TopicCommand \
    --bootstrap-server "127.0.0.1:${KAFKA_PORT}" "$@"
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
    cqlsh) cmd_cqlsh "$@" ;;
    kafka-topics) cmd_kafka_topics "$@" ;;
    *)
      warn "unknown command '${cmd}'"
      usage >&2
      exit 2
      ;;
  esac
}

main "$@"
