#!/usr/bin/env bash
# Validates the deployment files without a Docker engine or a Kubernetes cluster:
#   - docker-compose.yml: `docker compose config -q` for every profile, with the
#     settings each profile is meant to run with, plus a few assertions on the
#     resolved topology (services per profile, replication factors)
#   - deploy/docker: the Dockerfile copies the go.mod of every module in go.work,
#     deploy/docker/healthcheck.go is formatted and vets clean
#   - deploy/k8s: `kustomize build` of the base, the overlay and the jobs
#   - deploy/grafana/*.json and deploy/compose/*.yml parse
#
# Tools: `docker compose` when the Docker CLI has a recent compose plugin;
# otherwise Docker Compose ${COMPOSE_VERSION} built once from its Go module
# (Go module proxy) into $BOONTADATA_STATE_DIR/tools (default .state/tools).
# kustomize: `kubectl kustomize`, a `kustomize` on PATH, or sigs.k8s.io/kustomize
# ${KUSTOMIZE_VERSION} built the same way.
#
# BOONTADATA_COMPOSE_BUILD=1 / BOONTADATA_KUSTOMIZE_BUILD=1 force the pinned builds.
# Needs bash, go, jq; python3 and yq are used when present.
# Quiet on success: one line per check. Exits non-zero on the first invalid file.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools="${BOONTADATA_STATE_DIR:-$root/.state}/tools"
COMPOSE_VERSION=${BOONTADATA_COMPOSE_VERSION:-v5.4.0}
KUSTOMIZE_VERSION=${BOONTADATA_KUSTOMIZE_VERSION:-v5.5.0}

ok() { printf 'ok    %s\n' "$*"; }
fail() {
  printf 'FAIL  %s\n' "$1" >&2
  [ -z "${2:-}" ] || printf '%s\n' "$2" | sed 's/^/      /' >&2
  exit 1
}
note() { printf '..    %s\n' "$*" >&2; }

# go_build_module MODULE@VERSION PACKAGE OUTPUT [LDFLAGS]: builds a command of a
# module as its own main module (so its replace and exclude directives apply,
# which `go install pkg@version` refuses), with the Go module proxy only.
go_build_module() {
  local modver=$1 pkg=$2 out=$3 ldflags=${4:-} dir src
  command -v go >/dev/null || fail "installing ${modver%@*}" "go is not on PATH"
  dir=$(cd /tmp && GOWORK=off GOFLAGS=-mod=mod go mod download -json "$modver" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -n "$dir" ] || fail "installing $modver" "go mod download found no directory"
  src=$(mktemp -d)
  trap 'chmod -R u+w "$src" 2>/dev/null; rm -rf "$src"' RETURN
  cp -R "$dir/." "$src/" && chmod -R u+w "$src"
  mkdir -p "$(dirname "$out")"
  if ! (cd "$src" && GOWORK=off GOFLAGS="" CGO_ENABLED=0 go build -trimpath -ldflags "-s -w $ldflags" -o "$out.tmp" "$pkg") >"$src.log" 2>&1; then
    fail "building $modver" "$(tail -n 20 "$src.log")"
  fi
  rm -f "$src.log"
  mv "$out.tmp" "$out"
}

# --- docker compose ----------------------------------------------------------
command -v jq >/dev/null || fail "jq is required (apt-get install jq)"
compose=()
if docker compose version >/dev/null 2>&1 &&
  [ "$(docker compose version --short 2>/dev/null | sed 's/^v//' | cut -d. -f1)" -ge 2 ] 2>/dev/null &&
  [ -z "${BOONTADATA_COMPOSE_BUILD:-}" ]; then
  compose=(docker compose)
else
  bin="$tools/docker-compose-$COMPOSE_VERSION"
  if [ ! -x "$bin" ]; then
    note "building docker compose $COMPOSE_VERSION from the Go module proxy (first run only, a minute or two)"
    go_build_module "github.com/docker/compose/v5@$COMPOSE_VERSION" ./cmd "$bin" \
      "-X github.com/docker/compose/v5/internal.Version=$COMPOSE_VERSION"
  fi
  compose=("$bin")
fi

# dc ARGS...: compose on the repository's file, with none of the caller's
# compose or BD_* settings (the checks see what a fresh shell sees).
dc() {
  env -i PATH="$PATH" HOME="$HOME" "${compose[@]}" \
    --project-directory "$root" -f "$root/docker-compose.yml" "$@"
}

# check_config NAME ARGS...: config -q must succeed without a warning.
check_config() {
  local name=$1 out
  shift
  if ! out=$(dc "$@" config -q 2>&1); then
    fail "compose config $name" "$out"
  fi
  [ -z "$out" ] || fail "compose config $name: warnings" "$out"
  ok "compose config $name"
}

# expect_services NAME "SERVICES" ARGS...: the profile resolves to exactly these services.
expect_services() {
  local name=$1 want got
  want=$(tr ' ' '\n' <<<"$2" | sort | tr '\n' ' ')
  shift 2
  got=$(dc "$@" config --services 2>&1 | sort | tr '\n' ' ') || fail "compose services $name" "$got"
  [ "$got" = "$want" ] || fail "compose services $name" "want: $want"$'\n'"got:  $got"
}

# expect_env NAME JSON SERVICE VAR VALUE: a variable of the resolved environment
# of a service, in the output of `config --format json`.
expect_env() {
  local name=$1 json=$2 svc=$3 var=$4 want=$5 got
  got=$(jq -r --arg s "$svc" --arg v "$var" '.services[$s].environment[$v] // "<unset>"' <<<"$json")
  [ "$got" = "$want" ] || fail "compose $name: $svc $var" "want: $want, got: $got"
}

platform="ingest aggregator-master aggregator-worker"
cluster_env=(--env-file "$root/deploy/compose/cluster.env" --profile cluster)

check_config "--profile single" --profile single
expect_services "single" "kafka cassandra $platform" --profile single
json=$(dc --profile single config --format json)
expect_env "single" "$json" ingest BOONTADATA_KAFKA_REPLICATION_FACTOR 1
expect_env "single" "$json" kafka KAFKA_MIN_INSYNC_REPLICAS 1
# auth is explicit: open only through the allow setting, tokens from secrets.env
expect_env "single" "$json" ingest BOONTADATA_INGEST_ALLOW_NO_AUTH true
expect_env "single" "$json" aggregator-master BOONTADATA_MASTER_ALLOW_NO_AUTH true
expect_env "single" "$json" aggregator-master BOONTADATA_MASTER_ALLOWED_HOSTS aggregator-master

check_config "--env-file deploy/compose/cluster.env --profile cluster" "${cluster_env[@]}"
expect_services "cluster" "cluster-check kafka-1 kafka-2 kafka-3 cassandra-1 cassandra-2 cassandra-3 $platform aggregator-worker-2" "${cluster_env[@]}"
json=$(dc "${cluster_env[@]}" config --format json)
for s in ingest aggregator-master aggregator-worker aggregator-worker-2; do
  expect_env "cluster" "$json" "$s" BOONTADATA_KAFKA_REPLICATION_FACTOR 3
  expect_env "cluster" "$json" "$s" BOONTADATA_CASSANDRA_REPLICATION_FACTOR 3
done
for s in kafka-1 kafka-2 kafka-3; do
  expect_env "cluster" "$json" "$s" KAFKA_MIN_INSYNC_REPLICAS 2
  expect_env "cluster" "$json" "$s" KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR 3
done
check_config "--profile cluster (refused at start by cluster-check)" --profile cluster

for p in scenario exact flink-processing flink-event flink-ingestion storm; do
  check_config "--profile single --profile $p" --profile single --profile "$p"
done
expect_services "single+storm+flink-event" "kafka cassandra $platform submit-storm submit-flink-event simulator" \
  --profile single --profile storm --profile flink-event
check_config "cluster.env --profile cluster --profile flink-event --profile report" "${cluster_env[@]}" --profile flink-event --profile report
check_config "--profile single --profile report --profile monitoring" --profile single --profile report --profile monitoring
# engine clusters: alone, and beside the platform
check_config "--profile spark" --profile spark
expect_services "spark" "spark-master spark-worker-1 spark-worker-2" --profile spark
check_config "--profile flink" --profile flink
expect_services "flink" "flink-jobmanager flink-taskmanager" --profile flink
check_config "--profile single --profile spark --profile flink" --profile single --profile spark --profile flink
check_config "--profile '*'" --profile '*'

# --- Dockerfile ----------------------------------------------------------------
dockerfile="$root/deploy/docker/Dockerfile"
missing=""
while read -r mod; do
  mod=${mod#./}
  grep -q "^COPY ${mod}/go\.\* ${mod}/\$" "$dockerfile" || missing+=" $mod"
done < <(sed -n '/^use[[:space:]]*(/,/)/{/^[[:space:]]*\.\//p}; s/^use[[:space:]]\{1,\}\(\.\/[^[:space:]]*\)/\1/p' "$root/go.work" | tr -d '[:blank:]')
[ -z "$missing" ] || fail "Dockerfile copies every go.mod of go.work" "missing: COPY <module>/go.* <module>/ for$missing"
grep -q '^COPY go.work go.work.sum ./$' "$dockerfile" || fail "Dockerfile copies go.work and go.work.sum"
ok "Dockerfile copies go.work, go.work.sum and every module's go.mod"

hc="$root/deploy/docker/healthcheck.go"
[ -z "$(gofmt -l "$hc")" ] || fail "gofmt deploy/docker/healthcheck.go" "$(gofmt -d "$hc")"
if ! out=$(cd "$root/deploy/docker" && GOWORK=off GOFLAGS="" go vet healthcheck.go 2>&1); then
  fail "go vet deploy/docker/healthcheck.go" "$out"
fi
ok "deploy/docker/healthcheck.go (gofmt, go vet)"

# --- Kubernetes ------------------------------------------------------------------
kustomize=()
if [ -z "${BOONTADATA_KUSTOMIZE_BUILD:-}" ] && command -v kubectl >/dev/null && kubectl kustomize --help >/dev/null 2>&1; then
  kustomize=(kubectl kustomize)
elif [ -z "${BOONTADATA_KUSTOMIZE_BUILD:-}" ] && command -v kustomize >/dev/null; then
  kustomize=(kustomize build)
else
  bin="$tools/kustomize-$KUSTOMIZE_VERSION"
  if [ ! -x "$bin" ]; then
    note "building kustomize $KUSTOMIZE_VERSION from the Go module proxy (first run only)"
    go_build_module "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION" . "$bin"
  fi
  kustomize=("$bin" build)
fi

for dir in deploy/k8s deploy/k8s/overlays/local deploy/k8s/jobs/scenario deploy/k8s/jobs/report; do
  if ! out=$("${kustomize[@]}" "$root/$dir" 2>&1 >/dev/null); then
    fail "kustomize $dir" "$out"
  fi
  rendered=$("${kustomize[@]}" "$root/$dir" 2>/dev/null)
  # every container has resources, and every long-running one has probes
  if [ "$dir" != deploy/k8s/jobs/report ] && [ "$dir" != deploy/k8s/jobs/scenario ]; then
    n_deploy=$(grep -c '^kind: Deployment$' <<<"$rendered" || true)
    n_live=$(grep -c 'livenessProbe:' <<<"$rendered" || true)
    n_ready=$(grep -c 'readinessProbe:' <<<"$rendered" || true)
    if [ "$n_live" -lt "$n_deploy" ] || [ "$n_ready" -lt "$n_deploy" ]; then
      fail "kustomize $dir: probes" "$n_deploy Deployments, $n_live liveness and $n_ready readiness probes"
    fi
  fi
  n_img=$(grep -c '^ *image: ' <<<"$rendered" || true)
  n_res=$(grep -c '^ *resources:$' <<<"$rendered" || true)
  [ "$n_res" -ge "$n_img" ] || fail "kustomize $dir: resources" "$n_img containers, $n_res with resources"
  ok "kustomize $dir"
done

# auth: on in the base (tokens from the Secret boontadata-auth, no allow setting),
# off on purpose in the local overlay
rendered=$("${kustomize[@]}" "$root/deploy/k8s" 2>/dev/null)
for want in BOONTADATA_INGEST_AUTH_TOKEN BOONTADATA_API_TOKEN; do
  grep -q "name: $want\$" <<<"$rendered" || fail "kustomize deploy/k8s: auth" "$want is not set"
done
[ "$(grep -c 'name: boontadata-auth$' <<<"$rendered")" -ge 2 ] || fail "kustomize deploy/k8s: auth" "tokens not from the Secret boontadata-auth"
! grep -q 'ALLOW_NO_AUTH' <<<"$rendered" || fail "kustomize deploy/k8s: auth" "the base must not run open"
rendered=$("${kustomize[@]}" "$root/deploy/k8s/overlays/local" 2>/dev/null)
for want in BOONTADATA_INGEST_ALLOW_NO_AUTH BOONTADATA_MASTER_ALLOW_NO_AUTH; do
  grep -q "$want: \"true\"" <<<"$rendered" || fail "kustomize deploy/k8s/overlays/local: auth" "$want is not true"
done
ok "kustomize: auth on in the base (Secret boontadata-auth), off on purpose in overlays/local"

# --- monitoring files -----------------------------------------------------------
if command -v python3 >/dev/null; then
  for f in "$root"/deploy/grafana/*.json; do
    [ -e "$f" ] || continue
    python3 -m json.tool "$f" >/dev/null 2>&1 || fail "json ${f#"$root"/}" "$(python3 -m json.tool "$f" 2>&1 | tail -n 3)"
  done
  ok "deploy/grafana/*.json parse"
fi
if command -v yq >/dev/null; then
  for f in "$root"/deploy/compose/*.yml; do
    yq '.' "$f" >/dev/null 2>&1 || fail "yaml ${f#"$root"/}" "$(yq '.' "$f" 2>&1 | tail -n 3)"
  done
  ok "deploy/compose/*.yml parse"
fi
