"""``convcalc verify``: run the NumPy forward pass and check the analysis against it.

Pure logic, no I/O: the CLI reads files, prints and sets exit codes. Three checks:

* every layer's computed output shape equals the predicted one (nested layers included);
* the receptive field of the final output, measured with the engine, equals the predicted
  one on every axis where it is bounded and fits the input (see :func:`measure_rf`);
* a weight file holds exactly the expected tensors (:func:`check_weight_file`).

It also reports time and peak traced memory per layer, and estimates memory before
anything is allocated (:func:`estimate_memory`).
"""

from __future__ import annotations

import re
import time
import tracemalloc
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from math import prod
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import ConvcalcError
from .forward import FLOAT_DTYPES, Engine, WeightTable, check_input, resolve_weights
from .layers import REGISTRY
from .layers.base import Act, axis_name, per_axis, shape_str
from .report import LayerReport, Report
from .rf import RF, AxisRF
from .spec import Layer, did_you_mean

if TYPE_CHECKING:
    from rich.console import RenderableType

#: progress callback: (layers done, layers in total, what is running)
Progress = Callable[[int, int, str], None]

_SIZE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(?:([kmgt])(i?))?b?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """A byte count: ``2GiB``, ``512MB``, ``1.5g``, ``100000``.

    >>> parse_size("2GiB"), parse_size("512MB"), parse_size("100k"), parse_size("7")
    (2147483648, 512000000, 100000, 7)
    """
    m = _SIZE.match(text)
    if not m:
        raise ValueError(f"not a size: {text!r} (write e.g. 2GiB, 512MB, 1.5G or a number of bytes)")
    power = "kmgt".index(m.group(2).lower()) + 1 if m.group(2) else 0
    return int(float(m.group(1)) * (1024 if m.group(3) else 1000) ** power)


def format_bytes(n: float) -> str:
    """
    >>> format_bytes(512), format_bytes(3 * 1024**2), format_bytes(2.5 * 1024**3)
    ('512 B', '3.0 MiB', '2.5 GiB')
    """
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{int(n)} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError  # pragma: no cover


# -- weight files -------------------------------------------------------------------------------


def check_weight_file(table: WeightTable, arrays: Mapping[str, np.ndarray]) -> list[str]:
    """Every problem with a weight file: missing, misshaped, badly typed or unexpected tensors."""
    problems = []
    for name, e in table.expected.items():
        if name not in arrays:
            problems.append(f"missing '{name}': {e.layer.label} expects shape {shape_str(e.shape)}")
            continue
        arr = arrays[name]
        if tuple(arr.shape) != e.shape:
            problems.append(
                f"'{name}' has shape {shape_str(arr.shape)}, but {e.layer.label} expects {shape_str(e.shape)}"
            )
        elif arr.dtype not in FLOAT_DTYPES:
            problems.append(f"'{name}' has dtype {arr.dtype}; weights must be float32 or float64")
    for name, arr in arrays.items():
        if name not in table.expected and name not in table.ignored:
            hint = did_you_mean(name, [n for n in table.expected if n not in arrays])
            problems.append(f"unexpected '{name}' (shape {shape_str(arr.shape)}): no layer has it{hint}")
    return problems


# -- memory -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes the forward pass needs: the weights, and the activations alive at the worst moment
    (input, output and work arrays such as im2col columns)."""

    weights: int
    activations: int

    @property
    def total(self) -> int:
        return self.weights + self.activations


def estimate_memory(report: Report, table: WeightTable, batch: int, itemsize: int) -> MemoryEstimate:
    per_sample = prod(report.spec.input_shape) + _work(report.layers, report.spec.input_shape)
    return MemoryEstimate(table.nbytes(itemsize), per_sample * batch * itemsize)


def _work(reports: Sequence[LayerReport], in_shape: tuple[int, ...]) -> int:
    """Peak elements (one sample) alive while a layer list runs, beyond its input."""
    peak, held = 0, 0  # held: the current input, when it is not the list's own input
    for r in reports:
        peak = max(peak, held + _layer_work(r, in_shape))
        held, in_shape = prod(r.shape), r.shape
    return peak


def _layer_work(r: LayerReport, in_shape: tuple[int, ...]) -> int:
    t, o, n_in, n_out = r.layer.type, r.layer.opts, int(prod(in_shape)), int(prod(r.shape))
    if t in ("sequential", "repeat"):
        return _work(r.children["layers"], in_shape)
    if t == "residual":
        main = _work(r.children["layers"], in_shape)
        return max(main, n_out + _work(r.children["shortcut"], in_shape)) + n_out
    if t == "parallel":
        done, peak = 0, 0
        for branch in r.children["branches"]:
            peak = max(peak, done + _work(branch, in_shape))
            done += prod(branch[-1].shape) if branch else 0
        return max(peak, done + n_out)
    if t.startswith("conv_transpose"):
        # the one matmul's columns (every input position times every tap) and the uncropped output
        k = per_axis(o["kernel_size"], len(in_shape) - 1)
        return int(n_in + o["out_channels"] * prod(k) * prod(in_shape[1:]) + 2 * n_out)
    if t.startswith("conv"):
        # padded input, im2col columns, the product and its contiguous copy
        k, _, _, left, right, out = REGISTRY[t].geometry(r.layer, Act(in_shape, RF()))  # type: ignore[attr-defined]
        padded = in_shape[0] * prod(n + lo + hi for n, lo, hi in zip(in_shape[1:], left, right, strict=True))
        return int(padded + in_shape[0] * prod(k) * prod(out) + 2 * n_out)
    if t[3:7] == "pool":
        return 3 * n_in + 2 * n_out
    if t in ("rnn", "lstm", "gru"):
        gates = getattr(REGISTRY[t], "gates", 4)
        steps = in_shape[1] if len(in_shape) > 1 else 1
        dirs = 2 if o["bidirectional"] else 1
        return int(n_in + (gates + 3) * o["hidden_size"] * dirs * steps + 2 * n_out)
    return 4 * n_out


# -- the forward pass, layer by layer -----------------------------------------------------------


@dataclass
class LayerRow:
    """One layer of the verified net: predicted and computed output shape, cost, status."""

    layer: Layer
    depth: int
    predicted: tuple[int, ...]
    computed: tuple[int, ...] | None = None  # without batch; None when it did not run
    seconds: float = 0.0
    peak_bytes: int = 0  # traced memory above what was allocated when the layer started
    error: str | None = None

    @property
    def status(self) -> str:
        if self.error is not None:
            return "failed"
        if self.computed is None:
            return "not run"
        return "ok" if self.computed == self.predicted else "mismatch"

    def diagnostic(self) -> str | None:
        where = f"{self.layer.label} (line {self.layer.loc.line})"
        if self.error is not None:
            return f"{where}: the forward pass failed: {self.error}"
        if self.status == "mismatch":
            assert self.computed is not None
            return (
                f"{where}: computed output shape {shape_str(self.computed)}, "
                f"predicted {shape_str(self.predicted)}"
            )
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.layer.dotted,
            "type": self.layer.type,
            "name": self.layer.name,
            "line": self.layer.loc.line,
            "depth": self.depth,
            "predicted_shape": list(self.predicted),
            "computed_shape": None if self.computed is None else list(self.computed),
            "status": self.status,
            "seconds": round(self.seconds, 6),
            "peak_bytes": self.peak_bytes,
            "error": self.error,
        }


@dataclass
class _Frame:
    row: LayerRow | None  # None: the whole net
    t0: float
    base: int
    carry: int = 0  # peak of intervals whose tracemalloc peak was reset by a nested layer


class _Recorder:
    """Observer: times every layer, records its output shape and its traced peak memory."""

    def __init__(self, rows: dict[str, LayerRow], progress: Progress | None, total: int) -> None:
        self.rows = rows
        self.progress = progress
        self.total = total
        self.done = 0
        cur, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        self.stack = [_Frame(None, time.perf_counter(), cur)]

    def enter(self, layer: Layer, x: np.ndarray) -> None:
        cur, peak = tracemalloc.get_traced_memory()
        self.stack[-1].carry = max(self.stack[-1].carry, peak)
        tracemalloc.reset_peak()
        self.stack.append(_Frame(self.rows[layer.dotted], time.perf_counter(), cur))

    def leave(self, layer: Layer, y: np.ndarray) -> None:
        frame = self.stack.pop()
        _, peak = tracemalloc.get_traced_memory()
        top = max(peak, frame.carry)
        self.stack[-1].carry = max(self.stack[-1].carry, top)
        assert frame.row is not None
        frame.row.seconds = time.perf_counter() - frame.t0
        frame.row.peak_bytes = max(top - frame.base, 0)
        frame.row.computed = tuple(int(n) for n in y.shape[1:])
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, self.total, "forward pass")

    def fail(self, message: str) -> None:
        """The innermost running layer raised."""
        rows = [frame.row for frame in self.stack if frame.row is not None]
        for row in rows:
            row.error = message if row is rows[-1] else f"in nested layer {rows[-1].layer.dotted}"

    def peak(self) -> int:
        _, peak = tracemalloc.get_traced_memory()
        return max(peak, self.stack[0].carry) - self.stack[0].base


# -- receptive fields ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AxisCheck:
    """The receptive field on one axis: predicted, and measured at one output position."""

    axis: str
    predicted: AxisRF
    status: str  # ok | mismatch | skipped
    note: str = ""
    position: int | None = None
    size: int | None = None
    jump: int | None = None
    start: int | None = None

    def to_dict(self) -> dict[str, Any]:
        p = self.predicted
        return {
            "axis": self.axis,
            "status": self.status,
            "note": self.note,
            "predicted": {"size": p.size, "jump": p.jump, "start": p.start},
            "measured": {
                "size": self.size,
                "jump": self.jump,
                "start": self.start,
                "position": self.position,
            },
        }


Slab = tuple[int, int, int]  # (axis, lo, hi): input positions lo <= i < hi on that axis
Box = tuple[Slab, ...]  # the intersection of its slabs (every position on other axes)
Probe = tuple[tuple[Box, ...], tuple[int, ...]]  # boxes set to 1, and the output position


class _Prober:
    """Runs the linearised net (all-ones weights, zero biases, identity activations) on 0/1
    inputs that are 1 in some boxes, and says whether an output position is > 0, i.e.
    depends on some input position in the boxes.

    float32 is enough: nothing is subtracted, so a value is 0 exactly when nothing it
    depends on is 1, and a sum that overflows is inf, still > 0."""

    def __init__(self, report: Report, table: WeightTable, batch: int, progress: Progress | None) -> None:
        self.report = report
        self.batch = max(batch, 1)
        self.progress = progress
        weights = {}
        for name, e in table.expected.items():
            zero = e.spec.init == "zeros" or (e.spec.init == "uniform" and "bias" in e.local)
            weights[name] = (np.zeros if zero else np.ones)(e.shape, dtype=np.float32)
        self.engine = Engine(table, weights, linear=True)
        self.passes = 0
        self.planned = 0

    def depends(self, probes: Sequence[Probe]) -> list[bool]:
        shape = self.report.spec.input_shape
        answers = []
        for i in range(0, len(probes), self.batch):
            chunk = probes[i : i + self.batch]
            x = np.zeros((len(chunk), *shape), dtype=np.float32)
            for j, (boxes, _) in enumerate(chunk):
                for box in boxes:
                    index: list[Any] = [j] + [slice(None)] * len(shape)
                    for axis, lo, hi in box:
                        n = shape[1 + axis]
                        index[2 + axis] = slice(min(max(lo, 0), n), min(max(hi, 0), n))
                    x[tuple(index)] = 1.0
            y = self.engine.run(self.report.spec.layers, x)
            for j, (_, q) in enumerate(chunk):
                at: tuple[Any, ...] = (j, slice(None), *q)
                answers.append(bool(y[at].sum() > 0))
            self.passes += 1
            if self.progress is not None:
                self.progress(self.passes, max(self.planned, self.passes), "receptive field")
        return answers

    def extent(self, axis: int, q: tuple[int, ...]) -> tuple[int, int] | None:
        """The first and last input position q depends on along ``axis`` (binary searches)."""
        n = self.report.spec.input_shape[1 + axis]
        if not self.depends([((((axis, 0, n),),), q)])[0]:
            return None
        lo, hi = 1, n  # the smallest t with a dependence below t
        while lo < hi:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if self.depends([((((axis, 0, mid),),), q)])[0] else (mid + 1, hi)
        first = lo - 1
        lo, hi = first, n - 1  # the largest t with a dependence at or above t
        while lo < hi:
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if self.depends([((((axis, mid, n),),), q)])[0] else (lo, mid - 1)
        return first, lo


def measure_rf(
    report: Report, table: WeightTable, probe_batch: int = 8, progress: Progress | None = None
) -> tuple[list[AxisCheck], str | None]:
    """Measure the final output's receptive field with the engine and compare it with the
    prediction, axis by axis; or say why it cannot be measured.

    At an output position q whose predicted field [L, R] lies inside the input on every
    measured axis, probes check it exactly: nothing outside [L, R] matters, and L and R
    both do. At q + 1 (on every axis at once) two more probes check the jump: nothing below
    L + jump matters, L + jump does. When a check fails, binary searches find the real
    extent, for the diagnostic.
    """
    rf = report.rf
    if not rf.spatial:
        return [], f"not measured: the output has no spatial axes ({rf.scope})"
    if not rf.axes:
        return [], "not measured: the input has no spatial axes"
    in_sizes = report.spec.input_shape[1:]
    out_sizes = report.output_shape[1:]
    ndim = len(in_sizes)
    plans: dict[int, tuple[int, int | None]] = {}
    geo: dict[int, tuple[int, int, int]] = {}  # integral (size, jump, start) of measurable axes
    checks: dict[int, AxisCheck] = {}
    for a, ax in enumerate(rf.axes):
        name = axis_name(ndim, a)
        if ax.size is None or ax.jump is None or ax.start is None:
            why = "branches with different strides were merged" if ax.jump is None else "it is unbounded"
            checks[a] = AxisCheck(name, ax, "skipped", f"not measured: {why}")
            continue
        if ax.envelope or not all(isinstance(v, int) for v in (ax.size, ax.jump, ax.start)):
            checks[a] = AxisCheck(
                name, ax, "skipped", "not measured: the field is an envelope (after upsampling), not exact"
            )
            continue
        geo[a] = (int(ax.size), int(ax.jump), int(ax.start))
        size, jump, start = geo[a]
        lo = max(-(start // jump), 0)
        hi = min((in_sizes[a] - size - start) // jump, out_sizes[a] - 1)
        if lo > hi:
            big = size > in_sizes[a]
            what = f"larger than the input ({size} > {in_sizes[a]})" if big else "never inside the input"
            checks[a] = AxisCheck(name, ax, "skipped", f"not measured: the field is {what}")
            continue
        p = (lo + hi) // 2
        p2 = p + 1 if p + 1 <= hi else (p - 1 if p - 1 >= lo else None)
        plans[a] = (p, p2)
    if not plans:
        return [checks[a] for a in range(ndim)], None

    def field(a: int, pos: int) -> tuple[int, int]:
        size, jump, start = geo[a]
        return start + pos * jump, start + pos * jump + size - 1

    q1 = tuple(plans[b][0] if b in plans else out_sizes[b] // 2 for b in range(ndim))
    moved = {a: p2 for a, (_, p2) in plans.items() if p2 is not None}
    q2 = tuple(moved.get(b, q1[b]) for b in range(ndim))
    outside: list[Box] = []
    for a, (p, _) in plans.items():
        left, right = field(a, p)
        outside += [((a, 0, left),), ((a, right + 1, in_sizes[a]),)]
    below = tuple(((a, 0, field(a, pos)[0]),) for a, pos in moved.items())

    def corner(pos: Mapping[int, int], end: int) -> tuple[Box, ...]:
        """The single input point at the left (0) or right (1) end of the field on every axis."""
        return (tuple((a, field(a, x)[end], field(a, x)[end] + 1) for a, x in pos.items()),)

    def ends(pos: Mapping[int, int], which: tuple[int, ...]) -> list[tuple[Box, ...]]:
        return [(((a, field(a, x)[end], field(a, x)[end] + 1),),) for a, x in pos.items() for end in which]

    prober = _Prober(report, table, probe_batch, progress)
    at1 = {a: p for a, (p, _) in plans.items()}
    # nothing outside the field matters; its corners do (a field that is a union of
    # differently shaped windows may miss a corner: then each end is probed on its own)
    stage = [(tuple(outside), q1), (corner(at1, 0), q1), (corner(at1, 1), q1)]
    if moved:
        stage += [(below, q2), (corner(moved, 0), q2)]
    prober.planned = -(-len(stage) // prober.batch)
    answers = prober.depends(stage)
    ok1 = not answers[0] and (
        (answers[1] and answers[2]) or all(prober.depends([(e, q1) for e in ends(at1, (0, 1))]))
    )
    ok2 = True
    if moved:
        ok2 = not answers[3] and (answers[4] or all(prober.depends([(e, q2) for e in ends(moved, (0,))])))
    for a, (p, p2) in plans.items():
        e1 = field(a, p) if ok1 else prober.extent(a, q1)
        e2 = None if p2 is None else field(a, p2) if ok2 else prober.extent(a, q2)
        checks[a] = _compare(axis_name(ndim, a), rf.axes[a], geo[a], p, p2, e1, e2, ok2)
    return [checks[a] for a in range(ndim)], None


def _compare(
    name: str,
    ax: AxisRF,
    geo: tuple[int, int, int],
    p: int,
    p2: int | None,
    e1: tuple[int, int] | None,
    e2: tuple[int, int] | None,
    left_only: bool,
) -> AxisCheck:
    """The measured field from the extents at positions p and p2 (``left_only``: only p2's
    left end was measured, which is all the jump needs)."""
    want_size, want_jump, want_start = geo
    if e1 is None:
        return AxisCheck(name, ax, "mismatch", f"output position {p} depends on no input position", p)
    size = e1[1] - e1[0] + 1
    jump: int | None = None
    notes = []
    if p2 is not None:
        if e2 is None:
            return AxisCheck(name, ax, "mismatch", f"output position {p2} depends on no input position", p)
        step = p2 - p
        jump = (e2[0] - e1[0]) // step
        if (e2[0] - e1[0]) % step or (not left_only and e2[1] - e2[0] + 1 != size):
            notes.append(f"the field is not the same at output positions {p} and {p2}: {e1} and {e2}")
    else:
        notes.append("jump not measured: the field fits the input at one output position only")
    start = e1[0] - p * (jump if jump is not None else want_jump)
    agree = size == want_size and start == want_start and (jump is None or jump == want_jump)
    if not agree:
        notes.insert(0, f"output position {p} depends on input positions {e1[0]}..{e1[1]}")
    status = "ok" if agree and not (p2 is not None and notes) else "mismatch"
    return AxisCheck(name, ax, status, "; ".join(notes), p, size, jump, start)


# -- the whole verification ---------------------------------------------------------------------


@dataclass
class Verification:
    report: Report
    rows: list[LayerRow]
    axes: list[AxisCheck]
    rf_note: str | None
    output: np.ndarray | None
    estimate: MemoryEstimate
    seconds: float
    peak_bytes: int
    dtype: str
    batch: int
    notes: list[str] = field(default_factory=list)  # where the input and weights came from

    @property
    def ok(self) -> bool:
        return all(r.status == "ok" for r in self.rows) and all(a.status != "mismatch" for a in self.axes)

    def diagnostics(self) -> list[str]:
        out = [d for r in self.rows if (d := r.diagnostic()) is not None]
        not_run = [r for r in self.rows if r.status == "not run"]
        if not_run and any(r.error for r in self.rows):
            out.append(f"{len(not_run)} later layer(s) did not run")
        for a in self.axes:
            if a.status == "mismatch":
                p = a.predicted
                out.append(
                    f"receptive field on axis {a.axis}: measured size {a.size}, jump {a.jump}, "
                    f"start {a.start}; "
                    f"predicted size {p.size}, jump {p.jump}, start {p.start} ({a.note})"
                )
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "name": self.report.spec.name,
            "input_shape": [self.batch, *self.report.spec.input_shape],
            "dtype": self.dtype,
            "output_shape": None if self.output is None else list(self.output.shape),
            "seconds": round(self.seconds, 6),
            "memory": {
                "estimated_bytes": self.estimate.total,
                "estimated_weights_bytes": self.estimate.weights,
                "estimated_activations_bytes": self.estimate.activations,
                "peak_bytes": self.peak_bytes,
            },
            "notes": self.notes,
            "layers": [r.to_dict() for r in self.rows],
            "receptive_field": {"note": self.rf_note, "axes": [a.to_dict() for a in self.axes]},
            "diagnostics": self.diagnostics(),
        }


def random_input(shape: tuple[int, ...], batch: int, dtype: str, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((batch, *shape)).astype(dtype)


def verify(
    report: Report,
    table: WeightTable,
    x: np.ndarray,
    weights: Mapping[str, np.ndarray] | None = None,
    seed: int = 0,
    probe_batch: int = 8,
    progress: Progress | None = None,
) -> Verification:
    """Run the forward pass on ``x`` recording every layer, then measure the receptive field."""
    x = check_input(report.spec.input_shape, x)
    w = resolve_weights(table, weights, seed, x.dtype)
    rows = {r.layer.dotted: LayerRow(r.layer, depth, r.shape) for depth, r in report.rows()}
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    t0 = time.perf_counter()
    output: np.ndarray | None = None
    try:
        recorder = _Recorder(rows, progress, len(rows))
        try:
            output = Engine(table, w, recorder).run(report.spec.layers, x)
        except Exception as e:  # a layer that breaks is a finding, reported on its row
            recorder.fail(str(e) if isinstance(e, ConvcalcError) else f"{type(e).__name__}: {e}")
        seconds = time.perf_counter() - t0
        peak = recorder.peak()
    finally:
        if started:
            tracemalloc.stop()
    estimate = estimate_memory(report, table, x.shape[0], x.dtype.itemsize)
    result = Verification(
        report, list(rows.values()), [], None, output, estimate, seconds, peak, str(x.dtype), x.shape[0]
    )
    if result.ok:
        result.axes, result.rf_note = measure_rf(report, table, probe_batch, progress)
    else:
        result.rf_note = "not measured: the forward pass did not match"
    return result


# -- rendering ----------------------------------------------------------------------------------

_MARK = {
    "ok": "[green]ok[/]",
    "mismatch": "[red]MISMATCH[/]",
    "failed": "[red]FAILED[/]",
    "not run": "[dim]-[/]",
}


def render(result: Verification) -> list[RenderableType]:
    """The table output of ``convcalc verify``, as rich renderables."""
    from rich.table import Table
    from rich.text import Text

    t = Table(title=f"verify {result.report.spec.name or result.report.spec.file}", title_justify="left")
    for col, just in (
        ("layer", "left"),
        ("predicted", "right"),
        ("computed", "right"),
        ("", "left"),
        ("time", "right"),
        ("peak mem", "right"),
    ):
        t.add_column(col, justify=just)  # type: ignore[arg-type]
    for r in result.rows:
        label = (
            "  " * r.depth
            + f"{r.layer.dotted} {r.layer.type}"
            + (f" '{r.layer.name}'" if r.layer.name else "")
        )
        computed = "-" if r.computed is None else shape_str(r.computed)
        ms = f"{r.seconds * 1000:.1f} ms" if r.computed is not None else "-"
        mem = format_bytes(r.peak_bytes) if r.computed is not None else "-"
        t.add_row(Text(label), shape_str(r.predicted), computed, _MARK[r.status], ms, mem)
    out: list[RenderableType] = [t]
    if result.axes:
        rt = Table(title="receptive field of the output (size / jump / start)", title_justify="left")
        for col in ("axis", "predicted", "measured", "at output", ""):
            rt.add_column(col)
        for a in result.axes:
            p = a.predicted
            pred = f"{p.size} / {p.jump} / {p.start}" if p.bounded else "unbounded" if p.jump else "-"
            meas = (
                f"{a.size} / {a.jump if a.jump is not None else '?'} / {a.start}"
                if a.size is not None
                else "-"
            )
            mark = {"ok": "[green]ok[/]", "mismatch": "[red]MISMATCH[/]", "skipped": "[dim]skipped[/]"}[
                a.status
            ]
            rt.add_row(
                a.axis,
                pred,
                meas,
                "-" if a.position is None else str(a.position),
                mark + (f" {a.note}" if a.note else ""),
            )
        out.append(rt)
    if result.rf_note:
        out.append(Text(f"receptive field: {result.rf_note}", style="dim"))
    est = result.estimate
    out.append(
        Text(
            f"input [{result.batch}, {', '.join(map(str, result.report.spec.input_shape))}] {result.dtype}; "
            f"{result.seconds:.3f} s; peak traced memory {format_bytes(result.peak_bytes)} "
            f"(estimated {format_bytes(est.total)})",
            style="dim",
        )
    )
    for note in result.notes:
        out.append(Text(note, style="dim"))
    if result.ok:
        n = len(result.rows)
        measured = sum(a.status == "ok" for a in result.axes)
        rf = f" and the receptive field on {measured} axis/axes" if measured else ""
        out.append(Text.from_markup(f"[green]OK[/]: all {n} layer shapes{rf} agree with the analysis"))
    else:
        out.append(Text.from_markup("[red]FAILED[/]:"))
        out.extend(Text("  " + d) for d in result.diagnostics())
    return out
