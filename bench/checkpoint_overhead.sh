#!/usr/bin/env bash
# Checkpoint cost, measured side by side: phold-bench with checkpoints off,
# at the default interval (30 s) and every second, alternating the variants
# run by run, on 1 and 2 nodes; the median event rate of each and its ratio
# to "off". Every run's digest must be the same (checkpoints change nothing).
#   bench/checkpoint_overhead.sh [REPS] [NODE_COUNTS]
set -euo pipefail
cd "$(dirname "$0")/.."
reps="${1:-5}"
counts="${2:-1 2}"
bin="${MESHSIM_BIN:-build/release/cli/meshsim}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
variants=(off default every-1s)
sed -E 's/^nodes:.*/nodes: 1\ncheckpoint: off/' scenarios/phold-bench.yaml >"$work/off.yaml"
cp scenarios/phold-bench.yaml "$work/default.yaml"
sed -E 's/^nodes:.*/nodes: 1\ncheckpoint: { every_seconds: 1 }/' scenarios/phold-bench.yaml >"$work/every-1s.yaml"
digests=()
for nodes in $counts; do
  declare -A rates=()
  for ((i = 1; i <= reps; i++)); do
    for variant in "${variants[@]}"; do
      read -r rate digest seconds < <("$bin" run "$work/$variant.yaml" --nodes "$nodes" --json - 2>/dev/null |
        python3 -c 'import json,sys; d=json.load(sys.stdin); print("%.0f %s %.3f" % (d["event_rate"], d["digest"], d["wall_seconds"]))')
      echo "nodes=$nodes run=$i checkpoint=$variant rate=$rate seconds=$seconds digest=$digest"
      rates[$variant]+="$rate "
      digests+=("$digest")
    done
  done
  median() { tr ' ' '\n' <<<"$1" | grep . | sort -n | sed -n "$(((reps + 1) / 2))p"; }
  base=$(median "${rates[off]}")
  for variant in "${variants[@]}"; do
    m=$(median "${rates[$variant]}")
    echo "nodes=$nodes checkpoint=$variant median_rate=$m ratio_to_off=$(python3 -c "print('%.3f' % ($m / $base))")"
  done
  unset rates
done
[ "$(printf '%s\n' "${digests[@]}" | sort -u | wc -l)" -eq 1 ] || { echo "digests differ: ${digests[*]}" >&2; exit 1; }
echo "all ${#digests[@]} runs: digest ${digests[0]}"
