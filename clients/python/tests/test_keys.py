"""The Python client against a cluster that runs with CURVE keys."""
import os
import shutil

import pytest
import zmq
import zmq.auth
from conftest import Cluster, meshsim

from meshsim_client import Client, MeshsimError, StatusCode
from meshsim_client.keys import load_certificate

SMALL_PHOLD = {"model": "phold", "seed": 3, "end_time": 20, "lookahead": 0.5, "params": {"lps": 256}}


def test_an_admin_key_submits_and_reads_the_result(keyed_cluster):
    with Client(keyed_cluster.endpoint, keys=keyed_cluster.keys) as client:
        assert client.keys.identity == "admin"
        result = client.submit(SMALL_PHOLD, nodes=1).wait(timeout=120)
        assert result.state == "COMPLETED"
        assert [n["name"] for n in client.nodes()] == ["py-node-1"]


def test_the_key_directory_comes_from_the_environment(keyed_cluster, monkeypatch):
    monkeypatch.setenv("MESHSIM_KEYS", str(keyed_cluster.keys))
    with Client(keyed_cluster.endpoint) as client:
        assert client.nodes()[0]["name"] == "py-node-1"


def test_a_viewer_key_reads_but_may_not_submit(keyed_cluster):
    with Client(keyed_cluster.endpoint, keys=keyed_cluster.keys, identity="viewer") as client:
        assert len(client.nodes()) == 1
        with pytest.raises(MeshsimError) as refused:
            client.submit(SMALL_PHOLD)
    assert refused.value.code == StatusCode.PERMISSION_DENIED
    assert "viewer key 'viewer' may not call Coordinator.SubmitJob" in refused.value.message


def test_no_keys_is_refused_clearly_and_at_once(keyed_cluster, monkeypatch):
    monkeypatch.delenv("MESHSIM_KEYS", raising=False)
    with Client(keyed_cluster.endpoint, timeout=30) as client:
        with pytest.raises(MeshsimError) as refused:
            client.nodes()
    assert refused.value.code == StatusCode.PERMISSION_DENIED
    assert "requires CURVE keys" in refused.value.message


def test_an_unlisted_key_is_refused(keyed_cluster, tmp_path):
    # A key pair of its own, in a directory that has the cluster's
    # coordinator.key but whose admin pair no list of the server names.
    stranger = tmp_path / "stranger"
    meshsim("keygen", str(stranger))
    shutil.copy(keyed_cluster.keys / "coordinator.key", stranger / "coordinator.key")
    with Client(keyed_cluster.endpoint, keys=stranger, timeout=30) as client:
        with pytest.raises(MeshsimError) as refused:
            client.nodes()
    assert refused.value.code == StatusCode.PERMISSION_DENIED
    assert "refused key 'admin'" in refused.value.message
    assert "none of the server's key lists" in refused.value.message


def test_a_secret_key_others_can_read_is_refused(keyed_cluster):
    secret = keyed_cluster.keys / "admin.key_secret"
    os.chmod(secret, 0o644)
    with pytest.raises(MeshsimError) as refused:
        Client(keyed_cluster.endpoint, keys=keyed_cluster.keys)
    assert "permissions 0644 are too open" in refused.value.message
    assert f"chmod 600 {secret}" in refused.value.message


# The key files are ZeroMQ's certificate format: pyzmq and meshsim must read
# each other's, both ways.
ROLE_LISTS = {"admin": "admins", "node": "nodes", "viewer": "viewers"}


def test_pyzmq_reads_the_certificates_meshsim_writes(tmp_path):
    keys = tmp_path / "keys"
    meshsim("keygen", str(keys))
    for name in ["coordinator", *ROLE_LISTS]:
        public, secret = zmq.auth.load_certificate(keys / f"{name}.key_secret")
        assert zmq.curve_public(secret) == public, f"{name}: the secret and public keys are not one pair"
        assert zmq.auth.load_certificate(keys / f"{name}.key") == (public, None)
        assert load_certificate(keys / f"{name}.key_secret") == (public.decode(), secret.decode())
    for name, subdir in ROLE_LISTS.items():
        listed, _ = zmq.auth.load_certificate(keys / subdir / f"{name}.key")
        assert listed == zmq.auth.load_certificate(keys / f"{name}.key")[0]


def test_a_cluster_runs_on_certificates_pyzmq_wrote(tmp_path):
    keys = tmp_path / "keys"
    for subdir in ROLE_LISTS.values():
        (keys / subdir).mkdir(parents=True)
    for name in ["coordinator", *ROLE_LISTS]:
        public_file, secret_file = zmq.auth.create_certificates(keys, name)
        os.chmod(secret_file, 0o600)  # pyzmq leaves the mode to the umask; meshsim refuses an open secret
        if name in ROLE_LISTS:
            shutil.copy(public_file, keys / ROLE_LISTS[name])
    cluster = Cluster(tmp_path, nodes=1, keys=keys)  # the coordinator and node read them (C++)
    try:
        with Client(cluster.endpoint, keys=keys) as client:  # and this client
            assert client.keys.identity == "admin"
            result = client.submit(SMALL_PHOLD, nodes=1).wait(timeout=120)
            assert result.state == "COMPLETED"
        with Client(cluster.endpoint, keys=keys, identity="viewer") as viewer:
            with pytest.raises(MeshsimError) as refused:
                viewer.submit(SMALL_PHOLD)
        assert refused.value.code == StatusCode.PERMISSION_DENIED
    finally:
        cluster.stop()


def test_a_malformed_key_is_named(tmp_path):
    broken = tmp_path / "broken.key"
    broken.write_text('curve\n    public-key = "not z85, and too short"\n')
    with pytest.raises(MeshsimError) as refused:
        load_certificate(broken)
    assert refused.value.code == StatusCode.INVALID_ARGUMENT
    assert "public-key is not a 40-character Z85 key" in refused.value.message
    empty = tmp_path / "empty.key"
    empty.write_text("metadata\n")
    with pytest.raises(MeshsimError) as refused:
        load_certificate(empty)
    assert "no public-key" in refused.value.message
