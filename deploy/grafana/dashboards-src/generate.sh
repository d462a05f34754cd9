#!/usr/bin/env bash
# Writes the Grafana dashboards (../dashboards/cluster.json and
# simulation.json) from their typed source, dashboards.ts: installs the
# pinned SDK and TypeScript (package-lock.json) in a scratch directory,
# compiles (a panel option Grafana does not know is a compile error) and
# runs it. The source lives apart from ../dashboards, which Grafana loads
# whole.
#   deploy/grafana/dashboards-src/generate.sh [OUT_DIR]   (default: ../dashboards)
# tests/deploy/dashboards_test.sh runs it into a scratch directory and
# compares with the committed files.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$(realpath "${1:-$here/../dashboards}")"
command -v npm >/dev/null || { echo "generate.sh: needs Node.js and npm (scripts/install-packages.sh --deploy)" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp "$here/dashboards.ts" "$here/package.json" "$here/package-lock.json" "$here/tsconfig.json" "$work/"
cd "$work"
npm ci --no-audit --no-fund --loglevel=error >/dev/null || { echo "generate.sh: npm ci failed" >&2; exit 1; }
./node_modules/.bin/tsc -p tsconfig.json
node build/dashboards.js "$out"
echo "wrote $(cd "$out" && ls cluster.json simulation.json | tr '\n' ' ')to $out" >&2
