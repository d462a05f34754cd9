#!/usr/bin/env bash
# One node against NODES nodes on one scenario and transport, the way the
# multi-node goals are stated: `meshsim run` alternating between the two
# (bench/ab.sh), REPS times each, medians and the ratio. Every run must give
# the same digest, or the comparison stops.
#   bench/node_scaling.sh SCENARIO [TRANSPORT] [REPS] [NODES] [END_TIME] [LOOKAHEAD]
#   bench/node_scaling.sh scenarios/phold-bench.yaml shm 5 2 20 0.001
set -euo pipefail
cd "$(dirname "$0")/.."
scenario="$1"
transport="${2:-auto}"
reps="${3:-5}"
nodes="${4:-2}"
end_time="${5:-}"
lookahead="${6:-}"
bin="$(realpath "${MESHSIM_BIN:-build/release/cli/meshsim}")"
source bench/ab.sh
sed -E "s/^transport:.*/transport: $transport/" "$scenario" >"$work/scenario.yaml"
[ -n "$end_time" ] && sed -i -E "s/^end_time:.*/end_time: $end_time/" "$work/scenario.yaml"
[ -n "$lookahead" ] && sed -i -E "s/^lookahead:.*/lookahead: $lookahead/" "$work/scenario.yaml"
echo "$scenario (transport $transport${end_time:+, end_time $end_time}${lookahead:+, lookahead $lookahead}): 1 node against $nodes" >&2

run_once() {
  local count=1
  [ "$1" = many ] && count="$nodes"
  ab_meshsim_rate "$1" "$bin" "$work/scenario.yaml" "$count"
}

ab_compare "$reps" one many
