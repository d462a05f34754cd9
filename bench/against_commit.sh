#!/usr/bin/env bash
# This tree's meshsim against another commit's on one scenario: BASE is
# built in a scratch worktree with the same release preset, then
# `meshsim run SCENARIO --nodes NODES` runs REPS times with each binary,
# alternating which goes first so drift in the machine's speed falls on
# both; medians and ratio (bench/ab.sh). Each run's digest must be the same
# for both binaries, or the comparison stops.
#   bench/against_commit.sh BASE [REPS] [SCENARIO] [NODES]
# MESHSIM_BASE_BIN=path uses BASE's binary built before.
set -euo pipefail
cd "$(dirname "$0")/.."
base="$1"
reps="${2:-3}"
scenario="${3:-scenarios/phold-bench.yaml}"
nodes="${4:-1}"
bin="$(realpath "${MESHSIM_BIN:-build/release/cli/meshsim}")"
source bench/ab.sh
base_bin="${MESHSIM_BASE_BIN:-}"  # BASE's binary, already built: skips the build
if [ -z "$base_bin" ]; then
  git worktree add --detach "$work/base" "$base" >/dev/null 2>&1
  trap 'ab_stop; git worktree remove --force "$work/base" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
  echo "building $(git rev-parse --short "$base") (base) in $work/base" >&2
  (cd "$work/base" && cmake --preset release -DMESHSIM_BUILD_TESTS=OFF -DMESHSIM_BUILD_PYTHON_CLIENT=OFF >/dev/null &&
    cmake --build --preset release --target meshsim >/dev/null)
  base_bin="$work/base/build/release/cli/meshsim"
fi
echo "$scenario on $nodes node(s): base $(git rev-parse --short "$base") against this tree" >&2

run_once() {
  local b="$bin"
  [ "$1" = base ] && b="$base_bin"
  ab_meshsim_rate "$1" "$b" "$scenario" "$nodes"
}

ab_compare "$reps" base this
