"""Generates the protobuf modules from the project's proto/ with protoc
whenever the package is built (`pip install clients/python`): the client
never carries a hand-written copy of a message."""
import pathlib
import subprocess

from setuptools import setup

HERE = pathlib.Path(__file__).resolve().parent
PROTO = HERE.parent.parent / "proto"


def generate():
    out = HERE / "meshsim_client" / "_proto"
    out.mkdir(exist_ok=True)
    (out / "__init__.py").touch()
    subprocess.run(["protoc", f"--proto_path={PROTO}", f"--python_out={out}", str(PROTO / "meshsim.proto"),
                    str(PROTO / "rpc.proto")], check=True)


# Before setuptools looks for the package's directories, at every build step.
generate()
setup()
