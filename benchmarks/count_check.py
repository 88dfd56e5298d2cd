"""Instructions per file of ``convcalc check``, by stage: a measure that shared, noisy machines
do not disturb (wall-clock times here vary by some 30% between runs).

Runs the loop of ``convcalc check`` in-process under valgrind's callgrind over 1 and 1 + N files
of the benchmark's nets (benchmarks/bench_check.py) and prints the difference per file, so the
start-up cancels out. Each stage adds one step: compose (YAML nodes), parse (+ the walk into a
spec), analyze, warn (+ warnings and expectations), check (the whole of ``check_source``).

    python benchmarks/count_check.py [--files 20] [--stages compose,parse,analyze,warn,check]

Needs valgrind on PATH; takes some 15 seconds a stage.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_check import net_yaml

STAGES = ("compose", "parse", "analyze", "warn", "check")

CHILD = """
import gc, sys
from convcalc import spec
from convcalc.analyze import analyze
from convcalc.check import check_source, expectations, warnings
stage, paths = sys.argv[1], sys.argv[2:]
data = [open(p, "rb").read() for p in paths]
gc.disable()  # as `convcalc check` runs its loop
for d, p in zip(data, paths):
    if stage == "compose":
        spec.compose(d.decode(), p)
    elif stage == "parse":
        spec.parse(d, p)
    elif stage == "analyze":
        analyze(spec.parse(d, p))
    elif stage == "warn":
        s = spec.parse(d, p)
        r = analyze(s)
        warnings(s, r)
        expectations(s, r)
    else:
        check_source(d, p)
"""


def instructions(stage: str, paths: list[str]) -> int:
    """Instructions of the child loop over ``paths`` (start-up included), as callgrind counts."""
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
    cmd += [os.path.realpath(sys.executable), "-c", CHILD, stage, *paths]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stderr
    found = re.search(r"Collected : (\d+)", out)
    if found is None:
        raise SystemExit(f"no instruction count in valgrind's output:\n{out}")
    return int(found[1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--layers", type=int, default=50)
    parser.add_argument("--stages", default=",".join(STAGES))
    args = parser.parse_args()
    stages = args.stages.split(",")
    if unknown := set(stages) - set(STAGES):
        parser.error(f"unknown stages: {', '.join(sorted(unknown))}; known: {', '.join(STAGES)}")
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not on PATH")
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i in range(args.files + 1):
            path = Path(tmp) / f"net{i:05d}.yaml"
            path.write_text(net_yaml(i, args.layers))
            paths.append(str(path))
        print(f"instructions per file ({args.files} files of {args.layers} layers, 1 file subtracted)")
        before = 0
        for stage in stages:
            per_file = (instructions(stage, paths) - instructions(stage, paths[:1])) // args.files
            print(f"{stage:>8}  {per_file:>12,}  (+{per_file - before:,})")
            before = per_file


if __name__ == "__main__":
    main()
