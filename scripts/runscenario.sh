#!/usr/bin/env bash
# Runs a scenario end to end and prints the comparison with the truth.
#
#   ./scripts/runscenario.sh PRESET [--engine NAME] [options]
#   ./scripts/runscenario.sh all [--engines NAME,NAME] [options]
#
# PRESET runs one preset; all runs every preset as parallel jobs over ONE
# simulated run and ends with a side-by-side matrix, one row per (engine,
# preset).
#
# Presets:
#   exact             the best this engine can do: event time, dedup until the watermark, update
#   flink-event       Flink event time, bounded out-of-orderness 5s: late events dropped
#   flink-processing  Flink processing time: events placed by arrival, not device time
#   flink-ingestion   Flink ingestion time: events placed by the gateway's clock
#   storm             Storm at-least-once, record at a time: duplicates counted
#   dstream           Spark Streaming micro-batches of 5s: windows by batch time
#   structured        Spark Structured Streaming: watermark 60s from earlier batches
#
# Engines under test (docs/engines.md; 'aggregator-master engines' lists them):
#   boontadata (this project's, the default), spark, flink, kafka-streams, storm.
#   A real engine runs the presets it mirrors, on the same input, beside this
#   project's engine: the report compares each job with the truth and each
#   real engine's job with the preset's job (conformance).
#
# Options:
#   --engine NAME          the engine of a single preset; the preset also runs on
#                          boontadata, for the conformance comparison
#   --engines A,B          with all: every preset on every listed engine that runs
#                          it (default boontadata)
#   --cluster              real engines run on their local cluster from scripts/infra
#                          (Spark standalone, Flink session), started if needed;
#                          default: local mode (Spark local[2], Flink MiniCluster)
#   --devices N            simulated devices (default 10)
#   --events-per-device N  events each device sends (default 200)
#   --rate R               events per second per device (default 20)
#   --seed S               random seed of the simulator (default 42)
#   --target http|kafka    through the ingest gateway (default) or straight to Kafka
#   --workers N            aggregator-workers to start when none runs (default 2)
#   --timeout D            how long to wait for the jobs to finish (default 5m)
#   --fault KIND[@SECONDS] inject a fault SECONDS after the send starts; repeat
#                          it for several. Without @SECONDS, faults are spread
#                          evenly over the send (one: in its middle). KIND:
#     kill-worker          SIGKILL the first aggregator-worker, then restart it
#     kill-master          SIGKILL the aggregator-master, then restart it
#     restart-kafka        stop and start Kafka (scripts/infra/infra.sh)
#     restart-cassandra    stop and start Cassandra (scripts/infra/infra.sh)
#     add-worker           start one more aggregator-worker (it keeps running)
#     pause-worker         SIGSTOP the last aggregator-worker for 15 s, past
#                          Kafka's session timeout (10 s), then SIGCONT
#
# It starts what is missing (./scripts/startscenario.sh), submits the jobs,
# starts the real engines' jobs (their logs under .state/engines/NAME/),
# runs the simulator, waits until every job has read the end of the run and
# written its last windows, then runs the comparator. Reports go to
# .state/reports/RUN_ID.{txt,json,html}. ./scripts/stopscenario.sh stops it all.
#
# With --fault, the faults happen during the run while the master's view of
# every job (GET /api/jobs/ID) is sampled every 0.5 s; both go to
# .state/reports/RUN_ID.faults.jsonl (what the faults did: RUN_ID.faults.log),
# which the comparator reads (--faults) to state each fault in the report
# with each job's recovery time and whether its final results changed.
# restart-kafka and restart-cassandra stop servers other programs may use.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=scripts/faults.sh
source "$(dirname "${BASH_SOURCE[0]}")/faults.sh"
root=$(repo_root)

usage() { sed -n '2,63p' "$0" | sed 's/^# \{0,1\}//'; }
bad() { echo "runscenario.sh: $* (see --help)" >&2; exit 2; }

preset="" devices=10 per_device=200 rate=20 seed=42 target=http workers=2 timeout=5m
engine="" engines="" cluster=0 faults=()
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --engine) engine=${2:-}; shift ;;
    --engines) engines=${2:-}; shift ;;
    --cluster) cluster=1 ;;
    --devices) devices=${2:-}; shift ;;
    --events-per-device) per_device=${2:-}; shift ;;
    --rate) rate=${2:-}; shift ;;
    --seed) seed=${2:-}; shift ;;
    --target) target=${2:-}; shift ;;
    --workers) workers=${2:-}; shift ;;
    --timeout) timeout=${2:-}; shift ;;
    --fault) faults+=("${2:-}"); shift ;;
    -*) bad "unknown option '$1'" ;;
    *) [ -z "$preset" ] || bad "one preset only, got '$preset' and '$1'"; preset=$1 ;;
  esac
  shift
done
[ -n "$preset" ] || { usage; exit 2; }
for n in "$devices" "$per_device" "$workers"; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || bad "--devices, --events-per-device and --workers take whole numbers from 1, got '$n'"
done
[[ "$rate" =~ ^[0-9]+(\.[0-9]+)?$ ]] || bad "--rate takes a number of events per second, got '$rate'"
[[ "$seed" =~ ^-?[0-9]+$ ]] || bad "--seed takes a whole number, got '$seed'"
case "$target" in http|kafka) ;; *) bad "--target is http or kafka, got '$target'" ;; esac
for f in ${faults[@]+"${faults[@]}"}; do
  case "${f%%@*}" in
    kill-worker|kill-master|restart-kafka|restart-cassandra|add-worker|pause-worker) ;;
    *) bad "unknown fault '${f%%@*}' (kill-worker, kill-master, restart-kafka, restart-cassandra, add-worker, pause-worker)" ;;
  esac
  [[ "$f" != *@* || "${f#*@}" =~ ^[0-9]+(\.[0-9]+)?$ ]] || bad "--fault $f: SECONDS after the start of the send is a number, got '${f#*@}'"
done

case "$preset" in
  all) presets=(exact flink-event flink-processing flink-ingestion storm dstream structured)
       [ -z "$engine" ] || bad "--engine is for one preset; with all, use --engines" ;;
  exact|flink-event|flink-processing|flink-ingestion|storm|dstream|structured) presets=("$preset")
       [ -z "$engines" ] || bad "--engines is for all; with one preset, use --engine" ;;
  *) bad "unknown preset '$preset'" ;;
esac
if [ -n "$engine" ] && [ "$engine" != boontadata ]; then
  engines="boontadata,$engine"
fi
engines=${engines:-boontadata}

"$root/scripts/startscenario.sh" --workers "$workers"
state=$(state_dir)
bin="$state/bin"
reports="$state/reports"
mkdir -p "$reports"
master_url="http://127.0.0.1:${BOONTADATA_MASTER_PORT:-8090}"
ingest_url="http://127.0.0.1:${BOONTADATA_INGEST_PORT:-8080}"
export BOONTADATA_MASTER_URL="$master_url"

# The presets of each engine, from the binary that defines them.
declare -A runs dirs
while read -r name ps dir; do
  runs[$name]=$ps
  dirs[$name]=$dir
done < <("$bin/aggregator-master" engines --plain)
IFS=, read -r -a engine_list <<<"$engines"
for e in "${engine_list[@]}"; do
  [ -n "${runs[$e]:-}" ] || bad "unknown engine '$e' (known: ${!runs[*]})"
done

run_id="run-$(date -u +%Y%m%d-%H%M%S)-$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"
step "run $run_id: jobs"
jobs=() externals=()
for p in "${presets[@]}"; do
  for e in "${engine_list[@]}"; do
    [[ ",${runs[$e]}," == *",$p,"* ]] || continue
    id="$p-${run_id#run-}"
    [ "$e" = boontadata ] || id="$p-$e-${run_id#run-}"
    # A real engine reads from when it starts (the run starts after its start
    # line): it need not read the topic's history first.
    start=earliest
    [ "$e" = boontadata ] || start=latest
    "$bin/aggregator-master" submit --preset "$p" --engine "$e" --run-id "$run_id" --job-id "$id" --start-offsets "$start" >/dev/null
    echo "submitted $id ($p on $e)"
    jobs+=("$id")
    [ "$e" = boontadata ] || externals+=("$e:$id")
  done
done
if [ -n "$engine" ] && [ "${#externals[@]}" = 0 ]; then
  bad "engine '$engine' does not run preset '$preset' (it runs ${runs[$engine]})"
fi

# Real engines: one process per job, started before the run so that they read
# it live; each writes 'end' and exits once the run ended on every partition.
pids=()
stop_engines() {
  local pid
  for pid in ${pids[@]+"${pids[@]}"}; do
    pkill -TERM -P "$pid" 2>/dev/null || true
    kill -TERM "$pid" 2>/dev/null || true
  done
}
# The fault driver and the sampler (--fault) run in the background too.
fault_dir="" driver="" sampler=""
stop_background() {
  stop_engines
  local pid
  for pid in $driver $sampler; do stop_tree "$pid"; done
  if [ -n "$fault_dir" ]; then
    faults_cleanup
    rm -rf "$fault_dir"
  fi
}
trap stop_background EXIT
for x in "${externals[@]}"; do
  e=${x%%:*} id=${x#*:}
  master=local
  if [ "$cluster" = 1 ]; then
    case "$e" in
      spark) "$root/scripts/infra/infra.sh" start spark >/dev/null; master=spark://127.0.0.1:7077 ;;
      flink) "$root/scripts/infra/infra.sh" start flink >/dev/null; master=127.0.0.1:8081 ;;
    esac
  fi
  mapfile -t args < <("$bin/aggregator-master" engine-args "$id")
  out="$state/engines/$e/$id.out"
  mkdir -p "$(dirname "$out")"
  # An engine that dies ends its job at once (cancelled), instead of a wait
  # until the timeout.
  (
    if ! "$root/${dirs[$e]}/run.sh" "${args[@]}" --master "$master" >"$out" 2>&1; then
      echo "runscenario.sh: $e job $id stopped with an error; its output ($out) ends with:" >&2
      tail -n 20 "$out" >&2
      "$bin/aggregator-master" cancel "$id" >/dev/null 2>&1 || true
    fi
  ) &
  pids+=("$!")
  echo "started $id on $e ($master), output $out"
done

# The run starts once every real engine reads the events topic (its start
# line): an engine that starts late reads a backlog, and its watermarks then
# move in bigger steps than when it reads the run live.
for x in "${externals[@]}"; do
  id=${x#*:}
  "$bin/aggregator-master" wait --until started --wait-timeout 10m "$id"
done

count=$((devices * per_device))
timeline="$reports/$run_id.faults.jsonl"
if [ "${#faults[@]}" -gt 0 ]; then
  # The send lasts --events-per-device / --rate seconds.
  send=$(awk -v n="$per_device" -v r="$rate" 'BEGIN { printf "%.1f", (r > 0 ? n / r : 10) }')
  fault_dir=$(mktemp -d)
  fault_schedule "$send" "${faults[@]}" >"$fault_dir/schedule"
  step "run $run_id: faults during the send of about ${send} s"
  while read -r secs kind; do echo "fault $kind at $secs s"; done <"$fault_dir/schedule"
  fault_sample "$master_url" "$fault_dir/samples" "${jobs[@]}" &
  sampler=$!
  sleep 2 # the level of each job's lag before an early fault
fi
step "run $run_id: simulator ($devices devices, $count events, $rate/s per device, seed $seed, via $target)"
send_start=$(now_ms)
if [ -n "$fault_dir" ]; then
  fault_run "$fault_dir/schedule" "$send_start" "$fault_dir/faults" "$reports/$run_id.faults.log" &
  driver=$!
fi
"$bin/simulator" --log-level warn --run-id "$run_id" --devices "$devices" --count "$count" --rate "$rate" --seed "$seed" \
  --target "$target" --ingest-url "$ingest_url" --progress auto >/dev/null
if [ -n "$driver" ]; then
  wait "$driver" || true # a fault that failed says so and is reported
  driver=""
fi

step "run $run_id: waiting for the jobs to read the end of the run"
partitions=${BOONTADATA_EVENTS_PARTITIONS:-16}
failed=()
for id in "${jobs[@]}"; do
  "$bin/aggregator-master" wait --partitions "$partitions" --wait-timeout "$timeout" "$id" || failed+=("$id")
done
[ "${#failed[@]}" = 0 ] || echo "runscenario.sh: not finished: ${failed[*]}; the report compares what they wrote" >&2

step "run $run_id: comparison"
job_flags=()
for id in "${jobs[@]}"; do job_flags+=(--job "$id"); done
if [ -n "$fault_dir" ]; then
  sleep 2 # the jobs' state after their end
  stop_tree "$sampler"
  wait "$sampler" 2>/dev/null || true
  sampler=""
  {
    printf '{"type":"run","run_id":"%s","send_started_ms":%s}\n' "$run_id" "$send_start"
    cat "$fault_dir/faults" "$fault_dir/samples" 2>/dev/null || true
  } >"$timeline"
  grep -q '"ok":false' "$timeline" && failed+=("a fault that could not be made")
  job_flags+=(--faults "$timeline")
fi
"$bin/comparator" --run "$run_id" "${job_flags[@]}" --format json --output "$reports/$run_id.json" --html "$reports/$run_id.html" >/dev/null
"$bin/comparator" --run "$run_id" "${job_flags[@]}" | tee "$reports/$run_id.txt"
echo
echo "reports: $reports/$run_id.txt  $reports/$run_id.json  $reports/$run_id.html"
[ -z "$fault_dir" ] || echo "faults: $timeline  $reports/$run_id.faults.log"
[ "${#failed[@]}" = 0 ]
