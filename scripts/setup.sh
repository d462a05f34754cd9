#!/usr/bin/env bash
# Installs the Debian packages meshsim builds and tests with
# (scripts/install-packages.sh), then configures and builds the release
# preset. Safe to run again: it installs only what is missing and rebuilds
# only what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-packages.sh build test

preset="${MESHSIM_PRESET:-release}"
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset"
