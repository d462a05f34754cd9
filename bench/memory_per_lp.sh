#!/usr/bin/env bash
# Memory per LP and per pending event (docs/benchmarks.md, "Memory"): PHOLD
# with LPS LPs and 1 or 4 start events each (end time 2, no payload), on one
# node, REPS runs each, medians of what the job's result reports
# (`meshsim run --json`, the "memory" block: the node's peak resident memory
# and the kernel's parts). Per LP: the LPs' state blocks and records over
# the LP count; per pending event: the queue's bytes over the events
# pending after init, and the difference in peak RSS between 4 and 1 start
# events over the difference in pending events. Every run of one cell must
# give the same digest. Checkpoints are off: a part held while it is sent
# would be counted in the peak.
#   bench/memory_per_lp.sh [REPS] [LP_COUNTS]
#   bench/memory_per_lp.sh 3 "100000 1000000 10000000"
set -euo pipefail
cd "$(dirname "$0")/.."
reps="${1:-3}"
counts="${2:-100000 1000000 10000000}"
bin="$(realpath "${MESHSIM_BIN:-build/release/cli/meshsim}")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

: >"$work/runs"
for ((rep = 0; rep < reps; rep++)); do
  for lps in $counts; do
    for start in 1 4; do
      cat >"$work/cell.yaml" <<YAML
name: memory-$lps-$start
model: phold
seed: 1
end_time: 2
lookahead: 0.5
checkpoint: off
params:
  lps: $lps
  start_events: $start
  payload_bytes: 0
YAML
      "$bin" run "$work/cell.yaml" --nodes 1 --json "$work/out.json" >/dev/null 2>&1
      python3 - "$work/out.json" "$lps" "$start" >>"$work/runs" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["state"] == "COMPLETED", d.get("reason")
m = d["memory"]
# Events pending after init: every LP's start events (the run is short).
print(*sys.argv[2:], m["peak_rss_bytes"], m["lp_state_bytes"] + m["lp_record_bytes"],
      m["pending_event_bytes"], d["digest"])
PY
      echo "rep $((rep + 1)): $lps LPs x $start: peak $(tail -1 "$work/runs" | cut -d' ' -f3) B" >&2
    done
  done
done
python3 - "$work/runs" <<'PY'
import collections, statistics, sys
cells = collections.defaultdict(list)
digests = collections.defaultdict(set)
for line in open(sys.argv[1]):
    lps, start, peak, lp_bytes, queue, digest = line.split()
    cells[(int(lps), int(start))].append((int(peak), int(lp_bytes), int(queue)))
    digests[(lps, start)].add(digest)
for key, seen in digests.items():
    if len(seen) != 1:
        sys.exit(f"{key}: runs gave different digests {sorted(seen)}")
med = lambda cell, i: statistics.median(c[i] for c in cell)
print(f"medians of {len(next(iter(cells.values())))}; one node")
print("| LPs | start events | peak RSS MB | kernel LP bytes per LP | queue bytes per pending event "
      "| peak RSS per LP | peak RSS per extra pending event (4 vs 1) |")
print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for lps in sorted({k[0] for k in cells}):
    for start in (1, 4):
        cell = cells[(lps, start)]
        extra = "-"
        if start == 4:
            one = cells[(lps, 1)]
            extra = f"{(med(cell, 0) - med(one, 0)) / (3 * lps):.1f}"
        print(f"| {lps:,} | {start} | {med(cell, 0) / 1e6:.1f} | {med(cell, 1) / lps:.1f} | "
              f"{med(cell, 2) / (start * lps):.1f} | {med(cell, 0) / lps:.1f} | {extra} |")
PY
