#!/usr/bin/env bash
# The project's test command, what CI runs: format checks, go vet,
# staticcheck and shellcheck, the validation of the deployment files, every
# module's unit tests with the race detector (and the engine's heavy tests once
# more without it, at full size), the integration and end-to-end
# tests against a real Kafka and Cassandra (started here and stopped at the
# end, even on failure, unless they were already running), and a short run of
# every fuzz target.
#
#   ./scripts/test.sh            everything (needs JDK 17 and Maven; see README)
#   ./scripts/test.sh --unit     unit tests only: no servers, about a minute
#   ./scripts/test.sh --help
#
# Environment: BOONTADATA_FUZZTIME (default 50000x: inputs per fuzz target,
# 15000x for FuzzEngineMatchesReference, which runs the engine and its
# reference model on each input: about 50 s; a count, not a duration, because
# a duration can fail spuriously with "context deadline exceeded" on a busy
# machine, go.dev/issue/75804, fixed in Go 1.27),
# BOONTADATA_TEST_TIMEOUT (default 20m per package), BOONTADATA_KEEP_INFRA=1
# leaves the servers running afterwards.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
root=$(repo_root)
cd "$root"

mode=all
case "${1:-}" in
  "") ;;
  --unit) mode=unit ;;
  -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "test.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
esac

started=$(date +%s)
state="${BOONTADATA_STATE_DIR:-$root/.state}"
logdir="$state/test"
mkdir -p "$logdir"

step "prerequisites"
if [ "$mode" = all ]; then
  "$root/scripts/bootstrap.sh" --browser
else
  "$root/scripts/bootstrap.sh"
fi
export GOTOOLCHAIN="${GOTOOLCHAIN:-auto}"
mapfile -t modules < <(go_modules)
pkgs=()
for m in "${modules[@]}"; do pkgs+=("$m/..."); done

step "gofmt and go vet"
unformatted=$(gofmt -l pkg services)
[ -z "$unformatted" ] || die "gofmt would change: $unformatted (run gofmt -w)"
for m in "${modules[@]}"; do (cd "$m" && go vet ./...); done

step "staticcheck and shellcheck"
# staticcheck's default checks, all of them: the code has no exception list.
staticcheck_version=v0.8.2
staticcheck="$state/tools/staticcheck-$staticcheck_version"
if [ ! -x "$staticcheck" ]; then
  mkdir -p "$state/tools"
  GOBIN="$state/tools" go install "honnef.co/go/tools/cmd/staticcheck@$staticcheck_version"
  mv "$state/tools/staticcheck" "$staticcheck"
fi
for m in "${modules[@]}"; do (cd "$m" && "$staticcheck" ./...) || die "staticcheck found problems in $m"; done
mapfile -t shells < <(find scripts engines deploy -name '*.sh' -not -path '*/target/*'; echo .ci/run)
shellcheck -x "${shells[@]}" || die "shellcheck found problems in the scripts"

if [ "$mode" = all ]; then
  step "deployment files (docker-compose.yml, Dockerfile, Kubernetes manifests)"
  "$root/deploy/validate.sh"
fi

infra_started=0
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
  local rc=$?
  if [ "$infra_started" = 1 ] && [ "${BOONTADATA_KEEP_INFRA:-0}" != 1 ]; then
    step "stopping Kafka and Cassandra"
    "$root/scripts/infra/infra.sh" stop all || true
  fi
  echo "test.sh: finished in $(( $(date +%s) - started ))s with status $rc"
  exit "$rc"
}
trap cleanup EXIT

if [ "$mode" = all ]; then
  step "starting Kafka and Cassandra"
  if ! "$root/scripts/infra/infra.sh" status all >/dev/null 2>&1; then
    infra_started=1
  fi
  "$root/scripts/infra/infra.sh" start all
  export BOONTADATA_INTEGRATION=1
fi

step "go test -race ($mode)"
log="$logdir/go-test.log"
set +e
go test -race -count=1 -p 2 -timeout "${BOONTADATA_TEST_TIMEOUT:-20m}" -v "${pkgs[@]}" >"$log" 2>&1
rc=$?
# The race detector slows the engine tenfold, so under it its heavy tests
# shrink and the allocation test skips: run them once more without it, at the
# size their comments give.
step "engine tests without the race detector"
echo "==> engine without race" >>"$log"
(cd pkg && go test -count=1 -timeout "${BOONTADATA_TEST_TIMEOUT:-20m}" -v ./engine/...) >>"$log" 2>&1 || rc=$?
if [ "$mode" = all ]; then
  # Tests that stop servers or kill processes run alone, one package at a time.
  step "disruptive tests (servers stopped and started)"
  {
    echo "==> disruptive"
    # What still runs after the first pass (nothing of the tests should).
    uptime
    ps -eo pid,etime,pcpu,rss,args --sort=-pcpu | cut -c1-200 | head -12
  } >>"$log"
  BOONTADATA_DISRUPTIVE=1 go test -count=1 -p 1 -timeout "${BOONTADATA_TEST_TIMEOUT:-20m}" -v \
    -run '^TestDisruptive' "${pkgs[@]}" >>"$log" 2>&1 || rc=$?
  "$root/scripts/infra/infra.sh" start all >/dev/null || rc=1
fi
set -e
# Package lines and failures only (with the first line of each assertion's
# error and message); the whole log stays in $log.
grep -E '^(ok|FAIL|panic:|--- FAIL|--- PASS: TestDisruptive|\?)|^\s+--- FAIL|_test.go:[0-9]+:|^\s+(Error|Messages):\s' "$log" |
  grep -vE 'no test files|no tests to run' || true
# Every test and subtest counts.
passed=$(grep -cE '^\s*--- PASS' "$log" || true)
failed=$(grep -cE '^\s*--- FAIL' "$log" || true)
skipped=$(grep -cE '^\s*--- SKIP' "$log" || true)
# A skip is allowed only by design: the first pass leaves the disruptive tests
# to the second and the allocation test to the pass without the race
# detector. In the full run nothing else may skip, at any depth: not a test
# that needs the servers, not one that needs Chromium.
if [ "$mode" = all ]; then
  # go test -v streams a test's log as it comes, so a skip's reason is the
  # last log line before its "--- SKIP" line ("=== RUN/CONT" lines aside).
  unexpected=$(awk '
    /^==> disruptive/ { second = 1 }
    /^[ \t]*--- SKIP/ {
      if (!second && reason ~ /disruptive test \(stops servers\)/) next
      if (reason ~ /allocations are counted without the race detector/) next
      print; print reason; next }
    !/^[ \t]*(=== |--- )/ { reason = $0 }' "$log")
  if [ -n "$unexpected" ]; then
    echo "$unexpected"
    echo "test.sh: tests were skipped in the full run, where everything they need is installed and running" >&2
    rc=1
  fi
fi
if [ "$rc" != 0 ]; then
  echo "test.sh: go test failed; full log: $log" >&2
fi

step "fuzz targets"
while IFS= read -r line; do
  file=${line%%:*}
  name=$(sed -E 's/^func (Fuzz[A-Za-z0-9_]*)\(.*/\1/' <<<"${line#*:}")
  dir=$(dirname "$file")
  budget=${BOONTADATA_FUZZTIME:-50000x}
  [ -n "${BOONTADATA_FUZZTIME:-}" ] || [ "$name" != FuzzEngineMatchesReference ] || budget=15000x
  echo "fuzz $name in $dir ($budget)"
  if ! (cd "$dir" && go test -run='^$' -fuzz="^${name}\$" -fuzztime="$budget" . >"$logdir/fuzz-$name.log" 2>&1); then
    cat "$logdir/fuzz-$name.log"
    echo "test.sh: fuzz target $name failed" >&2
    failed=$((failed + 1))
    rc=1
  fi
done < <(grep -rE --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*\(' pkg services || true)

echo
echo "$passed passed, $failed failed, $skipped skipped"
exit "$rc"
