#!/bin/bash
# Container health: this process serves /metrics (port $1, default 9464)
# and, for a node, the coordinator knows it (meshsim_node_registered 1).
# With a second argument N (a `meshsim host` of N nodes), ports $1+1..$1+N
# are its nodes', and each must be registered too.
# Uses bash's /dev/tcp, as the image has no HTTP client.
set -eu
port="${1:-9464}"
nodes="${2:-0}"

check() {
  local body
  exec 3<>"/dev/tcp/127.0.0.1/$1"
  printf 'GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
  body=$(cat <&3)
  exec 3<&-
  grep -q '^meshsim_build_info' <<<"$body"
  if grep -q '^meshsim_node_registered' <<<"$body"; then
    grep -q '^meshsim_node_registered 1' <<<"$body"
  fi
}

check "$port"
for i in $(seq 1 "$nodes"); do check $((port + i)); done
