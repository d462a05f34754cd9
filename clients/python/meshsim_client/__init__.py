"""Python client for meshsim, the distributed discrete-event simulation
service. The protobuf modules under meshsim_client._proto are generated from
the project's proto/ at build time (never edited by hand).

    from meshsim_client import Client
    with Client("tcp://127.0.0.1:7700") as client:
        job = client.submit("scenarios/epidemic.yaml", nodes=2)
        result = job.wait(timeout=300)
        print(result.digest, result.series_frame().tail())
"""
from meshsim_client._rpc import MeshsimError, StatusCode
from meshsim_client.client import Client, Job, JobFailed
from meshsim_client.results import JobStatus

__all__ = ["Client", "Job", "JobFailed", "JobStatus", "MeshsimError", "StatusCode"]
