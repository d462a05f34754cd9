#!/bin/bash
# The compose demo's client: waits for the coordinator, then submits the
# demo scenarios in turn so the dashboards have something to show.
#   DEMO_NODES   nodes per job (default 3: host A's two and host B's one)
#   DEMO_ROUNDS  rounds before it stops by itself (default 500)
#   DEMO_PAUSE   seconds between jobs (default 5)
# MESHSIM_COORDINATOR names the coordinator, as for every meshsim command.
set -u
nodes="${DEMO_NODES:-3}"
rounds="${DEMO_ROUNDS:-500}"
pause="${DEMO_PAUSE:-5}"
scenarios=(scenarios/phold.yaml scenarios/epidemic.yaml scenarios/load/phold-remote-heavy.yaml)

trap 'echo "demo client: stopping"; exit 0' TERM INT

until meshsim nodes >/dev/null 2>&1; do
  echo "demo client: waiting for the coordinator at ${MESHSIM_COORDINATOR:-?}"
  sleep 2 & wait $!
done

for ((round = 1; round <= rounds; round++)); do
  for scenario in "${scenarios[@]}"; do
    echo "demo client: round $round/$rounds: $scenario on $nodes nodes"
    # In the background so a SIGTERM is handled at once.
    meshsim submit "$scenario" --nodes "$nodes" & wait $!
    sleep "$pause" & wait $!
  done
done
echo "demo client: $rounds rounds done"
