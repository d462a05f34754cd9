#!/usr/bin/env bash
# What a window costs when it holds almost no work: the exchange and the
# barrier alone, by node count and transport. A PHOLD of 64 LPs with one
# event each runs END_TIME / 0.1 windows on a local cluster (`meshsim bench
# sweep`, median of REPETITIONS); the window loop's wall time (slowest node)
# divided by the windows it ran is the cost of one window.
#
#   bench/window_exchange.sh [NODES] [REPETITIONS] [END_TIME]
#     default: 1,2,4,8,16 nodes, 3 repetitions, end time 100 (about 870
#     windows: a window starts at the earliest pending event, so empty
#     stretches are skipped)
set -euo pipefail
cd "$(dirname "$0")/.."
nodes="${1:-1,2,4,8,16}"
repetitions="${2:-3}"
end_time="${3:-100}"
bin="$(realpath "${MESHSIM_BIN:-build/release/cli/meshsim}")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat >"$work/empty.yaml" <<YAML
name: window-exchange
model: phold
seed: 1
end_time: $end_time
lookahead: 0.1
params: { lps: 64, start_events: 1, remote_fraction: 0.5, mean: 1.0, payload_bytes: 8 }
YAML
"$bin" bench sweep "$work/empty.yaml" --nodes "$nodes" --transports shm,tcp --repetitions "$repetitions" \
  --json "$work/sweep.json" >/dev/null
python3 - "$work/sweep.json" <<'PY'
import json, sys
document = json.load(open(sys.argv[1]))
print(f"{'nodes':>5} {'transport':>9} {'us/window':>10} {'frames/window':>14}")
for p in sorted(document["points"], key=lambda p: (p["transport"], p["nodes"])):
    n = p["nodes"]
    print(f"{n:>5} {p['transport']:>9} {1e6 * p['wall_seconds'] / p['windows']:10.1f} {n * (n - 1):14d}")
PY
