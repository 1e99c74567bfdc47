# shellcheck shell=bash
# Shared helpers of the project's scripts. Source it; it defines functions only.

# repo_root prints the repository root, wherever the caller runs from.
repo_root() {
  cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd
}

# step prints a visible heading for a stage of a long script.
step() {
  printf '\n==> %s\n' "$*"
}

die() {
  printf '%s: %s\n' "${0##*/}" "$*" >&2
  exit 1
}

# go_modules prints the directory of every module of the workspace.
go_modules() {
  (cd "$(repo_root)" && go list -m -f '{{.Dir}}')
}

# state_dir prints where local runs keep their state, logs and reports.
state_dir() {
  echo "${BOONTADATA_STATE_DIR:-$(repo_root)/.state}"
}

# build_binaries builds every service into $(state_dir)/bin; go build only
# rebuilds what changed.
build_binaries() {
  local root bin s
  root=$(repo_root)
  bin="$(state_dir)/bin"
  mkdir -p "$bin"
  for s in simulator ingest aggregator-master aggregator-worker comparator; do
    (cd "$root" && go build -o "$bin/$s" "./services/$s/cmd/$s") || die "building $s failed"
  done
}

# pid_alive PIDFILE NAME: the process of the pid file runs and is NAME.
pid_alive() {
  local pid
  [ -f "$1" ] || return 1
  pid=$(cat "$1" 2>/dev/null) || return 1
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$2"
}

# start_service NAME BINARY ARGS...: starts a service of the local platform
# in the background, detached, unless its pid file under
# $(state_dir)/services says it runs; its log is NAME.log there (the log of
# its previous start is kept as NAME.log.previous).
start_service() {
  local name=$1; shift
  local svc pidfile log
  svc="$(state_dir)/services"
  pidfile="$svc/$name.pid" log="$svc/$name.log"
  mkdir -p "$svc"
  if pid_alive "$pidfile" "$1"; then
    echo "$name: already running (pid $(cat "$pidfile"))"
    return 0
  fi
  [ -f "$log" ] && mv -f "$log" "$log.previous"
  nohup setsid "$@" >>"$log" 2>&1 </dev/null &
  echo $! >"$pidfile"
  echo "$name: started (pid $!), log $log"
}

# master_port, worker_port N: the ports of the local services
# (BOONTADATA_MASTER_PORT, 8090; BOONTADATA_WORKER_BASE_PORT + N - 1, 8091 up).
master_port() { echo "${BOONTADATA_MASTER_PORT:-8090}"; }
worker_port() { echo $(("${BOONTADATA_WORKER_BASE_PORT:-8091}" + $1 - 1)); }

# start_master, start_worker N: start the aggregator-master, and
# aggregator-worker-N (worker id worker-N), unless they run.
start_master() {
  start_service aggregator-master "$(state_dir)/bin/aggregator-master" serve --listen "127.0.0.1:$(master_port)" \
    --reports-dir "$(state_dir)/reports"
}
start_worker() {
  start_service "aggregator-worker-$1" "$(state_dir)/bin/aggregator-worker" run --worker-id "worker-$1" --listen "127.0.0.1:$(worker_port "$1")"
}

# wait_http URL SECONDS NAME LOG: waits until URL answers 2xx.
wait_http() {
  local url=$1 secs=$2 name=$3 log=$4 i
  for ((i = 0; i < secs * 4; i++)); do
    if curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; then
      return 0
    fi
    sleep 0.25
  done
  echo "$name did not answer $url within ${secs}s; last lines of $log:" >&2
  tail -n 20 "$log" >&2 || true
  return 1
}
