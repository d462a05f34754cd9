#!/usr/bin/env bash
# Sets up, builds, and runs the whole test suite (unit, integration, e2e:
# the e2e compose test also needs Docker, installed here).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/install-packages.sh e2e
ctest --preset release "$@"
