#!/usr/bin/env bash
# Measures the engines end to end through the real broker: how fast two
# workers consume a run, the result latency at a steady rate, worker memory,
# and every engine under test draining the same input. The figures go to
# BENCHMARKS.md.
#
#   ./scripts/bench.sh throughput [EVENTS] [--preset P] [--emit-interval D] [--revision-sample N]
#                                            preload EVENTS (default 3000000) and the end
#                                            of the run into a fresh topic, then time 2
#                                            workers draining it with preset P (default
#                                            flink-event): every record processed, the last
#                                            window written, rows written per second
#   ./scripts/bench.sh ceiling [ROWS]        Cassandra's own write rate with the project's
#                                            schema and driver settings (ROWS default
#                                            200000), beside the worker's result writer,
#                                            and Cassandra's CPU per row written
#   ./scripts/bench.sh sustainable [--from R] [--step R] [--to R] [--secs S]
#                                            the simulator live, a flink-event job per
#                                            rate from R (default 50000) up by --step
#                                            (50000) to --to (400000), S s each (30):
#                                            the highest rate whose lag stays bounded
#                                            after the warm-up (lag trend), then the
#                                            latency at 50% and 80% of it; JSON + text
#   ./scripts/bench.sh soak RATE [SECS]      the simulator live at RATE for SECS (600):
#                                            worker memory every 10 s, flat or not
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
# and stops its services and drops its keyspace at the end (unless
# BOONTADATA_BENCH_KEEP=1). Kafka and Cassandra are started if needed.
# BOONTADATA_BENCH_WORKER=PATH runs another aggregator-worker binary (one built
# from an earlier commit, to compare side by side); BOONTADATA_BENCH_MASTER=PATH
# another aggregator-master for the master's service (its commands stay this
# tree's).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
root=$(repo_root)

mode=${1:-}
case "$mode" in
  throughput|latency|drain|ceiling|sustainable|soak) ;;
  -h|--help|"") sed -n '2,43p' "$0" | sed 's/^# \{0,1\}//'; [ -n "$mode" ]; exit $? ;;
  *) echo "bench.sh: unknown mode '$mode' (see --help)" >&2; exit 2 ;;
esac

"$root/scripts/infra/infra.sh" start all >/dev/null
if [ "$mode" = ceiling ]; then
  rows=${2:-200000}
  [[ "$rows" =~ ^[0-9]+$ ]] || { echo "bench.sh: ceiling takes a number of rows, got '$rows'" >&2; exit 2; }
  step "Cassandra's write rate: $rows rows each way, the worker's default writes in flight (128), a keyspace of its own"
  cassandra_pid=$(cat "$(state_dir)/infra/cassandra/cassandra.pid" 2>/dev/null || true)
  cd "$root/services/aggregator-worker"
  BOONTADATA_BENCH_CASSANDRA_PID=$cassandra_pid BOONTADATA_INTEGRATION=1 go test -count=1 -run '^$' -bench '^BenchmarkCassandraWrites$' -benchtime "${rows}x" ./internal/stream/ |
    awk '/rows\/s/ { sub(/^BenchmarkCassandraWrites\//, ""); sub(/-[0-9]+$/, "", $1); line = sprintf("%-34s", $1)
      for (i = 3; i < NF; i++) if ($(i+1) ~ /^(rows|results)\/s$/) line = line sprintf(" %10.0f %s", $i, $(i+1))
      for (i = 3; i < NF; i++) if ($(i+1) == "cassandra-µs/row") line = line sprintf("   Cassandra CPU %5.1f µs/row", $i)
      print line }'
  echo "insert-one-row: single-row INSERTs of results, nothing else running (the database's ceiling for this"
  echo "schema and driver); insert-batch-of-devices: batches of 10 rows of 10 devices, one partition each (the"
  echo "tables before buckets); insert-batch-of-bucket: batches of 100 rows of one bucket's partition (a worker's"
  echo "flushes are mostly such batches), insert-decisions-batch-of-bucket the same of the decision log; writer-*:"
  echo "results as the worker writes them, 1000 results per flush over 10000 devices: two rows each (the answer"
  echo "and a revision) by device and by bucket (before), one row each (now); decisions-*: the decision log, one"
  echo "row per record dropped, 1000 per flush, by device (before) and by bucket (now). Cassandra CPU: the"
  echo "CPU time Cassandra used per row written, whatever share of the cores it got (throughput prints its"
  echo "CPU per row end to end)"
  exit 0
fi
build_binaries
bin="$(state_dir)/bin"
worker=${BOONTADATA_BENCH_WORKER:-$bin/aggregator-worker}
[ -x "$worker" ] || { echo "bench.sh: BOONTADATA_BENCH_WORKER=$worker is not an executable" >&2; exit 2; }
master=${BOONTADATA_BENCH_MASTER:-$bin/aggregator-master}
[ -x "$master" ] || { echo "bench.sh: BOONTADATA_BENCH_MASTER=$master is not an executable" >&2; exit 2; }
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
  # The run's rows would only feed Cassandra's compactions during the next
  # measurement (BOONTADATA_BENCH_KEEP=1 keeps them, to look at with the
  # comparator).
  [ -n "${BOONTADATA_BENCH_KEEP:-}" ] ||
    "$root/scripts/infra/cqlsh.sh" -e "DROP KEYSPACE IF EXISTS $BOONTADATA_CASSANDRA_KEYSPACE" >/dev/null 2>&1 || true
}
trap cleanup EXIT

start() { # NAME ARGS...
  local name=$1; shift
  "$@" >"$dir/$name.log" 2>&1 &
  pids+=($!)
  echo $! >"$dir/$name.pid"
}
# cpu_pids: the processes whose CPU the throughput mode accounts for
# (Cassandra, Kafka, the two workers).
cpu_pids() {
  echo "$(cat "$(state_dir)/infra/cassandra/cassandra.pid" 2>/dev/null || echo 0)" \
    "$(cat "$(state_dir)/infra/kafka/kafka.pid" 2>/dev/null || echo 0)" \
    "$(cat "$dir/worker-1.pid")" "$(cat "$dir/worker-2.pid")"
}
rss_peak() { # PID: peak resident memory in MiB
  awk '/VmHWM/ {printf "%.0f", $2/1024}' "/proc/$1/status" 2>/dev/null || echo "?"
}

start master "$master" serve --listen 127.0.0.1:18090
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

# live_step RATE SECS JOB RUN: the simulator live at RATE events/s in all
# (1000 devices) for SECS while JOB reads RUN; the job's lag and records are
# sampled every second into $dir/JOB.lag ("elapsed_s lag records"), the
# simulator's output into $dir/JOB.sim. Returns when the simulator ended.
live_step() {
  local rate=$1 secs=$2 id=$3 run=$4 sampler t0
  "$bin/aggregator-master" submit --preset flink-event --run-id "$run" --job-id "$id" --start-offsets latest >/dev/null
  # Sends start once the workers hold every partition (latest offsets: what
  # comes before the claim is not the job's).
  for _ in $(seq 1 300); do
    [ "$("$bin/aggregator-master" status --json "$id" 2>/dev/null |
      python3 -c 'import json, sys; print(json.load(sys.stdin)["progress"]["partitions"])' 2>/dev/null)" = 16 ] && break
    sleep 0.2
  done
  t0=$(date +%s%3N)
  (
    while :; do
      "$bin/aggregator-master" status --json "$id" 2>/dev/null | T0=$t0 python3 -c '
import json, os, sys, time
p = json.load(sys.stdin)["progress"]
print("%.1f %d %d" % (time.time() - int(os.environ["T0"]) / 1000, p["lag"], p["records"]))' 2>/dev/null || true
      sleep 1
    done
  ) >"$dir/$id.lag" &
  sampler=$!
  "$bin/simulator" --log-level warn --target kafka --clock live --record none --devices 1000 \
    --total-rate "$rate" --duration "${secs}s" --seed 1 --run-id "$run" --progress off >"$dir/$id.sim" 2>&1 || true
  kill "$sampler" 2>/dev/null || true
  wait "$sampler" 2>/dev/null || true
}

# lag_trend FILE RATE: over the sending (until the job's record count
# stopped growing), after its first third (the warm-up): the slope of the
# lag (records/s, least squares), the offered rate (records the job got per
# second of sending) and a verdict: "bounded" when the slope is under 1% of
# the offered rate (the lag does not grow without end: the lag-trend method
# of scalability benchmarks), "growing" otherwise, and "generator-bound" when
# bounded but the simulator offered under 90% of RATE (the machine's cores
# could not generate more beside the rest).
lag_trend() {
  python3 - "$1" "$2" <<'PY'
import sys
path, rate = sys.argv[1], float(sys.argv[2])
rows = [tuple(map(float, l.split())) for l in open(path) if len(l.split()) == 3]
if not rows:
    print("nan 0 unknown"); sys.exit()
last = max(rows, key=lambda r: r[2])
first = next((r for r in rows if r[2] > 0), last)
sending = [r for r in rows if first[0] <= r[0] <= last[0]]
span = last[0] - first[0]
warm = [r for r in sending if r[0] >= first[0] + span / 3]
if len(warm) < 3 or span <= 0:
    print("nan 0 unknown"); sys.exit()
n = len(warm)
mx = sum(r[0] for r in warm) / n
my = sum(r[1] for r in warm) / n
sxx = sum((r[0] - mx) ** 2 for r in warm)
slope = sum((r[0] - mx) * (r[1] - my) for r in warm) / sxx if sxx else 0.0
offered = (last[2] + last[1]) / max(last[0] - rows[0][0], 1e-9)
verdict = "growing" if slope >= 0.01 * offered else ("bounded" if offered >= 0.9 * rate else "generator-bound")
print("%.0f %.0f %s" % (slope, offered, verdict))
PY
}

if [ "$mode" = sustainable ] || [ "$mode" = soak ]; then
  start worker-1 "$worker" run --worker-id w1 --listen 127.0.0.1:18091
  start worker-2 "$worker" run --worker-id w2 --listen 127.0.0.1:18092
  wait_http http://127.0.0.1:18091/readyz 120 worker-1 "$dir/worker-1.log"
  wait_http http://127.0.0.1:18092/readyz 120 worker-2 "$dir/worker-2.log"
fi
if [ "$mode" = sustainable ]; then
  from=50000 stepr=50000 to=400000 secs=30
  shift
  while [ $# -gt 0 ]; do
    case "$1" in
      --from) from=${2:-}; shift ;;
      --step) stepr=${2:-}; shift ;;
      --to) to=${2:-}; shift ;;
      --secs) secs=${2:-}; shift ;;
      *) echo "bench.sh: unknown sustainable option '$1' (see --help)" >&2; exit 2 ;;
    esac
    shift
  done
  for v in "$from" "$stepr" "$to" "$secs"; do
    [[ "$v" =~ ^[1-9][0-9]*$ ]] || { echo "bench.sh: sustainable takes positive whole numbers, got '$v'" >&2; exit 2; }
  done
  best=0 steps=() bound="the last rate tried"
  for (( rate = from; rate <= to; rate += stepr )); do
    id="$tag-s$rate"
    step "rate $rate events/s for ${secs}s (job $id)"
    live_step "$rate" "$secs" "$id" "$run_id-s$rate"
    read -r slope offered verdict < <(lag_trend "$dir/$id.lag" "$rate")
    echo "  offered $offered records/s; lag slope after the warm-up: $slope records/s: $verdict"
    steps+=("{\"rate\": $rate, \"offered_per_s\": $offered, \"lag_slope\": $slope, \"verdict\": \"$verdict\"}")
    "$bin/aggregator-master" cancel "$id" >/dev/null 2>&1 || true
    case "$verdict" in
      bounded) best=$rate ;;
      generator-bound) best=$offered; bound="the simulator: it offered $offered of $rate events/s"; break ;;
      *) bound="the job: its lag grew at $rate events/s"; break ;;
    esac
  done
  [ "$best" -gt 0 ] || { echo "bench.sh: no rate from $from on kept the lag bounded; see $dir" >&2; exit 1; }
  lat=()
  for pct in 50 80; do
    rate=$(( best * pct / 100 )) id="$tag-l$pct"
    step "latency at $pct% of $best: $rate events/s for ${secs}s (job $id)"
    live_step "$rate" "$secs" "$id" "$run_id-l$pct"
    "$bin/aggregator-master" wait --wait-timeout 2m "$id" >/dev/null 2>&1 || true
    "$bin/comparator" --run "$run_id-l$pct" --job "$id" --format json --windows=false --output "$dir/$id.json" >/dev/null
    lat+=("$(python3 - "$dir/$id.json" "$pct" "$rate" <<'PY'
import json, sys
l = json.load(open(sys.argv[1]))["jobs"][0]["final_latency_ms"]
print('{"percent": %s, "rate": %s, "p50_ms": %.0f, "p95_ms": %.0f, "p99_ms": %.0f, "windows": %d}'
      % (sys.argv[2], sys.argv[3], l["p50"], l["p95"], l["p99"], l["count"]))
PY
)")
  done
  (IFS=,; printf '{"preset": "flink-event", "workers": 2, "devices": 1000, "step_seconds": %s, "sustainable_rate": %s, "bound_by": "%s", "steps": [%s], "latency": [%s]}\n' \
    "$secs" "$best" "$bound" "${steps[*]}" "${lat[*]}") >"$dir/sustainable.json"
  python3 - "$dir/sustainable.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
print("\nsustainable rate (flink-event, 2 workers, lag bounded after the warm-up): %d events/s, bound by %s" % (j["sustainable_rate"], j["bound_by"]))
for s in j["steps"]:
    print("  asked %7d events/s: offered %7.0f/s, lag slope %6.0f records/s, %s" % (s["rate"], s["offered_per_s"], s["lag_slope"], s["verdict"]))
for l in j["latency"]:
    print("latency at %d%% (%d events/s): p50 %.0f ms, p95 %.0f ms, p99 %.0f ms over %d windows (emit time - window end - watermark delay)"
          % (l["percent"], l["rate"], l["p50_ms"], l["p95_ms"], l["p99_ms"], l["windows"]))
PY
  echo "json: $dir/sustainable.json"
elif [ "$mode" = soak ]; then
  rate=${2:-} secs=${3:-600}
  [[ "$rate" =~ ^[1-9][0-9]*$ ]] || { echo "bench.sh: soak takes a rate, e.g. soak 100000 600" >&2; exit 2; }
  [[ "$secs" =~ ^[1-9][0-9]*$ ]] || { echo "bench.sh: soak takes a duration in seconds, got '$secs'" >&2; exit 2; }
  w1=$(cat "$dir/worker-1.pid") w2=$(cat "$dir/worker-2.pid")
  (
    t0=$(date +%s)
    while :; do
      echo "$(( $(date +%s) - t0 )) $(awk '/VmRSS/ {print int($2/1024)}' "/proc/$w1/status") $(awk '/VmRSS/ {print int($2/1024)}' "/proc/$w2/status")"
      sleep 10
    done
  ) >"$dir/rss.txt" &
  rss=$!
  step "soak: $rate events/s for ${secs}s, worker RSS every 10 s"
  live_step "$rate" "$secs" "$tag-soak" "$run_id-soak"
  kill "$rss" 2>/dev/null || true
  read -r slope offered verdict < <(lag_trend "$dir/$tag-soak.lag" "$rate")
  python3 - "$dir/rss.txt" "$offered" "$secs" "$slope" "$verdict" <<'PY'
import json, sys
rows = [tuple(map(int, l.split())) for l in open(sys.argv[1]) if len(l.split()) == 3]
half = [r for r in rows if r[0] >= int(sys.argv[3]) / 2]
print("soak at %s events/s for %s s: lag %s (slope %s records/s after the warm-up)" % (sys.argv[2], sys.argv[3], sys.argv[5], sys.argv[4]))
print("worker RSS MiB (w1, w2), every minute:")
for r in rows:
    if r[0] % 60 < 10:
        print("  %4d s  %5d  %5d" % r)
for i, name in ((1, "w1"), (2, "w2")):
    vals = [r[i] for r in half]
    if vals:
        print("%s over the second half: min %d, max %d MiB" % (name, min(vals), max(vals)))
json.dump({"rate": int(sys.argv[2]), "seconds": int(sys.argv[3]), "rss_mib": rows}, open(sys.argv[1].replace(".txt", ".json"), "w"))
PY
  echo "curve: $dir/rss.txt"
elif [ "$mode" = drain ]; then
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
  start worker-1 "$worker" run --worker-id w1 --listen 127.0.0.1:18091
  start worker-2 "$worker" run --worker-id w2 --listen 127.0.0.1:18092
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
  events=3000000 preset=flink-event emit=() sample=1
  shift
  if [ $# -gt 0 ] && [[ "$1" =~ ^[0-9]+$ ]]; then events=$1; shift; fi
  while [ $# -gt 0 ]; do
    case "$1" in
      --preset) preset=${2:-}; shift ;;
      --emit-interval) emit=(--emit-interval "${2:-}"); shift ;;
      --revision-sample)
        sample=${2:-}
        [[ "$sample" =~ ^[1-9][0-9]*$ ]] || { echo "bench.sh: --revision-sample takes a positive number, got '$sample'" >&2; exit 2; }
        shift ;;
      *) echo "bench.sh: unknown throughput option '$1' (see --help)" >&2; exit 2 ;;
    esac
    shift
  done
  step "preloading $events events (10000 devices) and the end of the run into $BOONTADATA_EVENTS_TOPIC"
  "$bin/simulator" --log-level warn --target kafka --clock fast --record none --devices 10000 --count "$events" \
    --seed 1 --run-id "$run_id" --progress off >/dev/null
  start worker-1 "$worker" run --worker-id w1 --listen 127.0.0.1:18091 --revision-sample "$sample"
  start worker-2 "$worker" run --worker-id w2 --listen 127.0.0.1:18092 --revision-sample "$sample"
  wait_http http://127.0.0.1:18091/readyz 120 worker-1 "$dir/worker-1.log"
  wait_http http://127.0.0.1:18092/readyz 120 worker-2 "$dir/worker-2.log"
  step "2 workers draining the topic (preset $preset${emit[*]:+, ${emit[*]}}, revisions of 1 window in $sample)"
  t0=$(date +%s%3N)
  "$bin/aggregator-master" submit --preset "$preset" "${emit[@]}" --run-id "$run_id" --job-id "$tag-job" >/dev/null
  # Processed: every record counted and no lag, at the latest time a
  # partition read a record. Written: the job finished by itself, every
  # window of the run final and written (the report that says so goes at
  # once, and wakes the master's check).
  # The job's state and its last update (when it finished) come from the
  # master; the results written are the workers' reports, which go on for
  # 3 s after the job finished (a partition's last report may come after
  # the master saw the end). One process polls the master's API every
  # 200 ms (a command and an interpreter started at each poll cost 0.12 s
  # of CPU a poll, a third of a core at that pace); it prints: processed
  # and finished times (ms), results written, decisions, when it saw the
  # end, and the CPU seconds Cassandra, Kafka and the workers used from
  # the submission until then.
  read -r t1 t2 written decided now_finished cpu < <(
    BENCH_URL="$master_url/api/jobs/$tag-job" BENCH_EVENTS=$events BENCH_T0=$t0 BENCH_PIDS="$(cpu_pids)" python3 -c '
import json, os, sys, time, urllib.request
from datetime import datetime
url, events, t0 = os.environ["BENCH_URL"], int(os.environ["BENCH_EVENTS"]), int(os.environ["BENCH_T0"])
pids = os.environ["BENCH_PIDS"].split()
req = urllib.request.Request(url, headers={"Accept": "application/json"})
if os.environ.get("BOONTADATA_API_TOKEN"):
    req.add_header("Authorization", "Bearer " + os.environ["BOONTADATA_API_TOKEN"])
def stamp(v):
    if not v:
        return 0
    return int(datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp() * 1000)
def ticks(pid):
    try:
        with open("/proc/%s/stat" % pid) as f:
            x = f.read().rsplit(")", 1)[1].split()
        return int(x[11]) + int(x[12])
    except (OSError, IndexError, ValueError):
        return 0
cpu0 = [ticks(x) for x in pids]
t1 = None; written = decided = 0; seen = None; cpu = []
while True:
    now = int(time.time() * 1000)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            j = json.load(r)
        p, s = j["progress"], j["spec"]
    except Exception:
        p, s = None, {"state": "unknown"}
    if p:
        written = max(written, p["results_written"]); decided = max(decided, p["late"] + p["duplicates"])
        if p["records"] >= events and p["lag"] == 0 and p["partitions"] == 16:
            # When the last record was read, from the reports (a report
            # comes every second: the time of the poll would be up to a
            # second late); the poll time if no report says.
            last = [stamp(x.get("last_record_time")) for x in j.get("partitions", [])]
            t1 = max([x for x in last if x] or [t1 or now])
    if s["state"] == "finished":
        if seen is None:
            seen = now
            cpu = ["%.2f" % ((ticks(x) - c) / os.sysconf("SC_CLK_TCK")) for x, c in zip(pids, cpu0)]
            t2 = stamp(s["updated_at"])
        if now - seen >= 3000:
            break
    elif s["state"] == "failed" or now - t0 > 1800000:
        print("bench.sh: job is %s after %d s" % (s["state"], (now - t0) // 1000), file=sys.stderr)
        sys.exit(1)
    time.sleep(0.2)
t1 = min(t1 or t2, t2)
print(t1, t2, written, decided, seen, " ".join(map(str, cpu)))
' || echo "failed")
  [ "$t1" != failed ] || { echo "bench.sh: job $tag-job did not finish; see $dir" >&2; exit 1; }
  peak="w1 $(rss_peak "$(cat "$dir/worker-1.pid")") MiB, w2 $(rss_peak "$(cat "$dir/worker-2.pid")") MiB"
  awk -v n="$events" -v a="$t0" -v b="$t1" -v c="$t2" -v w="$written" -v d="$decided" -v p="$preset" -v s="$sample" 'BEGIN {
    printf "%s: %d events, 2 workers, from job submission (group join included)\n", p, n
    printf "  every record processed   %6.1f s  %9.0f events/s\n", (b-a)/1000, n/((b-a)/1000)
    printf "  last window written      %6.1f s  %9.0f events/s  (%.1f s after the last record)\n", (c-a)/1000, n/((c-a)/1000), (c-b)/1000
    # One row of engine_emissions_by_bucket per result (a worker before
    # migration 0006, through BOONTADATA_BENCH_WORKER, wrote two).
    printf "  results written          %d rows (one per result; every revision of 1 window in %d), %.0f rows/s\n", w, s, w/((c-a)/1000)
    printf "  decision log             %d rows (late and duplicate records); %.0f rows/s with the results\n", d, (w+d)/((c-a)/1000) }'
  echo "  worker peak RSS: $peak (10000 devices)"
  # CPU from the submission until the job was seen finished, against what
  # the machine's cores had in that time.
  read -r c1 c2 c3 c4 <<<"$cpu"
  awk -v cores="$(nproc)" -v t="$(( now_finished - t0 ))" -v c="Cassandra $c1 s, Kafka $c2 s, workers $c3 s + $c4 s" 'BEGIN {
    printf "  CPU used                 %s, of %.1f s (%d cores)\n", c, cores * t / 1000, cores }'
  awk -v c="$c1" -v rows="$((written + decided))" 'BEGIN { if (rows > 0)
    printf "  Cassandra CPU per row    %.1f µs over the results and the decision log (bench.sh ceiling: the same alone)\n", c * 1e6 / rows }'
  # The first worker to join claims every partition and hands half over when
  # the second joins; a partition handed over after a commit is rebuilt from
  # its checkpoint by replaying what it read, which costs seconds.
  handed=$(grep -h '"msg":"partitions claimed"' "$dir"/worker-*.log | grep -o '"checkpoints":[0-9]*' | cut -d: -f2 | awk '{ s += $1 } END { print s + 0 }')
  echo "  partitions claimed from a checkpoint (handed over at the start-up rebalance): $handed"
else
  rate=${2:-100000} secs=${3:-60}
  start worker-1 "$worker" run --worker-id w1 --listen 127.0.0.1:18091
  start worker-2 "$worker" run --worker-id w2 --listen 127.0.0.1:18092
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
