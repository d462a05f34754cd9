#!/usr/bin/env bash
# The Kubernetes manifests (deploy/kubernetes), validated offline: no
# cluster runs here. Each kustomization is rendered with `kubectl kustomize`
# and checked by validate_kubernetes.mjs (the Kubernetes schemas, then the
# invariants meshsim needs). Then broken variants of the rendered manifests
# must be refused, each for its reason, so the check is known to bite.
#
#   tests/deploy/kubernetes_test.sh [WORK_DIR]   (the npm packages go there)
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
work="${1:-build/deploy-checks}"
mkdir -p "$work"
work=$(realpath "$work")

log() { echo "[k8s $(date +%H:%M:%S)] $*" >&2; }
fail() {
  log "FAIL: $*"
  exit 1
}

bash scripts/install-packages.sh deploy
# The validator's npm packages, pinned by the lock file, installed once.
if ! cmp -s tests/deploy/package-lock.json "$work/package-lock.json" || [ ! -d "$work/node_modules" ]; then
  cp tests/deploy/package.json tests/deploy/package-lock.json "$work/"
  (cd "$work" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) || fail "npm ci of the validator failed"
fi
cp tests/deploy/validate_kubernetes.mjs "$work/"
validate() { node "$work/validate_kubernetes.mjs"; }

log "deploy/kubernetes/base"
kubectl kustomize deploy/kubernetes/base >"$work/base.yaml" || fail "kubectl kustomize deploy/kubernetes/base failed"
validate <"$work/base.yaml" || fail "deploy/kubernetes/base does not validate"
log "deploy/kubernetes/prometheus-operator"
if ! kubectl kustomize deploy/kubernetes/prometheus-operator >"$work/prometheus-operator.yaml" 2>"$work/err.txt"; then
  # Debian bookworm's kubectl 1.20 embeds kustomize 2.0, which cannot take
  # a directory in resources; the overlay is the base plus one file.
  log "this kubectl cannot render the overlay ($(head -1 "$work/err.txt")); checking base + servicemonitors.yaml"
  { cat "$work/base.yaml"; echo "---"; cat deploy/kubernetes/prometheus-operator/servicemonitors.yaml; } \
    >"$work/prometheus-operator.yaml"
fi
validate <"$work/prometheus-operator.yaml" || fail "deploy/kubernetes/prometheus-operator does not validate"

# Each broken variant (a sed script on the rendered manifests) must be
# refused with the expected words.
refused() {
  local expect=$1 script=$2
  if sed -e "$script" "$work/prometheus-operator.yaml" | validate >"$work/out.txt"; then
    fail "a broken manifest passed ($script)"
  fi
  grep -q -- "$expect" "$work/out.txt" || fail "refused, but not for '$expect': $(cat "$work/out.txt")"
}
log "broken variants are refused"
refused "medium Memory" 's/medium: Memory/medium: ""/'
refused "must be string" 's/^\( *\)image: meshsim.*/\1image: 42/'
refused "read-only" 's/readOnlyRootFilesystem: true/readOnlyRootFilesystem: false/'
refused "non-root" 's/runAsNonRoot: true/runAsNonRoot: false/'
refused "metrics ports" 's/containerPort: 9466/containerPort: 9470/'
refused "GET /metrics" 's#path: /metrics#path: /healthz#'
refused "enum\|allowed values\|must be equal to one of" 's/podManagementPolicy: Parallel/podManagementPolicy: Sometimes/'
refused "persistent volume claim" 's#mountPath: /var/lib/meshsim#mountPath: /var/lib/other#'
refused "--insecure" 's#- --metrics-host=0.0.0.0#- --insecure#'
refused "MESHSIM_KEYS" 's#value: /etc/meshsim/keys#value: /somewhere/else#'
refused "lacks node.key_secret" 's#path: node.key_secret#path: other.key_secret#'
log "PASS"
