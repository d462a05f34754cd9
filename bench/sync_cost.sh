#!/usr/bin/env bash
# How each synchronization protocol's cost grows with the node count
# (docs/benchmarks.md, "Optimistic synchronization"): scenarios/phold-bench.yaml
# at one lookahead on 1, 2, 4, 8 and 16 nodes of this machine, over shm and
# tcp, conservative and optimistic. Past 2 nodes the nodes share 2 cores, so
# the figures are costs, not speed-ups: the run loop's wall time per
# synchronization step (a conservative window, an optimistic GVT round), and
# node-microseconds (nodes x loop seconds) per committed event and per event
# that crossed nodes. REPS runs per cell in a rotating order, medians; every
# run must give the same digest.
#   bench/sync_cost.sh [REPS] [LOOKAHEAD] [END_TIME] [NODE_COUNTS]
#   bench/sync_cost.sh 3 0.01 50 "1 2 4 8 16"
set -euo pipefail
cd "$(dirname "$0")/.."
reps="${1:-3}"
lookahead="${2:-0.01}"
end="${3:-50}"
counts="${4:-1 2 4 8 16}"
bin="$(realpath "${MESHSIM_BIN:-build/release/cli/meshsim}")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cells=()
for nodes in $counts; do
  for sync in conservative optimistic; do
    if [ "$nodes" = 1 ]; then
      cells+=("1 auto $sync")
    else
      cells+=("$nodes shm $sync" "$nodes tcp $sync")
    fi
  done
done
sed -E "s/^lookahead:.*/lookahead: $lookahead/; s/^end_time:.*/end_time: $end/" \
  scenarios/phold-bench.yaml >"$work/base.yaml"
: >"$work/runs"
for ((rep = 0; rep < reps; rep++)); do
  for ((k = 0; k < ${#cells[@]}; k++)); do
    read -r nodes transport sync <<<"${cells[$(((k + rep) % ${#cells[@]}))]}"
    sed -E "s/^transport:.*/transport: $transport/" "$work/base.yaml" >"$work/cell.yaml"
    "$bin" run "$work/cell.yaml" --nodes "$nodes" --sync "$sync" --json "$work/out.json" >/dev/null 2>&1
    python3 - "$work/out.json" "$nodes" "$transport" "$sync" >>"$work/runs" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["state"] == "COMPLETED", d.get("reason")
steps = d["optimistic"]["gvt_rounds"] if "optimistic" in d else d["windows"]
loop = max(n["loop_seconds"] for n in d["nodes"])
crossed = sum(link["events"] for link in d["links"])
efficiency = d.get("optimistic", {}).get("efficiency", 1.0)
print(*sys.argv[2:], loop, steps, d["committed_events"], crossed, efficiency, d["digest"])
PY
    echo "rep $((rep + 1)): $nodes $transport $sync: $(tail -1 "$work/runs" | cut -d' ' -f4) s" >&2
  done
done
python3 - "$work/runs" "$lookahead" "$end" <<'PY'
import collections, statistics, sys
runs = collections.defaultdict(list)
digests = set()
for line in open(sys.argv[1]):
    nodes, transport, sync, loop, steps, committed, crossed, efficiency, digest = line.split()
    runs[(int(nodes), transport, sync)].append(
        (float(loop), int(steps), int(committed), int(crossed), float(efficiency)))
    digests.add(digest)
if len(digests) != 1:
    sys.exit(f"runs gave different digests {sorted(digests)}: not the same simulation")
med = lambda values: statistics.median(values)
print(f"phold-bench, lookahead {sys.argv[2]}, end {sys.argv[3]}; medians of {len(next(iter(runs.values())))}")
print("| nodes | transport | protocol | loop s | windows / GVT rounds | us per window or round "
      "| node-us per committed event | events crossing nodes | node-us per crossing event | efficiency |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
for (nodes, transport, sync), cell in sorted(runs.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2])):
    loop = med([c[0] for c in cell])
    steps = med([c[1] for c in cell])
    committed = cell[0][2]
    crossed = med([c[3] for c in cell])
    per_crossing = f"{1e6 * nodes * loop / crossed:.2f}" if crossed else "-"
    print(f"| {nodes} | {'-' if nodes == 1 else transport} | {sync} | {loop:.2f} | {steps:.0f} | "
          f"{1e6 * loop / steps:.1f} | {1e6 * nodes * loop / committed:.3f} | {crossed:.0f} | {per_crossing} | "
          f"{100 * med([c[4] for c in cell]):.1f}% |")
print(f"\ndigest {next(iter(digests))}")
PY
