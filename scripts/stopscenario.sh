#!/usr/bin/env bash
# Takes the platform down: the workers first (they write what they emitted and
# commit), then the master and the ingest gateway, then Kafka and Cassandra.
#
#   ./scripts/stopscenario.sh [--keep-infra]
#   ./scripts/stopscenario.sh --docker [--cluster]
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
root=$(repo_root)

docker=0 cluster=0 keep_infra=0
for a in "$@"; do
  case "$a" in
    -h|--help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    --docker) docker=1 ;;
    --cluster) cluster=1 ;;
    --keep-infra) keep_infra=1 ;;
    *) echo "stopscenario.sh: unknown argument '$a' (see --help)" >&2; exit 2 ;;
  esac
done
if [ "$docker" = 1 ]; then
  compose=(docker compose --profile single)
  [ "$cluster" = 1 ] && compose=(docker compose --env-file deploy/compose/cluster.env --profile cluster)
  (cd "$root" && "${compose[@]}" down)
  exit 0
fi

svc="$(state_dir)/services"
# stop_service PIDFILE: SIGTERM, wait up to 45 s, then SIGKILL.
stop_service() {
  local pidfile=$1 name pid i
  name=$(basename "$pidfile" .pid)
  pid=$(cat "$pidfile" 2>/dev/null || true)
  if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
    rm -f "$pidfile"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 180; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.25
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "$name: still running after 45 s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
  echo "$name: stopped"
}
shopt -s nullglob
for f in "$svc"/aggregator-worker-*.pid; do stop_service "$f" & done
wait
for f in "$svc"/aggregator-master.pid "$svc"/ingest.pid; do [ -f "$f" ] && stop_service "$f"; done
if [ "$keep_infra" = 0 ]; then
  "$root/scripts/infra/infra.sh" stop all
fi
