#!/usr/bin/env bash
# Makes the cluster's CURVE keys (docs/security.md) and stores them as the
# Secret meshsim-keys in namespace meshsim, once, before the first
# `kubectl apply -k deploy/kubernetes/base`:
#
#   deploy/kubernetes/keys.sh [KEYS_DIR]      (default ./meshsim-keys)
#
# The key directory stays with you: its admin and viewer pairs are how you
# use the CLI. Pods copy their share of the Secret into an in-memory
# directory only their user can read (an init container).
set -euo pipefail
dir="${1:-meshsim-keys}"
if [ ! -e "$dir/coordinator.key_secret" ]; then "${MESHSIM:-meshsim}" keygen "$dir" >/dev/null; fi
kubectl get namespace meshsim >/dev/null 2>&1 || kubectl create namespace meshsim
# Secret keys cannot hold '/': the lists are flattened here and put back in
# place by the pods' volume items.
kubectl -n meshsim create secret generic meshsim-keys \
  --from-file=coordinator.key="$dir/coordinator.key" \
  --from-file=coordinator.key_secret="$dir/coordinator.key_secret" \
  --from-file=node.key_secret="$dir/node.key_secret" \
  --from-file=nodes.node.key="$dir/nodes/node.key" \
  --from-file=admins.admin.key="$dir/admins/admin.key" \
  --from-file=viewers.viewer.key="$dir/viewers/viewer.key"
echo "keys in $dir; Secret meshsim/meshsim-keys created" >&2
