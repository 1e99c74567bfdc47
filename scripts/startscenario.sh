#!/usr/bin/env bash
# Brings up what a scenario needs, idempotently, and prints what runs where.
#
#   ./scripts/startscenario.sh [--workers N] [ENGINE]
#   ./scripts/startscenario.sh --docker [--cluster] [ENGINE]
#
# Locally (the default): Kafka and Cassandra from scripts/infra, then the
# ingest gateway, the aggregator-master and N aggregator-workers (default 2)
# as background processes, logs under .state/services/. With --docker: the
# same platform from docker-compose.yml (profile single, or cluster with
# three Kafka brokers and three Cassandra nodes).
#
# ENGINE is continuous, micro-batch or a preset name: every preset runs on the
# same master and workers, so it only checks the name.
#
# Environment: BOONTADATA_INGEST_PORT (8080), BOONTADATA_MASTER_PORT (8090),
# BOONTADATA_WORKER_BASE_PORT (8091: workers listen on 8091, 8092, ...).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
root=$(repo_root)

docker=0 cluster=0 workers=${BOONTADATA_WORKERS:-2} engine=continuous
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    --docker) docker=1 ;;
    --cluster) cluster=1 ;;
    --workers) [ $# -ge 2 ] || die "--workers needs a number"; workers=$2; shift ;;
    --workers=*) workers=${1#*=} ;;
    -*) echo "startscenario.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    *) engine=$1 ;;
  esac
  shift
done
[[ "$workers" =~ ^[1-9][0-9]*$ ]] || { echo "startscenario.sh: --workers takes a number from 1, got '$workers'" >&2; exit 2; }
case "$engine" in
  continuous|micro-batch|microbatch|flink-processing|flink-event|flink-ingestion|storm|exact|dstream|structured|all) ;;
  *) echo "startscenario.sh: unknown engine '$engine' (continuous, micro-batch or a preset name; see --help)" >&2; exit 2 ;;
esac

if [ "$docker" = 1 ]; then
  command -v docker >/dev/null || die "--docker needs Docker with the compose plugin"
  compose=(docker compose --profile single)
  [ "$cluster" = 1 ] && compose=(docker compose --env-file deploy/compose/cluster.env --profile cluster)
  (cd "$root" && "${compose[@]}" up -d --build)
  (cd "$root" && "${compose[@]}" ps)
  exit 0
fi

state=$(state_dir)
svc="$state/services"
bin="$state/bin"
mkdir -p "$svc"
ingest_port=${BOONTADATA_INGEST_PORT:-8080}
master_port=$(master_port)

"$root/scripts/bootstrap.sh" >/dev/null
step "Kafka and Cassandra"
"$root/scripts/infra/infra.sh" start all
step "building the services"
build_binaries
echo "binaries in $bin"

step "services"
start_service ingest "$bin/ingest" --listen "127.0.0.1:$ingest_port"
start_master
for ((i = 1; i <= workers; i++)); do
  start_worker "$i"
done
wait_http "http://127.0.0.1:$ingest_port/readyz" 120 ingest "$svc/ingest.log"
wait_http "http://127.0.0.1:$master_port/readyz" 120 aggregator-master "$svc/aggregator-master.log"
for ((i = 1; i <= workers; i++)); do
  wait_http "http://127.0.0.1:$(worker_port "$i")/healthz" 120 "aggregator-worker-$i" "$svc/aggregator-worker-$i.log"
done

step "running"
printf '%-22s %-28s %s\n' SERVICE ADDRESS LOG
printf '%-22s %-28s %s\n' kafka 127.0.0.1:9092 "${BOONTADATA_INFRA_DIR:-$state/infra}/kafka/logs/server.log"
printf '%-22s %-28s %s\n' cassandra 127.0.0.1:9042 "${BOONTADATA_INFRA_DIR:-$state/infra}/cassandra/logs/system.log"
printf '%-22s %-28s %s\n' ingest "http://127.0.0.1:$ingest_port" "$svc/ingest.log"
printf '%-22s %-28s %s\n' aggregator-master "http://127.0.0.1:$master_port" "$svc/aggregator-master.log"
for ((i = 1; i <= workers; i++)); do
  printf '%-22s %-28s %s\n' "aggregator-worker-$i" "http://127.0.0.1:$(worker_port "$i")" "$svc/aggregator-worker-$i.log"
done
echo
echo "dashboard: http://127.0.0.1:$master_port/   stop everything: ./scripts/stopscenario.sh"
