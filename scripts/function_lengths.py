#!/usr/bin/python3
"""Lists the longest functions of the project's own C++ sources, and files
over a line limit, from libclang's parse of each translation unit (with the
flags in build/<preset>/compile_commands.json), so lambdas count as part of
the function that holds them and macros do not confuse the count.

  /usr/bin/python3 scripts/function_lengths.py [--top N] [--limit 60] [--file-limit 400]

Exits 1 when a function is over --limit lines or a source file over
--file-limit lines, unless the file says why at its top with a line
containing "size-exception:". Needs Debian's python3-clang-14 (installed by
scripts/install-packages.sh build).
"""

import argparse
import json
import multiprocessing
import os
import shlex
import subprocess
import sys

import clang.cindex as ci

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KINDS = {
    ci.CursorKind.FUNCTION_DECL, ci.CursorKind.CXX_METHOD, ci.CursorKind.CONSTRUCTOR,
    ci.CursorKind.DESTRUCTOR, ci.CursorKind.FUNCTION_TEMPLATE, ci.CursorKind.CONVERSION_FUNCTION,
}
# Generated, third-party-shaped or out-of-scope code.
SKIP_PREFIXES = ("build/", "proto/")


def load_libclang():
    if ci.Config.loaded:  # once per process: libclang refuses a second set
        return
    for candidate in ("/usr/lib/llvm-14/lib/libclang.so.1", "/usr/lib/x86_64-linux-gnu/libclang-14.so.1"):
        if os.path.exists(candidate):
            ci.Config.set_library_file(candidate)
            return


def tracked_sources():
    out = subprocess.run(["git", "ls-files", "*.cc", "*.h"], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.split()
    return [path for path in out if not path.startswith(SKIP_PREFIXES)]


def compile_args(commands, path):
    entry = commands.get(os.path.join(ROOT, path))
    if entry is None:
        return ["-std=c++20", "-I" + ROOT, "-I" + os.path.join(ROOT, "include"),
                "-I" + os.path.join(ROOT, "build/release"), "-I" + os.path.join(ROOT, "build/release/include")]
    args = shlex.split(entry["command"])[1:]
    keep, skip = [], False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg in ("-o", "-c"):
            skip = arg == "-o"
            continue
        if arg.endswith((".cc", ".cpp")) or arg.startswith("-W"):
            continue
        keep.append(arg)
    return keep


def functions_of(index, path, args):
    full = os.path.join(ROOT, path)
    parse_as = ["-x", "c++"] + args
    tu = index.parse(full, args=parse_as, options=0)
    found = []

    def walk(cursor):
        for child in cursor.get_children():
            location = child.location.file
            if location is None or os.path.abspath(location.name) != full:
                continue
            if child.kind in KINDS and child.is_definition():
                lines = child.extent.end.line - child.extent.start.line + 1
                found.append((lines, path, child.extent.start.line, child.spelling))
            elif child.kind in (ci.CursorKind.NAMESPACE, ci.CursorKind.CLASS_DECL, ci.CursorKind.STRUCT_DECL,
                                ci.CursorKind.CLASS_TEMPLATE, ci.CursorKind.UNEXPOSED_DECL):
                walk(child)

    walk(tu.cursor)
    return found


def measure(job):
    path, args = job
    load_libclang()
    return functions_of(ci.Index.create(), path, args)


def has_exception(path):
    with open(os.path.join(ROOT, path), encoding="utf-8", errors="replace") as f:
        head = "".join(f.readline() for _ in range(15))
    return "size-exception:" in head


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument("--limit", type=int, default=60)
    parser.add_argument("--file-limit", type=int, default=400)
    parser.add_argument("--preset", default="release")
    options = parser.parse_args()
    load_libclang()
    db_path = os.path.join(ROOT, "build", options.preset, "compile_commands.json")
    commands = {}
    if os.path.exists(db_path):
        with open(db_path, encoding="utf-8") as f:
            commands = {entry["file"]: entry for entry in json.load(f)}
    seen = {}
    long_files = []
    paths = tracked_sources()
    with multiprocessing.Pool() as pool:
        for found in pool.imap_unordered(measure, [(p, compile_args(commands, p)) for p in paths]):
            for lines, file, line, name in found:
                seen[(file, line)] = (lines, file, line, name)
    for path in paths:
        with open(os.path.join(ROOT, path), encoding="utf-8", errors="replace") as f:
            count = sum(1 for _ in f)
        if count > options.file_limit and not has_exception(path):
            long_files.append((count, path))
    ranked = sorted(seen.values(), reverse=True)
    print(f"longest {options.top} functions (lines, file:line, name):")
    for lines, file, line, name in ranked[:options.top]:
        print(f"  {lines:4d}  {file}:{line}  {name}")
    over = [f for f in ranked if f[0] > options.limit and not has_exception(f[1])]
    for lines, file, line, name in over:
        print(f"function over {options.limit} lines: {file}:{line} {name} ({lines})")
    for count, path in sorted(long_files, reverse=True):
        print(f"file over {options.file_limit} lines without a size-exception note: {path} ({count})")
    return 1 if over or long_files else 0


if __name__ == "__main__":
    sys.exit(main())
