"""``convcalc check`` over many files vs ``convcalc shape`` on one of them.

Generates N spec files of L layers each (conv1d/relu/batchnorm/pool/residual mixes, some with
``expect:`` and warnings) in a temporary directory, then times, as separate processes:

* ``convcalc shape ONE.yaml --format json``  (one file, start-up included)
* ``convcalc check DIR``                     (every file, one process)

and prints both and their ratio (target: check <= 10x shape for 1,000 files of 50 layers).
Best of N runs each, interleaved (the machine is shared: the minimum is the least disturbed).

    python benchmarks/bench_check.py [--files 1000] [--layers 50] [--runs 5]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def net_yaml(index: int, n_layers: int) -> str:
    """A valid 1D net of ``n_layers`` top-level layers (a residual block counts as one)."""
    lines = [f"name: net{index}", "input: [16, 4096]"]
    if index % 3 == 0:
        lines += [
            "expect:",
            "  output_shape: [16, 4096]",
            "  params: {max: 1000000}",
            "  macs: {max: 1.0e12}",
        ]
    lines.append("layers:")
    for i in range(n_layers):
        pick = (i + index) % 5
        if pick == 0:
            d = 2 ** (i % 6)
            lines.append(
                f"  - {{type: conv1d, out_channels: 16, kernel_size: 3, dilation: {d}, padding: same}}"
            )
        elif pick == 1:
            lines.append("  - {type: relu}")
        elif pick == 2:
            lines.append("  - {type: batchnorm}")
        elif pick == 3:
            lines.append("  - {type: maxpool1d, kernel_size: 3, stride: 1, padding: 1}")
        else:
            lines += [
                "  - type: residual",
                "    layers:",
                "      - {type: conv1d, out_channels: 16, kernel_size: 3, padding: 1}",
                "      - {type: relu}",
            ]
    return "\n".join(lines) + "\n"


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode not in (0, 1):  # 1: a failed check is still a finished run
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--layers", type=int, default=50)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--target", type=float, default=10.0)
    args = parser.parse_args()
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp) / "specs"
        d.mkdir()
        for i in range(args.files):
            (d / f"net{i:05d}.yaml").write_text(net_yaml(i, args.layers))
        one = d / "net00000.yaml"
        shape = [py, "-m", "convcalc", "shape", str(one), "--format", "json"]
        check = [py, "-m", "convcalc", "check", str(d)]
        t_shape, t_check = [], []
        for _ in range(args.runs):
            t_shape.append(timed(shape))
            t_check.append(timed(check))
        out = subprocess.run(check, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    s, c = min(t_shape), min(t_check)
    ratio = c / s
    print(f"files: {args.files} x {args.layers} layers; check says: {out}")
    print(f"convcalc shape (1 file):      {s:.3f}s")
    print(f"convcalc check ({args.files} files): {c:.3f}s  ({(c - s) / args.files * 1e3:.2f} ms per file)")
    print(f"ratio: {ratio:.2f}x (target <= {args.target:g}x) {'ok' if ratio <= args.target else 'SLOW'}")


if __name__ == "__main__":
    main()
