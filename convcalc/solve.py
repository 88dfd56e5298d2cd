"""Inverse questions, answered exactly: no search heuristics, no guesses.

- :func:`solve_padding`: the padding that gives a wanted output size (conv or PyTorch pooling);
- :func:`solve_receptive_field`: the fewest dilated conv layers whose field covers a target;
- :func:`solve_input_sizes`: the input sizes a net analyses for and divides exactly.

Every answer carries the YAML to paste into a spec. Pure logic: the CLI formats and prints.
The formulas are :mod:`convcalc.arith`'s; the input-size search runs :func:`convcalc.analyze.analyze`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .arith import conv_out, effective_kernel, pool_out, same_padding
from .errors import ConvcalcError, SpecError

if TYPE_CHECKING:
    from .report import LayerReport
    from .spec import Layer, NetSpec

AXES = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}
MAX_STACK_LAYERS = 200_000  # the spec's own layer limit
MAX_CANDIDATES = 100_000


class SolveUsageError(ConvcalcError):
    """A malformed or contradictory question (the CLI exits 2); ``param`` names the option."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.param = param


# -- small formatting helpers ------------------------------------------------------------------


def compact(values: Sequence[int]) -> str:
    """Integers, with runs of 4 or more in arithmetic progression abbreviated.

    >>> compact([32, 64, 96, 128, 160])
    '32, 64, ..., 160 (every 32)'
    >>> compact([1, 2, 3, 4, 9, 11])
    '1..4, 9, 11'
    >>> compact([])
    'none'
    """
    if not values:
        return "none"
    parts: list[str] = []
    i = 0
    while i < len(values):
        j = i
        if i + 1 < len(values):
            step = values[i + 1] - values[i]
            while j + 1 < len(values) and values[j + 1] - values[j] == step:
                j += 1
        if j - i + 1 >= 4:
            a, b = values[i], values[j]
            step = values[i + 1] - a
            parts.append(f"{a}..{b}" if step == 1 else f"{a}, {a + step}, ..., {b} (every {step})")
            i = j + 1
        else:
            parts.append(str(values[i]))
            i += 1
    return ", ".join(parts)


def compact_sizes(values: Sequence[int]) -> str:
    """Sizes for people: like :func:`compact`, but a set that repeats with a period (a union of
    residues) is written as one rule.

    >>> compact_sizes([3, 4, 7, 8, 11, 12, 15, 16, 19, 20])
    '3..20 with n % 4 in {0, 3}'
    >>> compact_sizes([16, 32, 48, 64])
    '16, 32, ..., 64 (every 16)'
    """
    plain = compact(values)
    if len(values) < 8:
        return plain
    first, last = values[0], values[-1]
    members = set(values)
    for m in range(2, min(64, (last - first) // 2) + 1):
        if all((x in members) == (x + m in members) for x in range(first, last - m + 1)):
            residues = sorted({v % m for v in values})
            if len(residues) in (1, m):
                return plain
            return f"{first}..{last} with n % {m} in {{{', '.join(map(str, residues))}}}"
    return plain


def compact_dilations(values: Sequence[int]) -> str:
    """Dilations, with runs of 5 or more in geometric progression abbreviated.

    >>> compact_dilations([1, 2, 4, 8, 16, 1, 2])
    '1, 2, 4, ..., 16, 1, 2'
    """
    parts: list[str] = []
    i = 0
    while i < len(values):
        j = i
        if i + 1 < len(values) and values[i + 1] % values[i] == 0 and values[i + 1] > values[i]:
            ratio = values[i + 1] // values[i]
            while j + 1 < len(values) and values[j + 1] == values[j] * ratio:
                j += 1
        if j - i + 1 >= 5:
            parts.append(f"{values[i]}, {values[i + 1]}, {values[i + 2]}, ..., {values[j]}")
            i = j + 1
        else:
            parts.append(str(values[i]))
            i += 1
    return ", ".join(parts)


def _one(values: Sequence[int]) -> str:
    """A per-axis value as YAML: one int when every axis agrees, else a list."""
    return str(values[0]) if len(set(values)) == 1 else "[" + ", ".join(map(str, values)) + "]"


def _py(values: Sequence[int]) -> str:
    """A per-axis value as Python: one int when every axis agrees, else a tuple."""
    return str(values[0]) if len(set(values)) == 1 else "(" + ", ".join(map(str, values)) + ")"


def _size(values: Sequence[int]) -> str:
    return "x".join(map(str, values))


def per_axis_values(text: str, what: str, minimum: int = 1) -> tuple[int, ...]:
    """Parse ``"224"`` or ``"224,224"`` (one value per spatial axis, 1 to 3 of them).

    >>> per_axis_values("224, 112", "--n")
    (224, 112)
    """
    items = [t.strip() for t in text.split(",")]
    if not 1 <= len(items) <= 3:
        raise SolveUsageError(f"give 1 to 3 comma-separated values, one per spatial axis; got '{text}'", what)
    out = []
    for item in items:
        try:
            value = int(item)
        except ValueError:
            raise SolveUsageError(f"'{item}' is not an integer", what) from None
        if value < minimum:
            need = "positive" if minimum == 1 else f">= {minimum}"
            raise SolveUsageError(f"must be {need}, got {value}", what)
        out.append(value)
    return tuple(out)


def parse_range(text: str, what: str = "--range") -> tuple[int, int]:
    """``"1:512"`` -> (1, 512), both ends included; ``"64"`` is the single size 64.

    >>> parse_range("16:4096")
    (16, 4096)
    """
    parts = [t.strip() for t in text.split(":")]
    if len(parts) == 1:
        parts *= 2
    if len(parts) != 2:
        raise SolveUsageError(f"write LOW:HIGH, like 1:512; got '{text}'", what)
    try:
        lo, hi = int(parts[0]), int(parts[1])
    except ValueError:
        raise SolveUsageError(f"write LOW:HIGH with integers, like 1:512; got '{text}'", what) from None
    return lo, hi


def broadcast(values: dict[str, tuple[int, ...]]) -> tuple[int, dict[str, tuple[int, ...]]]:
    """The number of spatial axes, and every option widened to it (a single value repeats)."""
    ndim = max(len(v) for v in values.values())
    for name, v in values.items():
        if len(v) not in (1, ndim):
            longest = next(n for n, w in values.items() if len(w) == ndim)
            raise SolveUsageError(
                f"has {len(v)} values but {longest} has {ndim}: give one value, or one per axis", name
            )
    return ndim, {name: v * ndim if len(v) == 1 else v for name, v in values.items()}


# -- 1. padding for a wanted output size --------------------------------------------------------


@dataclass(frozen=True)
class AxisPadding:
    """The answer on one spatial axis."""

    axis: str
    n: int
    kernel: int
    stride: int
    dilation: int
    out: int
    left: int
    right: int
    #: every symmetric padding p that gives ``out`` (smallest first); empty when none does
    symmetric: tuple[int, ...]
    #: conv: the range [lo, hi] of total padding P = left + right that gives ``out``
    totals: tuple[int, int] | None = None

    @property
    def span(self) -> int:
        return effective_kernel(self.kernel, self.dilation)

    def to_dict(self) -> dict[str, Any]:
        return {
            "axis": self.axis,
            "n": self.n,
            "kernel": self.kernel,
            "stride": self.stride,
            "dilation": self.dilation,
            "out": self.out,
            "left": self.left,
            "right": self.right,
            "symmetric": list(self.symmetric),
            "total_range": list(self.totals) if self.totals else None,
        }


@dataclass(frozen=True)
class PaddingSolution:
    """Padding per axis for a conv (``op == "conv"``) or a PyTorch pool (``"max"``/``"avg"``)."""

    op: str
    axes: tuple[AxisPadding, ...]
    ceil_mode: bool = False
    out_channels: int = 16

    @property
    def ndim(self) -> int:
        return len(self.axes)

    @property
    def layer_type(self) -> str:
        return f"conv{self.ndim}d" if self.op == "conv" else f"{self.op}pool{self.ndim}d"

    @property
    def symmetric(self) -> bool:
        return all(a.left == a.right for a in self.axes)

    def _get(self, name: str) -> tuple[int, ...]:
        return tuple(getattr(a, name) for a in self.axes)

    @property
    def yaml_padding(self) -> str:
        if self.symmetric:
            return _one(self._get("left"))
        return "[" + ", ".join(f"[{a.left}, {a.right}]" for a in self.axes) + "]"

    def yaml(self) -> str:
        """The layer, as one line of a spec's ``layers`` list."""
        fields = [f"type: {self.layer_type}"]
        if self.op == "conv":
            fields.append(f"out_channels: {self.out_channels}")
        fields += [f"kernel_size: {_one(self._get('kernel'))}", f"stride: {_one(self._get('stride'))}"]
        if any(a.left or a.right for a in self.axes):
            fields.append(f"padding: {self.yaml_padding}")
        if any(d != 1 for d in self._get("dilation")):
            fields.append(f"dilation: {_one(self._get('dilation'))}")
        if self.ceil_mode:
            fields.append("ceil_mode: true")
        return "- {" + ", ".join(fields) + "}"

    def tf_same(self) -> bool:
        """Whether TensorFlow's padding='same' (out = ceil(n / s)) gives the wanted sizes."""
        return all(a.out == -(-a.n // a.stride) for a in self.axes)

    def tf_valid(self) -> bool:
        """Whether padding='valid' (no padding, floor) gives the wanted sizes."""
        return all(
            a.n >= a.span and conv_out(a.n, a.kernel, a.stride, a.dilation) == a.out for a in self.axes
        )

    def pytorch(self) -> list[str]:
        """How to write it in PyTorch (one or two lines)."""
        n = self.ndim
        k, s, d = (_py(self._get(key)) for key in ("kernel", "stride", "dilation"))
        dil = f", dilation={d}" if any(v != 1 for v in self._get("dilation")) else ""
        if self.op != "conv":
            cls = f"nn.{'Max' if self.op == 'max' else 'Avg'}Pool{n}d"
            ceil = ", ceil_mode=True" if self.ceil_mode else ""
            return [f"{cls}(kernel_size={k}, stride={s}, padding={_py(self._get('left'))}{dil}{ceil})"]
        conv = f"nn.Conv{n}d(in_channels, {self.out_channels}, kernel_size={k}, stride={s}"
        if self.symmetric:
            lines = [f"{conv}, padding={_py(self._get('left'))}{dil})"]
            if all(a.stride == 1 and a.out == a.n for a in self.axes):
                lines.append(f"{conv}, padding='same'{dil})   # the same sizes ('same' needs stride 1)")
            return lines
        pairs = [v for a in reversed(self.axes) for v in (a.left, a.right)]  # F.pad: last axis first
        pad = "(" + ", ".join(map(str, pairs)) + ")"
        lines = [f"nn.ZeroPad{n}d({pad}), then {conv}{dil})   # or F.pad(x, {pad}); last axis first"]
        if all(a.stride == 1 and a.out == a.n for a in self.axes):
            lines.append(f"{conv}, padding='same'{dil})   # the same sizes (odd zero on the right)")
        return lines

    def tensorflow(self) -> list[str]:
        """How to write it in TensorFlow / Keras."""
        n = self.ndim
        k, s, d = (_py(self._get(key)) for key in ("kernel", "stride", "dilation"))
        dilated = any(v != 1 for v in self._get("dilation"))
        strided = any(v != 1 for v in self._get("stride"))
        if self.op != "conv":
            cls = f"tf.keras.layers.{'Max' if self.op == 'max' else 'Average'}Pooling{n}D"
            if dilated:
                return ["no Keras pooling layer takes a dilation (tf.nn.pool does: dilations=...)"]
            for mode, ok in (("valid", self.tf_valid()), ("same", self.tf_same())):
                if ok:
                    return [f"{cls}(pool_size={k}, strides={s}, padding='{mode}')"]
            return [
                "no Keras padding mode gives these sizes (Keras has no ceil_mode and no pad-size option);"
                " pad explicitly first, e.g. tf.pad with -inf (max) or 0 (avg)"
            ]
        conv = f"tf.keras.layers.Conv{n}D(filters, {k}, strides={s}"
        conv += f", dilation_rate={d}" if dilated else ""
        warn = "   # Keras rejects strides > 1 together with dilation_rate > 1" if dilated and strided else ""
        if self.tf_valid() and all(a.left == a.right == 0 for a in self.axes):
            return [f"{conv}, padding='valid'){warn}"]
        if self.tf_same():
            pads = [same_padding(a.n, a.kernel, a.stride, a.dilation) for a in self.axes]
            note = ", ".join(f"{lo}+{hi}" for lo, hi in pads)
            return [f"{conv}, padding='same'){warn}   # TF pads {note} (odd zero on the right)"]
        if self.tf_valid():
            return [f"{conv}, padding='valid'){warn}   # the same sizes without padding"]
        if n == 1:
            zp = f"({self.axes[0].left}, {self.axes[0].right})"
        else:
            zp = "(" + ", ".join(f"({a.left}, {a.right})" for a in self.axes) + ")"
        return [f"tf.keras.layers.ZeroPadding{n}D({zp}), then {conv}, padding='valid'){warn}"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "layer": self.layer_type,
            "symmetric": self.symmetric,
            "padding": [[a.left, a.right] for a in self.axes],
            "ceil_mode": self.ceil_mode if self.op != "conv" else None,
            "axes": [a.to_dict() for a in self.axes],
            "pytorch": self.pytorch(),
            "tensorflow": self.tensorflow(),
            "yaml": self.yaml(),
        }

    def text(self) -> list[str]:
        ins, outs = _size(self._get("n")), _size(self._get("out"))
        head = f"{self.layer_type}: input {ins} -> output {outs}"
        lines = [head]
        for a in self.axes:
            geo = f"n={a.n}, kernel {a.kernel}, stride {a.stride}, dilation {a.dilation}"
            if a.totals is not None:
                lo, hi = a.totals
                rng = f"total padding {lo}" if lo == hi else f"total padding {lo}..{hi}"
                lines.append(f"  axis {a.axis} ({geo}): {rng} gives {a.out}")
            else:
                lines.append(f"  axis {a.axis} ({geo}): gives {a.out}")
            if a.symmetric:
                others = f" (also {', '.join(map(str, a.symmetric[1:]))})" if len(a.symmetric) > 1 else ""
                lines.append(f"    symmetric padding {a.symmetric[0]}{others}")
                if a.totals is not None and a.totals[0] < 2 * a.symmetric[0]:
                    t = a.totals[0]
                    lines.append(f"    (smallest total {t}: left {t // 2}, right {t - t // 2})")
            else:
                lines.append(f"    no symmetric padding does; smallest total: left {a.left}, right {a.right}")
        if self.op != "conv":
            lines.append(f"  ceil_mode: {str(self.ceil_mode).lower()}")
        lines.append(f"padding: {self.yaml_padding}")
        lines += [f"PyTorch:    {line}" for line in self.pytorch()[:1]]
        lines += [f"            {line}" for line in self.pytorch()[1:]]
        lines += [f"TensorFlow: {line}" for line in self.tensorflow()]
        lines += ["YAML:", f"  {self.yaml()}"]
        return lines


def _conv_axis(axis: str, n: int, k: int, s: int, d: int, out: int) -> AxisPadding:
    """out(P) = floor((n + P - span) / s) + 1 steps up by one every s values of the total P,
    so exactly the P in [(out-1)*s + span - n, that + s - 1] give ``out``."""
    span = effective_kernel(k, d)
    lo = (out - 1) * s + span - n
    hi = lo + s - 1
    if hi < 0:
        base = conv_out(n, k, s, d)
        raise ConvcalcError(
            f"axis {axis}: output {out} is unreachable: without padding the output is already {base} "
            f"(n={n}, kernel {k}, stride {s}, dilation {d}, span {span}) and padding only adds to it; "
            f"out = floor((n + P - span) / s) + 1 reaches every size >= {base} for total padding P >= 0"
        )
    lo = max(lo, 0)
    symmetric = tuple(range((lo + 1) // 2, hi // 2 + 1))
    left, right = (symmetric[0], symmetric[0]) if symmetric else (lo // 2, lo - lo // 2)
    assert conv_out(n, k, s, d, left, right) == out
    return AxisPadding(axis, n, k, s, d, out, left, right, symmetric, (lo, hi))


def _pool_options(n: int, k: int, s: int, d: int, ceil: bool, avg3d: bool) -> dict[int, list[int]]:
    """out -> the symmetric paddings (0..k//2, PyTorch's limit) that give it, for one ceil_mode."""
    found: dict[int, list[int]] = {}
    for p in range(k // 2 + 1):
        overhang = s - 1 if ceil else 0
        if n + 2 * p + overhang < effective_kernel(k, d) or (avg3d and n < k):
            continue
        found.setdefault(pool_out(n, k, s, p, d, ceil), []).append(p)
    return found


def solve_padding(
    n: Sequence[int],
    kernel: Sequence[int],
    out: Sequence[int],
    stride: Sequence[int] | None = None,
    dilation: Sequence[int] = (1,),
    pool: str | None = None,
    ceil_mode: bool | None = None,
    out_channels: int = 16,
) -> PaddingSolution:
    """The padding that turns input size ``n`` into output size ``out``, per spatial axis.

    A convolution takes any padding: the smallest symmetric one when one exists, else the
    (left, right) pair with the smallest total, the odd zero on the right (TensorFlow's
    convention). A pool (``pool="max"`` or ``"avg"``) takes PyTorch's symmetric padding of at
    most ``kernel // 2``, with ``ceil_mode`` either way unless given.

    >>> solve_padding([32], [3], [16], stride=[2]).axes[0].symmetric
    (1,)
    >>> a = solve_padding([10], [4], [10]).axes[0]; (a.left, a.right)
    (1, 2)
    """
    options = {"--n": tuple(n), "--kernel": tuple(kernel), "--out": tuple(out), "--dilation": tuple(dilation)}
    if stride is not None:
        options["--stride"] = tuple(stride)
    ndim, opts = broadcast(options)
    ns, ks, outs, ds = opts["--n"], opts["--kernel"], opts["--out"], opts["--dilation"]
    ss = opts.get("--stride", (1,) * ndim if pool is None else ks)
    names = AXES[ndim]
    if pool is None:
        if ceil_mode is not None:
            raise SolveUsageError("applies to pooling only (add --pool max or --pool avg)", "--ceil-mode")
        axes = tuple(_conv_axis(*args) for args in zip(names, ns, ks, ss, ds, outs, strict=True))
        return PaddingSolution("conv", axes, out_channels=out_channels)
    if pool not in ("max", "avg"):
        raise SolveUsageError(f"must be max or avg, got '{pool}'", "--pool")
    if pool == "avg" and any(d != 1 for d in ds):
        raise SolveUsageError("average pooling has no dilation", "--dilation")
    modes = [ceil_mode] if ceil_mode is not None else [False, True]
    avg3d = pool == "avg" and ndim == 3
    tables = {
        c: [_pool_options(n_, k, s, d, c, avg3d) for n_, k, s, d in zip(ns, ks, ss, ds, strict=True)]
        for c in modes
    }
    for c in modes:
        if all(o in t for o, t in zip(outs, tables[c], strict=True)):
            axes = tuple(
                AxisPadding(ax, n_, k, s, d, o, t[o][0], t[o][0], tuple(t[o]))
                for ax, n_, k, s, d, o, t in zip(names, ns, ks, ss, ds, outs, tables[c], strict=True)
            )
            return PaddingSolution(pool, axes, ceil_mode=c)
    problems = []
    for i, (ax, o) in enumerate(zip(names, outs, strict=True)):
        reach = []
        for c in modes:
            t = tables[c][i]
            listed = ", ".join(f"{v} (padding {'/'.join(map(str, t[v]))})" for v in sorted(t)) or "none"
            reach.append(f"ceil_mode {str(c).lower()}: {listed}")
        if not any(o in tables[c][i] for c in modes):
            problems.append(
                f"axis {ax}: output {o} is unreachable with PyTorch's pooling padding "
                f"(symmetric, 0..kernel//2 = {ks[i] // 2}); reachable: {'; '.join(reach)}"
            )
    if not problems:  # every axis is reachable, but not with one ceil_mode for all of them
        need = ", ".join(
            f"axis {ax} needs ceil_mode {'/'.join(str(c).lower() for c in modes if o in tables[c][i])}"
            for i, (ax, o) in enumerate(zip(names, outs, strict=True))
        )
        problems.append(f"no single ceil_mode works on every axis: {need}")
    raise ConvcalcError("; ".join(problems))


# -- 2. the fewest dilated layers for a receptive field -------------------------------------------


@dataclass(frozen=True)
class StackSolution:
    """A stack of stride-1 dilated conv1d layers: ``stacks`` copies of ``dilations``."""

    target: int
    kernel: int
    dilations: tuple[int, ...]  # one stack
    period: tuple[int, ...] | None  # the cycled pattern; None for unbounded growth
    stacks: int = 1
    channels: int = 32
    causal: bool = False

    @property
    def layers(self) -> int:
        return len(self.dilations) * self.stacks

    @property
    def field(self) -> int:
        """1 + (k-1) * (the sum of every layer's dilation)."""
        return 1 + (self.kernel - 1) * sum(self.dilations) * self.stacks

    @property
    def params_per_layer(self) -> int:
        return self.channels * self.channels * self.kernel + self.channels

    @property
    def params(self) -> int:
        return self.layers * self.params_per_layer

    def describe_dilations(self) -> str:
        d = self.dilations
        text = compact_dilations(d)
        if self.period and len(d) > len(self.period) and len(self.period) > 1:
            q, r = divmod(len(d), len(self.period))
            text = f"({compact_dilations(self.period)}) x{q}"
            if r:
                text += f", then {compact_dilations(d[-r:])}"
        return text

    def yaml(self) -> str:
        """A whole spec: the stack on a [channels, target] input."""
        pad = "causal" if self.causal else "same"
        lines = [
            "name: dilated-stack",
            f"description: kernel {self.kernel}, {self.layers} layers, receptive field {self.field}"
            f" (target {self.target})",
            f"input: [{self.channels}, {self.target}]",
            "layers:",
        ]
        for i in range(self.stacks):
            if self.stacks > 1:
                lines.append(f"  # stack {i + 1} of {self.stacks}")
            lines += [
                f"  - {{type: conv1d, out_channels: {self.channels}, kernel_size: {self.kernel}, "
                f"dilation: {d}, padding: {pad}}}"
                for d in self.dilations
            ]
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "kernel": self.kernel,
            "stacks": self.stacks,
            "layers": self.layers,
            "dilations": list(self.dilations),
            "receptive_field": self.field,
            "channels": self.channels,
            "params_per_layer": self.params_per_layer,
            "params": self.params,
            "padding": "causal" if self.causal else "same",
            "yaml": self.yaml(),
        }

    def text(self) -> list[str]:
        per = f"{len(self.dilations)} layers per stack x {self.stacks} stacks = " if self.stacks > 1 else ""
        field = f"1 + ({self.kernel} - 1) x {sum(self.dilations) * self.stacks}"
        return [
            f"{per}{self.layers} layers, kernel {self.kernel}, stride 1",
            f"dilations: {self.describe_dilations()}" + (" (each stack)" if self.stacks > 1 else ""),
            f"receptive field: {field} = {self.field} >= {self.target}",
            *(
                [f"one layer fewer per stack gives {self._shorter_field()} < {self.target}"]
                if len(self.dilations) > 1
                else []
            ),
            f"parameters: {self.layers} x ({self.channels}*{self.channels}*{self.kernel} + {self.channels}) "
            f"= {self.params:,} (channels {self.channels}, bias)",
            "YAML:",
            *("  " + line for line in self.yaml().splitlines()),
        ]

    def _shorter_field(self) -> int:
        return 1 + (self.kernel - 1) * sum(self.dilations[:-1]) * self.stacks


def dilation_period(growth: int, max_dilation: int) -> tuple[int, ...]:
    """1, g, g^2, ... up to the largest power <= max_dilation: the pattern that restarts.

    >>> dilation_period(2, 512)[-1], len(dilation_period(2, 512))
    (512, 10)
    >>> dilation_period(3, 100)
    (1, 3, 9, 27, 81)
    """
    if growth == 1:
        return (1,)
    out = [1]
    while out[-1] * growth <= max_dilation:
        out.append(out[-1] * growth)
    return tuple(out)


def solve_receptive_field(
    target: int,
    kernel: int,
    growth: int | None = None,
    max_dilation: int | None = None,
    dilations: Sequence[int] | None = None,
    stacks: int = 1,
    channels: int = 32,
    causal: bool = False,
) -> StackSolution:
    """The fewest stride-1 conv layers, dilated by the schedule, whose field covers ``target``.

    The schedule is ``dilations`` cycled, or 1, g, g^2, ... (``growth``, default 2) restarting
    after the largest power <= ``max_dilation`` (never restarting without one). The field of
    ``stacks`` copies of a stack is ``1 + (k-1) * stacks * sum(dilations)``; the prefix sums
    grow strictly, so the first prefix that reaches the target is the shortest.

    >>> s = solve_receptive_field(1024, 2, max_dilation=512); s.layers, s.field
    (10, 1024)
    """
    if target < 2:
        raise SolveUsageError(f"must be at least 2 (a field of {target} needs no layer)", "--target")
    if kernel < 2:
        raise SolveUsageError(f"must be at least 2 (a kernel of {kernel} never widens the field)", "--kernel")
    for name, value in (("--stacks", stacks), ("--channels", channels)):
        if value < 1:
            raise SolveUsageError(f"must be positive, got {value}", name)
    if dilations is not None and (growth is not None or max_dilation is not None):
        raise SolveUsageError("give either --dilations or --growth/--max-dilation, not both", "--dilations")
    per_step = (kernel - 1) * stacks
    need = -(-(target - 1) // per_step)  # the sum of one stack's dilations must reach this
    if dilations is not None:
        if not dilations or any(d < 1 for d in dilations):
            raise SolveUsageError("dilations must be positive integers", "--dilations")
        period: tuple[int, ...] | None = tuple(dilations)
    elif max_dilation is not None or growth == 1:
        g = 2 if growth is None else growth
        if g < 1:
            raise SolveUsageError(f"must be positive, got {g}", "--growth")
        if max_dilation is not None and max_dilation < 1:
            raise SolveUsageError(f"must be positive, got {max_dilation}", "--max-dilation")
        period = dilation_period(g, max_dilation if max_dilation is not None else 1)
    else:
        g = 2 if growth is None else growth
        if g < 1:
            raise SolveUsageError(f"must be positive, got {g}", "--growth")
        period = None
    if period is None:  # 1, g, g^2, ...: logarithmically many layers
        stack = [1]
        while sum(stack) < need:
            stack.append(stack[-1] * g)
    else:
        full, rest = divmod(need, sum(period))
        if rest == 0:
            count = full * len(period)
        else:
            prefix, r = 0, 0
            while prefix < rest:
                prefix += period[r]
                r += 1
            count = full * len(period) + r
        if count * stacks > MAX_STACK_LAYERS:
            raise ConvcalcError(
                f"the shortest stack has {count * stacks:,} layers, more than convcalc's "
                f"{MAX_STACK_LAYERS:,}-layer limit; let the dilations grow (--growth, --max-dilation)"
            )
        q, r = divmod(count, len(period))
        stack = list(period) * q + list(period[:r])
    solution = StackSolution(target, kernel, tuple(stack), period, stacks, channels, causal)
    assert solution.field >= target and (len(stack) == 1 or solution._shorter_field() < target)
    return solution


# -- 3. the input sizes a net divides exactly ---------------------------------------------------


@dataclass(frozen=True)
class Excluded:
    """An input size left out, and the first layer that is why."""

    size: int
    layer: str  # dotted path; '' when the error is not about one layer
    kind: str  # "error" (the analysis fails) or "remainder" (a strided layer does not divide)
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class InputSizes:
    input_shape: tuple[int, ...]  # as in the file
    axes: tuple[str, ...]  # the spatial axes that vary together
    lo: int
    hi: int
    rule: str
    valid: tuple[int, ...]
    excluded: tuple[Excluded, ...]

    def shape_for(self, size: int) -> tuple[int, ...]:
        names = AXES[len(self.input_shape) - 1]
        return tuple(
            size if i > 0 and names[i - 1] in self.axes else v for i, v in enumerate(self.input_shape)
        )

    def nearest(self) -> int | None:
        """The valid size nearest to the file's own (the larger one on a tie)."""
        names = AXES[len(self.input_shape) - 1]
        current = self.input_shape[1 + names.index(self.axes[0])]
        return min(self.valid, key=lambda v: (abs(v - current), -v), default=None)

    def yaml(self) -> str | None:
        size = self.nearest()
        if size is None:
            return None
        return "input: [" + ", ".join(map(str, self.shape_for(size))) + "]"

    def to_dict(self) -> dict[str, Any]:
        return {
            "input_shape": list(self.input_shape),
            "axes": list(self.axes),
            "range": [self.lo, self.hi],
            "rule": self.rule,
            "valid": list(self.valid),
            "valid_compact": compact_sizes(self.valid),
            "excluded": [e.to_dict() for e in self.excluded],
            "yaml": self.yaml(),
        }

    def text(self) -> list[str]:
        which = "+".join(self.axes)
        lines = [
            f"input sizes {self.lo}..{self.hi} on axis {which} (rule {self.rule}; other axes as in the file)",
            f"valid ({len(self.valid)}): {compact_sizes(self.valid)}",
        ]
        groups: dict[tuple[str, str], list[Excluded]] = {}
        for e in self.excluded:
            key = (e.layer, e.kind)
            groups.setdefault(key, []).append(e)
        if groups:
            lines.append(f"excluded ({len(self.excluded)}), by the first layer that fails:")
        for (layer, kind), items in groups.items():
            sizes = compact_sizes([e.size for e in items])
            why = "the analysis fails" if kind == "error" else f"breaks {self.rule}"
            lines.append(f"  layer {layer or '-'} ({why}): {sizes}")
            lines.append(f"    e.g. {items[0].size}: {items[0].reason}")
        snippet = self.yaml()
        lines += ["YAML (the valid size nearest the file's):", f"  {snippet}"] if snippet else []
        return lines


RULES = ("no-drop", "divisible")


def _check_strided(
    reports: Sequence[LayerReport],
    shape: tuple[int, ...],
    axes: Sequence[int],
    rule: str,
    extra: dict[int, tuple[int, int]] | None = None,
) -> tuple[str, str] | None:
    """The first strided conv/pool (in execution order) that breaks ``rule``: (path, reason).

    ``extra`` holds, per axis, the zeros that ``pad`` layers added just before (kept through
    layers that do not change the spatial size): they count as padding, not as input rows.
    """
    from .layers import REGISTRY
    from .layers.base import Act
    from .layers.conv import Conv
    from .layers.dense import Pad
    from .layers.pool import Pool
    from .rf import RF

    extra = dict(extra or {})
    for r in reports:
        kind = REGISTRY[r.layer.type]
        geo: list[tuple[int, int, int, int, int, int]] = []  # (k, s, d, left, right, out) per axis
        if isinstance(kind, Conv):
            k, s, d, left, right, out = kind.geometry(r.layer, Act(shape, RF()))
            geo = list(zip(k, s, d, left, right, out, strict=True))
        elif isinstance(kind, Pool):
            k, s, d, pads, out = kind.geometry(r.layer, Act(shape, RF()))
            geo = list(zip(k, s, d, pads, pads, out, strict=True))
        for i in axes:
            if i >= len(geo) or geo[i][1] == 1:
                continue
            k_, s_, d_, lo, hi, o = geo[i]
            n = shape[1 + i]
            el, er = extra.get(i, (0, 0))
            ax = AXES[len(shape) - 1][i]
            span = effective_kernel(k_, d_)
            padded = f"{lo} + {n} + {hi}" + (f" (with {el} + {er} from pad)" if el or er else "")
            if rule == "no-drop":
                # the last window ends at padded index (o-1)*s + span - 1, the input at lo + n - er - 1
                dropped = lo + n - er - (o - 1) * s_ - span
                if dropped > 0:
                    return r.layer.dotted, (
                        f"{r.layer.label}: on axis {ax} its {o} windows (stride {s_}, span {span}) cover "
                        f"{(o - 1) * s_ + span} of the {padded} padded rows, leaving the last {dropped} "
                        "input row(s) unread"
                    )
            elif o * s_ != n - el - er:
                return r.layer.dotted, (
                    f"{r.layer.label}: on axis {ax} it maps {n - el - er} input rows to {o}, and "
                    f"{o} x stride {s_} = {o * s_} != {n - el - er}"
                )
        for key, value in r.children.items():
            for branch in value if key == "branches" else [value]:
                found = _check_strided(branch, shape, axes, rule, extra)
                if found:
                    return found
        if isinstance(kind, Pad):
            pairs = kind.pads(r.layer, shape[1:])
            for i, (pl, pr) in enumerate(pairs):
                el, er = extra.get(i, (0, 0))
                extra[i] = (el + pl, er + pr)
        elif r.shape[1:] != shape[1:]:
            extra = {}
        shape = r.shape
    return None


def _reports_before(spec: NetSpec, shape: tuple[int, ...], path: tuple[str | int, ...]) -> list[LayerReport]:
    """The reports of every layer that runs before the layer at ``path`` (an error's path) when
    the net's input is ``shape``, as a tree that :func:`_check_strided` walks in execution order.

    The layers before it in its own list are analysed whole; each container that holds it gets a
    partial report whose children are the lists that ran before (a residual's main path before
    its shortcut, a parallel's earlier branches) and the part of the failing one before the
    layer. What is nested in the failing layer itself is not included: a container fails after
    its children ran, and the failure is its own.
    """
    from .analyze import run_layers
    from .layers.base import Act, Context
    from .report import LayerReport
    from .rf import RF

    ctx = Context(spec.batch, spec.convention)
    x = Act(shape, RF.identity(len(shape) - 1))

    def before(layers: tuple[Layer, ...], x: Act, path: tuple[str | int, ...]) -> list[LayerReport]:
        if not path or not isinstance(path[0], int):
            return []
        head = path[0]
        reports, x = run_layers(layers[:head], x, ctx)
        if len(path) < 2 or head >= len(layers):
            return reports
        # every container runs each of its lists on its own input: the lists before the one that
        # holds the failing layer ran whole
        target = ".".join(map(str, path[1:3])) if path[1] == "branches" else str(path[1])
        lists = layers[head].children()  # in execution order: layers, shortcut; branches.0, ...
        prefixes = [prefix for prefix, _ in lists]
        if target not in prefixes:
            return reports
        ran: dict[str, Any] = {}  # the children dict of a LayerReport
        for prefix, sub in lists[: prefixes.index(target) + 1]:
            if prefix == target:
                part = before(sub, x, path[3:] if path[1] == "branches" else path[2:])
            else:
                part = run_layers(sub, x, ctx)[0]
            key, _, branch = prefix.partition(".")
            if branch:
                ran.setdefault(key, []).append(part)
            else:
                ran[key] = part
        # the last report of its list, so no later layer reads its shape
        reports.append(LayerReport(layers[head], x.shape, x.rf, 0, 0, ran))
        return reports

    return before(spec.layers, x, path)


def solve_input_sizes(
    spec: NetSpec, lo: int, hi: int, axis: str | None = None, rule: str = "no-drop"
) -> InputSizes:
    """Every input size in [lo, hi] (on ``axis``, or on every spatial axis at once) for which the
    net analyses without error and no strided layer breaks ``rule``:

    - ``no-drop``: no strided conv/pool leaves input rows unread at the end (its windows reach
      the last row; only padding may be left over);
    - ``divisible``: every strided conv/pool maps n to exactly n / stride (what U-Net skips need).
    """
    from .analyze import analyze

    ndim = len(spec.input_shape) - 1
    if ndim < 1:
        raise ConvcalcError(f"the input {list(spec.input_shape)} has no spatial axis to vary")
    names = AXES[ndim]
    if axis is None or axis.lower() == "all":
        axes = names
    elif axis.upper() in names:
        axes = (axis.upper(),)
    else:
        raise SolveUsageError(f"the input has axes {', '.join(names)} (or all); got '{axis}'", "--axis")
    if rule not in RULES:
        raise SolveUsageError(f"must be one of {', '.join(RULES)}, got '{rule}'", "--require")
    if not 1 <= lo <= hi:
        raise SolveUsageError(f"needs 1 <= low <= high, got {lo}:{hi}", "--range")
    if hi - lo + 1 > MAX_CANDIDATES:
        raise SolveUsageError(f"at most {MAX_CANDIDATES:,} sizes at a time, got {hi - lo + 1:,}", "--range")
    index = [names.index(a) for a in axes]
    result = InputSizes(spec.input_shape, axes, lo, hi, rule, (), ())
    valid: list[int] = []
    excluded: list[Excluded] = []
    for size in range(lo, hi + 1):
        shape = result.shape_for(size)
        try:
            report = analyze(dataclasses.replace(spec, input_shape=shape))
        except SpecError as e:
            # a strided layer that ran before the failing one may break the rule first
            before = _check_strided(_reports_before(spec, shape, e.path), shape, index, rule)
            if before:
                excluded.append(Excluded(size, before[0], "remainder", before[1]))
            else:
                excluded.append(Excluded(size, ".".join(map(str, e.path)), "error", e.message))
            continue
        except ConvcalcError as e:
            excluded.append(Excluded(size, "", "error", str(e)))
            continue
        found = _check_strided(report.layers, shape, index, rule)
        if found:
            excluded.append(Excluded(size, found[0], "remainder", found[1]))
        else:
            valid.append(size)
    return dataclasses.replace(result, valid=tuple(valid), excluded=tuple(excluded))
