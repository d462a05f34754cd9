#!/usr/bin/env python3
"""Checks the layering of the sources (docs/architecture.md):

- a common/ file includes only common/ folders of its own layer or of the
  layers its layer may use (common/CMakeLists.txt links the same);
- nothing in common/ or in the SDK (include/meshsim/) includes the servers,
  the CLI, the benchmarks or the models;
- the SDK includes only itself, Abseil's status types and the standard
  library;
- no file includes itself again through others (an include cycle).

Prints each violation and exits 1 if there is one. Run from anywhere;
ctest runs it as layers_test, and on tests/layers/ (a tree that breaks
each rule) as layers_check_fails_test. --root DIR checks another tree."""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if len(sys.argv) == 3 and sys.argv[1] == "--root":
    ROOT = os.path.abspath(sys.argv[2])

LAYER_OF_FOLDER = {
    "status": "base", "strings": "base", "log": "base", "time": "base", "thread": "base",
    "process": "base", "net": "base", "metrics": "base",
    "frame": "wire", "checkpoint": "wire",
    "security": "security",
    "transport": "transport",
    "rpc": "rpc",
    "sim": "sim",
    "scenario": "scenario",
}
MAY_USE = {
    "base": {"base"},
    "wire": {"base", "wire"},
    "security": {"base", "security"},
    "transport": {"base", "security", "transport"},
    "rpc": {"base", "security", "rpc"},
    "sim": {"base", "wire", "sim"},
    "scenario": {"base", "wire", "sim", "scenario"},
}
HIGHER = ("node/", "coordinator/", "cli/", "bench/", "models/", "tests/", "fuzz/")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def sources(top):
    for folder, _, files in sorted(os.walk(os.path.join(ROOT, top))):
        for name in sorted(files):
            if name.endswith((".h", ".cc")):
                path = os.path.join(folder, name)
                yield os.path.relpath(path, ROOT), open(path, encoding="utf-8").read()


def resolve(include):
    """The repository path an include names, or None (generated, external)."""
    for base in ("", "include/"):
        if os.path.isfile(os.path.join(ROOT, base + include)):
            return base + include
    return None


def main():
    problems = []
    graph = {}
    for top in ("common", "include/meshsim", "node", "coordinator", "cli", "bench", "models"):
        for path, text in sources(top):
            includes = INCLUDE.findall(text)
            graph[path] = [r for r in map(resolve, includes) if r]
            if path.startswith("common/"):
                layer = LAYER_OF_FOLDER.get(path.split("/")[1])
                if layer is None:
                    problems.append(f"{path}: folder common/{path.split('/')[1]} has no layer (scripts/check_layers.py)")
                    continue
                for inc in includes:
                    if inc.startswith("common/"):
                        other = LAYER_OF_FOLDER.get(inc.split("/")[1])
                        if other not in MAY_USE[layer]:
                            problems.append(f"{path}: {layer} includes {inc} ({other}), which it may not use")
            if path.startswith(("common/", "include/meshsim/")):
                for inc in includes:
                    if inc.startswith(HIGHER):
                        problems.append(f"{path}: includes {inc}, above it")
            if path.startswith("include/meshsim/"):
                for inc in includes:
                    if not inc.startswith(("meshsim/", "absl/status/")):
                        problems.append(f"{path}: the SDK includes {inc}, outside the SDK")
    # Include cycles: depth-first search over the repository's own headers.
    state = {}
    def visit(node, stack):
        state[node] = "open"
        stack.append(node)
        for nxt in graph.get(node, []):
            if state.get(nxt) == "open":
                problems.append("include cycle: " + " -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = "done"
    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    for problem in problems:
        print(problem)
    print(f"check_layers: {len(graph)} files, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
