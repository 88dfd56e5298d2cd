"""Forward-pass speed of convcalc's NumPy engine against PyTorch CPU, on the same weights.

    python benchmarks/bench_forward.py [--repeat N] [--threads T] [--check]

Three nets (specs below), batch 8, float32, in one process: a ResNet basic block, a dilated
causal WaveNet-style stack and a bidirectional LSTM + GRU + RNN stack. Each case times
``Net.forward`` and the torch mirror (tests/torch_mirror.py, under ``torch.no_grad()``)
alternately, ``--repeat`` times after a warm-up, and keeps the best of each. torch gets as
many threads as numpy's BLAS uses (``--threads`` sets both, through the BLAS environment
variables, before numpy is loaded). Targets: geometric mean of convcalc/torch <= 1.5, no case
above 3; ``--check`` exits 1 when they are missed.
"""

from __future__ import annotations

import argparse
import ctypes
import importlib
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

BATCH = 8
GEOMEAN_TARGET = 1.5
CASE_TARGET = 3.0
WIDTHS = (14, 12, 10, 7, 9)

RESNET_BLOCK = """\
name: resnet-basic-block
input: [64, 56, 56]
layers:
  - type: residual
    layers:
      - {type: conv2d, out_channels: 64, kernel_size: 3, padding: 1, bias: false}
      - {type: batchnorm}
      - {type: relu}
      - {type: conv2d, out_channels: 64, kernel_size: 3, padding: 1, bias: false}
      - {type: batchnorm}
  - {type: relu}
"""

WAVENET_STACK = "name: wavenet-stack\ninput: [32, 4000]\nlayers:\n" + "".join(
    f"""\
  - type: residual
    layers:
      - {{type: conv1d, out_channels: 32, kernel_size: 2, dilation: {d}, padding: causal}}
      - {{type: relu}}
      - {{type: conv1d, out_channels: 32, kernel_size: 1}}
"""
    for d in (1, 2, 4, 8, 16, 32)
)

RECURRENT_STACK = """\
name: recurrent-stack
input: [80, 150]
layers:
  - {type: lstm, hidden_size: 128, num_layers: 2, bidirectional: true}
  - {type: gru, hidden_size: 128, num_layers: 2, bidirectional: true}
  - {type: rnn, hidden_size: 128, num_layers: 2, bidirectional: true}
"""

CASES = {
    "resnet basic block [64,56,56]": RESNET_BLOCK,
    "wavenet 6x dilated causal [32,4000]": WAVENET_STACK,
    "bi lstm+gru+rnn x2 h128 [80,150]": RECURRENT_STACK,
}


def blas_threads() -> tuple[int, str]:
    """How many threads numpy's BLAS uses, asked of the loaded OpenBLAS (or MKL) itself."""
    import numpy  # noqa: F401 - loads the BLAS library

    names = (
        "scipy_openblas_get_num_threads64_",
        "scipy_openblas_get_num_threads",
        "openblas_get_num_threads64_",
        "openblas_get_num_threads",
        "MKL_Get_Max_Threads",
    )
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        maps = ""
    paths = {line.split()[-1] for line in maps.splitlines() if "/" in line}
    libs = sorted(p for p in paths if "blas" in p.lower() or "mkl_rt" in p)
    for lib in libs:
        try:
            handle = ctypes.CDLL(lib)
        except OSError:
            continue
        for name in names:
            fn = getattr(handle, name, None)
            if fn is not None:
                return int(fn()), f"{Path(lib).name}:{name}"
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var]), f"${var} (assumed)"
    return os.cpu_count() or 1, "cpu count (assumed)"


def best_pair(f: Callable[[], Any], g: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """Best wall time of f and of g, run alternately so load changes hit both alike."""
    f(), g()  # warm-up
    tf, tg = math.inf, math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        f()
        t1 = time.perf_counter()
        g()
        t2 = time.perf_counter()
        tf, tg = min(tf, t1 - t0), min(tg, t2 - t1)
    return tf, tg


def randomize_batchnorm(model: Any, seed: int) -> None:
    """Non-trivial running statistics and affine parameters, so batchnorm is not the identity."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            positive = name.endswith("running_var") or (t.dim() == 1 and name.endswith("weight"))  # bn scale
            if name.endswith("running_mean"):
                t.copy_(torch.randn(t.shape, generator=gen) * 0.1)
            elif positive:
                t.copy_(torch.rand(t.shape, generator=gen) + 0.5)


def run_case(label: str, text: str, repeat: int) -> dict[str, Any]:
    import numpy as np
    import torch

    import convcalc

    build = importlib.import_module("torch_mirror").build  # tests/torch_mirror.py

    net = convcalc.load(text)
    torch.manual_seed(0)
    model = build(net.spec).float().eval()
    randomize_batchnorm(model, 0)
    weights = {k: v.numpy() for k, v in model.state_dict().items() if k in net.weight_shapes()}
    x = np.random.default_rng(0).standard_normal((BATCH, *net.spec.input_shape)).astype(np.float32)
    xt = torch.from_numpy(x)

    def ours() -> Any:
        return net.forward(x, weights=weights)

    def theirs() -> Any:
        with torch.no_grad():
            return model(xt)

    y, ref = ours(), theirs().numpy()
    err = float(np.linalg.norm(y - ref) / np.linalg.norm(ref))
    t_ours, t_torch = best_pair(ours, theirs, repeat)
    return {"case": label, "out": tuple(y.shape[1:]), "ours": t_ours, "torch": t_torch, "err": err}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--repeat", type=int, default=7, help="timed runs per case (best is kept)")
    ap.add_argument("--threads", type=int, help="threads for numpy's BLAS and for torch")
    ap.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = ap.parse_args(argv)
    if args.threads is not None:  # before numpy loads its BLAS
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(args.threads)
    sys.path.insert(0, str(ROOT / "tests"))  # torch_mirror

    import numpy as np
    import torch

    threads, source = blas_threads()
    torch.set_num_threads(threads)
    print(f"numpy {np.__version__}: BLAS threads {threads} (from {source})")
    print(f"torch {torch.__version__}: threads {torch.get_num_threads()}")
    print(f"batch {BATCH}, float32, best of {args.repeat} alternating runs after a warm-up")

    rows = [run_case(label, text, args.repeat) for label, text in CASES.items()]
    cols = ("output", "convcalc ms", "torch ms", "ratio", "rel err")
    head = f"{'case':36s} " + " ".join(f"{c:>{w}s}" for c, w in zip(cols, WIDTHS, strict=True))
    print(head)
    print("-" * len(head))
    for r in rows:
        out = "[" + ",".join(map(str, r["out"])) + "]"
        ratio = r["ours"] / r["torch"]
        print(
            f"{r['case']:36s} {out:>14s} {r['ours'] * 1e3:12.2f} {r['torch'] * 1e3:10.2f} "
            f"{ratio:7.2f} {r['err']:9.1e}"
        )
    ratios = [r["ours"] / r["torch"] for r in rows]
    geomean = math.exp(sum(math.log(q) for q in ratios) / len(ratios))
    ok = geomean <= GEOMEAN_TARGET and max(ratios) <= CASE_TARGET
    print("-" * len(head))
    print(
        f"geometric mean ratio {geomean:.2f} (target <= {GEOMEAN_TARGET}), worst {max(ratios):.2f} "
        f"(target <= {CASE_TARGET}): {'met' if ok else 'MISSED'}"
    )
    return 1 if args.check and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
