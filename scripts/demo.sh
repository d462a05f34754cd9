#!/usr/bin/env bash
# Sets up, builds, and runs the main job: a local 4-node epidemic simulation
# that prints susceptible/exposed/infectious/recovered persons per day.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec build/release/cli/meshsim run scenarios/epidemic.yaml --nodes 4 "$@"
