#!/usr/bin/env bash
# Sets up, builds, and runs the whole test suite (unit, integration, e2e).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
ctest --preset release "$@"
