#!/usr/bin/env bash
# End-to-end PHOLD event rate: runs a scenario with `meshsim run` REPS times
# per node count and transport, and prints each run and the median
# (committed events over the window loop's wall time, slowest node).
#   bench/phold_rate.sh [SCENARIO] [NODE_COUNTS] [REPS] [TRANSPORTS]
#   bench/phold_rate.sh scenarios/phold-bench.yaml "1 2" 3 "shm tcp"
set -euo pipefail
cd "$(dirname "$0")/.."
scenario="${1:-scenarios/phold-bench.yaml}"
counts="${2:-1 2}"
reps="${3:-3}"
transports="${4:-auto}"
bin="${MESHSIM_BIN:-build/release/cli/meshsim}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for transport in $transports; do
  sed -E "s/^transport:.*/transport: $transport/" "$scenario" > "$work/$transport.yaml"
  for nodes in $counts; do
    rates=()
    for ((i = 1; i <= reps; i++)); do
      read -r rate events seconds digest < <("$bin" run "$work/$transport.yaml" --nodes "$nodes" --json - 2>/dev/null |
        python3 -c 'import json,sys; d=json.load(sys.stdin); print("%.0f %d %.3f %s" % (d["event_rate"], d["committed_events"], d["wall_seconds"], d["digest"]))')
      echo "transport=$transport nodes=$nodes run=$i rate=$rate events=$events seconds=$seconds digest=$digest"
      rates+=("$rate")
    done
    median=$(printf '%s\n' "${rates[@]}" | sort -n | sed -n "$(((reps + 1) / 2))p")
    echo "transport=$transport nodes=$nodes median_rate=$median events/s"
  done
done
