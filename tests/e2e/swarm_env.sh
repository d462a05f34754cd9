# Sourced by tests/e2e/swarm_test.sh: several Docker engines on one machine,
# each a "host" of its own, joined into one swarm.
#
# Every engine runs in a network namespace the test creates (a veth pair to
# a bridge the test creates, on 192.168.213.0/24: outside Docker's default
# address pools, 172.17/16 and the swarm's 10.0.0.0/8), in a mount and UTS
# namespace of its own (its mounts vanish with it; its hostname is the swarm
# node's name), with its own data-root, exec-root, pidfile, socket and
# cgroup parent. Nothing here talks to an address the test did not create.
#
#   swarm_hosts_up N       bridge, N namespaces and N engines (host 1 is the manager)
#   swarm_docker I ARGS... the docker CLI against engine I
#   swarm_in_host I CMD... run CMD in host I's network namespace
#   swarm_engine_kill I    SIGKILL everything of engine I: dockerd,
#                          containerd, shims and containers (a host that dies)
#   swarm_hosts_down       remove everything swarm_hosts_up made
#   swarm_leftovers        what of it still exists (empty when clean)

SWARM_PREFIX="${SWARM_PREFIX:-meshsim-sw}"
SWARM_BRIDGE="${SWARM_PREFIX}0"
SWARM_SUBNET=192.168.213
SWARM_RUN=/run/${SWARM_PREFIX}
SWARM_DATA=/var/lib/${SWARM_PREFIX}
SWARM_HOSTS=0

swarm_log() { echo "[swarm $(date +%H:%M:%S)] $*" >&2; }

swarm_host_ip() { echo "${SWARM_SUBNET}.$((10 + $1))"; }
swarm_socket() { echo "unix://${SWARM_RUN}/e$1/docker.sock"; }

swarm_docker() {
  local i=$1
  shift
  docker -H "$(swarm_socket "$i")" "$@"
}

swarm_in_host() {
  local i=$1
  shift
  ip netns exec "${SWARM_PREFIX}$i" "$@"
}

# The root namespace forwards bridged frames through iptables when
# br_netfilter is loaded, and another engine's FORWARD policy is DROP:
# let the test bridge's own traffic through.
swarm_bridge_rule() { iptables "$1" FORWARD -i "$SWARM_BRIDGE" -o "$SWARM_BRIDGE" -j ACCEPT; }

swarm_network_up() {
  local n=$1 i ns
  ip link add "$SWARM_BRIDGE" type bridge
  ip link set "$SWARM_BRIDGE" up
  swarm_bridge_rule -I 2>/dev/null || true
  for i in $(seq 1 "$n"); do
    ns="${SWARM_PREFIX}$i"
    ip netns add "$ns"
    ip link add "${SWARM_PREFIX}h$i" type veth peer name eth0 netns "$ns"
    ip link set "${SWARM_PREFIX}h$i" master "$SWARM_BRIDGE" up
    ip -n "$ns" addr add "$(swarm_host_ip "$i")/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
  done
}

swarm_engine_start() {
  local i=$1 dir="${SWARM_RUN}/e$1"
  mkdir -p "$dir" "${SWARM_DATA}/e$i"
  # unshare: a private mount namespace (what the engine mounts goes with
  # it) and a UTS namespace for the hostname the swarm shows.
  # nsenter, not `ip netns exec`: that one remounts /sys, which hides the
  # cgroup hierarchies dockerd needs.
  nsenter --net="/run/netns/${SWARM_PREFIX}$i" unshare --mount --uts --propagation private sh -c "
    hostname ${SWARM_PREFIX}$i
    exec dockerd --storage-driver=vfs \
      --data-root ${SWARM_DATA}/e$i --exec-root $dir/exec --pidfile $dir/docker.pid \
      -H $(swarm_socket "$i") --cgroup-parent ${SWARM_PREFIX}$i \
      --containerd-namespace ${SWARM_PREFIX}$i --containerd-plugins-namespace ${SWARM_PREFIX}$i-plugins \
      --bip 172.31.$i.1/24" >"$dir/dockerd.log" 2>&1 &
  echo $! >"$dir/launcher.pid"
}

swarm_engine_wait() {
  local i=$1
  for _ in $(seq 1 60); do
    swarm_docker "$i" info >/dev/null 2>&1 && return 0
    kill -0 "$(cat "${SWARM_RUN}/e$i/launcher.pid")" 2>/dev/null || break
    sleep 1
  done
  swarm_log "engine $i did not come up; its log ends:"
  tail -20 "${SWARM_RUN}/e$i/dockerd.log" >&2
  return 1
}

swarm_hosts_up() {
  local n=$1 i token
  SWARM_HOSTS=$n
  swarm_network_up "$n"
  for i in $(seq 1 "$n"); do swarm_engine_start "$i"; done
  for i in $(seq 1 "$n"); do swarm_engine_wait "$i" || return 1; done
  swarm_docker 1 swarm init --advertise-addr "$(swarm_host_ip 1)" --listen-addr "$(swarm_host_ip 1):2377" >/dev/null
  token=$(swarm_docker 1 swarm join-token -q worker)
  for i in $(seq 2 "$n"); do
    swarm_docker "$i" swarm join --token "$token" --advertise-addr "$(swarm_host_ip "$i")" \
      --listen-addr "$(swarm_host_ip "$i"):2377" "$(swarm_host_ip 1):2377" >/dev/null
  done
}

# Pids of engine I's processes: dockerd and everything under it, and every
# process in its containers' cgroups (shims re-parent to init).
swarm_engine_pids() {
  local i=$1 dir="${SWARM_RUN}/e$1" pid
  pid=$(cat "$dir/docker.pid" 2>/dev/null || true)
  [ -n "$pid" ] && [ -d "/proc/$pid" ] && { echo "$pid"; pgrep -P "$pid" || true; }
  cat /sys/fs/cgroup/pids/"${SWARM_PREFIX}$i"/*/cgroup.procs 2>/dev/null || true
  # containerd shims of this engine: their command line names its exec-root.
  pgrep -f "containerd-shim.*${SWARM_PREFIX}$i( |$)" || true
}

swarm_engine_kill() {
  local i=$1 pids
  pids=$(swarm_engine_pids "$i" | sort -u)
  # shellcheck disable=SC2086
  [ -n "$pids" ] && kill -KILL $pids 2>/dev/null || true
}

swarm_engine_stop() {
  local i=$1 dir="${SWARM_RUN}/e$1" pid
  pid=$(cat "$dir/docker.pid" 2>/dev/null || true)
  if [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null; then
    for _ in $(seq 1 30); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 1
    done
  fi
  swarm_engine_kill "$i"
}

swarm_hosts_down() {
  local i
  for i in $(seq 1 "$SWARM_HOSTS"); do swarm_engine_stop "$i"; done
  for i in $(seq 1 "$SWARM_HOSTS"); do
    ip netns del "${SWARM_PREFIX}$i" 2>/dev/null || true
    ip link del "${SWARM_PREFIX}h$i" 2>/dev/null || true
    rmdir /sys/fs/cgroup/*/"${SWARM_PREFIX}$i"/* /sys/fs/cgroup/*/"${SWARM_PREFIX}$i" 2>/dev/null || true
  done
  ip link del "$SWARM_BRIDGE" 2>/dev/null || true
  while swarm_bridge_rule -D 2>/dev/null; do :; done
  rm -rf "$SWARM_RUN" "$SWARM_DATA"
}

swarm_leftovers() {
  ip netns list | grep -o "^${SWARM_PREFIX}[0-9]*" || true
  ip -o link show | grep -o "${SWARM_PREFIX}[a-z0-9]*" | sort -u || true
  grep -E "${SWARM_RUN}|${SWARM_DATA}" /proc/self/mountinfo | awk '{print "mount " $5}' || true
  pgrep -af "dockerd.*${SWARM_DATA}|containerd.*${SWARM_RUN}" || true
  [ -e "$SWARM_RUN" ] && echo "directory $SWARM_RUN"
  [ -e "$SWARM_DATA" ] && echo "directory $SWARM_DATA"
  return 0
}
