#!/usr/bin/env bash
# What CURVE costs on the data plane: phold-bench on a coordinator and two
# node processes forced to tcp, without keys and with keys (every frame
# encrypted and authenticated), REPS runs each, alternating which goes
# first so drift in the machine's speed falls on both; medians and ratio.
# The RPC round trip with and without CURVE is in `meshsim bench ipc`
# ("meshsim rpc" and "meshsim rpc+curve").
#   bench/curve_overhead.sh [REPS] [SCENARIO]
set -euo pipefail
cd "$(dirname "$0")/.."
reps="${1:-5}"
scenario="${2:-scenarios/phold-bench.yaml}"
bin="$(realpath "${MESHSIM_BIN:-build/release/cli/meshsim}")"
source bench/ab.sh
"$bin" keygen "$work/keys" >/dev/null
sed 's/^transport:.*//' "$scenario" >"$work/tcp.yaml"
echo "transport: tcp" >>"$work/tcp.yaml"

# Starts a cluster (with keys for keys_on), runs the scenario once on
# two nodes, prints the event rate.
run_once() {
  local keys=() port=$((20000 + RANDOM % 20000))
  [ "$1" = keys_on ] && keys=(--keys "$work/keys")
  pids=()
  "$bin" "${keys[@]}" coordinator --bind "tcp://127.0.0.1:$port" --state-dir "$work/state-$1" >"$work/c.out" 2>&1 &
  pids+=($!)
  for n in 1 2; do
    "$bin" "${keys[@]}" node --coordinator "tcp://127.0.0.1:$port" >"$work/n$n.out" 2>&1 &
    pids+=($!)
  done
  "$bin" "${keys[@]}" submit "$work/tcp.yaml" --nodes 2 --coordinator "tcp://127.0.0.1:$port" --json - 2>/dev/null |
    python3 -c 'import json,sys; print("%.0f" % json.load(sys.stdin)["event_rate"])'
  ab_stop
}

ab_compare "$reps" keys_off keys_on
