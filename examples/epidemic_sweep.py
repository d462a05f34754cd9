#!/usr/bin/python3
"""Sweeps one parameter of the epidemic from Python and plots the final size
of the outbreak against it.

Starts a local cluster (a coordinator and NODES node processes of the
meshsim binary, on loopback, with a temporary state directory), submits one
job per value, waits for them, prints a table and draws final size against
the parameter (matplotlib, when installed). Everything it starts is stopped
at the end.

    /usr/bin/python3 examples/epidemic_sweep.py                  # community_rate 0.05 .. 0.35
    /usr/bin/python3 examples/epidemic_sweep.py --param household_rate --values 0,0.1,0.2,0.4 \\
        --persons 50000 --plot final-size.png

Needs the built tree (cmake --build --preset release): the meshsim binary
and the client package generated in build/release/python.
"""
import argparse
import os
import pathlib
import re
import signal
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "build" / "release" / "python"))
from meshsim_client import Client  # noqa: E402


def start(meshsim, *args):
    """A meshsim process and the value of its first status line."""
    process = subprocess.Popen([meshsim, *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in process.stdout:
        match = re.match(r"@meshsim (\w+)=(.*)", line.strip())
        if match:
            return process, match.group(2)
    raise RuntimeError(f"meshsim {args[0]} did not start")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--param", default="community_rate", help="the epidemic parameter to sweep")
    parser.add_argument("--values", default="0.05,0.1,0.15,0.2,0.25,0.3,0.35", help="comma-separated values")
    parser.add_argument("--persons", type=int, default=20000, help="population of each run")
    parser.add_argument("--nodes", type=int, default=2, help="node processes")
    parser.add_argument("--plot", default="epidemic-sweep.png", help="picture to draw ('' for none)")
    parser.add_argument("--meshsim", default=os.environ.get("MESHSIM_BIN", str(ROOT / "build/release/cli/meshsim")))
    args = parser.parse_args()
    values = [float(v) for v in args.values.split(",")]

    processes = []
    with tempfile.TemporaryDirectory() as state:
        try:
            coordinator, endpoint = start(args.meshsim, "coordinator", "--bind", "tcp://127.0.0.1:0",
                                          "--state-dir", state)
            processes.append(coordinator)
            for i in range(args.nodes):
                processes.append(start(args.meshsim, "node", "--coordinator", endpoint, "--name", f"sweep-{i + 1}")[0])
            with Client(endpoint) as client:
                jobs = [client.submit({"name": f"sweep-{args.param}-{v:g}", "model": "epidemic", "seed": 7,
                                       "end_time": 180, "lookahead": 0.5,
                                       "params": {"persons": args.persons, args.param: v}}, nodes=args.nodes)
                        for v in values]
                results = [job.wait(timeout=600) for job in jobs]
        finally:
            for process in reversed(processes):
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=15)

    final = [r.summary["infected"] / args.persons for r in results]
    peaks = [max(r.series["infectious"]) for r in results]
    print(f"{args.param:>16} {'final size':>12} {'peak infectious':>16} {'digest':>18}")
    for value, size, peak, result in zip(values, final, peaks, results):
        print(f"{value:>16g} {size:>12.1%} {peak:>16} {result.digest:>18}")
    if args.plot:
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            print("(no plot: matplotlib is not installed; Debian: python3-matplotlib)")
            return
        figure, ax = plt.subplots(figsize=(7, 4.5), constrained_layout=True)
        ax.plot(values, [100 * f for f in final], marker="o", linewidth=2)
        ax.set(title=f"Epidemic final size against {args.param} ({args.persons} persons)", xlabel=args.param,
               ylabel="ever infected (% of persons)")
        ax.grid(alpha=0.3)
        figure.savefig(args.plot)
        print(f"plot: {args.plot}")


if __name__ == "__main__":
    main()
