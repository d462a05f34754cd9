#!/usr/bin/env bash
# The two synchronization protocols side by side (docs/benchmarks.md,
# "Optimistic synchronization"): scenarios/phold-bench.yaml at lookahead
# 0.1 (end 1000), 0.01 (end 200) and 0.001 (end 200), each on 1 node, 2 shm
# and 2 tcp nodes, conservative and optimistic. `meshsim run` REPS times for
# each cell, the cells of one lookahead in a rotating order so that drift in
# the machine's speed falls on all of them; every run of a lookahead must
# give the same digest. Prints a markdown table of median event rates, each
# against the faster one-node mode, and the optimistic runs' efficiency.
#   bench/sync_matrix.sh [REPS] [LOOKAHEADS]
#   bench/sync_matrix.sh 3 "0.1:1000 0.01:200 0.001:200"
set -euo pipefail
cd "$(dirname "$0")/.."
reps="${1:-3}"
lookaheads="${2:-0.1:1000 0.01:200 0.001:200}"
bin="$(realpath "${MESHSIM_BIN:-build/release/cli/meshsim}")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cells=("1 auto conservative" "1 auto optimistic" "2 shm conservative" "2 shm optimistic"
       "2 tcp conservative" "2 tcp optimistic")
: >"$work/runs"
for pair in $lookaheads; do
  lookahead="${pair%%:*}"
  end="${pair##*:}"
  sed -E "s/^lookahead:.*/lookahead: $lookahead/; s/^end_time:.*/end_time: $end/" \
    scenarios/phold-bench.yaml >"$work/base.yaml"
  for ((rep = 0; rep < reps; rep++)); do
    for ((k = 0; k < ${#cells[@]}; k++)); do
      read -r nodes transport sync <<<"${cells[$(((k + rep) % ${#cells[@]}))]}"
      sed -E "s/^transport:.*/transport: $transport/" "$work/base.yaml" >"$work/cell.yaml"
      "$bin" run "$work/cell.yaml" --nodes "$nodes" --sync "$sync" --json "$work/out.json" >/dev/null 2>&1
      python3 - "$work/out.json" "$lookahead" "$end" "$nodes" "$transport" "$sync" >>"$work/runs" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["state"] == "COMPLETED", d.get("reason")
efficiency = d.get("optimistic", {}).get("efficiency", "")
print(*sys.argv[2:], d["event_rate"], d["digest"], efficiency)
PY
      echo "lookahead $lookahead rep $((rep + 1)): $nodes $transport $sync $(tail -1 "$work/runs" | cut -d' ' -f6)" >&2
    done
  done
done
python3 - "$work/runs" <<'PY'
import collections, statistics, sys
rates = collections.defaultdict(list)
eff = collections.defaultdict(list)
digests = collections.defaultdict(set)
ends = {}
for line in open(sys.argv[1]):
    f = line.split()
    la, end, nodes, transport, sync, rate, digest = f[:7]
    key = (la, f"{nodes} {'node' if nodes == '1' else transport}", sync)
    rates[key].append(float(rate))
    digests[la].add(digest)
    ends[la] = end
    if len(f) > 7:
        eff[key].append(float(f[7]))
for la, seen in digests.items():
    if len(seen) != 1:
        sys.exit(f"lookahead {la}: runs gave different digests {sorted(seen)}: not the same simulation")
print("| lookahead (end) | nodes | conservative M events/s | optimistic M events/s | optimistic / conservative | vs one node (cons / opt) | efficiency |")
print("| --- | --- | --- | --- | --- | --- | --- |")
for la in digests:
    one = max(statistics.median(rates[(la, "1 node", s)]) for s in ("conservative", "optimistic"))
    for where in ("1 node", "2 shm", "2 tcp"):
        c = statistics.median(rates[(la, where, "conservative")])
        o = statistics.median(rates[(la, where, "optimistic")])
        e = statistics.median(eff[(la, where, "optimistic")]) if eff[(la, where, "optimistic")] else float("nan")
        print(f"| {la} ({ends[la]}) | {where} | {c / 1e6:.2f} | {o / 1e6:.2f} | {o / c:.2f}x | "
              f"{c / one:.2f}x / {o / one:.2f}x | {100 * e:.1f}% |")
print(f"\nmedians of {len(rates[next(iter(rates))])}; digest per lookahead: " +
      ", ".join(f"{la} {next(iter(d))}" for la, d in digests.items()))
PY
