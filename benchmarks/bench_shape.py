"""Start-up and scaling of ``convcalc shape``, as ratios over the floor of any typer CLI.

The floor is a minimal typer app with the same arguments (NET, --format, --batch) that imports
yaml and prints a fixed answer; typer imports pydantic when it runs a command, and that cost is
everyone's. Three floors, one per claim:

* json, 10 layers      vs the floor printing a fixed JSON answer          (target <= 1.3x)
* table, 10 layers     vs the floor printing a small rich table           (target <= 1.3x)
* json, 10,000 layers  vs the floor that also runs yaml.compose (C loader) (target <= 1.5x)

Commands run interleaved, best of N wall times (the machine is shared and noisy: the minimum is
the least disturbed run). Also prints the in-process analysis time per layer at 1k/10k/20k layers
(linear cost) and checks that ``shape`` does not import numpy.

    python benchmarks/bench_shape.py [--runs 15]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FLOOR = '''
from typing import Annotated, Optional
import sys
import typer
import yaml

app = typer.Typer(add_completion=False)


@app.callback()
def root() -> None:
    """floor"""


@app.command()
def shape(
    net: Annotated[str, typer.Argument()],
    format: Annotated[str, typer.Option("--format", "-f")] = "table",
    batch: Annotated[Optional[int], typer.Option("--batch", "-b")] = None,
) -> None:
    mode = {mode!r}
    if mode == "compose":
        with open(net, "rb") as f:
            yaml.compose(f.read(), Loader=yaml.CSafeLoader)
    if mode == "table":
        from rich.console import Console
        from rich.table import Table

        t = Table(title="net")
        for c in ("layer", "type", "output", "params", "receptive field", "MACs"):
            t.add_column(c)
        for i in range(10):
            t.add_row(str(i), "conv1d", "[16, 512]", "784", "5 j1 @-4", "401K")
        Console().print(t)
    else:
        sys.stdout.write('{{"output_shape": [16, 512], "total_params": 4532}}\\n')


app()
'''


def net_yaml(n_layers: int) -> str:
    lines = ["name: bench", "input: [16, 4096]", "layers:"]
    for i in range(n_layers):
        if i % 2:
            lines.append("  - {type: relu}")
        else:
            d = 2 ** (i % 10)
            lines.append(
                f"  - {{type: conv1d, out_channels: 16, kernel_size: 3, dilation: {d}, padding: same}}"
            )
    return "\n".join(lines) + "\n"


def best(cmd: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    return min(times)


def interleaved(a: list[str], b: list[str], runs: int) -> tuple[float, float]:
    ta, tb = [], []
    for _ in range(runs):
        ta.append(best(a, 1))
        tb.append(best(b, 1))
    return min(ta), min(tb)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    py = sys.executable
    # Measure what an installed convcalc costs: pip byte-compiles a package when it installs it,
    # as it did typer's and pydantic's, so compile ours too (PYTHONDONTWRITEBYTECODE may be set).
    import compileall

    import convcalc

    compileall.compile_dir(str(Path(convcalc.__file__).parent), quiet=1)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        for mode in ("json", "table", "compose"):
            (d / f"floor_{mode}.py").write_text(FLOOR.format(mode=mode))
        small, big = d / "net10.yaml", d / "net10000.yaml"
        small.write_text(net_yaml(10))
        big.write_text(net_yaml(10_000))
        cc = [py, "-m", "convcalc", "shape"]
        cases = [
            ("json, 10 layers", [*cc, str(small), "--format", "json"], "json", small, 1.3),
            ("table, 10 layers", [*cc, str(small)], "table", small, 1.3),
            ("json, 10,000 layers", [*cc, str(big), "--format", "json"], "compose", big, 1.5),
        ]
        print(f"{'case':<22}{'convcalc':>10}{'floor':>10}{'ratio':>8}{'target':>8}")
        worst = 0.0
        for label, cmd, mode, net, target in cases:
            floor = [py, str(d / f"floor_{mode}.py"), "shape", str(net), "--format", "json"]
            t_cc, t_floor = interleaved(cmd, floor, args.runs)
            ratio = t_cc / t_floor
            worst = max(worst, ratio / target)
            flag = "ok" if ratio <= target else "SLOW"
            print(f"{label:<22}{t_cc:>9.3f}s{t_floor:>9.3f}s{ratio:>7.2f}x{target:>7.1f}x  {flag}")

        out = subprocess.run(
            [py, "-X", "importtime", "-m", "convcalc", "shape", str(small), "--format", "json"],
            capture_output=True,
            text=True,
            check=True,
        )
        numpy = any(line.rstrip().endswith("| numpy") for line in out.stderr.splitlines())
        print(f"numpy imported by `shape`: {'YES (bad)' if numpy else 'no'}")

    # linear cost: in-process parse + analyse time per layer
    from convcalc.analyze import analyze
    from convcalc.spec import parse

    print(f"\n{'layers':>8}{'parse+analyse':>16}{'per layer':>12}")
    for n in (1_000, 10_000, 20_000):
        text = net_yaml(n)
        t0 = time.perf_counter()
        analyze(parse(text))
        dt = time.perf_counter() - t0
        print(f"{n:>8}{dt:>15.3f}s{dt / n * 1e6:>10.1f}us")


if __name__ == "__main__":
    main()
