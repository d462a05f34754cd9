#!/usr/bin/env bash
# Installs the Debian packages meshsim needs, only those missing.
#   scripts/install-packages.sh GROUP...
#     build  what building the meshsim binary needs (the image's build stage)
#     test   the test and benchmark libraries and the tools the tests run
#            (scripts/setup.sh installs build and test)
#     e2e    Docker, Compose and debootstrap for tests/e2e/compose_test.sh
#            (scripts/test.sh adds these)
#     fuzz   clang and libFuzzer, for the fuzz preset (tests/fuzz/fuzz_test.sh)
#     deploy kubectl (for kustomize) and Node.js with npm, for the offline
#            check of deploy/kubernetes (tests/deploy/kubernetes_test.sh)
#            and the dashboards' generator (deploy/grafana/dashboards);
#            only when the commands are missing, since either may come from
#            elsewhere than Debian
set -euo pipefail

build_packages=(
  build-essential cmake ninja-build pkg-config git
  libzmq3-dev cppzmq-dev libprotobuf-dev protobuf-compiler
  libspdlog-dev libfmt-dev prometheus-cpp-dev libabsl-dev
  libyaml-cpp-dev libcli11-dev nlohmann-json3-dev
  libsqlite3-dev    # the coordinator's state directory (embedded database)
  zlib1g-dev        # checkpoint checksums (CRC-32)
)
test_packages=(
  libgtest-dev libgmock-dev libbenchmark-dev
  procps python3
  gnuplot-nox       # bench --plot
  python3-clang-14  # scripts/function_lengths.py
  prometheus curl   # metrics tests (prometheus, promtool), bench/metrics_overhead.sh
  python3-zmq python3-protobuf python3-pytest python3-pandas python3-matplotlib   # the Python client, its tests and example
)
# A Docker engine and Compose, and debootstrap to build the base image where
# none can be pulled.
e2e_packages=(docker.io docker-compose debootstrap iptables)
fuzz_packages=(clang-14 libclang-rt-14-dev)

packages=()
for group in "$@"; do
  case "$group" in
    build) packages+=("${build_packages[@]}") ;;
    test) packages+=("${test_packages[@]}") ;;
    e2e) packages+=("${e2e_packages[@]}") ;;
    fuzz) packages+=("${fuzz_packages[@]}") ;;
    deploy)
      command -v kubectl >/dev/null || packages+=(kubernetes-client)
      command -v npm >/dev/null || packages+=(nodejs npm)
      ;;
    *) echo "usage: $0 build|test|e2e|fuzz|deploy..." >&2; exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "meshsim: installing ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
