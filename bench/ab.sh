# Sourced by the A/B benchmarks (metrics_overhead.sh, curve_overhead.sh).
# Sourcing makes $work (a scratch directory) and pids=() (what run_once
# starts), both cleaned up at exit; ab_stop stops the processes in pids.
# The caller defines run_once VARIANT, which runs once and prints an event
# rate (ab_meshsim_rate does it for `meshsim run`); ab_compare REPS A B runs
# A and B REPS times each, alternating which goes first so drift in the
# machine's speed falls on both, and prints each pair, the ranges, the
# medians and B / A.
work=$(mktemp -d)
pids=()
ab_stop() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  pids=()
}
trap 'ab_stop; rm -rf "$work"' EXIT

# Runs `BIN run SCENARIO --nodes NODES` and prints its event rate. Every run
# of a comparison must give the first run's digest: both sides simulate the
# same thing, or the comparison stops (LABEL names the side in the message).
ab_meshsim_rate() {  # LABEL BIN SCENARIO NODES
  local rate digest
  "$2" run "$3" --nodes "$4" --json - 2>/dev/null |
    python3 -c 'import json,sys; d=json.load(sys.stdin); print("%.0f %s" % (d["event_rate"], d["digest"]))' >"$work/last"
  read -r rate digest <"$work/last"
  [ -f "$work/digest" ] || echo "$digest" >"$work/digest"
  if [ "$digest" != "$(cat "$work/digest")" ]; then
    echo "$1 gave digest $digest, the first run $(cat "$work/digest"): not the same simulation" >&2
    exit 1
  fi
  echo "$rate"
}

ab_compare() {
  local reps=$1 a=$2 b=$3 i
  local -a as=() bs=()
  for ((i = 1; i <= reps; i++)); do
    if ((i % 2)); then
      as+=("$(run_once "$a")")
      bs+=("$(run_once "$b")")
    else
      bs+=("$(run_once "$b")")
      as+=("$(run_once "$a")")
    fi
    echo "run=$i $a=${as[-1]} $b=${bs[-1]} events/s"
  done
  python3 - "$a" "$b" "${as[*]}" "${bs[*]}" <<'PY'
import statistics, sys
a, b = sys.argv[1], sys.argv[2]
xs = [float(x) for x in sys.argv[3].split()]
ys = [float(y) for y in sys.argv[4].split()]
print(f"range {a}={min(xs):.0f}-{max(xs):.0f} {b}={min(ys):.0f}-{max(ys):.0f}")
print(f"median {a}={statistics.median(xs):.0f} {b}={statistics.median(ys):.0f} "
      f"ratio={statistics.median(ys) / statistics.median(xs):.3f}")
PY
}
