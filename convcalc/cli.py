"""The command line: the only place with I/O and exit codes."""

from __future__ import annotations

import sys
import time
from enum import Enum
from typing import Annotated, Any, NoReturn

import typer

from . import __version__
from .errors import ConvcalcError

app = typer.Typer(
    name="convcalc",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


# typer's help shows an option's metavar in the type column, and "<bool>" for an on/off flag that
# has none: an empty metavar leaves the column blank for flags.
FLAG = ""


class Format(str, Enum):
    table = "table"
    json = "json"


class ShapeFormat(str, Enum):
    table = "table"
    json = "json"
    markdown = "markdown"
    csv = "csv"


class Convention(str, Enum):
    pytorch = "pytorch"
    keras = "keras"


def _version(value: bool) -> None:
    if value:
        print(f"convcalc {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, metavar=FLAG, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Output shapes, receptive fields, parameters and MACs of layer stacks described in YAML.

    Example: convcalc shape specs/examples/tcn.yaml --format json

    The format is documented in specs/format.md.
    """


def _fail(err: ConvcalcError) -> NoReturn:
    print(err.render(), file=sys.stderr)
    raise typer.Exit(1)


def _read(path: str) -> tuple[bytes, str]:
    """The bytes of PATH (or of stdin for '-'); a missing file is a usage error (exit 2)."""
    if path == "-":
        return sys.stdin.buffer.read(), "<stdin>"
    try:
        with open(path, "rb") as f:
            return f.read(), path
    except FileNotFoundError:
        raise typer.BadParameter(f"no such file: {path}", param_hint="NET") from None
    except IsADirectoryError:
        raise typer.BadParameter(f"{path} is a directory, not a YAML file", param_hint="NET") from None
    except OSError as e:
        raise typer.BadParameter(f"cannot read {path}: {e.strerror}", param_hint="NET") from None


NetArg = Annotated[
    str, typer.Argument(metavar="NET", help="A YAML net spec, or - for stdin.", show_default=False)
]


@app.command()
def shape(
    net: NetArg,
    format: Annotated[
        ShapeFormat,
        typer.Option("--format", "-f", help="table, json, markdown (GitHub table) or csv."),
    ] = ShapeFormat.table,
    batch: Annotated[
        int | None,
        typer.Option("--batch", "-b", min=1, metavar="N", help="Batch size for MACs (overrides the spec's)."),
    ] = None,
    convention: Annotated[
        Convention | None,
        typer.Option(
            "--convention",
            help="Parameter counting: pytorch or keras (overrides the spec's convention:).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Output shape, receptive field, parameters and MACs of every layer.

    Example: convcalc shape specs/examples/wavenet.yaml --format json
    """
    from .analyze import analyze
    from .spec import parse, paused_gc

    data, file = _read(net)
    # one short-lived pass that builds many small acyclic objects: nothing for the collector
    with paused_gc():
        try:
            report = analyze(parse(data, file), batch, convention.value if convention else None)
        except ConvcalcError as e:
            _fail(e)
        if format is not ShapeFormat.table:
            from .render import to_csv, to_json, to_markdown

            render = {ShapeFormat.json: to_json, ShapeFormat.markdown: to_markdown, ShapeFormat.csv: to_csv}
            text = render[format](report)
            sys.stdout.write(text if text.endswith("\n") else text + "\n")
            return
    from rich.console import Console

    from .render import legend, table

    console = Console()
    console.print(table(report))
    console.print(legend(), style="dim", highlight=False)


@app.command()
def schema() -> None:
    """Print the JSON Schema (draft 2020-12) of the spec format, for editors and validators.

    Example: convcalc schema > specs/convcalc.schema.json
    """
    from .schema import schema_json

    sys.stdout.write(schema_json())


class DType(str, Enum):
    float32 = "float32"
    float64 = "float64"


class _Bar:
    """A rich progress bar on stderr that appears only once a run has taken a second."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.t0 = time.perf_counter()
        self.progress: Any = None
        self.task: Any = None

    def __call__(self, done: int, total: int, label: str) -> None:
        if not self.enabled:
            return
        if self.progress is None:
            if time.perf_counter() - self.t0 < 1.0:
                return
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self.progress.start()
            self.task = self.progress.add_task(label, total=total)
        self.progress.update(self.task, completed=done, total=total, description=label)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()


def _load_array(path: str, option: str, archive: bool) -> Any:
    """A .npy (memory-mapped) or the arrays of a .npz; a missing file is a usage error."""
    import numpy as np

    try:
        data = np.load(path, allow_pickle=False, mmap_mode=None if archive else "r")
    except FileNotFoundError:
        raise typer.BadParameter(f"no such file: {path}", param_hint=option) from None
    except IsADirectoryError:
        raise typer.BadParameter(f"{path} is a directory", param_hint=option) from None
    except (OSError, ValueError, EOFError) as e:
        why = str(e)
        if "allow_pickle" in why:  # NumPy's message for any file without the .npy/.npz magic
            why = "not a NumPy .npy/.npz file (or one holding pickled objects, which are not loaded)"
        raise ConvcalcError(f"cannot read {path}: {why}") from None
    if archive != isinstance(data, np.lib.npyio.NpzFile):
        want = "a .npz archive of named arrays (numpy.savez)" if archive else "a single .npy array"
        raise ConvcalcError(f"{path} is not {want}")
    if archive:
        try:
            with data:
                return {name: data[name] for name in data.files}
        except (OSError, ValueError, EOFError) as e:
            raise ConvcalcError(f"cannot read {path}: {e}") from None
    return data


@app.command()
def verify(
    net: NetArg,
    weights: Annotated[
        str | None,
        typer.Option("--weights", "-w", metavar="W.npz", help="Weights by state_dict name (default random)."),
    ] = None,
    input: Annotated[
        str | None,
        typer.Option("--input", "-i", metavar="X.npy", help="Input array, batch first (default: random)."),
    ] = None,
    batch: Annotated[
        int | None,
        typer.Option("--batch", "-b", min=1, metavar="N", help="Batch of the random input (default spec's)."),
    ] = None,
    seed: Annotated[
        int, typer.Option("--seed", "-s", min=0, metavar="SEED", help="Seed of random input and weights.")
    ] = 0,
    output: Annotated[
        str | None, typer.Option("--output", "-o", metavar="Y.npy", help="Save the output here.")
    ] = None,
    dtype: Annotated[DType, typer.Option("--dtype", help="dtype of the random input.")] = DType.float32,
    format: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
    max_memory: Annotated[
        str, typer.Option("--max-memory", metavar="SIZE", help="Refuse to run if the estimate is larger.")
    ] = "2GiB",
) -> None:
    """Run the network with NumPy and check the analysis against it.

    Checks that every layer's computed output shape is the predicted one, and
    measures the receptive field of the output on every axis where it is bounded
    and fits the input. Reports time and peak memory per layer.

    Exit 0 when everything agrees; 1 with a diagnostic per layer when not, when
    the weight file does not match the net, or when the memory estimate exceeds
    --max-memory.

    Example: convcalc verify specs/examples/tcn.yaml --weights tcn.npz -o y.npy
    """
    import numpy as np

    from . import verify as v
    from .analyze import analyze
    from .forward import check_input, weight_table
    from .render import dump
    from .spec import parse

    try:
        limit = v.parse_size(max_memory)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--max-memory") from None
    data, file = _read(net)
    bar = _Bar(format is Format.table)
    try:
        report = analyze(parse(data, file))
        table = weight_table(report)
        x = None
        if input is not None:
            x = check_input(report.spec.input_shape, _load_array(input, "--input", False))
            if batch is not None and batch != x.shape[0]:
                raise typer.BadParameter(f"{batch} but {input} has batch {x.shape[0]}", param_hint="--batch")
        arrays = _load_array(weights, "--weights", True) if weights is not None else None
        if arrays is not None:
            problems = v.check_weight_file(table, arrays)
            if problems:
                print(f"error: {weights} does not match {file} ({len(problems)} problems):", file=sys.stderr)
                for problem in problems:
                    print(f"  {problem}", file=sys.stderr)
                raise typer.Exit(1)
        n = x.shape[0] if x is not None else batch or report.spec.batch
        itemsize = x.dtype.itemsize if x is not None else np.dtype(dtype.value).itemsize
        need = v.estimate_memory(report, table, n, itemsize)
        probe = v.estimate_memory(report, table, 1, 4)  # one receptive-field probe (float32)
        if max(need.total, probe.total) > limit:
            raise ConvcalcError(
                f"refusing to run: the forward pass needs about {v.format_bytes(need.total)} "
                f"(weights {v.format_bytes(need.weights)}, activations {v.format_bytes(need.activations)} "
                f"at batch {n}), more than --max-memory {v.format_bytes(limit)}; "
                "use a smaller --batch or input, or raise --max-memory"
            )
        probe_batch = int(max(1, min(8, (limit - probe.weights) // max(probe.activations, 1))))
        notes = [f"input: {input}" if input is not None else f"input: random normal (seed {seed})"]
        notes.append(f"weights: {weights}" if weights is not None else f"weights: random (seed {seed})")
        if report.spec.convention == "keras":
            notes.append(
                "convention: keras changes parameter counts only; the forward pass computes PyTorch's "
                "equations with PyTorch's state_dict names"
            )
        if x is None:
            x = v.random_input(report.spec.input_shape, n, dtype.value, seed)
        result = v.verify(report, table, x, arrays, seed, probe_batch, bar)
        result.notes = notes
    except ConvcalcError as e:
        bar.close()
        _fail(e)
    bar.close()
    if output is not None and result.output is not None:
        try:
            with open(output, "wb") as fh:  # exactly this name: np.save(path) would append .npy
                np.save(fh, result.output)
        except OSError as e:
            _fail(ConvcalcError(f"cannot write {output}: {e.strerror}"))
    if format is Format.json:
        sys.stdout.write(dump(result.to_dict()) + "\n")
    else:
        from rich.console import Console

        console = Console()
        for part in v.render(result):
            console.print(part)
    if not result.ok:
        raise typer.Exit(1)


# -- convcalc solve: inverse questions (convcalc/solve.py) -----------------------------------------

solve_app = typer.Typer(
    name="solve",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Solve for a design: padding for an output size, a dilated stack for a receptive field, "
    "the input sizes a net divides exactly. Documented in specs/solve.md.",
)
app.add_typer(solve_app, name="solve")


class SolveFormat(str, Enum):
    text = "text"
    json = "json"


class PoolOp(str, Enum):
    max = "max"
    avg = "avg"


class Rule(str, Enum):
    no_drop = "no-drop"
    divisible = "divisible"


SolveFormatOpt = Annotated[SolveFormat, typer.Option("--format", "-f", help="Output format.")]


def _solve_emit(call: Any, format: SolveFormat) -> None:
    """Run a solver; usage errors exit 2, unsolvable questions exit 1, answers go to stdout."""
    import json

    from .solve import SolveUsageError

    try:
        result = call()
    except SolveUsageError as e:
        raise typer.BadParameter(str(e), param_hint=f"'{e.param}'") from None
    except ConvcalcError as e:
        _fail(e)
    if format is SolveFormat.json:
        sys.stdout.write(json.dumps(result.to_dict(), indent=2) + "\n")
    else:
        sys.stdout.write("\n".join(result.text()) + "\n")


@solve_app.command("padding")
def solve_padding_cmd(
    n: Annotated[
        str, typer.Option("--n", "--size", metavar="N[,N]", help="Input size: 32, or one per axis: 224,224.")
    ],
    kernel: Annotated[
        str, typer.Option("--kernel", "-k", metavar="K[,K]", help="Kernel size (one, or one per axis).")
    ],
    out: Annotated[
        str, typer.Option("--out", "-o", metavar="N[,N]", help="Wanted output size (one, or one per axis).")
    ],
    stride: Annotated[
        str | None,
        typer.Option(
            "--stride", "-s", metavar="S[,S]", help="Stride (default: 1; the kernel size with --pool)."
        ),
    ] = None,
    dilation: Annotated[
        str, typer.Option("--dilation", "-d", metavar="D[,D]", help="Dilation (one, or one per axis).")
    ] = "1",
    pool: Annotated[
        PoolOp | None,
        typer.Option("--pool", help="Solve for a PyTorch pool: symmetric padding <= kernel//2 only."),
    ] = None,
    ceil_mode: Annotated[
        bool | None,
        typer.Option(
            "--ceil-mode/--no-ceil-mode", metavar=FLAG, help="With --pool: fix ceil_mode (default: try both)."
        ),
    ] = None,
    out_channels: Annotated[
        int, typer.Option("--out-channels", min=1, metavar="C", help="out_channels in the YAML.")
    ] = 16,
    format: SolveFormatOpt = SolveFormat.text,
) -> None:
    """The padding that gives a wanted output size.

    The smallest symmetric padding, else the (left, right) pair with the smallest total.

    Printed with its PyTorch, TensorFlow and YAML spellings; per-axis values are comma lists.

    Example: convcalc solve padding --n 32 --kernel 3 --stride 2 --out 16
    """
    from .solve import per_axis_values, solve_padding

    def call() -> Any:
        return solve_padding(
            per_axis_values(n, "--n"),
            per_axis_values(kernel, "--kernel"),
            per_axis_values(out, "--out"),
            per_axis_values(stride, "--stride") if stride is not None else None,
            per_axis_values(dilation, "--dilation"),
            pool.value if pool else None,
            ceil_mode,
            out_channels,
        )

    _solve_emit(call, format)


@solve_app.command("receptive-field")
def solve_receptive_field_cmd(
    target: Annotated[
        int, typer.Option("--target", "-t", metavar="N", help="Receptive field to cover, in samples.")
    ],
    kernel: Annotated[int, typer.Option("--kernel", "-k", metavar="K", help="Kernel size of every layer.")],
    max_dilation: Annotated[
        int | None,
        typer.Option("--max-dilation", metavar="D", help="Restart the growing dilations after this one."),
    ] = None,
    growth: Annotated[
        int | None,
        typer.Option("--growth", "-g", metavar="G", help="Dilation ratio layer to layer (default: 2)."),
    ] = None,
    dilations: Annotated[
        str | None,
        typer.Option("--dilations", metavar="D,D,...", help="An explicit pattern to cycle, like 1,2,4,8."),
    ] = None,
    stacks: Annotated[
        int, typer.Option("--stacks", metavar="N", help="Identical stacks in a row (WaveNet-style).")
    ] = 1,
    channels: Annotated[
        int, typer.Option("--channels", "-c", metavar="C", help="Channels in and out of every layer.")
    ] = 32,
    causal: Annotated[
        bool, typer.Option("--causal/--same", metavar=FLAG, help="Padding of every layer.")
    ] = False,
    format: SolveFormatOpt = SolveFormat.text,
) -> None:
    """The fewest dilated conv layers whose receptive field covers a target.

    Stride-1 conv1d layers dilated 1, g, g^2, ... (restarting after --max-dilation) or by --dilations.

    The field is 1 + (kernel - 1) * (the sum of the dilations).

    Example: convcalc solve receptive-field --target 1024 --kernel 2 --max-dilation 512 --causal
    """
    from .solve import SolveUsageError, solve_receptive_field

    def call() -> Any:
        pattern = None
        if dilations is not None:
            try:
                pattern = [int(t) for t in dilations.split(",")]
            except ValueError:
                bad = f"write comma-separated integers, like 1,2,4,8; got '{dilations}'"
                raise SolveUsageError(bad, "--dilations") from None
        return solve_receptive_field(target, kernel, growth, max_dilation, pattern, stacks, channels, causal)

    _solve_emit(call, format)


@solve_app.command("input-sizes")
def solve_input_sizes_cmd(
    net: NetArg,
    axis: Annotated[
        str | None,
        typer.Option(
            "--axis", "-a", metavar="AXIS", help="Spatial axis to vary: L, H, W, D (default: all at once)."
        ),
    ] = None,
    range_: Annotated[
        str, typer.Option("--range", "-r", metavar="LOW:HIGH", help="Sizes to try, LOW:HIGH inclusive.")
    ] = "1:1024",
    require: Annotated[
        Rule,
        typer.Option("--require", help="no-drop: no input row left unread; divisible: out = n / stride."),
    ] = Rule.no_drop,
    format: SolveFormatOpt = SolveFormat.text,
) -> None:
    """The input sizes a net analyses for and divides exactly.

    A size is valid when the analysis succeeds and no strided conv/pool breaks the --require rule.

    The JSON lists each excluded size with the first layer that fails, and why.

    Example: convcalc solve input-sizes specs/examples/resnet_stem.yaml --range 1:512 --require divisible
    """
    from .solve import parse_range, solve_input_sizes
    from .spec import parse

    data, file = _read(net)

    def call() -> Any:
        lo, hi = parse_range(range_)
        return solve_input_sizes(parse(data, file), lo, hi, axis, require.value)

    _solve_emit(call, format)


class CheckFormat(str, Enum):
    text = "text"
    github = "github"
    json = "json"


@app.command()
def check(
    paths: Annotated[
        list[str],
        typer.Argument(
            metavar="PATH",
            help="Spec files, directories (their *.yaml/*.yml files) or globs; - is stdin.",
            show_default=False,
        ),
    ],
    format: Annotated[
        CheckFormat, typer.Option("--format", "-f", help="text, github (Actions annotations) or json.")
    ] = CheckFormat.text,
    strict: Annotated[bool, typer.Option("--strict", metavar=FLAG, help="Fail on warnings too.")] = False,
    ignore: Annotated[
        list[str] | None, typer.Option("--ignore", metavar="CODE", help="Switch a warning off (repeatable).")
    ] = None,
    forward: Annotated[
        bool,
        typer.Option(
            "--forward", metavar=FLAG, help="Also run the NumPy forward pass and compare its shapes."
        ),
    ] = False,
) -> None:
    """Check specs for CI: errors, warnings and expect: contracts, one line per problem.

    Exit 0 if all is well, 1 on any error (or warning, with --strict), 2 on a usage error.

    Example: convcalc check specs/ --format github
    """
    from contextlib import nullcontext

    from .check import (
        PathError,
        check_path,
        code_problem,
        expand_paths,
        render_github,
        render_json,
        render_text,
    )
    from .spec import paused_gc

    codes = frozenset(ignore or ())
    for code in sorted(codes):
        problem = code_problem(code)
        if problem:
            raise typer.BadParameter(problem, param_hint="--ignore")
    try:
        files = expand_paths(paths)
    except PathError as e:
        raise typer.BadParameter(str(e), param_hint="PATH") from None
    # analysis builds an acyclic heap of small objects per file: the collector has nothing to find
    # there (the forward pass's engine holds cycles and big arrays: leave the collector on for it)
    with nullcontext() if forward else paused_gc():
        results = [check_path(f, codes, forward) for f in files]
    render = {CheckFormat.text: render_text, CheckFormat.github: render_github, CheckFormat.json: render_json}
    sys.stdout.write(render[format](results, strict))
    if any(r.failed(strict) for r in results):
        raise typer.Exit(1)


class ExplainFormat(str, Enum):
    text = "text"
    markdown = "markdown"


@app.command("explain")
def explain_cmd(
    net: NetArg,
    layer: Annotated[
        str | None,
        typer.Option(
            "--layer",
            "-l",
            metavar="LAYER",
            help="Only this layer (dotted path like 0.layers.1, or name) and its children.",
        ),
    ] = None,
    format: Annotated[
        ExplainFormat, typer.Option("--format", "-f", help="text (coloured in a terminal) or markdown.")
    ] = ExplainFormat.text,
    batch: Annotated[
        int | None,
        typer.Option("--batch", "-b", min=1, metavar="N", help="Batch size for MACs (overrides the spec's)."),
    ] = None,
) -> None:
    """Work out every layer's arithmetic with its real numbers, as a textbook would.

    Output size, padding, receptive field, parameters and MACs, each formula written out.

    Example: convcalc explain specs/examples/tcn.yaml --layer 4.layers.0
    """
    from .analyze import analyze
    from .explain import explain, render_markdown, render_text
    from .spec import parse

    data, file = _read(net)
    try:
        report = analyze(parse(data, file), batch)
    except ConvcalcError as e:
        _fail(e)
    try:
        worked = explain(report, layer)
    except LookupError as e:
        raise typer.BadParameter(str(e.args[0]), param_hint="--layer") from None
    if format is ExplainFormat.markdown:
        sys.stdout.write(render_markdown(worked))
        return
    from rich.console import Console

    # markup becomes colour in a terminal and is dropped when piped
    Console().print(render_text(worked, markup=True).rstrip("\n"), highlight=False, soft_wrap=True)


class DrawKind(str, Enum):
    auto = "auto"
    dilated = "dilated"
    grid = "grid"
    rf_plot = "rf-plot"


def _parse_index(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise typer.BadParameter(
            f"{text!r}: expected an integer, or one per spatial axis separated by commas (e.g. 3,5)",
            param_hint="--output-index",
        ) from None


@app.command("draw")
def draw_cmd(
    net: NetArg,
    output: Annotated[
        str,
        typer.Option(
            "--output", "-o", metavar="FILE", help="Where to write: .svg, .png, or - (SVG on stdout)."
        ),
    ] = "-",
    output_index: Annotated[
        str | None,
        typer.Option(
            "--output-index",
            "-i",
            metavar="I[,J]",
            help="The output unit to trace: one index per spatial axis (or one for all); negative "
            "counts from the end. Default: the middle.",
        ),
    ] = None,
    kind: Annotated[DrawKind, typer.Option("--kind", "-k", help="Which picture.")] = DrawKind.auto,
    log: Annotated[
        bool, typer.Option("--log", metavar=FLAG, help="Log scale for the receptive-field plot.")
    ] = False,
    pointwise: Annotated[
        bool,
        typer.Option(
            "--pointwise", metavar=FLAG, help="Draw pointwise layers (kernel 1, stride 1) as rows too."
        ),
    ] = False,
) -> None:
    """Draw the receptive field of an output unit, and the field size per layer.

    A dilated-convolution diagram for 1D nets, the field over the input grid for 2D nets, and a
    plot of the field size per layer.

    Example: convcalc draw specs/examples/wavenet.yaml -o wavenet.svg --output-index -1
    """
    from .analyze import analyze
    from .draw import draw, to_svg
    from .spec import parse

    suffix = output.rsplit(".", 1)[-1].lower() if "." in output else ""
    if output != "-" and suffix not in ("svg", "png"):
        raise typer.BadParameter(f"{output}: the file name must end in .svg or .png", param_hint="--output")
    index = _parse_index(output_index)
    data, file = _read(net)
    try:
        report = analyze(parse(data, file))
        try:
            scene = draw(report, kind.value, index, log, pointwise)
        except ValueError as e:
            raise typer.BadParameter(str(e), param_hint="--output-index") from None
        if suffix == "png":
            from .draw_png import render_png

            render_png(scene, output)
            return
        text = to_svg(scene)
    except ConvcalcError as e:
        _fail(e)
    if output == "-":
        sys.stdout.write(text)
        return
    try:
        with open(output, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as e:
        _fail(ConvcalcError(f"cannot write {output}: {e.strerror}"))


def main() -> None:
    app()
