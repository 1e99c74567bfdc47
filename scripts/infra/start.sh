#!/usr/bin/env bash
# start.sh [all|kafka|cassandra|spark|flink] - shorthand for: infra.sh start ...
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/infra.sh" start "$@"
