#!/bin/bash
# Container health: this process serves /metrics (port $1, default 9464)
# and, for a node, the coordinator knows it (meshsim_node_registered 1).
# Uses bash's /dev/tcp, as the image has no HTTP client.
set -eu
port="${1:-9464}"
exec 3<>"/dev/tcp/127.0.0.1/$port"
printf 'GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
body=$(cat <&3)
grep -q '^meshsim_build_info' <<<"$body"
if grep -q '^meshsim_node_registered' <<<"$body"; then
  grep -q '^meshsim_node_registered 1' <<<"$body"
fi
