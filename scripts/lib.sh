# shellcheck shell=bash
# Shared helpers of the project's scripts. Source it; it defines functions only.

# repo_root prints the repository root, wherever the caller runs from.
repo_root() {
  cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd
}

# step prints a visible heading for a stage of a long script.
step() {
  printf '\n==> %s\n' "$*"
}

die() {
  printf '%s: %s\n' "${0##*/}" "$*" >&2
  exit 1
}

# go_modules prints the directory of every module of the workspace.
go_modules() {
  (cd "$(repo_root)" && go list -m -f '{{.Dir}}')
}
