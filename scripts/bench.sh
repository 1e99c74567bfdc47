#!/usr/bin/env bash
# Measures the engines end to end through the real broker: how fast two
# workers consume a run, the result latency at a steady rate, worker memory,
# and every engine under test draining the same input. The figures go to
# BENCHMARKS.md.
#
#   ./scripts/bench.sh throughput [EVENTS] [--preset P] [--emit-interval D]
#                                            preload EVENTS (default 3000000) and the end
#                                            of the run into a fresh topic, then time 2
#                                            workers draining it with preset P (default
#                                            flink-event): every record processed, the last
#                                            window written, rows written per second
#   ./scripts/bench.sh ceiling [ROWS]        Cassandra's own write rate with the project's
#                                            schema and driver settings (ROWS default
#                                            200000), beside the worker's result writer
#   ./scripts/bench.sh latency [RATE] [SECS] the simulator live at RATE events/s in all
#                                            (default 100000) for SECS (default 60) with
#                                            2 workers consuming; comparator latency
#   ./scripts/bench.sh drain [EVENTS] [--engines A,B] [--cluster]
#                                            preload EVENTS (default 1000000) and the
#                                            end of the run, then let each engine drain
#                                            it, one job at a time, with the preset each
#                                            real engine mirrors beside this project's
#                                            (default engines: all; --cluster: Spark and
#                                            Flink on their local clusters)
#
# Each run uses its own topics and keyspace (bench-*), its own ports (18080+),
# and stops its services at the end. Kafka and Cassandra are started if needed.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
root=$(repo_root)

mode=${1:-}
case "$mode" in
  throughput|latency|drain|ceiling) ;;
  -h|--help|"") sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'; [ -n "$mode" ]; exit $? ;;
  *) echo "bench.sh: unknown mode '$mode' (see --help)" >&2; exit 2 ;;
esac

"$root/scripts/infra/infra.sh" start all >/dev/null
if [ "$mode" = ceiling ]; then
  rows=${2:-200000}
  [[ "$rows" =~ ^[0-9]+$ ]] || { echo "bench.sh: ceiling takes a number of rows, got '$rows'" >&2; exit 2; }
  step "Cassandra's write rate: $rows rows each way, 32 writes in flight, a keyspace of its own"
  cd "$root/services/aggregator-worker"
  BOONTADATA_INTEGRATION=1 go test -count=1 -run '^$' -bench '^BenchmarkCassandraWrites$' -benchtime "${rows}x" ./internal/stream/ |
    awk '/rows\/s/ { sub(/^BenchmarkCassandraWrites\//, ""); sub(/-[0-9]+$/, "", $1); printf "%-28s %10.0f rows/s\n", $1, $(NF-1) }'
  echo "insert-one-row: single-row INSERTs into engine_results, nothing else running (the database's ceiling"
  echo "for this schema and driver); writer-*: results as the worker writes them, two rows each (engine_results"
  echo "and engine_result_revisions), 1000 results per flush over 10000 devices"
  exit 0
fi
build_binaries
bin="$(state_dir)/bin"
dir="$(state_dir)/bench/$(date -u +%Y%m%d-%H%M%S)-$mode"
mkdir -p "$dir"
tag="bench-$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"
export BOONTADATA_EVENTS_TOPIC="$tag-events" BOONTADATA_DEADLETTER_TOPIC="$tag-dead" \
  BOONTADATA_JOBS_TOPIC="$tag-jobs" BOONTADATA_TASKS_TOPIC="$tag-tasks" BOONTADATA_PROGRESS_TOPIC="$tag-progress" \
  BOONTADATA_RESULTS_TOPIC="$tag-results" BOONTADATA_WATERMARKS_TOPIC="$tag-watermarks" \
  BOONTADATA_CASSANDRA_KEYSPACE="${tag//-/_}" BOONTADATA_LOG_FORMAT=json
master_url=http://127.0.0.1:18090
export BOONTADATA_MASTER_URL=$master_url
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

start() { # NAME ARGS...
  local name=$1; shift
  "$@" >"$dir/$name.log" 2>&1 &
  pids+=($!)
  echo $! >"$dir/$name.pid"
}
rss_peak() { # PID: peak resident memory in MiB
  awk '/VmHWM/ {printf "%.0f", $2/1024}' "/proc/$1/status" 2>/dev/null || echo "?"
}

start master "$bin/aggregator-master" serve --listen 127.0.0.1:18090
wait_http "$master_url/readyz" 120 master "$dir/master.log"
run_id="$tag-run"

# peak_tree PID: the largest peak resident memory (MiB) among PID and its
# descendants, sampled every second until PID exits; printed at the end.
peak_tree() {
  local root=$1 peak=0 p v
  while kill -0 "$root" 2>/dev/null; do
    for p in $root $(pgrep -P "$root") $(for c in $(pgrep -P "$root"); do pgrep -P "$c"; done); do
      v=$(awk '/VmHWM/ {print int($2/1024)}' "/proc/$p/status" 2>/dev/null || echo 0)
      [ "${v:-0}" -gt "$peak" ] && peak=$v
    done
    sleep 1
  done
  echo "$peak"
}

if [ "$mode" = drain ]; then
  events=1000000 engines="" cluster=0
  shift
  if [ $# -gt 0 ] && [[ "$1" =~ ^[0-9]+$ ]]; then events=$1; shift; fi
  while [ $# -gt 0 ]; do
    case "$1" in
      --engines) engines=${2:-}; shift ;;
      --cluster) cluster=1 ;;
      *) echo "bench.sh: unknown drain option '$1' (see --help)" >&2; exit 2 ;;
    esac
    shift
  done
  declare -A presets_of dirs
  while read -r name ps d; do presets_of[$name]=$ps; dirs[$name]=$d; done < <("$bin/aggregator-master" engines --plain)
  [ -n "$engines" ] || engines=$(printf '%s\n' "${!presets_of[@]}" | grep -v '^boontadata$' | sort | paste -sd, -)
  IFS=, read -r -a real <<<"${engines//boontadata/}"
  rows=()
  for e in "${real[@]}"; do
    [ -n "$e" ] || continue
    [ -n "${presets_of[$e]:-}" ] || { echo "bench.sh: unknown engine '$e' (known: ${!presets_of[*]})" >&2; exit 2; }
    for p in ${presets_of[$e]//,/ }; do
      # The event-time presets: a processing-time preset's windows depend on
      # the drain's speed, not the input.
      case "$p" in flink-processing|flink-ingestion|dstream) continue ;; esac
      [[ " ${rows[*]} " == *" boontadata:$p "* ]] || rows+=("boontadata:$p")
      rows+=("$e:$p")
    done
  done
  step "preloading $events events (10000 devices) and the end of the run into $BOONTADATA_EVENTS_TOPIC"
  "$bin/simulator" --log-level warn --target kafka --clock fast --record none --devices 10000 --count "$events" \
    --seed 1 --run-id "$run_id" --progress off >/dev/null
  start worker-1 "$bin/aggregator-worker" run --worker-id w1 --listen 127.0.0.1:18091
  start worker-2 "$bin/aggregator-worker" run --worker-id w2 --listen 127.0.0.1:18092
  wait_http http://127.0.0.1:18091/readyz 120 worker-1 "$dir/worker-1.log"
  wait_http http://127.0.0.1:18092/readyz 120 worker-2 "$dir/worker-2.log"
  table="$dir/drain.txt"
  printf '%-14s %-12s %10s %11s %13s %14s %9s\n' engine preset "started s" "finished s" "events/s all" "after start" "peak MiB" >"$table"
  for row in "${rows[@]}"; do
    e=${row%%:*} p=${row#*:}
    id="$tag-$p-$e"
    step "$e drains the topic (preset $p, job $id)"
    "$bin/aggregator-master" submit --preset "$p" --engine "$e" --run-id "$run_id" --job-id "$id" --start-offsets earliest >/dev/null
    t0=$(date +%s%3N)
    peak_file="$dir/$id.peak"
    if [ "$e" = boontadata ]; then
      ts=$t0
    else
      master=local
      if [ "$cluster" = 1 ]; then
        case "$e" in
          spark) "$root/scripts/infra/infra.sh" start spark >/dev/null; master=spark://127.0.0.1:7077 ;;
          flink) "$root/scripts/infra/infra.sh" start flink >/dev/null; master=127.0.0.1:8081 ;;
        esac
      fi
      mapfile -t args < <("$bin/aggregator-master" engine-args "$id")
      "$root/${dirs[$e]}/run.sh" "${args[@]}" --master "$master" --brokers "${BOONTADATA_KAFKA_BROKERS:-127.0.0.1:9092}" \
        --events-topic "$BOONTADATA_EVENTS_TOPIC" --results-topic "$BOONTADATA_RESULTS_TOPIC" >"$dir/$id.out" 2>&1 &
      engine_pid=$!
      pids+=("$engine_pid")
      peak_tree "$engine_pid" >"$peak_file" &
      "$bin/aggregator-master" wait --until started --wait-timeout 10m --poll 200ms "$id" 2>/dev/null
      ts=$(date +%s%3N)
    fi
    if ! "$bin/aggregator-master" wait --partitions 16 --settle 0s --poll 200ms --wait-timeout 30m "$id" 2>"$dir/$id.wait"; then
      echo "bench.sh: $id did not finish; see $dir/$id.wait and $dir/$id.out" >&2
      exit 1
    fi
    t1=$(date +%s%3N)
    if [ "$e" = boontadata ]; then
      peak="$(( $(rss_peak "$(cat "$dir/worker-1.pid")") + $(rss_peak "$(cat "$dir/worker-2.pid")") ))"
    else
      wait "$engine_pid" 2>/dev/null || true
      sleep 1.2
      peak=$(cat "$peak_file" 2>/dev/null || echo "?")
    fi
    awk -v e="$e" -v p="$p" -v a="$t0" -v s="$ts" -v b="$t1" -v n="$events" -v m="$peak" 'BEGIN {
      printf "%-14s %-12s %10.1f %11.1f %13.0f %14.0f %9s\n", e, p, (s-a)/1000, (b-a)/1000, n/((b-a)/1000), n/((b-s)/1000), m }' | tee -a "$table"
  done
  echo
  echo "Drain of $events events (10000 devices, 16 partitions), each job alone, from submission:"
  echo "started = the engine reads the topic (JVM start and job setup; 0 for this project's workers, already running);"
  echo "finished = every partition read to the end of the run and every result written (the job's state finished);"
  echo "events/s all = events / finished; after start = events / (finished - started) (an engine whose start line"
  echo "comes after its first batch, Spark, has read most of the topic by then); peak MiB = peak RSS (this project:"
  echo "both workers, cumulative)."
  cat "$table"
elif [ "$mode" = throughput ]; then
  events=3000000 preset=flink-event emit=()
  shift
  if [ $# -gt 0 ] && [[ "$1" =~ ^[0-9]+$ ]]; then events=$1; shift; fi
  while [ $# -gt 0 ]; do
    case "$1" in
      --preset) preset=${2:-}; shift ;;
      --emit-interval) emit=(--emit-interval "${2:-}"); shift ;;
      *) echo "bench.sh: unknown throughput option '$1' (see --help)" >&2; exit 2 ;;
    esac
    shift
  done
  step "preloading $events events (10000 devices) and the end of the run into $BOONTADATA_EVENTS_TOPIC"
  "$bin/simulator" --log-level warn --target kafka --clock fast --record none --devices 10000 --count "$events" \
    --seed 1 --run-id "$run_id" --progress off >/dev/null
  start worker-1 "$bin/aggregator-worker" run --worker-id w1 --listen 127.0.0.1:18091
  start worker-2 "$bin/aggregator-worker" run --worker-id w2 --listen 127.0.0.1:18092
  wait_http http://127.0.0.1:18091/readyz 120 worker-1 "$dir/worker-1.log"
  wait_http http://127.0.0.1:18092/readyz 120 worker-2 "$dir/worker-2.log"
  step "2 workers draining the topic (preset $preset${emit[*]:+, ${emit[*]}})"
  t0=$(date +%s%3N)
  "$bin/aggregator-master" submit --preset "$preset" "${emit[@]}" --run-id "$run_id" --job-id "$tag-job" >/dev/null
  # Processed: every record counted and no lag. Written: the job finished by
  # itself, every window of the run final and written.
  # The job's state and its last update (when it finished) come from the
  # master; the results written are the workers' last report before.
  t1="" deadline=$(( t0 + 1800000 )) written=0
  while :; do
    st=$("$bin/aggregator-master" status --json "$tag-job" 2>/dev/null | python3 -c '
import json, sys
from datetime import datetime
j = json.load(sys.stdin); p = j["progress"]; s = j["spec"]
print(p["records"], p["lag"], p["partitions"], s["state"], p["results_written"],
      int(datetime.fromisoformat(s["updated_at"].replace("Z", "+00:00")).timestamp() * 1000))' 2>/dev/null ||
      echo "0 1 0 unknown 0 0")
    read -r recs lag parts state w updated <<<"$st"
    now=$(date +%s%3N)
    [ "$w" -gt "$written" ] && written=$w
    if [ -z "$t1" ] && [ "$recs" -ge "$events" ] && [ "$lag" = 0 ] && [ "$parts" = 16 ]; then t1=$now; fi
    if [ "$state" = finished ]; then t2=$updated; break; fi
    if [ "$state" = failed ] || [ "$now" -gt "$deadline" ]; then
      echo "bench.sh: job $tag-job is $state after $(( (now - t0) / 1000 ))s; see $dir" >&2
      exit 1
    fi
    sleep 0.2
  done
  t1=${t1:-$t2}
  [ "$t1" -le "$t2" ] || t1=$t2
  peak="w1 $(rss_peak "$(cat "$dir/worker-1.pid")") MiB, w2 $(rss_peak "$(cat "$dir/worker-2.pid")") MiB"
  awk -v n="$events" -v a="$t0" -v b="$t1" -v c="$t2" -v w="$written" -v p="$preset" 'BEGIN {
    printf "%s: %d events, 2 workers, from job submission (group join included)\n", p, n
    printf "  every record processed   %6.1f s  %9.0f events/s\n", (b-a)/1000, n/((b-a)/1000)
    printf "  last window written      %6.1f s  (%.1f s after the last record)\n", (c-a)/1000, (c-b)/1000
    printf "  results written          %d = %d rows (engine_results and engine_result_revisions), %.0f rows/s\n", w, 2*w, 2*w/((c-a)/1000) }'
  echo "  worker peak RSS: $peak (10000 devices)"
else
  rate=${2:-100000} secs=${3:-60}
  start worker-1 "$bin/aggregator-worker" run --worker-id w1 --listen 127.0.0.1:18091
  start worker-2 "$bin/aggregator-worker" run --worker-id w2 --listen 127.0.0.1:18092
  wait_http http://127.0.0.1:18091/healthz 120 worker-1 "$dir/worker-1.log"
  wait_http http://127.0.0.1:18092/healthz 120 worker-2 "$dir/worker-2.log"
  "$bin/aggregator-master" submit --preset flink-event --run-id "$run_id" --job-id "$tag-fe" >/dev/null
  "$bin/aggregator-master" wait --settle 1s --wait-timeout 2m "$tag-fe" 2>/dev/null || true
  step "simulator live: $rate events/s for ${secs}s, 1000 devices, straight to Kafka"
  # Sample the job's total lag every second while the simulator runs.
  (
    while :; do
      "$bin/aggregator-master" status --json "$tag-fe" 2>/dev/null |
        python3 -c 'import json,sys; p=json.load(sys.stdin)["progress"]; print(p["lag"], p["records"])' 2>/dev/null || true
      sleep 1
    done
  ) >"$dir/lag.txt" &
  sampler=$!
  t0=$(date +%s%3N)
  "$bin/simulator" --log-level warn --target kafka --clock live --record none --devices 1000 \
    --total-rate "$rate" --duration "${secs}s" --seed 1 --run-id "$run_id" --progress log --progress-interval 10s >"$dir/simulator.out"
  t1=$(date +%s%3N)
  kill "$sampler" 2>/dev/null || true
  awk -v a="$t0" -v b="$t1" 'NR > 1 && $1 > max { max = $1 } { last = $2 } END {
    printf "consumed %d records in %.1fs of sending = %.0f records/s; lag sampled every second: max %d\n", last, (b-a)/1000, last/((b-a)/1000), max }' "$dir/lag.txt"
  end=$(( $(date +%s%3N) + 3000 ))
  "$bin/aggregator-master" wait --events-end "$end" --wait-timeout 5m "$tag-fe"
  "$bin/comparator" --run "$run_id" --job "$tag-fe" --format json --windows=false --output "$dir/report.json"
  python3 - "$dir/report.json" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))["jobs"][0]
l = j["final_latency_ms"]
print("latency (flink-event, emit time - window end - watermark delay, ms): p50 %.0f p95 %.0f p99 %.0f max %.0f over %d windows"
      % (l["p50"], l["p95"], l["p99"], l["max"], l["count"]))
EOF
  echo "worker peak RSS: w1 $(rss_peak "$(cat "$dir/worker-1.pid")") MiB, w2 $(rss_peak "$(cat "$dir/worker-2.pid")") MiB"
fi
echo "logs: $dir"
