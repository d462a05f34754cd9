#!/usr/bin/env bash
# Every libFuzzer harness (fuzz/) for a bounded time: builds the `fuzz`
# preset (clang with ASan + UBSan and libFuzzer), then runs each fuzzer on a
# scratch copy of its seed corpus (fuzz/corpus/<name>) for SECONDS seconds.
# Any crash, leak or sanitizer report fails the test and leaves the input
# that caused it in the scratch directory, whose path is printed.
#
#   tests/fuzz/fuzz_test.sh [SECONDS]         (default 15 per fuzzer)
#
# A longer run of one fuzzer, by hand (docs/security.md):
#   build/fuzz/fuzz/frame_codec_fuzz -max_total_time=1800 fuzz/corpus/frame_codec
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds="${1:-15}"
log() { echo "[fuzz $(date +%H:%M:%S)] $*" >&2; }

bash scripts/install-packages.sh fuzz
cmake --preset fuzz >/dev/null
# Only the harnesses (not the meshsim binary): the suite has one already.
# The build's output (compiler errors go to it) is shown only when it fails.
build_log=$(mktemp)
if ! cmake --build --preset fuzz --target frame_codec_fuzz checkpoint_part_fuzz scenario_fuzz shm_ring_fuzz \
  rpc_fuzz node_rpc_fuzz >"$build_log" 2>&1; then
  log "building the fuzz harnesses (clang, -Werror) FAILED:"
  grep -B2 -A8 -m5 'error' "$build_log" >&2 || tail -40 "$build_log" >&2
  rm -f "$build_log"
  exit 1
fi
rm -f "$build_log"

work=$(mktemp -d)
failed=0
# The RPC fuzzers keep their coordinator's state here (in memory, as in
# /dev/shm by default) and remove it at exit; a fuzzer that crashes cannot,
# so the test removes the whole directory.
export MESHSIM_FUZZ_SCRATCH
MESHSIM_FUZZ_SCRATCH=$(mktemp -d /dev/shm/meshsim-fuzz-test-XXXXXX)
trap 'rm -rf "$MESHSIM_FUZZ_SCRATCH"' EXIT
for name in frame_codec checkpoint_part scenario shm_ring rpc node_rpc; do
  corpus="$work/$name"
  mkdir -p "$corpus" "$work/$name-artifacts"
  cp fuzz/corpus/"$name"/* "$corpus"/
  extra=()
  [ "$name" = scenario ] && extra=(scenarios scenarios/load)
  # A known stall, not yet understood: now and then a restoring PrepareJob
  # waits the whole 30 s chunk deadline for the in-process coordinator's
  # GetCheckpoint reply (in two of four 15 s runs on 2026-12-07; the same
  # input alone takes 56 ms). Past that deadline the node refuses the request as it
  # should, so node_rpc's per-input limit lies above it; a real hang still
  # fails the test.
  # After such a stall libzmq exits holding messages it allocated; only
  # those are suppressed (fuzz/lsan-libzmq.supp).
  unit_timeout=10
  lsan_options=
  if [ "$name" = node_rpc ]; then
    unit_timeout=45
    lsan_options="suppressions=$PWD/fuzz/lsan-libzmq.supp"
  fi
  # The first directory is the one libFuzzer adds to; the rest are read.
  if LSAN_OPTIONS="$lsan_options" build/fuzz/fuzz/"${name}"_fuzz -max_total_time="$seconds" -timeout="$unit_timeout" -rss_limit_mb=2048 \
    -artifact_prefix="$work/$name-artifacts/" -print_final_stats=1 "$corpus" "${extra[@]}" \
    >"$work/$name.log" 2>&1; then
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/$name.log" | grep -o '[0-9]*$')
    log "$name: $runs runs in ${seconds}s, no crash, leak or sanitizer report"
  else
    log "$name: FAILED; the input is in $work/$name-artifacts/, the log ends:"
    tail -30 "$work/$name.log" >&2
    failed=1
  fi
done
if [ "$failed" -eq 0 ]; then rm -rf "$work"; fi
exit "$failed"
