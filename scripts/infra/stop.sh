#!/usr/bin/env bash
# stop.sh [all|kafka|cassandra|spark|flink] - shorthand for: infra.sh stop ...
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/infra.sh" stop "$@"
