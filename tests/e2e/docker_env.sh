# Sourced by the e2e tests: a Docker engine and the debian:bookworm-slim
# base image, made here when the machine has none. On a machine with a
# running engine and a pullable image this uses what is there.
#
#   ensure_docker_engine   starts dockerd (vfs storage) when none answers;
#                          stop_docker_engine_if_started undoes that
#   ensure_base_image      pulls debian:bookworm-slim, or builds it with
#                          debootstrap --variant=minbase and docker import
#   build_meshsim_image IMAGE
#                          docker/Dockerfile built as IMAGE (run from the
#                          checkout's root); with MESHSIM_E2E_REUSE_IMAGE=1
#                          an existing IMAGE is used as it is (for iterating
#                          on a test, not for checking a change)
#   compose ARGS...        docker compose v2, or docker-compose 1.29

e2e_log() { echo "[e2e $(date +%H:%M:%S)] $*" >&2; }

STARTED_DOCKERD_PID=""

ensure_docker_engine() {
  if docker info >/dev/null 2>&1; then return 0; fi
  if ! command -v dockerd >/dev/null; then
    e2e_log "no Docker engine: installing docker.io, docker-compose, debootstrap"
    bash "$(dirname "${BASH_SOURCE[0]}")/../../scripts/install-packages.sh" e2e
  fi
  if [ "$(id -u)" -ne 0 ]; then
    e2e_log "no Docker engine answers and starting one needs root"
    return 1
  fi
  e2e_log "starting dockerd --storage-driver=vfs (log: /var/log/meshsim-e2e-dockerd.log)"
  dockerd --storage-driver=vfs >/var/log/meshsim-e2e-dockerd.log 2>&1 &
  STARTED_DOCKERD_PID=$!
  for _ in $(seq 1 60); do
    if docker info >/dev/null 2>&1; then return 0; fi
    if ! kill -0 "$STARTED_DOCKERD_PID" 2>/dev/null; then break; fi
    sleep 1
  done
  e2e_log "dockerd did not come up; its log ends:"
  tail -20 /var/log/meshsim-e2e-dockerd.log >&2
  return 1
}

stop_docker_engine_if_started() {
  [ -n "$STARTED_DOCKERD_PID" ] || return 0
  e2e_log "stopping the dockerd this test started"
  kill "$STARTED_DOCKERD_PID" 2>/dev/null || true
  # dockerd stops its containerd and exits; wait for both to be gone.
  for _ in $(seq 1 30); do
    kill -0 "$STARTED_DOCKERD_PID" 2>/dev/null || break
    sleep 1
  done
  STARTED_DOCKERD_PID=""
}

ensure_base_image() {
  local image=debian:bookworm-slim
  if docker image inspect "$image" >/dev/null 2>&1; then return 0; fi
  if timeout 60 docker pull -q "$image" >/dev/null 2>&1; then return 0; fi
  e2e_log "$image cannot be pulled: building it with debootstrap"
  command -v debootstrap >/dev/null || bash "$(dirname "${BASH_SOURCE[0]}")/../../scripts/install-packages.sh" e2e
  local work root
  work=$(mktemp -d /var/tmp/meshsim-bookworm.XXXXXX)
  # A fresh directory, not mktemp's (mode 0700): it becomes the image's /,
  # which every user must be able to enter.
  root="$work/rootfs"
  if ! debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian >"$work/log" 2>&1; then
    tail -20 "$work/log" >&2
    rm -rf "$work"
    return 1
  fi
  # What makes the official image slim: no package caches, lists or docs.
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
    "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/*
  tar -C "$root" -c . | docker import - "$image" >/dev/null
  rm -rf "$work"
}

build_meshsim_image() {
  local image=$1
  if [ "${MESHSIM_E2E_REUSE_IMAGE:-}" = 1 ] && docker image inspect "$image" >/dev/null 2>&1; then
    e2e_log "MESHSIM_E2E_REUSE_IMAGE=1: using the existing $image"
    return 0
  fi
  local build_args=(--network host -f docker/Dockerfile
    --build-arg MESHSIM_GIT_REVISION="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)")
  # The build stage is tagged too, so it stays as the next run's cache while
  # older builds become dangling and are pruned: the vfs storage driver
  # keeps a full copy of every layer.
  docker build -q "${build_args[@]}" --target build -t "$image-build" . >/dev/null || return 1
  docker build -q "${build_args[@]}" -t "$image" . >/dev/null || return 1
  docker image prune -f --filter label=org.opencontainers.image.title=meshsim >/dev/null
}

compose() {
  if docker compose version >/dev/null 2>&1; then
    docker compose "$@"
  else
    docker-compose "$@"
  fi
}
