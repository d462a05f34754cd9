#!/usr/bin/env bash
# End to end on a real multi-host swarm, on one machine: three Docker
# engines, each in a network namespace of its own (tests/e2e/swarm_env.sh),
# joined into one swarm; the image moved into each with `docker save` /
# `docker load` (no registry); deploy/swarm/meshsim.yaml deployed with
# `docker stack deploy`. Then:
#
#   - the cluster's CURVE keys as Swarm secrets; a client without keys is
#     refused;
#   - PHOLD across the three hosts gives the local digest, with shared
#     memory between the nodes of a host and TCP between hosts;
#   - a host's nodes task killed during a job: Swarm starts it again and the
#     job recovers from its checkpoint to the undisturbed digest;
#   - a whole engine killed during a job: the job recovers on the hosts left,
#     same digest; the engine comes back and its task with it;
#   - scaled down and up (hosts, and nodes per host by a rolling update);
#   - `docker stack rm`, and nothing of engine, namespace, bridge, veth or
#     mount left behind.
#
#   tests/e2e/swarm_test.sh [MESHSIM_BINARY]
#
# Prometheus and Grafana (deploy/swarm/monitoring.yaml) are left out: their
# images come from a registry this test may not reach.
set -euo pipefail
cd "$(dirname "$0")/../.."
meshsim="$(realpath "${1:-build/release/cli/meshsim}")"
source tests/e2e/docker_env.sh
source tests/e2e/swarm_env.sh

export MESHSIM_IMAGE="meshsim:e2e"
stack=meshsim
work=$(mktemp -d)
hosts=3

fail() {
  e2e_log "FAIL: $*"
  exit 1
}

cleanup() {
  local status=$?
  if [ $status -ne 0 ] && [ "$SWARM_HOSTS" -gt 0 ]; then
    e2e_log "state of the failed run:"
    swarm_docker 1 service ps --no-trunc "${stack}_nodes" "${stack}_coordinator" >&2 2>/dev/null || true
    swarm_docker 1 service logs --tail 30 "${stack}_coordinator" >&2 2>/dev/null || true
    swarm_docker 1 service logs --tail 30 "${stack}_nodes" >&2 2>/dev/null || true
  fi
  if [ "$SWARM_HOSTS" -gt 0 ]; then
    swarm_docker 1 stack rm "$stack" >/dev/null 2>&1 || true
    swarm_hosts_down
  fi
  local left
  left=$(swarm_leftovers)
  if [ -n "$left" ]; then
    e2e_log "left behind: $left"
    status=1
  fi
  stop_docker_engine_if_started
  rm -rf "$work"
  exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The CLI runs in host 1's namespace and reaches the coordinator through the
# port the stack publishes there (host mode), with the cluster's admin key.
meshsim_c() { swarm_in_host 1 "$meshsim" --keys "$work/keys" "$@" --coordinator tcp://127.0.0.1:7700; }
source tests/e2e/meshsim_checks.sh

# The nodes task container on engine $1 (empty when there is none).
nodes_container() { swarm_docker "$1" ps -q --filter "label=com.docker.swarm.service.name=${stack}_nodes"; }

# Submits scenario $1 on $2 nodes, detached; prints the job id.
submit_detached() {
  meshsim_c submit "$1" --nodes "$2" --detach >"$work/submit.txt" || fail "submit $1 failed"
  awk '/^job [0-9]+/ {print $2; exit}' "$work/submit.txt"
}

# Waits until job $1 has advanced virtual time.
wait_job_running() {
  local deadline=$((SECONDS + 60))
  while ((SECONDS < deadline)); do
    meshsim_c status "$1" --json >"$work/status.json" 2>/dev/null || true
    if [ -s "$work/status.json" ] &&
      [ "$(json "$work/status.json" "d['state'] == 'RUNNING' and d.get('virtual_time', 0) > 0")" = True ]; then
      return 0
    fi
    sleep 0.3
  done
  fail "job $1 did not start running: $(cat "$work/status.json")"
}

# The local reference: scenario $1 on one node with `meshsim run`.
local_digest() {
  "$meshsim" run "$1" --nodes 1 --json "$work/local.json" >/dev/null 2>&1 || fail "local run of $1 failed"
  json "$work/local.json" "d['digest']"
}

# Checks the finished job in $work/status.json: digest $1, and at least $2 restarts.
check_recovered() {
  local digest restarts
  digest=$(json "$work/status.json" "d['digest']")
  restarts=$(json "$work/status.json" "len(d['restarts'])")
  [ "$digest" = "$1" ] || fail "the recovered job's digest $digest differs from the undisturbed $1"
  [ "$restarts" -ge "$2" ] || fail "expected the job to restart from a checkpoint, restarts=$restarts"
}

e2e_log "image $MESHSIM_IMAGE, built on this machine's engine"
ensure_docker_engine || fail "no Docker engine"
ensure_base_image || fail "no debian:bookworm-slim base image"
build_meshsim_image "$MESHSIM_IMAGE" || fail "the image does not build"
docker save -o "$work/image.tar" "$MESHSIM_IMAGE"
stop_docker_engine_if_started

e2e_log "$hosts engines in network namespaces, one swarm"
swarm_hosts_up "$hosts" || fail "the engines did not come up"
[ "$(swarm_docker 1 node ls -q | wc -l)" -eq "$hosts" ] || fail "the swarm does not have $hosts nodes"
loads=()
for i in $(seq 1 "$hosts"); do
  swarm_docker "$i" load -q -i "$work/image.tar" >/dev/null &
  loads+=($!)
done
for pid in "${loads[@]}"; do wait "$pid" || fail "docker load failed"; done
rm -f "$work/image.tar"

e2e_log "the cluster's keys as Swarm secrets (deploy/swarm/keys.sh)"
DOCKER_HOST=$(swarm_socket 1) MESHSIM="$meshsim" bash deploy/swarm/keys.sh "$work/keys" ||
  fail "deploy/swarm/keys.sh failed"

e2e_log "docker stack deploy: coordinator on the manager, a nodes task (2 nodes) on every engine"
MESHSIM_HOST_NODES=2 MESHSIM_HOSTS=$hosts swarm_docker 1 stack deploy --resolve-image never \
  -c deploy/swarm/meshsim.yaml "$stack" >/dev/null || fail "stack deploy failed"
wait_ready_nodes 180 6 exactly || fail "six nodes did not register"
if swarm_in_host 1 "$meshsim" nodes --coordinator tcp://127.0.0.1:7700 >"$work/nokeys.txt" 2>&1; then
  fail "the coordinator answered a client without keys"
fi
grep -q "requires CURVE keys" "$work/nokeys.txt" || fail "no clear refusal without keys: $(cat "$work/nokeys.txt")"
for i in $(seq 1 "$hosts"); do
  [ "$(json "$work/nodes.json" "sum(n['name'].startswith('${SWARM_PREFIX}$i-') for n in d)")" -eq 2 ] ||
    fail "host $i does not have two nodes: $(cat "$work/nodes.json")"
done
for i in $(seq 1 "$hosts"); do
  deadline=$((SECONDS + 60))
  until [ "$(swarm_docker "$i" inspect -f '{{.State.Health.Status}}' "$(nodes_container "$i")")" = healthy ]; do
    ((SECONDS < deadline)) || fail "the nodes task on engine $i is not healthy"
    sleep 1
  done
done

e2e_log "PHOLD on six nodes across three hosts: the local digest, shm within a host, tcp between"
phold_digest=$(local_digest scenarios/phold.yaml)
meshsim_c submit scenarios/phold.yaml --nodes 6 --json "$work/job.json" >/dev/null || fail "the PHOLD job failed"
[ "$(json "$work/job.json" "d['digest']")" = "$phold_digest" ] || fail "digest differs from the local run"
meshsim_c nodes --json >"$work/nodes.json"
python3 - "$work/job.json" "$work/nodes.json" <<'EOF' || fail "transports do not follow the hosts"
import json, sys
job, nodes = (json.load(open(p)) for p in sys.argv[1:3])
host = {n["id"]: n["name"].rsplit("-", 1)[0] for n in nodes}
counts = {"shm": 0, "tcp": 0}
for link in job["links"]:
    same = host[link["from"]] == host[link["to"]]
    want = "shm" if same else "tcp"
    assert link["transport"] == want, f"link {link} between {host[link['from']]} and {host[link['to']]}"
    counts[want] += 1
assert counts == {"shm": 6, "tcp": 24}, counts
print(f"links: {counts['shm']} shm within hosts, {counts['tcp']} tcp between", file=sys.stderr)
EOF

# Long enough to be killed in the middle; a checkpoint every half second.
cat >"$work/long.yaml" <<'EOF'
name: swarm-recovery
model: phold
seed: 13
end_time: 1200
lookahead: 0.1
nodes: 6
checkpoint: { every_seconds: 0.5 }
params: { lps: 8192, start_events: 2, remote_fraction: 0.2, mean: 1.0, payload_bytes: 8 }
EOF
long_digest=$(local_digest "$work/long.yaml")

e2e_log "a host's nodes task killed during a job: Swarm starts it again, the job recovers"
job=$(submit_detached "$work/long.yaml" 6)
wait_job_running "$job"
swarm_docker 3 kill "$(nodes_container 3)" >/dev/null
wait_job_state "$job" 240 COMPLETED || fail "job $job did not recover after its nodes were killed"
check_recovered "$long_digest" 1
wait_ready_nodes 120 6 exactly || fail "Swarm did not bring host 3's nodes back"

e2e_log "a whole engine killed during a job: the job recovers on the hosts left"
job=$(submit_detached "$work/long.yaml" 6)
wait_job_running "$job"
swarm_engine_kill 3
wait_job_state "$job" 240 COMPLETED || fail "job $job did not recover after engine 3 died"
check_recovered "$long_digest" 1
[ "$(json "$work/status.json" "len(d['assigned_nodes'])")" -eq 4 ] ||
  fail "the job should have finished on the four nodes left: $(json "$work/status.json" "d['assigned_nodes']")"
e2e_log "engine 3 back: it rejoins the swarm and runs its nodes task again"
swarm_engine_start 3
swarm_engine_wait 3 || fail "engine 3 did not restart"
wait_ready_nodes 180 6 exactly || fail "host 3's nodes did not come back with its engine"

e2e_log "scaled to two hosts, then three nodes per host (rolling update), then three hosts"
swarm_docker 1 service scale -d "${stack}_nodes=2" >/dev/null
wait_ready_nodes 90 4 exactly || fail "scaling to two hosts did not leave four nodes"
swarm_docker 1 service update -d --env-add MESHSIM_HOST_NODES=3 --update-delay 1s --update-monitor 5s \
  "${stack}_nodes" >/dev/null
wait_ready_nodes 180 6 exactly || fail "the rolling update to three nodes per host did not give six nodes"
swarm_docker 1 service scale -d "${stack}_nodes=3" >/dev/null
wait_ready_nodes 180 9 exactly || fail "scaling back to three hosts did not give nine nodes"
meshsim_c submit scenarios/phold.yaml --nodes 9 --json "$work/job9.json" >/dev/null || fail "the 9-node job failed"
[ "$(json "$work/job9.json" "d['digest']")" = "$phold_digest" ] || fail "the 9-node digest differs from the local run"

e2e_log "docker stack rm: no container or network of the stack left on any engine"
swarm_docker 1 stack rm "$stack" >/dev/null
deadline=$((SECONDS + 60))
for i in $(seq 1 "$hosts"); do
  until [ -z "$(swarm_docker "$i" ps -aq --filter "label=com.docker.stack.namespace=$stack")" ] &&
    [ -z "$(swarm_docker "$i" network ls -q --filter "label=com.docker.stack.namespace=$stack")" ]; do
    ((SECONDS < deadline)) || fail "engine $i still has containers or networks of the stack"
    sleep 1
  done
done
e2e_log "PASS (teardown checks for leftovers)"
