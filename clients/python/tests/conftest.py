"""A real coordinator and real node processes for the client's tests: the
meshsim binary from $MESHSIM_BIN (ctest sets it), on loopback, with a state
directory in pytest's tmp_path; everything is stopped after the test."""
import os
import re
import signal
import socket
import subprocess
import time

import pytest

SOURCE_DIR = os.environ.get("MESHSIM_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", "..", ".."))
MESHSIM = os.environ.get("MESHSIM_BIN", os.path.join(SOURCE_DIR, "build", "release", "cli", "meshsim"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Process:
    """A meshsim subcommand whose "@meshsim key=value" status lines are read."""

    def __init__(self, *args):
        self.proc = subprocess.Popen([MESHSIM, *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True)

    def wait_for_status(self, key, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            match = re.match(r"@meshsim (\w+)=(.*)", line.strip())
            if match and match.group(1) == key:
                return match.group(2)
        raise RuntimeError(f"{self.proc.args[1]} printed no {key}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Cluster:
    """A coordinator and `nodes` nodes; with `keys` (a key directory) all of
    them run with CURVE keys."""

    def __init__(self, tmp_path, nodes, keys=None):
        self.processes = []
        key_args = ["--keys", str(keys)] if keys else []
        coordinator = Process(*key_args, "coordinator", "--bind", "tcp://127.0.0.1:0", "--state-dir",
                              str(tmp_path / "state"), "--heartbeat-interval", "0.1")
        self.processes.append(coordinator)
        self.endpoint = coordinator.wait_for_status("rpc")
        for i in range(nodes):
            node = Process(*key_args, "node", "--coordinator", self.endpoint, "--name", f"py-node-{i + 1}")
            self.processes.append(node)
        for node in self.processes[1:]:
            node.wait_for_status("node_id")

    def stop(self):
        for process in reversed(self.processes):
            process.stop()


@pytest.fixture
def cluster(tmp_path):
    running = Cluster(tmp_path, nodes=2)
    yield running
    running.stop()


@pytest.fixture
def keyed_cluster(tmp_path):
    """A cluster with CURVE keys made by `meshsim keygen` in tmp_path/keys."""
    keys = tmp_path / "keys"
    meshsim("keygen", str(keys))
    running = Cluster(tmp_path, nodes=1, keys=keys)
    running.keys = keys
    yield running
    running.stop()


def meshsim(*args, timeout=180):
    """Runs the meshsim command; returns its stdout."""
    return subprocess.run([MESHSIM, *args], check=True, capture_output=True, text=True, timeout=timeout).stdout


def scenario(name):
    return os.path.join(SOURCE_DIR, "scenarios", name)
