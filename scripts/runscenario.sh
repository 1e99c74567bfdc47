#!/usr/bin/env bash
# Runs a scenario end to end and prints the comparison with the truth.
#
#   ./scripts/runscenario.sh PRESET [options]
#   ./scripts/runscenario.sh all [options]     every preset as parallel jobs over ONE run
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
# Options:
#   --devices N            simulated devices (default 10)
#   --events-per-device N  events each device sends (default 200)
#   --rate R               events per second per device (default 20)
#   --seed S               random seed of the simulator (default 42)
#   --target http|kafka    through the ingest gateway (default) or straight to Kafka
#   --workers N            aggregator-workers to start when none runs (default 2)
#   --timeout D            how long to wait for the jobs to finish (default 5m)
#
# It starts what is missing (./scripts/startscenario.sh), submits the job(s),
# runs the simulator, waits on the master until every job has consumed the run
# and emitted its last windows, then runs the comparator. Reports go to
# .state/reports/RUN_ID.{txt,json,html}. ./scripts/stopscenario.sh stops it all.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
root=$(repo_root)

usage() { sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'; }
bad() { echo "runscenario.sh: $* (see --help)" >&2; exit 2; }

preset="" devices=10 per_device=200 rate=20 seed=42 target=http workers=2 timeout=5m
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --devices) devices=${2:-}; shift ;;
    --events-per-device) per_device=${2:-}; shift ;;
    --rate) rate=${2:-}; shift ;;
    --seed) seed=${2:-}; shift ;;
    --target) target=${2:-}; shift ;;
    --workers) workers=${2:-}; shift ;;
    --timeout) timeout=${2:-}; shift ;;
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

case "$preset" in
  all) presets=(exact flink-event flink-processing flink-ingestion storm dstream structured) ;;
  exact|flink-event|flink-processing|flink-ingestion|storm|dstream|structured) presets=("$preset") ;;
  *) bad "unknown preset '$preset'" ;;
esac

"$root/scripts/startscenario.sh" --workers "$workers"
state=$(state_dir)
bin="$state/bin"
reports="$state/reports"
mkdir -p "$reports"
master_url="http://127.0.0.1:${BOONTADATA_MASTER_PORT:-8090}"
ingest_url="http://127.0.0.1:${BOONTADATA_INGEST_PORT:-8080}"
export BOONTADATA_MASTER_URL="$master_url"

run_id="run-$(date -u +%Y%m%d-%H%M%S)-$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"
step "run $run_id: jobs"
jobs=()
for p in "${presets[@]}"; do
  id="$p-${run_id#run-}"
  "$bin/aggregator-master" submit --preset "$p" --run-id "$run_id" --job-id "$id" >/dev/null
  echo "submitted $id ($p)"
  jobs+=("$id")
done

count=$((devices * per_device))
step "run $run_id: simulator ($devices devices, $count events, $rate/s per device, seed $seed, via $target)"
"$bin/simulator" --log-level warn --run-id "$run_id" --devices "$devices" --count "$count" --rate "$rate" --seed "$seed" \
  --target "$target" --ingest-url "$ingest_url" --progress auto >/dev/null
# Device clocks run up to 2 s ahead (clock skew); events end by then.
events_end=$(( $(date +%s%3N) + 3000 ))

step "run $run_id: waiting for the jobs to consume the run"
partitions=${BOONTADATA_EVENTS_PARTITIONS:-16}
for id in "${jobs[@]}"; do
  "$bin/aggregator-master" wait --partitions "$partitions" --events-end "$events_end" --wait-timeout "$timeout" "$id"
done

step "run $run_id: comparison"
job_flags=()
for id in "${jobs[@]}"; do job_flags+=(--job "$id"); done
"$bin/comparator" --run "$run_id" "${job_flags[@]}" --format json --output "$reports/$run_id.json" --html "$reports/$run_id.html" >/dev/null
"$bin/comparator" --run "$run_id" "${job_flags[@]}" | tee "$reports/$run_id.txt"
echo
echo "reports: $reports/$run_id.txt  $reports/$run_id.json  $reports/$run_id.html"
