#!/usr/bin/env bash
# cqlsh.sh [cqlsh args...] - cqlsh (from PyPI, in <state>/infra/cqlsh-venv) connected
# to the local Cassandra on 127.0.0.1:${BOONTADATA_CASSANDRA_PORT:-9042}.
# Examples:
#   scripts/infra/cqlsh.sh
#   scripts/infra/cqlsh.sh -e "DESCRIBE KEYSPACES"
#   scripts/infra/cqlsh.sh -f schema.cql
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/infra.sh" cqlsh "$@"
