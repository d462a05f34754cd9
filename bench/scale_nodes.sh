#!/usr/bin/env bash
# What N registered nodes cost the coordinator at rest: its CPU, the
# heartbeats it answers and the bytes they take, for each N given (default
# 64 and 256). The nodes are real `meshsim node` processes, 32 to a
# `meshsim host`; everything runs in a network namespace this script makes,
# so its loopback counters count meshsim's traffic and nothing else.
# Needs root (ip netns). Everything it starts is stopped at exit.
#
#   bench/scale_nodes.sh [SECONDS] [N...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-20}"
shift || true
counts=("$@")
[ $# -eq 0 ] && counts=(64 256)
bin="$(realpath "${MESHSIM_BIN:-build/release/cli/meshsim}")"
ns="meshsim-scale-$$"
work=$(mktemp -d)
pids=()

cleanup() {
  kill -TERM "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

in_ns() { ip netns exec "$ns" "$@"; }
# For `spawn_in_ns ... &`: exec, so $! is the process itself and a signal reaches it.
spawn_in_ns() { exec ip netns exec "$ns" "$@"; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
lo_bytes() { in_ns awk '/^ *lo:/ {print $2}' /proc/net/dev; }
lo_packets() { in_ns awk '/^ *lo:/ {print $3}' /proc/net/dev; }
heartbeats() {
  in_ns bash -c 'exec 3<>/dev/tcp/127.0.0.1/9464; printf "GET /metrics HTTP/1.0\r\n\r\n" >&3; cat <&3' |
    awk '/^meshsim_rpc_requests_total\{.*method="Coordinator.Heartbeat"/ {s += $2} END {print s + 0}'
}
ready_nodes() {
  in_ns "$bin" nodes --coordinator tcp://127.0.0.1:7700 --json 2>/dev/null |
    python3 -c 'import json,sys; print(sum(n["state"] == "READY" for n in json.load(sys.stdin)))' 2>/dev/null || echo 0
}
hz=$(getconf CLK_TCK)

printf '%-6s %12s %14s %14s %12s %14s\n' nodes "coord CPU %" "heartbeats/s" "loopback B/s" "B/heartbeat" "node CPU % each"
for n in "${counts[@]}"; do
  ip netns add "$ns"
  in_ns ip link set lo up
  spawn_in_ns "$bin" coordinator --bind tcp://127.0.0.1:7700 --state-dir "$work/state-$n" --metrics-port 9464 \
    --log-level warn >"$work/coordinator.log" 2>&1 &
  coordinator=$!
  pids=("$coordinator")
  sleep 0.5
  hosts=()
  for ((h = 0; h * 32 < n; h++)); do
    size=$((n - h * 32 < 32 ? n - h * 32 : 32))
    spawn_in_ns "$bin" host --nodes "$size" --name-prefix "h$h" --coordinator tcp://127.0.0.1:7700 \
      --log-level warn >"$work/host-$h.log" 2>&1 &
    hosts+=($!)
    pids+=($!)
  done
  deadline=$((SECONDS + 180))
  until [ "$(ready_nodes)" -ge "$n" ]; do
    ((SECONDS < deadline)) || {
      echo "only $(ready_nodes) of $n nodes registered" >&2
      exit 1
    }
    sleep 1
  done
  sleep 3 # registration settles
  # `ip netns exec` execs the host, so its pid is the host's; its children are the nodes.
  node_pids=$(for h in "${hosts[@]}"; do pgrep -P "$h"; done)
  node_ticks() { for p in $node_pids; do ticks "$p" 2>/dev/null || echo 0; done | awk '{s += $1} END {print s}'; }
  c0=$(ticks "$coordinator")
  n0=$(node_ticks)
  b0=$(lo_bytes)
  h0=$(heartbeats)
  sleep "$seconds"
  c1=$(ticks "$coordinator")
  n1=$(node_ticks)
  b1=$(lo_bytes)
  h1=$(heartbeats)
  node_count=$(wc -w <<<"$node_pids")
  python3 - "$n" "$seconds" "$hz" "$c0" "$c1" "$b0" "$b1" "$h0" "$h1" "$n0" "$n1" "$node_count" <<'EOF'
import sys
n, secs, hz, c0, c1, b0, b1, h0, h1, n0, n1, count = (float(x) for x in sys.argv[1:])
hb = (h1 - h0) / secs
bps = (b1 - b0) / secs
print(f"{int(n):<6} {100 * (c1 - c0) / hz / secs:12.2f} {hb:14.1f} {bps:14.0f} {bps / hb if hb else 0:12.0f} "
      f"{100 * (n1 - n0) / hz / secs / max(count, 1):14.3f}")
EOF
  kill -TERM "${hosts[@]}" 2>/dev/null || true
  for h in "${hosts[@]}"; do wait "$h" 2>/dev/null || true; done
  kill -TERM "$coordinator" 2>/dev/null || true
  wait "$coordinator" 2>/dev/null || true
  pids=()
  ip netns del "$ns"
done
