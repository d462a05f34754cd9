#!/usr/bin/env bash
# What the model SDK costs PHOLD: phold-bench on one node (`meshsim run`),
# the binary of this tree against the binary of BASE (default: the commit
# before the models moved onto include/meshsim/), REPS runs each,
# alternating which goes first; medians and ratio. BASE is built in a
# scratch worktree with the same release preset.
#   bench/sdk_overhead.sh [REPS] [BASE]
set -euo pipefail
cd "$(dirname "$0")/.."
reps="${1:-3}"
base="${2:-$(git log --diff-filter=A --format=%H -- include/meshsim/model.h | tail -1)^}"
bin="$(realpath "${MESHSIM_BIN:-build/release/cli/meshsim}")"
source bench/ab.sh
git worktree add --detach "$work/base" "$base" >/dev/null 2>&1
trap 'ab_stop; git worktree remove --force "$work/base" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
echo "building $(git rev-parse --short "$base") (base) in $work/base" >&2
(cd "$work/base" && cmake --preset release -DMESHSIM_BUILD_TESTS=OFF -DMESHSIM_BUILD_PYTHON_CLIENT=OFF >/dev/null &&
  cmake --build --preset release --target meshsim >/dev/null)
base_bin="$work/base/build/release/cli/meshsim"

run_once() {
  local b="$bin"
  [ "$1" = base ] && b="$base_bin"
  "$b" run scenarios/phold-bench.yaml --nodes 1 --json - 2>/dev/null |
    python3 -c 'import json,sys; print("%.0f" % json.load(sys.stdin)["event_rate"])'
}

ab_compare "$reps" base sdk
