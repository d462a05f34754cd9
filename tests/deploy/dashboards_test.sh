#!/usr/bin/env bash
# The Grafana dashboards are built from typed code (deploy/grafana/
# dashboards-src/dashboards.ts, Grafana's Foundation SDK): the committed JSON must be
# exactly what the code writes, and the types must bite: a copy of the source
# that sets a panel option Grafana does not have, or a legend mode it does
# not know, must fail to compile. (The panels' queries are checked against a
# real Prometheus by metrics_test.)
#   tests/deploy/dashboards_test.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
log() { echo "[dashboards $(date +%H:%M:%S)] $*" >&2; }
fail() {
  log "FAIL: $*"
  exit 1
}
bash scripts/install-packages.sh deploy
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

mkdir "$work/out"
deploy/grafana/dashboards-src/generate.sh "$work/out" || fail "generate.sh failed"
for file in cluster.json simulation.json; do
  cmp -s "$work/out/$file" "deploy/grafana/dashboards/$file" ||
    fail "deploy/grafana/dashboards/$file is not what dashboards-src/dashboards.ts writes: run deploy/grafana/dashboards-src/generate.sh and commit ($(diff "$work/out/$file" "deploy/grafana/dashboards/$file" | head -5))"
done
log "the committed dashboards are what dashboards-src/dashboards.ts writes"

# refused NAME SED_EXPRESSION EXPECTED_ERROR: a broken copy must not compile.
refused() {
  local copy="$work/$1"
  cp -r deploy/grafana/dashboards-src "$copy"
  sed -i "$2" "$copy/dashboards.ts"
  cmp -s "$copy/dashboards.ts" deploy/grafana/dashboards-src/dashboards.ts && fail "$1: the edit changed nothing"
  mkdir "$work/$1-out"
  if "$copy/generate.sh" "$work/$1-out" >"$work/$1.log" 2>&1; then fail "$1: a broken dashboard compiled"; fi
  grep -q "$3" "$work/$1.log" || fail "$1: not refused for its reason: $(head -3 "$work/$1.log")"
  log "refused as it should be: $1"
}
refused unknown-panel-option 's/\.unit(panel\.unit)/.units(panel.unit)/' "Property 'units' does not exist"
refused unknown-legend-mode 's/common\.LegendDisplayMode\.List/common.LegendDisplayMode.Lines/' "Property 'Lines' does not exist"
refused unit-not-a-string 's/\.unit(panel\.unit)/.unit(8)/' "not assignable to parameter of type 'string'"
log "PASS"
