#!/usr/bin/env bash
# Makes the cluster's CURVE keys (docs/security.md) and stores them as Swarm
# secrets, once, before the first `docker stack deploy`:
#
#   deploy/swarm/keys.sh [KEYS_DIR]      (default ./meshsim-keys)
#
# The key directory stays with you: its admin and viewer pairs are how you
# use the CLI (`meshsim --keys meshsim-keys submit ...`); the secrets carry
# only what each service needs. Runs `meshsim keygen` from $MESHSIM (default
# `meshsim` on the PATH) or, without it, from the image $MESHSIM_IMAGE.
set -euo pipefail
dir="${1:-meshsim-keys}"
if [ -e "$dir/coordinator.key_secret" ]; then
  echo "$dir has keys already; using them" >&2
elif command -v "${MESHSIM:-meshsim}" >/dev/null; then
  "${MESHSIM:-meshsim}" keygen "$dir" >/dev/null
else
  mkdir -p "$dir"
  docker run --rm --user "$(id -u):$(id -g)" -v "$(realpath "$dir"):/keys" "${MESHSIM_IMAGE:-meshsim:latest}" \
    keygen /keys >/dev/null
fi
secret() {  # NAME FILE: creates the secret unless it exists
  docker secret inspect "$1" >/dev/null 2>&1 || docker secret create "$1" "$2" >/dev/null
}
secret meshsim-coordinator-key "$dir/coordinator.key"
secret meshsim-coordinator-secret "$dir/coordinator.key_secret"
secret meshsim-node-secret "$dir/node.key_secret"
secret meshsim-nodes-list "$dir/nodes/node.key"
secret meshsim-admins-list "$dir/admins/admin.key"
secret meshsim-viewers-list "$dir/viewers/viewer.key"
echo "keys in $dir; Swarm secrets meshsim-* created" >&2
