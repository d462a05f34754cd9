#!/usr/bin/env bash
# Sets up, builds, and runs the main job: a local 4-node PHOLD simulation.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec build/release/cli/meshsim run scenarios/phold.yaml --nodes 4 "$@"
