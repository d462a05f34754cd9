#!/usr/bin/env bash
# The Debian package (CPack) on a clean Debian bookworm: the package built
# from BUILD_DIR is installed with apt-get (which fetches its dependencies)
# into a fresh debian:bookworm-slim container, and `meshsim run` of a
# shipped scenario there must give the digest the build tree gives. The
# engine and the base image are made as the e2e tests make them
# (tests/e2e/docker_env.sh).
#
#   tests/sdk/deb_test.sh BUILD_DIR
set -euo pipefail
build_dir=$(realpath "$1")
cd "$(dirname "$0")/../.."
source tests/e2e/docker_env.sh
work=$(mktemp -d)
container="meshsim-deb-test-$$"
cleanup() {
  docker rm -f "$container" >/dev/null 2>&1 || true
  rm -rf "$work"
  stop_docker_engine_if_started
}
trap cleanup EXIT

e2e_log "building the Debian package (cpack)"
(cd "$build_dir" && cpack -G DEB -B "$work" >/dev/null)
deb=$(ls "$work"/meshsim_*.deb)
dpkg-deb --field "$deb" Package Version Depends >&2
for path in ./usr/bin/meshsim ./usr/include/meshsim/plugin.h ./usr/share/meshsim/scenarios/phold.yaml \
  ./usr/lib/meshsim/models/; do
  dpkg-deb --contents "$deb" | awk '{print $NF}' | grep -qx "$path" || { e2e_log "FAILED: the package has no $path"; exit 1; }
done
dpkg-deb --contents "$deb" | awk '{print $NF}' | grep -q "cmake/meshsim/meshsimConfig.cmake" ||
  { e2e_log "FAILED: the package has no CMake package"; exit 1; }

want=$("$build_dir/cli/meshsim" run scenarios/phold.yaml --nodes 2 --json - 2>/dev/null |
  /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["digest"])')

ensure_docker_engine
ensure_base_image
e2e_log "installing $(basename "$deb") into a clean debian:bookworm-slim"
# Host networking only so that apt-get reaches the Debian mirror; meshsim
# itself talks to loopback inside the container.
docker run --name "$container" --network host -v "$work:/pkg:ro" debian:bookworm-slim sh -c "
  set -e
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends /pkg/$(basename "$deb") >/dev/null
  meshsim models --json >/dev/null
  meshsim run /usr/share/meshsim/scenarios/phold.yaml --nodes 2 --json /tmp/result.json >/dev/null
  cat /tmp/result.json
" >"$work/result.json"
got=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["digest"])' "$work/result.json")
if [ "$got" != "$want" ]; then
  e2e_log "FAILED: meshsim from the package gave digest $got, the build tree $want"
  exit 1
fi
e2e_log "passed: the package installs on bookworm and runs phold to digest $got"
