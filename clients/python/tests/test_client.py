"""The Python client against a real coordinator and nodes."""
import importlib.util
import json
import subprocess
import sys
import time

import pytest
from conftest import SOURCE_DIR, free_port, meshsim, scenario

from meshsim_client import Client, JobFailed, MeshsimError, StatusCode
from meshsim_client._proto import meshsim_pb2

SMALL_EPIDEMIC = {"name": "py-epidemic", "model": "epidemic", "seed": 5, "end_time": 60, "lookahead": 0.5,
                  "params": {"persons": 4000, "initial_infected": 8}}


def test_submit_wait_gives_the_digest_of_the_cpp_client(cluster, tmp_path):
    local = json.loads(meshsim("run", scenario("phold.yaml"), "--nodes", "1", "--json", "-"))
    with Client(cluster.endpoint) as client:
        job = client.submit(scenario("phold.yaml"), nodes=2)
        result = job.wait(timeout=120)
        assert result.state == "COMPLETED"
        assert result.digest == local["digest"]
        assert result.committed_events == local["committed_events"]
        assert len(result.nodes) == 2
        # The same fields as the CLI's --json, for the same job.
        cli = json.loads(meshsim("status", str(job.id), "--coordinator", cluster.endpoint, "--json"))
        assert set(result) == set(cli)
        assert result["links"] == cli["links"]
        assert result["scenario"] == cli["scenario"]


def test_an_optimistic_job_reports_what_the_cli_reports(cluster):
    # The scenario goes through unchanged: its sync reaches the coordinator.
    with Client(cluster.endpoint) as client:
        job = client.submit({**SMALL_EPIDEMIC, "sync": "optimistic"}, nodes=2)
        result = job.wait(timeout=120)
        assert result.state == "COMPLETED"
        cli = json.loads(meshsim("status", str(job.id), "--coordinator", cluster.endpoint, "--json"))
        assert set(result) == set(cli)
        assert result["sync"] == cli["sync"] == "optimistic"
        assert result["scenario"] == cli["scenario"]
        assert result["optimistic"] == cli["optimistic"]
        assert result["nodes"] == cli["nodes"]
        o = result["optimistic"]
        assert o["events_run"] - o["rolled_back"] == result["committed_events"]


def test_nodes_models_and_jobs_list_what_the_coordinator_knows(cluster):
    with Client(cluster.endpoint) as client:
        nodes = client.nodes()
        assert sorted(n["name"] for n in nodes) == ["py-node-1", "py-node-2"]
        assert all(n["state"] == "READY" for n in nodes)
        models = {m["name"]: m for m in client.models()}
        assert {"phold", "epidemic"} <= set(models)
        assert any(p["name"] == "lps" and p["kind"] == "integer" for p in models["phold"]["params"])
        job = client.submit(SMALL_EPIDEMIC, nodes=1)
        job.wait(timeout=120)
        assert [j.job_id for j in client.jobs()] == [job.id]


def test_cancel_stops_a_running_job_and_wait_raises(cluster):
    long_phold = {"model": "phold", "end_time": 1e7, "lookahead": 0.1, "params": {"lps": 2048}}
    with Client(cluster.endpoint) as client:
        job = client.submit(long_phold, nodes=2)
        deadline = time.monotonic() + 30
        while job.status().state != "RUNNING" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert job.cancel().state == "CANCELLED"
        with pytest.raises(JobFailed) as failed:
            job.wait(timeout=10)
        assert failed.value.status["reason"] == "cancelled by request"


def test_bad_scenario_raises_with_the_field_named(cluster):
    with Client(cluster.endpoint) as client:
        with pytest.raises(MeshsimError) as bad:
            client.submit({"model": "phold", "end_time": 10, "lookahead": 0.1, "params": {"lps": -5}})
        assert bad.value.code == StatusCode.INVALID_ARGUMENT
        assert "params.lps" in bad.value.message
        with pytest.raises(MeshsimError) as unknown:
            client.submit("model: phold\nend_time: 10\nlookahead: 0.1\ncolour: blue\n")
        assert "colour: unknown key" in unknown.value.message


def test_unreachable_coordinator_raises_quickly_and_clearly():
    client = Client(f"tcp://127.0.0.1:{free_port()}", timeout=1.0)
    start = time.monotonic()
    with pytest.raises(MeshsimError) as unreachable:
        client.nodes()
    assert time.monotonic() - start < 3
    assert unreachable.value.code == StatusCode.UNAVAILABLE
    assert "no connection to tcp://127.0.0.1:" in unreachable.value.message


def test_results_as_data_frames_have_the_documented_columns(cluster):
    pandas = pytest.importorskip("pandas")
    with Client(cluster.endpoint) as client:
        result = client.submit(SMALL_EPIDEMIC, nodes=2).wait(timeout=120)
    series = result.series_frame()
    assert isinstance(series, pandas.DataFrame)
    assert list(series.columns) == ["time", "susceptible", "exposed", "infectious", "recovered"]
    assert len(series) == 61
    assert (series.drop(columns="time").sum(axis=1) == 4000).all()
    assert list(result.nodes_frame().columns) == ["id", "rank", "lps", "events", "pending_events", "loop_seconds",
                                                  "frames_dropped"]
    assert len(result.nodes_frame()) == 2
    links = result.links_frame()
    assert list(links.columns) == ["from", "to", "transport", "messages", "bytes", "events"]
    assert len(links) == 2


def test_generated_modules_come_from_the_idl(tmp_path):
    # The package's module describes exactly what protoc makes of proto/ now.
    subprocess.run(["protoc", f"--proto_path={SOURCE_DIR}/proto", f"--descriptor_set_out={tmp_path}/idl.pb",
                    f"{SOURCE_DIR}/proto/meshsim.proto"], check=True)
    from google.protobuf import descriptor_pb2

    from_idl = descriptor_pb2.FileDescriptorSet.FromString((tmp_path / "idl.pb").read_bytes()).file[0]
    in_package = descriptor_pb2.FileDescriptorProto.FromString(meshsim_pb2.DESCRIPTOR.serialized_pb)

    def without_json_names(file):  # protoc's Python output leaves out the derived json_name
        for field in file.extension:
            field.ClearField("json_name")
        messages = list(file.message_type)
        while messages:
            message = messages.pop()
            messages.extend(message.nested_type)
            for field in message.field:
                field.ClearField("json_name")
        return file

    assert without_json_names(in_package) == without_json_names(from_idl)
    assert len(in_package.message_type) > 40
    # And the same generation picks up a change to the IDL with no edit to the client.
    changed = (tmp_path / "changed")
    changed.mkdir()
    text = open(f"{SOURCE_DIR}/proto/meshsim.proto", encoding="utf-8").read()
    (changed / "meshsim.proto").write_text(text.replace("message JobInfo {", "message JobInfo {\n  string added = 99;"))
    subprocess.run(["protoc", f"--proto_path={changed}", f"--python_out={changed}", f"{changed}/meshsim.proto"],
                   check=True)
    probe = "import meshsim_pb2; print('added' in meshsim_pb2.JobInfo.DESCRIPTOR.fields_by_name)"
    out = subprocess.run([sys.executable, "-c", probe], cwd=changed, check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "True"


def test_plot_renders_a_picture(cluster, tmp_path):
    pytest.importorskip("matplotlib")
    with Client(cluster.endpoint) as client:
        result = client.submit(SMALL_EPIDEMIC, nodes=2).wait(timeout=120)
    path = tmp_path / "epidemic.png"
    result.plot(path)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1000, 1080)  # 10 x 10.8 inches at 100 dpi: three panels
    assert len(data) > 20_000


def test_the_sweep_example_runs_and_draws_final_size_against_the_parameter(tmp_path):
    picture = tmp_path / "sweep.png"
    out = subprocess.run([sys.executable, f"{SOURCE_DIR}/examples/epidemic_sweep.py", "--values", "0.05,0.4",
                          "--persons", "3000", "--plot", str(picture)], check=True, capture_output=True, text=True,
                         timeout=300).stdout
    rows = [line.split() for line in out.splitlines() if line.strip() and line.split()[0] in ("0.05", "0.4")]
    assert len(rows) == 2, out
    low, high = (float(row[1].rstrip("%")) for row in rows)
    assert high > low, "more community contacts infect more people"
    if importlib.util.find_spec("matplotlib"):
        assert picture.read_bytes()[:4] == b"\x89PNG"
