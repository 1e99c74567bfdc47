# shellcheck shell=bash
# lib.sh - the server-independent part of scripts/infra/infra.sh: messages, state
# paths, pid files and process markers, ports, the lock, JDK selection, the Maven
# fetch of a pom's classpath, log rotation, detached launch, health polling and stop.
#
# Sourced by infra.sh (never run). A server NAME is described by functions in
# scripts/infra/NAME.sh that this library calls by name:
#
#   NAME_procs              its processes, in start order (one line each); a process
#                           id is NAME (single-process server) or NAME-ROLE
#   NAME_ports PROC         every TCP port PROC binds (checked free before start)
#   NAME_port               the port clients use (messages and status)
#   NAME_log PROC           the log file of PROC
#   NAME_timeout            seconds to wait for health after launch
#   NAME_java_ok MAJOR      true if the JDK of that major version can run NAME
#   NAME_prepare JAVA       before the processes are launched: configs, data dirs
#   NAME_launch PROC JAVA   launch PROC with launch_detached
#   NAME_healthy            a real client call: true if the server answers
#   NAME_fetch_extra        optional: after the Maven fetch (e.g. cqlsh's venv)
#   NAME_detail             optional: a short note for `status` (e.g. "2 workers alive")
#   NAME_validate           optional: dies on a bad setting (BOONTADATA_* variables)
#
# Every process gets its pid file <state>/NAME/PROC.pid and its marker
# -Dboontadata.infra.id=PROC@<state dir> on the JVM command line.

# ---------------------------------------------------------------------------
# locations and common settings
# ---------------------------------------------------------------------------
INFRA_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
REPO_ROOT="$(cd "${INFRA_DIR}/../.." && pwd -P)"
STATE_ROOT="${BOONTADATA_STATE_DIR:-${REPO_ROOT}/.state}"
STATE="${BOONTADATA_INFRA_DIR:-${STATE_ROOT}/infra}"
STOP_TIMEOUT="${BOONTADATA_STOP_TIMEOUT:-60}"

# ---------------------------------------------------------------------------
# messages
# ---------------------------------------------------------------------------
say() { printf 'infra: %s\n' "$*"; }
warn() { printf 'infra: %s\n' "$*" >&2; }
die() {
  printf 'infra: error: %s\n' "$*" >&2
  exit 1
}

# hook SERVER NAME ARGS...: calls SERVER_NAME ARGS...
hook() {
  local svc="$1" name="$2"
  shift 2
  "${svc}_${name}" "$@"
}

has_hook() { declare -F "${1}_${2}" >/dev/null; }

# ---------------------------------------------------------------------------
# state paths
# ---------------------------------------------------------------------------
proc_server() { printf '%s' "${1%%-*}"; }
svc_dir() { printf '%s/%s' "$STATE" "$1"; }
pid_file() { printf '%s/%s.pid' "$(svc_dir "$(proc_server "$1")")" "$1"; }
marker() { printf -- '-Dboontadata.infra.id=%s@%s' "$1" "$STATE"; }

# stdout and stderr of a process: logs/stdout.log for a single-process server,
# logs/ROLE.stdout.log otherwise
stdout_file() {
  local proc="$1" svc
  svc="$(proc_server "$proc")"
  if [[ "$proc" == "$svc" ]]; then
    printf '%s/logs/stdout.log' "$(svc_dir "$svc")"
  else
    printf '%s/logs/%s.stdout.log' "$(svc_dir "$svc")" "${proc#"${svc}"-}"
  fi
}

log_file() { hook "$(proc_server "$1")" log "$1"; }

# the log shown for a server: that of its first process
main_log() {
  local first
  first="$(hook "$1" procs | head -n1)"
  log_file "$first"
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

# is PID a live process started by this script as PROC (same state dir)?
pid_is_ours() {
  local proc="$1" pid="$2"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  local args
  # no `tr | grep -q` pipeline here: with pipefail, grep -q's early exit can make
  # tr die of SIGPIPE on a long command line and the check fail at random
  args="$(tr '\0' '\n' 2>/dev/null <"/proc/${pid}/cmdline")" || return 1
  grep -qxF -- "$(marker "$proc")" <<<"$args"
}

# finds our process by its marker even without a pid file
find_pid_by_marker() {
  local proc="$1" p
  for p in $(pgrep -f "boontadata[.]infra[.]id=${proc}@" 2>/dev/null || true); do
    if pid_is_ours "$proc" "$p"; then
      printf '%s' "$p"
      return 0
    fi
  done
  return 1
}

# prints the pid of the running PROC and returns 0, or returns 1.
# Cleans up a stale pid file and re-adopts a running process whose pid file is gone.
running_pid() {
  local proc="$1" pf pid=""
  pf="$(pid_file "$proc")"
  if [[ -f "$pf" ]]; then
    pid="$(tr -dc '0-9' <"$pf" || true)"
    if pid_is_ours "$proc" "$pid"; then
      printf '%s' "$pid"
      return 0
    fi
    warn "${proc}: removing stale pid file ${pf} (pid ${pid:-?} is not running)"
    rm -f "$pf"
  fi
  if pid="$(find_pid_by_marker "$proc")"; then
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

# wait_port PORT SECONDS: true once PORT listens
wait_port() {
  local port="$1" deadline=$((SECONDS + $2))
  until port_listening "$port"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.5
  done
}

# false, with a message for each, if a port of PROC is already taken by something else
check_ports_free() {
  local proc="$1" port owner bad=0
  while read -r port; do
    if port_listening "$port"; then
      owner="$(port_owner "$port")"
      warn "${proc}: port ${port} is already in use by another process${owner:+ (${owner})}"
      bad=1
    fi
  done < <(hook "$(proc_server "$proc")" ports "$proc")
  ((bad == 0))
}

# keep the previous run's log as <log>.previous so the log holds only the current run
rotate_logs() {
  local proc="$1" f
  for f in "$(log_file "$proc")" "$(stdout_file "$proc")"; do
    if [[ -s "$f" ]]; then
      mv -f "$f" "${f}.previous"
    fi
  done
}

show_log_tail() {
  local proc="$1" f seen=""
  for f in "$(log_file "$proc")" "$(stdout_file "$proc")"; do
    [[ "$f" != "$seen" ]] || continue
    seen="$f"
    if [[ -s "$f" ]]; then
      warn "${proc}: last 30 lines of ${f}:"
      tail -n 30 "$f" >&2 || true
    fi
  done
  warn "${proc}: log: $(log_file "$proc")"
}

# launch_detached PROC COMMAND...: starts COMMAND (a java command line, maybe behind
# `env`, which execs it) in its own session, detached from the caller, stdout and
# stderr to PROC's stdout file; sets LAUNCHED_PID. The caller puts "$(marker PROC)"
# among the JVM options.
LAUNCHED_PID=""
launch_detached() {
  local proc="$1"
  shift
  nohup setsid "$@" >>"$(stdout_file "$proc")" 2>&1 </dev/null 9>&- &
  LAUNCHED_PID="$!"
}

# json_field KEY < JSON: the top-level field KEY of a JSON object, or nothing
json_field() {
  "${BOONTADATA_PYTHON:-python3}" -c '
import json, sys
try:
    v = json.load(sys.stdin).get(sys.argv[1])
except Exception:
    v = None
if v is not None:
    print(v)' "$1" 2>/dev/null
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

# Maven itself runs on the JDK the servers use
maven_java_ok() { (($1 >= 17 && $1 <= 23)); }

# java_ok SERVICE MAJOR
java_ok() {
  local svc="$1" major="$2"
  [[ "$major" =~ ^[0-9]+$ ]] || return 1
  hook "$svc" java_ok "$major"
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
# fetch: a pom's runtime classpath, resolved by Maven
# ---------------------------------------------------------------------------
cp_file() { printf '%s/classpath.txt' "$(svc_dir "$1")"; }
pom_file() { printf '%s/%s/pom.xml' "$INFRA_DIR" "$1"; }
classpath() { cat "$(cp_file "$1")"; }

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

# fetch_svc SERVICE [force]
fetch_svc() {
  local svc="$1" force="${2:-}"
  if [[ -n "$force" ]] || ! fetched "$svc"; then
    maven_fetch "$svc"
  fi
  if has_hook "$svc" fetch_extra; then
    hook "$svc" fetch_extra
  fi
}

# ---------------------------------------------------------------------------
# start / wait / status / stop of one server
# ---------------------------------------------------------------------------

# collect_pids SERVER: sets PIDS (the pids of its running processes, comma-separated)
# and MISSING_PROCS (its processes that do not run); true only if every process runs.
PIDS=""
MISSING_PROCS=()
collect_pids() {
  local svc="$1" proc pid
  local -a procs=()
  PIDS=""
  MISSING_PROCS=()
  mapfile -t procs < <(hook "$svc" procs)
  for proc in "${procs[@]}"; do
    if pid="$(running_pid "$proc")"; then
      PIDS+="${PIDS:+,}${pid}"
    else
      MISSING_PROCS+=("$proc")
    fi
  done
  ((${#MISSING_PROCS[@]} == 0))
}

svc_healthy() { hook "$1" healthy; }

# launched_jvm PROC PID: prints the pid of the JVM just launched as PROC (PID, or,
# had setsid to fork, the process found by its marker); nothing if none is found
# within 3 s
launched_jvm() {
  local proc="$1" pid="$2" found i
  for ((i = 0; i < 10; i++)); do
    sleep 0.3
    if pid_is_ours "$proc" "$pid"; then
      printf '%s' "$pid"
      return 0
    fi
    if found="$(find_pid_by_marker "$proc")"; then
      printf '%s' "$found"
      return 0
    fi
    # not yet exec'd into the JVM (nohup, setsid, env), or gone: look again
  done
}

# launch SERVER's processes that are not running. Prints nothing on stdout.
# Returns 0 if the caller must wait for health, 1 if already healthy.
launch_svc() {
  local svc="$1" pid java proc t0
  if collect_pids "$svc"; then
    if svc_healthy "$svc"; then
      say "${svc}: already running and healthy (pid ${PIDS}, 127.0.0.1:$(hook "$svc" port)); nothing to do"
      return 1
    fi
    say "${svc}: already running (pid ${PIDS}) but not answering yet; waiting for it"
    return 0
  fi
  local -a missing=("${MISSING_PROCS[@]}")
  local taken=0
  for proc in "${missing[@]}"; do
    check_ports_free "$proc" || taken=1
  done
  if ((taken)); then
    die "${svc}: cannot start; stop whatever holds the port(s) or set BOONTADATA_*_PORT"
  fi
  t0="$(date +%s)"
  java="$(select_java "$svc")" || exit 1
  fetch_svc "$svc"
  mkdir -p "$(svc_dir "$svc")/logs"
  for proc in "${missing[@]}"; do
    rotate_logs "$proc"
  done
  if [[ -n "$PIDS" ]]; then
    say "${svc}: partly running (pid ${PIDS}); starting ${missing[*]}"
  fi
  say "${svc}: starting with $(java_home_of "$java") (log: $(main_log "$svc"))"
  hook "$svc" prepare "$java"
  for proc in "${missing[@]}"; do
    LAUNCHED_PID=""
    hook "$svc" launch "$proc" "$java"
    pid="$(launched_jvm "$proc" "$LAUNCHED_PID")"
    if [[ -z "$pid" ]]; then
      show_log_tail "$proc"
      collect_pids "$svc" || true
      if [[ -n "$PIDS" ]]; then
        stop_svc "$svc" >&2 || true
      fi
      die "${proc}: the JVM exited right after launch"
    fi
    printf '%s\n' "$pid" >"$(pid_file "$proc")"
  done
  printf '%s\n' "$t0" >"$(svc_dir "$svc")/started-at"
  collect_pids "$svc" || true
  say "${svc}: launched (pid ${PIDS}); waiting up to $(hook "$svc" timeout)s for a real client call to succeed"
  return 0
}

wait_healthy() {
  local svc="$1" timeout start now proc elapsed last_report=0
  timeout="$(hook "$svc" timeout)"
  start="$(cat "$(svc_dir "$svc")/started-at" 2>/dev/null || date +%s)"
  while :; do
    if ! collect_pids "$svc" 2>/dev/null; then
      for proc in "${MISSING_PROCS[@]}"; do
        if [[ "$proc" == "$svc" ]]; then
          warn "${svc}: the server process died during startup"
        else
          warn "${svc}: ${proc} died during startup"
        fi
        show_log_tail "$proc"
        rm -f "$(pid_file "$proc")"
      done
      if [[ -n "$PIDS" ]]; then
        stop_svc "$svc" >&2 || true
      fi
      return 1
    fi
    if svc_healthy "$svc"; then
      now="$(date +%s)"
      say "${svc}: healthy after $((now - start))s (pid ${PIDS}, 127.0.0.1:$(hook "$svc" port))"
      return 0
    fi
    now="$(date +%s)"
    elapsed=$((now - start))
    if ((elapsed >= timeout)); then
      warn "${svc}: not healthy after ${timeout}s; stopping it"
      while read -r proc; do
        show_log_tail "$proc"
      done < <(hook "$svc" procs)
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

status_svc() {
  local svc="$1" port log detail=""
  port="$(hook "$svc" port)"
  log="$(main_log "$svc")"
  if collect_pids "$svc"; then
    if svc_healthy "$svc"; then
      if has_hook "$svc" detail; then
        detail="$(hook "$svc" detail 2>/dev/null || true)"
      fi
      if [[ -n "$detail" ]]; then
        printf 'infra: %-9s running  pid=%-7s port=%s healthy (%s) log=%s\n' "$svc" "$PIDS" "$port" "$detail" "$log"
      else
        printf 'infra: %-9s running  pid=%-7s port=%s healthy      log=%s\n' "$svc" "$PIDS" "$port" "$log"
      fi
      return 0
    fi
    printf 'infra: %-9s running  pid=%-7s port=%s NOT ANSWERING log=%s\n' "$svc" "$PIDS" "$port" "$log"
    return 3
  fi
  if [[ -n "$PIDS" ]]; then
    printf 'infra: %-9s partial  pid=%-7s port=%s NOT RUNNING: %s log=%s\n' "$svc" "$PIDS" "$port" "${MISSING_PROCS[*]}" "$log"
    return 3
  fi
  local note=""
  if port_listening "$port"; then
    note=" (port ${port} is held by another process: $(port_owner "$port"))"
  fi
  printf 'infra: %-9s stopped  pid=-       port=%s%s log=%s\n' "$svc" "$port" "$note" "$log"
  return 3
}

# session_leftovers SID: the live processes of session SID but its leader, space-separated
session_leftovers() {
  ps -o pid=,stat= --sid "$1" 2>/dev/null | awk -v leader="$1" '$1 != leader && $2 !~ /^Z/ {printf "%s%s", sep, $1; sep = " "}' || true
}

# stop_proc PROC: SIGTERM, wait up to STOP_TIMEOUT, then SIGKILL; then ends
# whatever is left in its session (the executors a Spark worker started, say).
stop_proc() {
  local proc="$1" pid waited=0 left
  pid="$(running_pid "$proc")" || return 0
  say "${proc}: stopping pid ${pid} (SIGTERM)"
  kill -TERM "$pid" 2>/dev/null || true
  while pid_is_ours "$proc" "$pid"; do
    if ((waited >= STOP_TIMEOUT * 2)); then
      warn "${proc}: still running after ${STOP_TIMEOUT}s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 1
      break
    fi
    sleep 0.5
    waited=$((waited + 1))
  done
  left="$(session_leftovers "$pid")"
  if [[ -n "$left" ]]; then
    warn "${proc}: ending what it left running in its session (pid ${left})"
    # shellcheck disable=SC2086 # a list of pids
    kill -TERM $left 2>/dev/null || true
    sleep 2
    left="$(session_leftovers "$pid")"
    if [[ -n "$left" ]]; then
      # shellcheck disable=SC2086
      kill -KILL $left 2>/dev/null || true
    fi
  fi
  wait_ports_closed "$proc"
  rm -f "$(pid_file "$proc")"
  say "${proc}: stopped after $((waited / 2))s"
}

# wait_ports_closed PROC: waits, at most STOP_TIMEOUT, until no port of PROC
# listens. A process's command line reads empty as soon as its main thread
# has released its memory, while the sockets it shares with its other
# threads close only when the last thread exits: without this wait, a start
# right after a stop (restart-cassandra under load) could find the ports
# still taken and give up.
wait_ports_closed() {
  local proc="$1" port deadline=$((SECONDS + STOP_TIMEOUT))
  while read -r port; do
    while port_listening "$port"; do
      if ((SECONDS >= deadline)); then
        warn "${proc}: port ${port} still listening ${STOP_TIMEOUT}s after the process ended"
        return 0
      fi
      sleep 0.2
    done
  done < <(hook "$(proc_server "$proc")" ports "$proc")
}

# stops every process of SERVER, in reverse start order (workers before their master)
stop_svc() {
  local svc="$1" i
  local -a procs=()
  mapfile -t procs < <(hook "$svc" procs)
  collect_pids "$svc" || true
  if [[ -z "$PIDS" ]]; then
    say "${svc}: not running; nothing to do"
    return 0
  fi
  for ((i = ${#procs[@]} - 1; i >= 0; i--)); do
    stop_proc "${procs[i]}"
  done
}
