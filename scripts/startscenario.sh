#!/usr/bin/env bash
# Brings up what a scenario needs on this machine: Kafka and Cassandra from
# scripts/infra, then the topics and the schema. Idempotent.
#
#   ./scripts/startscenario.sh          start (or confirm) the local platform
#   ./scripts/startscenario.sh --help
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
root=$(repo_root)

case "${1:-}" in
  -h|--help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  "") ;;
  --docker) die "--docker needs the docker-compose.yml of the platform, which is not there yet" ;;
  *) die "engine scenarios are not available yet: the services that run them are still to come; '$1' cannot start" ;;
esac

"$root/scripts/bootstrap.sh"
step "Kafka and Cassandra"
"$root/scripts/infra/infra.sh" start all
step "topics and schema"
(cd "$root" && go run ./services/aggregator-master/cmd/aggregator-master setup)
"$root/scripts/infra/infra.sh" status all
