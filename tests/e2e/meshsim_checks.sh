# Sourced by the e2e tests: checks on a running meshsim cluster through its
# CLI. The caller defines meshsim_c (the meshsim command aimed at the
# cluster's coordinator) and $work (a scratch directory).

# A Python expression over the JSON file $1 (bound to d).
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }
# Waits (up to $1 s) until `meshsim nodes` shows $2 READY nodes (at least,
# or exactly with a third argument "exactly"); they are in $work/nodes.json.
wait_ready_nodes() {
  local deadline=$((SECONDS + $1)) compare=-ge
  [ "${3:-}" = exactly ] && compare=-eq
  while ((SECONDS < deadline)); do
    if meshsim_c nodes --json >"$work/nodes.json" 2>/dev/null &&
      [ "$(json "$work/nodes.json" "sum(n['state'] == 'READY' for n in d)")" "$compare" "$2" ]; then
      return 0
    fi
    sleep 1
  done
  cat "$work/nodes.json" >&2 || true
  return 1
}

# Waits (up to $2 s) for job $1 to reach state $3.
wait_job_state() {
  local deadline=$((SECONDS + $2))
  while ((SECONDS < deadline)); do
    meshsim_c status "$1" --json >"$work/status.json" 2>/dev/null || true
    if [ -s "$work/status.json" ] && [ "$(json "$work/status.json" "d['state']")" = "$3" ]; then return 0; fi
    sleep 0.5
  done
  cat "$work/status.json" >&2 || true
  return 1
}

