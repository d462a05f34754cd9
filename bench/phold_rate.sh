#!/usr/bin/env bash
# End-to-end PHOLD event rate: runs a scenario with `meshsim run` REPS times
# per node count and prints each run and the median (committed events over
# the window loop's wall time, slowest node).
#   bench/phold_rate.sh [SCENARIO] [NODE_COUNTS] [REPS]
#   bench/phold_rate.sh scenarios/phold-bench.yaml "1 2" 3
set -euo pipefail
cd "$(dirname "$0")/.."
scenario="${1:-scenarios/phold-bench.yaml}"
counts="${2:-1 2}"
reps="${3:-3}"
bin="${MESHSIM_BIN:-build/release/cli/meshsim}"
for nodes in $counts; do
  rates=()
  for ((i = 1; i <= reps; i++)); do
    rate=$("$bin" run "$scenario" --nodes "$nodes" --json - 2>/dev/null |
      python3 -c 'import json,sys; d=json.load(sys.stdin); print("%.0f %d %.3f %s" % (d["event_rate"], d["committed_events"], d["wall_seconds"], d["digest"]))')
    echo "nodes=$nodes run=$i rate=$(echo "$rate" | cut -d' ' -f1) events=$(echo "$rate" | cut -d' ' -f2) seconds=$(echo "$rate" | cut -d' ' -f3) digest=$(echo "$rate" | cut -d' ' -f4)"
    rates+=("$(echo "$rate" | cut -d' ' -f1)")
  done
  median=$(printf '%s\n' "${rates[@]}" | sort -n | sed -n "$(((reps + 1) / 2))p")
  echo "nodes=$nodes median_rate=$median events/s"
done
