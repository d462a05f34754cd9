#!/usr/bin/env bash
# What the model SDK costs PHOLD: phold-bench on one node, this tree's binary
# against the commit before the models moved onto include/meshsim/.
#   bench/sdk_overhead.sh [REPS]
set -euo pipefail
cd "$(dirname "$0")/.."
exec bash bench/against_commit.sh "$(git log --diff-filter=A --format=%H -- include/meshsim/model.h | tail -1)^" \
  "${1:-3}" scenarios/phold-bench.yaml 1
