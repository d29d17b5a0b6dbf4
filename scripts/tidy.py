#!/usr/bin/env python3
"""Runs clang-tidy (checks in .clang-tidy) over our sources with the default build's compile
commands, and remembers which translation units were clean, as ccache remembers compiles.

A clean result is cached under a key made of everything clang-tidy reads: its version, the
.clang-tidy file, the compile command, and the contents of the source and of every header it
includes (the build's own dependency record, `ninja -t deps`, so nothing is preprocessed
again). Any change to any of them is a miss, and only clean results are cached, so a finding
shows on every run until it is fixed. Without a dependency record for a file (not built yet)
the file is simply checked.

    python3 scripts/tidy.py [--build DIR] [--jobs N] [--no-cache] [FILE...]

Exits 1 on any finding (printed), 2 on a usage or setup error. The cache is
$CARRIERARR_TIDY_CACHE, else ${XDG_CACHE_HOME:-~/.cache}/carrierarr-tidy.
"""

import argparse
import concurrent.futures
import hashlib
import json
import os
import shlex
import subprocess
import sys


def die(message):
    print(f"tidy: {message}", file=sys.stderr)
    sys.exit(2)


def ninja_deps(build):
    """{object path relative to build: [dependency paths]} from the build's record."""
    try:
        text = subprocess.run(["ninja", "-C", build, "-t", "deps"], check=True,
                              capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return {}
    deps, current = {}, None
    for line in text.splitlines():
        if not line.strip():
            current = None
        elif not line.startswith(" "):
            # "src/x/CMakeFiles/t.dir/a.cc.o: #deps 312, deps mtime 123 (VALID)"
            current = line.split(":", 1)[0]
            deps[current] = [] if "(VALID)" in line else None
        elif current is not None and deps[current] is not None:
            deps[current].append(line.strip())
    return {k: v for k, v in deps.items() if v}


class Hasher:
    """File contents hashed once per run (most headers are shared by every unit)."""

    def __init__(self):
        self.seen = {}

    def file(self, path):
        if path not in self.seen:
            try:
                with open(path, "rb") as f:
                    self.seen[path] = hashlib.sha256(f.read()).hexdigest()
            except OSError:
                self.seen[path] = "missing"
        return self.seen[path]


def unit_key(entry, deps, base, hasher):
    # Paths inside this checkout are keyed relative to it, as ccache's CCACHE_BASEDIR does, so a
    # fresh clone elsewhere on the machine finds the results of an earlier one.
    root = os.getcwd() + os.sep
    h = hashlib.sha256(base)
    command = entry["command"] if "command" in entry else json.dumps(entry.get("arguments"))
    h.update(command.replace(root, "<root>/").encode())
    for dep in [entry["file"]] + sorted(deps):
        path = os.path.normpath(os.path.join(entry["directory"], dep))
        h.update(f"\0{path.replace(root, '<root>/')}\0{hasher.file(path)}".encode())
    return h.hexdigest()


def object_of(entry):
    if "output" in entry:
        return entry["output"]
    args = entry.get("arguments") or shlex.split(entry["command"])
    return args[args.index("-o") + 1] if "-o" in args else None


def run_tidy(build, path):
    proc = subprocess.run(["clang-tidy", "-p", build, "--quiet",
                           "--extra-arg=-Wno-unknown-warning-option", path],
                          capture_output=True, text=True)
    # clang-tidy prints "N warnings generated." on stderr even when they were all suppressed.
    noise = [l for l in proc.stderr.splitlines() if not l.endswith("generated.")]
    return proc.returncode, (proc.stdout + "\n".join(noise)).strip()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", default=os.environ.get("BUILD_DIR", "build"))
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--no-cache", action="store_true")
    parser.add_argument("files", nargs="*")
    args = parser.parse_args()

    try:
        with open(os.path.join(args.build, "compile_commands.json")) as f:
            commands = {os.path.realpath(e["file"]): e for e in json.load(f)}
    except (OSError, ValueError) as e:
        die(f"{args.build}/compile_commands.json: {e}; configure first (cmake --preset default)")
    files = args.files or subprocess.run(["git", "ls-files", "src/*.cc"], check=True,
                                         capture_output=True, text=True).stdout.split()
    version = subprocess.run(["clang-tidy", "--version"], capture_output=True,
                             text=True).stdout
    with open(".clang-tidy", "rb") as f:
        base = version.encode() + b"\0" + f.read()
    cache = os.environ.get("CARRIERARR_TIDY_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "carrierarr-tidy")
    os.makedirs(cache, exist_ok=True)

    deps, hasher = ({} if args.no_cache else ninja_deps(args.build)), Hasher()
    todo = []  # (path, key or None)
    for path in files:
        entry = commands.get(os.path.realpath(path))
        if entry is None:
            die(f"{path}: not in {args.build}/compile_commands.json (not part of the build?)")
        obj = object_of(entry)
        key = unit_key(entry, deps[obj], base, hasher) if obj in deps else None
        if key is None or not os.path.exists(os.path.join(cache, key)):
            todo.append((path, key))

    print(f"clang-tidy: {len(todo)} of {len(files)} files to check "
          f"({len(files) - len(todo)} unchanged since a clean check)", flush=True)
    failed = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        runs = {pool.submit(run_tidy, args.build, p): (p, k) for p, k in todo}
        for done in concurrent.futures.as_completed(runs):
            path, key = runs[done]
            rc, output = done.result()
            if output:
                print(output, flush=True)
            if rc != 0:  # .clang-tidy makes every warning an error
                failed += 1
                print(f"{path}: clang-tidy exited {rc}", flush=True)
            elif key is not None:
                open(os.path.join(cache, key), "w").close()
    if failed:
        print(f"clang-tidy: findings in {failed} file(s)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
