#!/usr/bin/env bash
# status.sh [all|kafka|cassandra|spark|flink] - shorthand for: infra.sh status ...
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/infra.sh" status "$@"
