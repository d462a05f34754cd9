"""The Python client against a cluster that runs with CURVE keys."""
import os
import shutil

import pytest
from conftest import meshsim

from meshsim_client import Client, MeshsimError, StatusCode

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
