#!/usr/bin/env bash
# What metrics cost: the same scenario on a coordinator and NODES node
# processes with metrics off and on (served, and scraped every second as
# Prometheus would), REPS runs each, alternating which goes first so drift
# in the machine's speed falls on both; medians and their ratio.
#   bench/metrics_overhead.sh [SCENARIO] [NODES] [REPS]
set -euo pipefail
cd "$(dirname "$0")/.."
scenario="${1:-scenarios/phold-bench.yaml}"
nodes="${2:-1}"
reps="${3:-5}"
bin="${MESHSIM_BIN:-build/release/cli/meshsim}"
source bench/ab.sh

# Starts a cluster, runs the scenario once, prints the event rate.
run_once() {
  local metrics_port=0 port=$((20000 + RANDOM % 20000))
  [ "$1" = metrics_on ] && metrics_port=auto
  pids=()
  "$bin" coordinator --bind "tcp://127.0.0.1:$port" --state-dir "$work/state" --metrics-port "$metrics_port" > "$work/coordinator.out" 2>&1 &
  pids+=($!)
  for ((n = 1; n <= nodes; n++)); do
    "$bin" node --coordinator "tcp://127.0.0.1:$port" --metrics-port "$metrics_port" > "$work/node$n.out" 2>&1 &
    pids+=($!)
  done
  if [ "$metrics_port" = auto ]; then
    sleep 0.5
    urls=$(grep -ho 'metrics=.*' "$work"/*.out | cut -d= -f2)
    # One long-lived scraper fetching every process's /metrics each second
    # (the shipped Prometheus config scrapes every 5 s), so what is
    # measured is serving metrics, not starting a scraper per request.
    python3 - $urls <<'PY' &
import sys, time, urllib.request
while True:
    for url in sys.argv[1:]:
        urllib.request.urlopen(url).read()
    time.sleep(1)
PY
    pids+=($!)
  fi
  "$bin" submit "$scenario" --nodes "$nodes" --coordinator "tcp://127.0.0.1:$port" --json - 2>/dev/null |
    python3 -c 'import json,sys; print("%.0f" % json.load(sys.stdin)["event_rate"])'
  ab_stop
}

ab_compare "$reps" metrics_off metrics_on
