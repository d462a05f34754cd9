#!/usr/bin/env bash
# End to end: docker/compose.yaml brought up for real, with the project's
# own services (coordinator, host A with two nodes sharing IPC and PID
# namespaces, host B with one node, the demo client). Prometheus and Grafana
# are left out: their images come from a registry this test may not reach.
#
#   tests/e2e/compose_test.sh [MESHSIM_BINARY]
#
# The binary (default build/release/cli/meshsim) runs the same scenario
# locally, for the digest to compare, and submits jobs through the
# coordinator's published port. Everything the test creates goes at the end
# and on any failure: `down -v`, and the Docker engine if it started one.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
meshsim="$(realpath "${1:-build/release/cli/meshsim}")"
source tests/e2e/docker_env.sh

project="meshsim-e2e-$$"
export MESHSIM_IMAGE="meshsim:e2e"
export MESHSIM_PORT
MESHSIM_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
coordinator="tcp://127.0.0.1:$MESHSIM_PORT"
work=$(mktemp -d)
services=(coordinator host-a node-a node-b)

fail() {
  e2e_log "FAIL: $*"
  exit 1
}

cleanup() {
  local status=$?
  if [ $status -ne 0 ] && docker info >/dev/null 2>&1; then
    e2e_log "logs of the failed run:"
    cluster logs --no-color --tail=40 >&2 2>/dev/null || true
  fi
  if docker info >/dev/null 2>&1; then
    cluster down -v --remove-orphans >/dev/null 2>&1 || true
    local left
    left=$(docker ps -aq --filter "label=com.docker.compose.project=$project"
      docker network ls -q --filter "label=com.docker.compose.project=$project"
      docker volume ls -q --filter "label=com.docker.compose.project=$project")
    if [ -n "$left" ]; then
      e2e_log "left behind after down -v: $left"
      status=1
    fi
  fi
  stop_docker_engine_if_started
  rm -rf "$work"
  exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Compose on this test's project.
cluster() { compose -p "$project" -f docker/compose.yaml "$@"; }
# With the cluster's admin key, copied out of the keys volume after `up`.
meshsim_c() { "$meshsim" --keys "$work/keys" "$@" --coordinator "$coordinator"; }
# The container of service $1, replica $2 (default 1), by compose's labels:
# v1 and v2 name containers differently.
container() {
  docker ps -aq --filter "label=com.docker.compose.project=$project" \
    --filter "label=com.docker.compose.service=$1" --filter "label=com.docker.compose.container-number=${2:-1}"
}

# json, wait_ready_nodes and wait_job_state
source tests/e2e/meshsim_checks.sh

e2e_log "engine and base image"
ensure_docker_engine || fail "no Docker engine"
ensure_base_image || fail "no debian:bookworm-slim base image"
compose -f docker/compose.yaml config -q || fail "docker/compose.yaml does not validate"

e2e_log "building $MESHSIM_IMAGE (docker/Dockerfile)"
build_meshsim_image "$MESHSIM_IMAGE" || fail "the image does not build"
e2e_log "image size: $(docker image inspect -f '{{.Size}}' "$MESHSIM_IMAGE" | awk '{printf "%.0f MB", $1 / 1e6}')"
[ "$(docker run --rm "$MESHSIM_IMAGE" models >/dev/null && docker image inspect -f '{{.Config.User}}' "$MESHSIM_IMAGE")" = meshsim ] ||
  fail "the image must run meshsim as the non-root user meshsim"

e2e_log "up: ${services[*]}"
cluster up -d --no-build "${services[@]}" >/dev/null 2>&1 ||
  fail "compose up failed"
# The keygen service made the cluster's keys at the first start; a person
# (here, the test) copies them out to use the CLI.
docker cp "$(container coordinator):/etc/meshsim/keys" "$work/keys" || fail "no keys in the coordinator"
chmod 600 "$work"/keys/*.key_secret
wait_ready_nodes 90 3 || fail "three nodes did not register"
e2e_log "keys: a client without them is refused with the reason"
if "$meshsim" nodes --coordinator "$coordinator" >"$work/nokeys.txt" 2>&1; then
  fail "the coordinator answered a client without keys"
fi
grep -q "requires CURVE keys" "$work/nokeys.txt" || fail "no clear refusal without keys: $(cat "$work/nokeys.txt")"
host_a_nodes=$(json "$work/nodes.json" "' '.join(str(n['id']) for n in d if n['name'].startswith('host-a-'))")
[ "$(wc -w <<<"$host_a_nodes")" -eq 2 ] || fail "expected two nodes named host-a-*, got: $host_a_nodes"

e2e_log "every container is healthy and serves /metrics"
for name in coordinator node-a:1 node-a:2 node-b:1; do
  c=$(container ${name/:/ })
  deadline=$((SECONDS + 60))
  until [ "$(docker inspect -f '{{.State.Health.Status}}' "$c")" = healthy ]; do
    ((SECONDS < deadline)) || fail "$c is not healthy: $(docker inspect -f '{{json .State.Health}}' "$c")"
    sleep 1
  done
  ip=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$c")
  curl -sf "http://$ip:9464/metrics" >"$work/metrics.txt" || fail "/metrics does not answer on $c ($ip)"
  grep -q '^meshsim_build_info' "$work/metrics.txt" || fail "$c: no meshsim_build_info"
  if [ "$name" != coordinator ]; then
    grep -q '^meshsim_node_registered 1' "$work/metrics.txt" || fail "$c: not registered"
  fi
done

e2e_log "PHOLD on 3 containerized nodes gives the local digest; shm inside host A, tcp across"
"$meshsim" run scenarios/phold.yaml --nodes 3 --json "$work/local.json" >/dev/null 2>&1 || fail "local run failed"
meshsim_c submit scenarios/phold.yaml --nodes 3 --json "$work/compose.json" >/dev/null ||
  fail "the job did not complete: $(cat "$work/compose.json" 2>/dev/null)"
[ "$(json "$work/compose.json" "d['state']")" = COMPLETED ] || fail "job state: $(json "$work/compose.json" "d['state']")"
local_digest=$(json "$work/local.json" "d['digest']")
compose_digest=$(json "$work/compose.json" "d['digest']")
[ "$local_digest" = "$compose_digest" ] || fail "digest $compose_digest in compose, $local_digest locally"
[ "$(json "$work/local.json" "d['committed_events']")" = "$(json "$work/compose.json" "d['committed_events']")" ] ||
  fail "committed events differ"
links=$(json "$work/compose.json" "' '.join('%d-%d:%s' % (l['from'], l['to'], l['transport']) for l in d['links'])")
for link in $links; do
  from=${link%%-*} rest=${link#*-}
  to=${rest%%:*} transport=${rest#*:}
  expected=tcp
  if grep -qw "$from" <<<"$host_a_nodes" && grep -qw "$to" <<<"$host_a_nodes"; then expected=shm; fi
  [ "$transport" = "$expected" ] || fail "link $from->$to used $transport, expected $expected (host A: $host_a_nodes)"
done
[ "$(wc -w <<<"$links")" -eq 6 ] || fail "expected 6 links, got: $links"
e2e_log "digest $compose_digest; links $links"

e2e_log "the demo client runs a round of the demo scenarios"
cluster run --rm --no-deps -e DEMO_ROUNDS=1 -e DEMO_PAUSE=0 demo-client \
  >"$work/demo.log" 2>&1 || { cat "$work/demo.log" >&2; fail "the demo client failed"; }
[ "$(grep -c 'COMPLETED' "$work/demo.log")" -eq 3 ] || { cat "$work/demo.log" >&2; fail "the demo client's 3 jobs did not all complete"; }

e2e_log "the coordinator container killed mid-job and started again: the job completes with the local digest"
# About 10 s on three nodes; its nodes carry on while the coordinator is
# away and report to the new one, which reads the job back from its volume.
sed 's/^end_time:.*/end_time: 6000.0/' scenarios/phold.yaml >"$work/medium.yaml"
"$meshsim" run "$work/medium.yaml" --nodes 1 --json "$work/medium-local.json" >/dev/null 2>&1 || fail "local run failed"
job=$(meshsim_c submit "$work/medium.yaml" --nodes 3 --detach | awk '{print $2}')
wait_job_state "$job" 60 RUNNING || fail "job $job did not start"
sleep 2
docker kill "$(container coordinator)" >/dev/null
sleep 1
cluster start coordinator >/dev/null 2>&1 || fail "the coordinator did not start again"
wait_job_state "$job" 120 COMPLETED || fail "job $job did not complete after the coordinator restarted"
[ "$(json "$work/status.json" "d['digest']")" = "$(json "$work/medium-local.json" "d['digest']")" ] ||
  fail "job $job: digest $(json "$work/status.json" "d['digest']") after the restart, $(json "$work/medium-local.json" "d['digest']") locally"
wait_ready_nodes 60 3 || fail "the nodes did not come back to the restarted coordinator"

e2e_log "a node container killed mid-job of a job without restarts fails it; the next job succeeds"
printf 'max_restarts: 0\n' | cat <(sed 's/^end_time:.*/end_time: 100000.0/' scenarios/phold.yaml) - >"$work/long.yaml"
job=$(meshsim_c submit "$work/long.yaml" --nodes 3 --detach | awk '{print $2}')
wait_job_state "$job" 60 RUNNING || fail "job $job did not start"
docker kill "$(container node-b)" >/dev/null
wait_job_state "$job" 30 FAILED || fail "job $job did not fail after its node was killed"
reason=$(json "$work/status.json" "d.get('reason', '')")
grep -q "lost: no heartbeat" <<<"$reason" || fail "job $job failed without naming the lost node: $reason"
meshsim_c submit scenarios/phold.yaml --nodes 2 --json "$work/next.json" >/dev/null || fail "the next job failed"
[ "$(json "$work/next.json" "d['digest']")" = "$local_digest" ] || fail "the next job's digest differs"

e2e_log "stopping the cluster ends the job in flight with a reason and leaves no shared memory"
cluster start node-b >/dev/null 2>&1
wait_ready_nodes 60 3 || fail "the restarted node did not register"
job=$(meshsim_c submit "$work/long.yaml" --nodes 3 --detach | awk '{print $2}')
wait_job_state "$job" 60 RUNNING || fail "job $job did not start"
docker exec "$(container host-a)" sh -c 'ls /dev/shm' >"$work/shm-during.txt"
grep -q '\.j'"$job"'a1\.' "$work/shm-during.txt" || fail "no shm rings during the job: $(cat "$work/shm-during.txt")"
cluster stop node-a node-b >/dev/null 2>&1
wait_job_state "$job" 10 FAILED || fail "job $job did not fail when its nodes stopped"
reason=$(json "$work/status.json" "d.get('reason', '')")
grep -q "left: shutting down on SIGTERM" <<<"$reason" || fail "job $job: unexpected reason: $reason"
for name in node-a:1 node-a:2 node-b:1; do
  code=$(docker inspect -f '{{.State.ExitCode}}' "$(container ${name/:/ })")
  [ "$code" = 0 ] || fail "$name exited with $code on SIGTERM"
done
leftover=$(docker exec "$(container host-a)" sh -c 'ls /dev/shm')
[ -z "$leftover" ] || fail "shared memory left in host A after its nodes stopped: $leftover"
cluster stop >/dev/null 2>&1
for name in coordinator host-a; do
  [ "$(docker inspect -f '{{.State.ExitCode}}' "$(container $name)")" = 0 ] || fail "$name did not exit cleanly"
done
e2e_log "PASS"
