#!/usr/bin/env bash
# The model SDK as a user meets it: meshsim installed into a temporary
# prefix (`cmake --install`), the example Jackson network model
# (examples/jackson) built against that prefix with plain CMake and
# installed into its default plugin directory, then run by the installed
# meshsim on a real local cluster of 1 and 3 nodes, and 3 optimistic ones
# checking the model's contract. examples/jackson/check.py checks the
# digests are equal and each station's throughput, L and W are within 5% of
# Jackson's theorem. Also: --model-path finds the plugin
# elsewhere, and a plugin built for another SDK ABI is refused with a reason.
#
#   tests/sdk/install_test.sh BUILD_DIR     (a configured and built tree)
set -euo pipefail
build_dir=$(realpath "$1")
cd "$(dirname "$0")/../.."
source_dir=$(pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
log() { echo "[sdk $(date +%H:%M:%S)] $*" >&2; }

prefix="$work/prefix"
cmake --install "$build_dir" --prefix "$prefix" >/dev/null
meshsim="$prefix/bin/meshsim"
for path in bin/meshsim include/meshsim/model.h include/meshsim/plugin.h include/meshsim/version.h \
  lib/cmake/meshsim/meshsimConfig.cmake share/meshsim/scenarios/phold.yaml; do
  [ -e "$prefix/$path" ] || { log "FAILED: the install has no $path"; exit 1; }
done

log "building examples/jackson against $prefix with plain CMake"
cp -r examples/jackson "$work/jackson-src"  # out of tree: nothing of the repository but the example
cmake -S "$work/jackson-src" -B "$work/jackson-build" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/jackson-build" >/dev/null
cmake --install "$work/jackson-build" >/dev/null
[ -f "$prefix/lib/meshsim/models/libjackson.so" ] || { log "FAILED: the plugin is not in the default model directory"; exit 1; }

"$meshsim" models --json >"$work/models.json"
/usr/bin/python3 - "$work/models.json" <<'PY'
import json, sys
models = {m["name"]: m for m in json.load(open(sys.argv[1]))}
jackson = models.get("jackson")
assert jackson, f"meshsim models does not list jackson: {sorted(models)}"
assert jackson["version"] == "1.0.0" and len(jackson["fingerprint"]) == 16, jackson
assert jackson["origin"].endswith("/lib/meshsim/models/libjackson.so"), jackson["origin"]
assert {"stations", "transit", "servers_2", "route_1_2"} <= {p["name"] for p in jackson["params"]}
PY

for nodes in 1 3; do
  log "jackson on $nodes nodes (the plugin from the default model directory)"
  "$meshsim" run "$work/jackson-src/jackson.yaml" --nodes "$nodes" --json "$work/jackson-$nodes.json" >/dev/null
done
log "jackson on 3 nodes, optimistic, its contract checked every 10th event"
sed 's/^seed:/optimism: { check_every: 10 }\nseed:/' "$work/jackson-src/jackson.yaml" >"$work/jackson-checked.yaml"
"$meshsim" run "$work/jackson-checked.yaml" --nodes 3 --sync optimistic --json "$work/jackson-3-optimistic.json" >/dev/null
/usr/bin/python3 - "$work/jackson-3-optimistic.json" <<'PY'
import json, sys
result = json.load(open(sys.argv[1]))
assert result["sync"] == "optimistic" and "optimistic" in result, result.get("sync")
PY
/usr/bin/python3 "$work/jackson-src/check.py" --tolerance 0.05 "$work/jackson-1.json" "$work/jackson-3.json" \
  "$work/jackson-3-optimistic.json"

log "--model-path: the plugin from another directory"
mkdir -p "$work/elsewhere"
mv "$prefix/lib/meshsim/models/libjackson.so" "$work/elsewhere/"
if "$meshsim" validate "$work/jackson-src/jackson.yaml" >/dev/null 2>&1; then
  log "FAILED: jackson validates without its plugin"; exit 1
fi
"$meshsim" --model-path "$work/elsewhere" run "$work/jackson-src/jackson.yaml" --nodes 2 --json "$work/jackson-2.json" >/dev/null
/usr/bin/python3 "$work/jackson-src/check.py" "$work/jackson-1.json" "$work/jackson-2.json" >/dev/null

log "a plugin of another SDK ABI is refused, the message naming both versions"
abi=$(sed -n 's/#define MESHSIM_SDK_ABI_VERSION \([0-9]*\).*/\1/p' "$prefix/include/meshsim/version.h")
sed -i 's/#define MESHSIM_SDK_ABI_VERSION .*/#define MESHSIM_SDK_ABI_VERSION 999/' "$prefix/include/meshsim/version.h"
cmake --build "$work/jackson-build" >/dev/null
refused=$("$meshsim" --model-path "$work/jackson-build" models 2>&1 >/dev/null || true)
grep -q "refused: built with SDK ABI 999 .* has SDK ABI $abi:" <<<"$refused" ||
  { log "FAILED: no refusal naming ABI 999 and $abi in: $refused"; exit 1; }
log "passed"
