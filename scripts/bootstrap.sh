#!/usr/bin/env bash
# Installs what the project needs on a fresh machine and downloads the Go
# modules: Go (1.26 or newer), JDK 17 and Maven for the local Kafka and
# Cassandra, python3 with venv for cqlsh, curl, jq, shellcheck (the test
# command's shell linter); with --browser also Chromium, which the comparator's
# HTML report tests render pages in. Safe to run again: it installs only what
# is missing.
#
#   ./scripts/bootstrap.sh [--browser]
set -euo pipefail
browser=0
[ "${1:-}" = --browser ] && browser=1
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
root=$(repo_root)

apt_updated=0
apt_install() {
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    die "missing $* and cannot install it here (needs root and apt-get); install it and run again"
  fi
  if [ "$apt_updated" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    apt_updated=1
  fi
  echo "bootstrap: installing $* with apt-get"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# Go: the workspace asks for 1.26; an older go fetches the right toolchain from
# the Go module proxy by itself (GOTOOLCHAIN=auto).
if ! command -v go >/dev/null; then
  [ -x /usr/local/go/bin/go ] && export PATH="/usr/local/go/bin:$PATH"
fi
command -v go >/dev/null || apt_install golang-go
export GOTOOLCHAIN="${GOTOOLCHAIN:-auto}"

# JDK 17 for Kafka and Cassandra (Cassandra 5.0 does not run on JDK 24+).
jdk17=""
for d in "${BOONTADATA_JAVA_HOME:-}" /usr/lib/jvm/java-17-openjdk-* /usr/lib/jvm/*-17-*; do
  if [ -n "$d" ] && [ -x "$d/bin/java" ]; then jdk17=$d; break; fi
done
[ -n "$jdk17" ] || apt_install openjdk-17-jdk-headless
command -v mvn >/dev/null || apt_install maven
command -v python3 >/dev/null || apt_install python3
python3 -c 'import venv, ensurepip' 2>/dev/null || apt_install python3-venv
command -v curl >/dev/null || apt_install curl
command -v jq >/dev/null || apt_install jq
command -v shellcheck >/dev/null || apt_install shellcheck
if [ "$browser" = 1 ] && ! command -v chromium >/dev/null; then
  apt_install chromium
fi

echo "bootstrap: $(go version)"
echo "bootstrap: downloading Go modules"
(cd "$root" && for m in $(go list -m -f '{{.Dir}}'); do (cd "$m" && go mod download); done)
