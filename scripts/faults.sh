# shellcheck shell=bash
# Faults on demand for runscenario.sh --fault: the schedule, the faults
# themselves, and the sampler of the master's view of the jobs. Source it
# after lib.sh; it defines functions only. Every fault is recorded as one
# JSON line; docs/comparator.md describes the timeline the comparator reads.

# fault_dir is the caller's folder of the schedule, the recorded faults and
# samples, and the markers of a fault in progress.
fault_dir=${fault_dir:-}

# Seconds a paused worker stays stopped: past the consumer group session
# timeout of the workers (10 s, pkg/kafka), so that the group moves its
# partitions to the other workers before it resumes.
FAULT_PAUSE_SECONDS=15

# now_ms prints the time in ms since the epoch.
now_ms() { date +%s%3N; }

# fault_schedule SEND_SECONDS FAULT...: prints one line "SECONDS KIND" per
# FAULT (KIND[@SECONDS]), in time order; faults without a time are spread
# evenly over the send.
fault_schedule() {
  local send=$1 f m=0 k=0; shift
  for f in "$@"; do [[ "$f" == *@* ]] || m=$((m + 1)); done
  for f in "$@"; do
    if [[ "$f" == *@* ]]; then
      echo "${f#*@} ${f%%@*}"
    else
      k=$((k + 1))
      awk -v d="$send" -v k="$k" -v m="$m" -v kind="$f" 'BEGIN { printf "%.1f %s\n", d * k / (m + 1), kind }'
    fi
  done | sort -s -n -k1,1
}

# sleep_until MS: sleeps until the time MS (ms since the epoch).
sleep_until() {
  local d=$(($1 - $(now_ms)))
  if [ "$d" -gt 0 ]; then
    sleep "$(awk -v d="$d" 'BEGIN { printf "%.3f", d / 1000 }')"
  fi
}

# gone PID: the process ended (a zombie counts as ended).
gone() {
  ! kill -0 "$1" 2>/dev/null || [ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" = Z ]
}

# wait_gone PID: waits, up to 10 s, until the process ended.
wait_gone() {
  local i
  for ((i = 0; i < 200; i++)); do
    gone "$1" && return 0
    sleep 0.05
  done
  return 1
}

# running_workers prints the numbers of the aggregator-workers that run.
running_workers() {
  local f n
  for f in "$(state_dir)/services"/aggregator-worker-*.pid; do
    [ -e "$f" ] || continue
    n=${f##*/aggregator-worker-}
    n=${n%.pid}
    if [[ "$n" =~ ^[0-9]+$ ]] && pid_alive "$f" aggregator-worker; then echo "$n"; fi
  done | sort -n
}

# The faults. Each sets fault_target (what it hit), fault_worker (the worker
# id of a worker it hit) and fault_note, writes what it does to stdout, and
# fails when the fault could not be made. $fault_dir holds the markers that
# faults_cleanup reads.

fault_kill_worker() {
  local n pid svc
  svc="$(state_dir)/services"
  n=$(running_workers | head -n 1)
  [ -n "$n" ] || { fault_note="no aggregator-worker runs"; return 1; }
  fault_target="aggregator-worker-$n" fault_worker="worker-$n"
  pid=$(cat "$svc/aggregator-worker-$n.pid")
  kill -KILL "$pid"
  wait_gone "$pid" || { fault_note="still running after SIGKILL"; return 1; }
  start_worker "$n"
  wait_http "http://127.0.0.1:$(worker_port "$n")/healthz" 120 "$fault_target" "$svc/$fault_target.log" ||
    { fault_note="not healthy again within 120 s"; return 1; }
}

fault_kill_master() {
  local pid svc
  svc="$(state_dir)/services"
  fault_target=aggregator-master
  pid_alive "$svc/aggregator-master.pid" aggregator-master || { fault_note="the aggregator-master does not run"; return 1; }
  pid=$(cat "$svc/aggregator-master.pid")
  kill -KILL "$pid"
  wait_gone "$pid" || { fault_note="still running after SIGKILL"; return 1; }
  start_master
  wait_http "http://127.0.0.1:$(master_port)/readyz" 120 aggregator-master "$svc/aggregator-master.log" ||
    { fault_note="not ready again within 120 s"; return 1; }
}

# restart_server NAME: stops and starts a server of scripts/infra.
restart_server() {
  fault_target=$1
  echo "$1" >"$fault_dir/down"
  "$(repo_root)/scripts/infra/infra.sh" stop "$1" || { fault_note="infra.sh stop $1 failed"; return 1; }
  "$(repo_root)/scripts/infra/infra.sh" start "$1" || { fault_note="infra.sh start $1 failed"; return 1; }
  rm -f "$fault_dir/down"
}

fault_restart_kafka() { restart_server kafka; }
fault_restart_cassandra() { restart_server cassandra; }

fault_add_worker() {
  local n
  n=$(running_workers | tail -n 1)
  n=$((${n:-0} + 1))
  fault_target="aggregator-worker-$n" fault_worker="worker-$n"
  start_worker "$n"
  wait_http "http://127.0.0.1:$(worker_port "$n")/healthz" 120 "$fault_target" "$(state_dir)/services/$fault_target.log" ||
    { fault_note="not healthy within 120 s"; return 1; }
}

fault_pause_worker() {
  local n pid
  n=$(running_workers | tail -n 1)
  [ -n "$n" ] || { fault_note="no aggregator-worker runs"; return 1; }
  fault_target="aggregator-worker-$n" fault_worker="worker-$n"
  pid=$(cat "$(state_dir)/services/aggregator-worker-$n.pid")
  echo "$pid" >"$fault_dir/paused"
  kill -STOP "$pid"
  sleep "$FAULT_PAUSE_SECONDS"
  kill -CONT "$pid"
  rm -f "$fault_dir/paused"
}

# fault_run SCHEDULE SEND_START OUT LOG: makes the faults of SCHEDULE (lines
# of fault_schedule) at their time after SEND_START (ms since the epoch), one
# after the other, appends one JSON line per fault to OUT, what they do to
# LOG, and prints one line per fault.
fault_run() {
  local schedule=$1 start=$2 out=$3 log=$4 secs kind at end ok
  while read -r secs kind; do
    sleep_until $((start + $(awk -v s="$secs" 'BEGIN { printf "%d", s * 1000 }')))
    fault_target="" fault_worker="" fault_note=""
    at=$(now_ms)
    echo "==> fault $kind at ${secs} s" >>"$log"
    if "fault_${kind//-/_}" >>"$log" 2>&1; then ok=true; else ok=false; fi
    end=$(now_ms)
    printf '{"type":"fault","kind":"%s","target":"%s","worker_id":"%s","offset_s":%s,"at_ms":%s,"done_ms":%s,"ok":%s,"note":"%s"}\n' \
      "$kind" "$fault_target" "$fault_worker" "$secs" "$at" "$end" "$ok" "$fault_note" >>"$out"
    if [ "$ok" = true ]; then
      printf 'fault %s at %s s: %s, done after %s ms\n' "$kind" "$secs" "$fault_target" "$((end - at))"
    else
      printf 'fault %s at %s s could not be made: %s (see %s)\n' "$kind" "$secs" "${fault_note:-failed}" "$log" >&2
    fi
  done <"$schedule"
}

# fault_sample MASTER_URL OUT JOB...: every 0.5 s, appends the master's view
# of each job (GET /api/jobs/JOB) to OUT as a JSON line, until killed. A
# master that does not answer (killed, restarting) leaves a gap.
fault_sample() {
  local url=$1 out=$2 t id body; shift 2
  while :; do
    t=$(now_ms)
    for id in "$@"; do
      if body=$(curl -fsS --max-time 1 "$url/api/jobs/$id" 2>/dev/null); then
        printf '{"type":"sample","time_ms":%s,"job":%s}\n' "$t" "$(tr -s ' \n' ' ' <<<"$body")" >>"$out"
      fi
    done
    sleep 0.5
  done
}

# stop_tree PID: kills a background job of the caller and its children.
stop_tree() {
  local kids pid
  kids=$(pgrep -P "$1" || true)
  kill -KILL "$1" 2>/dev/null || true
  for pid in $kids; do kill -KILL "$pid" 2>/dev/null || true; done
}

# faults_cleanup: resumes a worker left paused and starts a server left
# stopped by a fault that was cut short.
faults_cleanup() {
  if [ -f "$fault_dir/paused" ]; then
    kill -CONT "$(cat "$fault_dir/paused")" 2>/dev/null || true
  fi
  if [ -f "$fault_dir/down" ]; then
    "$(repo_root)/scripts/infra/infra.sh" start "$(cat "$fault_dir/down")" >/dev/null || true
  fi
}
