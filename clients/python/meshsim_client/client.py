"""The Client and Job handles."""
import json
import os
import time

from meshsim_client._proto import meshsim_pb2
from meshsim_client._rpc import MeshsimError, RpcClient, StatusCode
from meshsim_client.keys import Keys
from meshsim_client.results import JobStatus, job_to_dict

DEFAULT_COORDINATOR = "tcp://127.0.0.1:7700"


class JobFailed(Exception):
    """wait() found the job FAILED or CANCELLED; `status` has the reason."""

    def __init__(self, status):
        super().__init__(f"job {status['job_id']} {status['state']}: {status['reason']}")
        self.status = status


def _scenario_yaml(scenario):
    """A path, YAML text, or a dict (sent as JSON, which YAML reads)."""
    if isinstance(scenario, dict):
        return json.dumps(scenario)
    if isinstance(scenario, os.PathLike) or (isinstance(scenario, str) and "\n" not in scenario
                                             and os.path.isfile(scenario)):
        with open(scenario, encoding="utf-8") as file:
            return file.read()
    if isinstance(scenario, str):
        return scenario
    raise TypeError(f"a scenario is a path, YAML text or a dict, not {type(scenario).__name__}")


class Client:
    """A meshsim coordinator. `coordinator` defaults to $MESHSIM_COORDINATOR,
    then tcp://127.0.0.1:7700; `timeout` is each call's deadline in seconds.
    `keys` is a key directory (`meshsim keygen`; default $MESHSIM_KEYS) for a
    cluster that runs with CURVE keys, `identity` the pair in it to use
    (default admin where the directory has it, else viewer).
    Errors are MeshsimError with the RPC's status code and message."""

    def __init__(self, coordinator=None, timeout=10.0, keys=None, identity=None):
        self.coordinator = coordinator or os.environ.get("MESHSIM_COORDINATOR") or DEFAULT_COORDINATOR
        self.timeout = timeout
        keys = keys or os.environ.get("MESHSIM_KEYS")
        self.keys = Keys(keys, identity) if keys else None
        self._rpc = RpcClient(self.coordinator, keys=self.keys)

    def close(self):
        self._rpc.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _call(self, method, request, reply_type, timeout=None):
        return self._rpc.call(f"Coordinator.{method}", request, reply_type, timeout or self.timeout)

    def submit(self, scenario, nodes=None):
        """Queues a scenario (path, YAML text or dict); returns its Job. A bad
        scenario raises MeshsimError(INVALID_ARGUMENT) naming the field."""
        request = meshsim_pb2.SubmitJobRequest(scenario_yaml=_scenario_yaml(scenario), nodes=nodes or 0)
        reply = self._call("SubmitJob", request, meshsim_pb2.SubmitJobReply)
        return Job(self, reply.job_id)

    def job(self, job_id):
        return Job(self, job_id)

    def jobs(self):
        """Every job the coordinator holds, as JobStatus."""
        reply = self._call("ListJobs", meshsim_pb2.ListJobsRequest(), meshsim_pb2.ListJobsReply)
        return [JobStatus(job_to_dict(job)) for job in reply.jobs]

    def nodes(self):
        """The nodes, as `meshsim nodes --json` lists them."""
        reply = self._call("ListNodes", meshsim_pb2.ListNodesRequest(), meshsim_pb2.ListNodesReply)
        return [{"id": n.node_id, "name": n.name, "state": meshsim_pb2.NodeState.Name(n.state).removeprefix("NODE_"),
                 "job_id": n.job_id, "rpc_endpoint": n.rpc_endpoint, "data_endpoint": n.data_endpoint,
                 "pid": n.pid, "last_heartbeat_age_seconds": n.last_heartbeat_age_seconds,
                 "frames_dropped": n.frames_dropped, "rpc_malformed": n.rpc_malformed} for n in reply.nodes]

    def models(self):
        """The models the coordinator knows, with their parameters."""
        reply = self._call("ListModels", meshsim_pb2.ListModelsRequest(), meshsim_pb2.ListModelsReply)
        return [{"name": m.name, "description": m.description,
                 "params": [{"name": p.name, "kind": "integer" if p.integer else "real", "min": p.min, "max": p.max,
                             "default": p.default_value, "help": p.help} for p in m.params]} for m in reply.models]


class Job:
    """A submitted job."""

    def __init__(self, client, job_id):
        self.client = client
        self.id = job_id

    def __repr__(self):
        return f"Job({self.id}, coordinator={self.client.coordinator!r})"

    def status(self):
        reply = self.client._call("GetJob", meshsim_pb2.GetJobRequest(job_id=self.id), meshsim_pb2.GetJobReply)
        return JobStatus(job_to_dict(reply.job))

    def cancel(self):
        reply = self.client._call("CancelJob", meshsim_pb2.CancelJobRequest(job_id=self.id),
                                  meshsim_pb2.CancelJobReply)
        return JobStatus(job_to_dict(reply.job))

    def wait(self, timeout=None, poll=0.2):
        """Waits for the job to end; returns its JobStatus when COMPLETED,
        raises JobFailed when it FAILED or was CANCELLED, and
        MeshsimError(DEADLINE_EXCEEDED) after `timeout` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            status = self.status()
            if status["state"] == "COMPLETED":
                return status
            if status.done:
                raise JobFailed(status)
            if deadline is not None and time.monotonic() >= deadline:
                raise MeshsimError(StatusCode.DEADLINE_EXCEEDED,
                                   f"job {self.id} still {status['state']} after {timeout} s")
            time.sleep(poll)
