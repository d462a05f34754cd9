#!/usr/bin/env bash
# Time from a node's SIGKILL to its job RUNNING again: a coordinator and
# four nodes (one spare) on loopback, a 3-node phold-bench job with a
# checkpoint every second; ROUNDS times, one node of the job is killed half a
# second after the first checkpoint and `meshsim status` is polled every 50 ms
# until the job runs as attempt 2. Everything it starts is stopped at exit.
#   bench/recovery_time.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"
bin="$(realpath "${MESHSIM_BIN:-build/release/cli/meshsim}")"
work=$(mktemp -d)
pids=()
cleanup() {
  kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
coordinator="tcp://127.0.0.1:$port"
sed 's/^nodes:.*/nodes: 3\ncheckpoint: { every_seconds: 1 }/; s/^end_time:.*/end_time: 4000.0/' \
  scenarios/phold-bench.yaml >"$work/job.yaml"
"$bin" coordinator --bind "$coordinator" --state-dir "$work/state" --node-timeout 1 --heartbeat-interval 0.1 \
  >"$work/coordinator.log" 2>&1 &
pids+=($!)
field() { "$bin" status "$1" --coordinator "$coordinator" --json | python3 -c "import json,sys; d=json.load(sys.stdin); print($2)"; }
spawn_node() {
  "$bin" node --coordinator "$coordinator" --name "$1" >"$work/$1.log" 2>&1 &
  pids+=($!)
  node_pid[$1]=$!
}
declare -A node_pid=()
for i in 1 2 3 4; do spawn_node "n$i"; done
sleep 1
for ((round = 1; round <= rounds; round++)); do
  job=$("$bin" submit "$work/job.yaml" --coordinator "$coordinator" --detach | awk '{print $2}')
  until [ "$(field "$job" 'd["state"] == "RUNNING" and d["checkpoints_written"] >= 1')" = True ]; do sleep 0.1; done
  sleep 0.5
  victim_id=$(field "$job" 'd["assigned_nodes"][1]')
  victim=$("$bin" nodes --coordinator "$coordinator" --json |
    python3 -c "import json,sys; print([n['name'] for n in json.load(sys.stdin) if n['id'] == $victim_id][0])")
  start=$(date +%s.%N)
  kill -9 "${node_pid[$victim]}"
  wait "${node_pid[$victim]}" 2>/dev/null || true
  until [ "$(field "$job" 'd["state"] == "RUNNING" and d["attempt"] == 2')" = True ]; do sleep 0.05; done
  end=$(date +%s.%N)
  echo "round $round: node $victim SIGKILLed; job $job running again after $(python3 -c "print('%.2f' % ($end - $start))") s"
  "$bin" cancel "$job" --coordinator "$coordinator" >/dev/null
  spawn_node "$victim-again-$round"  # the spare for the next round
  sleep 1
done
