"""``convcalc check``: errors, warnings and ``expect:`` contracts of many spec files.

Pure logic, no printing: the CLI prints what :func:`render_text`, :func:`render_github` and
:func:`render_json` return and sets the exit code. Each file is analysed on its own, so one
broken file never hides the others. NumPy is imported only for ``--forward``.

This module also validates the two top-level keys ``check`` sets for a file (the loader calls
:func:`parse_expect` and :func:`parse_check_settings`, so ``convcalc shape`` rejects a bad
``expect:`` too, and otherwise ignores it).
"""

from __future__ import annotations

import glob
import json
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import yaml

from .analyze import analyze
from .arith import effective_kernel, windows_span
from .diagnostics import CODES, ERROR, WARNING, WARNING_CODES, Diagnostic
from .errors import ConvcalcError, Loc, SpecError
from .layers import REGISTRY
from .layers.base import Act, axis_name, per_axis, shape_str
from .layers.conv import Conv
from .layers.pool import Pool
from .rf import FLATTENED, GLOBAL, RF, Num, num_text
from .spec import clip, did_you_mean, loc_of, parse

if TYPE_CHECKING:
    import numpy as np

    from .report import LayerReport, Report
    from .spec import Layer, NetSpec, Node, _Walker

EXPECT_KEYS = ("output_shape", "params", "receptive_field", "macs")
EXPECT_CODES = {"output_shape": "CC301", "params": "CC302", "receptive_field": "CC303", "macs": "CC304"}
YAML_SUFFIXES = (".yaml", ".yml")


# -- the contract: expect: and check: ------------------------------------------------------------


@dataclass(frozen=True)
class Range:
    """A count that must lie in [lo, hi] (either bound may be open); lo == hi is exact."""

    lo: int | None = None
    hi: int | None = None

    def holds(self, value: Num) -> bool:
        return (self.lo is None or value >= self.lo) and (self.hi is None or value <= self.hi)

    def text(self) -> str:
        """
        >>> Range(5, 5).text(), Range(lo=5).text(), Range(hi=5).text(), Range(1000, 2000).text()
        ('5', 'at least 5', 'at most 5', 'between 1,000 and 2,000')
        """
        if self.lo is not None and self.lo == self.hi:
            return f"{self.lo:,}"
        if self.hi is None:
            return f"at least {self.lo:,}"
        if self.lo is None:
            return f"at most {self.hi:,}"
        return f"between {self.lo:,} and {self.hi:,}"


@dataclass(frozen=True)
class Expectation:
    """One ``expect:`` entry: ``output_shape`` (``shape``), ``params`` / ``macs`` (one range) or
    ``receptive_field`` (one range per spatial axis of the input). ``loc`` is its key's place."""

    key: str
    loc: Loc
    shape: tuple[int, ...] = ()
    ranges: tuple[Range, ...] = ()


def parse_expect(w: _Walker, node: Node, ndim: int) -> tuple[Expectation, ...]:
    """Validate ``expect:`` (``ndim``: spatial axes of the input), raising :class:`SpecError`."""

    out = []
    for key, knode, vnode in w.mapping(node, "expect"):
        what = f"expect: {key}"
        if key == "output_shape":
            items = w.sequence(vnode, what)
            if not 1 <= len(items) <= 4:
                raise w.err(vnode, f"{what} must list 1 to 4 sizes (no batch), got {len(items)}")
            shape = tuple(w.integer(n, f"{what}[{i}]") for i, n in enumerate(items))
            out.append(Expectation(key, loc_of(knode), shape=shape))
        elif key in ("params", "macs"):
            out.append(Expectation(key, loc_of(knode), ranges=_ranges(w, vnode, what, None, 0)))
        elif key == "receptive_field":
            if ndim == 0:
                raise w.err(
                    knode,
                    f"{what}: the input has no spatial axes, so no unit has a receptive field to expect",
                )
            out.append(Expectation(key, loc_of(knode), ranges=_ranges(w, vnode, what, ndim, 1)))
        else:
            raise w.unknown_key(knode, key, list(EXPECT_KEYS), "expect")
    return tuple(out)


def _ranges(w: _Walker, node: Node, what: str, ndim: int | None, minimum: int) -> tuple[Range, ...]:
    """An exact value or ``{min, max}``; per axis (``ndim`` values) for a receptive field."""
    if not isinstance(node, yaml.MappingNode):
        exact = _counts(w, node, what, ndim, minimum)
        return tuple(Range(v, v) for v in exact)
    bounds: dict[str, tuple[int, ...]] = {}
    for key, knode, vnode in w.mapping(node, what):
        if key not in ("min", "max"):
            raise w.unknown_key(knode, key, ["min", "max"], what)
        bounds[key] = _counts(w, vnode, f"{what}: {key}", ndim, minimum)
    if not bounds:
        raise w.err(node, f"{what} needs 'min', 'max' or both", code="CC104")
    n = ndim or 1
    lo, hi = bounds.get("min", (None,) * n), bounds.get("max", (None,) * n)
    for i, (a, b) in enumerate(zip(lo, hi, strict=True)):
        if a is not None and b is not None and a > b:
            axis = f" on axis {_axis(ndim, i)}" if ndim else ""
            raise w.err(node, f"{what}: min {a:,} is larger than max {b:,}{axis}")
    return tuple(Range(a, b) for a, b in zip(lo, hi, strict=True))


def _counts(w: _Walker, node: Node, what: str, ndim: int | None, minimum: int) -> tuple[int, ...]:
    """One whole number (for every axis), or with ``ndim``, a list of one per spatial axis."""
    if ndim is not None and isinstance(node, yaml.SequenceNode):
        items = w.sequence(node, what)
        if len(items) != ndim:
            raise w.err(
                node, f"{what} needs {ndim} values (one per spatial axis of the input), got {len(items)}"
            )
        return tuple(_count(w, n, f"{what}[{i}]", minimum) for i, n in enumerate(items))
    return (_count(w, node, what, minimum),) * (ndim or 1)


def _count(w: _Walker, node: Node, what: str, minimum: int) -> int:
    """A whole number: ``70000``, ``7e4`` or ``1.0e9`` (counts are exact integers)."""
    if isinstance(node, yaml.ScalarNode) and node.tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:bool"):
        return w.integer(node, what, minimum)
    value = w.number(node, what, minimum, None)
    if not value.is_integer():
        raise w.err(node, f"{what} must be a whole number, got {clip(node.value)}")
    return int(value)


def parse_check_settings(w: _Walker, node: Node) -> frozenset[str]:
    """Validate ``check: {ignore: [CC201, ...]}``: the warning codes switched off for this file."""
    codes: set[str] = set()
    for key, knode, vnode in w.mapping(node, "check"):
        if key != "ignore":
            raise w.unknown_key(knode, key, ["ignore"], "check")
        for i, item in enumerate(w.sequence(vnode, "check: ignore")):
            code = w.string(item, f"check: ignore[{i}]")
            problem = code_problem(code)
            if problem:
                raise w.err(
                    item, f"check: ignore[{i}]: {problem}", code="CC102" if code not in CODES else "CC103"
                )
            codes.add(code)
    return frozenset(codes)


def code_problem(code: str) -> str | None:
    """Why ``code`` cannot be ignored, or None: only warnings can be.

    >>> code_problem("CC201") is None
    True
    >>> code_problem("CC2O1")
    "unknown code 'CC2O1' (did you mean 'CC201'?)"
    >>> code_problem("CC105")
    'CC105 is an error, not a warning; only warnings (CC201, CC202, CC203, CC204, CC205) can be ignored'
    """

    if code not in CODES:
        return f"unknown code '{clip(code)}'{did_you_mean(code, sorted(WARNING_CODES))}"
    if code not in WARNING_CODES:
        known = ", ".join(sorted(WARNING_CODES))
        return f"{code} is an error, not a warning; only warnings ({known}) can be ignored"
    return None


# -- results -------------------------------------------------------------------------------------


@dataclass
class FileResult:
    file: str
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def errors(self) -> int:
        return sum(d.severity == ERROR for d in self.diagnostics)

    @property
    def warnings(self) -> int:
        return sum(d.severity == WARNING for d in self.diagnostics)

    def failed(self, strict: bool = False) -> bool:
        return self.errors > 0 or (strict and self.warnings > 0)

    def to_dict(self, strict: bool = False) -> dict[str, Any]:
        return {
            "file": self.file,
            "ok": not self.failed(strict),
            "errors": self.errors,
            "warnings": self.warnings,
            "diagnostics": [d.to_dict() for d in self.diagnostics],
        }


class PathError(ConvcalcError):
    """A path argument that names nothing: a usage error."""


def expand_paths(args: Sequence[str]) -> list[str]:
    """The files to check, in a stable order: the arguments in the order given, a directory
    replaced by the .yaml/.yml files under it and a glob by its matches (each sorted; hidden
    files and directories skipped), every file once. ``-`` is stdin."""
    files: dict[str, None] = {}
    for arg in args:
        if arg == "-":
            found = ["-"]
        elif os.path.isdir(arg):
            found = _yaml_under(arg)
        elif os.path.lexists(arg):
            found = [arg]
        elif glob.has_magic(arg):
            matches = sorted(glob.glob(arg, recursive=True))
            if not matches:
                raise PathError(f"no files match {arg}")
            found = [f for m in matches for f in (_yaml_under(m) if os.path.isdir(m) else [m])]
        else:
            raise PathError(f"no such file or directory: {arg}")
        for f in found:
            files.setdefault(os.path.normpath(f) if f != "-" else f, None)
    if not files:
        raise PathError("no .yaml or .yml files found under " + ", ".join(args))
    return list(files)


def _yaml_under(directory: str) -> list[str]:
    out: list[str] = []
    for root, dirs, names in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        out.extend(
            os.path.join(root, n)
            for n in sorted(names)
            if n.endswith(YAML_SUFFIXES) and not n.startswith(".")
        )
    return out


def check_path(path: str, ignore: frozenset[str] = frozenset(), forward: bool = False) -> FileResult:
    """Read and check one file; a file that cannot be read is an error diagnostic."""

    try:
        if path == "-":
            data, name = sys.stdin.buffer.read(), "<stdin>"
        else:
            with open(path, "rb") as f:
                data, name = f.read(), path
    except OSError as e:
        return FileResult(
            path, [Diagnostic(path, 1, 1, ERROR, "CC101", f"cannot read the file: {e.strerror}")]
        )
    return check_source(data, name, ignore, forward)


def check_source(
    source: bytes | str, file: str = "<string>", ignore: frozenset[str] = frozenset(), forward: bool = False
) -> FileResult:
    """Every diagnostic of one spec: its first error, or its warnings, failed expectations and
    (``forward``) forward-pass mismatches, sorted by place. ``ignore``: warning codes to drop."""

    result = FileResult(file)
    try:
        spec = parse(source, file)
        report = analyze(spec)
    except SpecError as e:
        result.diagnostics.append(Diagnostic.of(e, file))
        return result
    except ConvcalcError as e:  # pragma: no cover - the loader raises SpecError only
        result.diagnostics.append(Diagnostic(file, 1, 1, ERROR, "CC100", str(e)))
        return result
    off = ignore | spec.check_ignore
    found = [d for d in warnings(spec, report) if d.code not in off]
    found += expectations(spec, report)
    if forward:
        found += forward_diagnostics(report)
    result.diagnostics = sorted(found, key=lambda d: (d.line, d.column, d.code))
    return result


# -- warnings ------------------------------------------------------------------------------------


def warnings(spec: NetSpec, report: Report) -> list[Diagnostic]:
    """The CC2xx warnings of an analysed spec."""

    out: list[Diagnostic] = []
    x = Act(spec.input_shape, RF.identity(len(spec.input_shape) - 1))
    _walk(spec, spec.layers, report.layers, x, out)
    return out


def _walk(
    spec: NetSpec,
    layers: Sequence[Layer],
    reports: Sequence[LayerReport],
    x: Act,
    out: list[Diagnostic],
    path: bool = False,
) -> Act:
    """Warnings of a layer list whose input is ``x``; returns its output. ``path``: the list is
    a parallel branch or a residual shortcut, where a lone ``identity`` spells the path out."""

    for layer, rep in zip(layers, reports, strict=True):
        kind = REGISTRY[layer.type]
        if kind.family == "container":
            ends: list[tuple[str, Act]] = []
            for key, value in rep.children.items():
                if key == "branches":
                    for i, (branch, reps) in enumerate(zip(layer.opts["branches"], value, strict=True)):
                        ends.append((f"branch {i}", _walk(spec, branch, reps, x, out, True)))
                else:
                    sub = layer.opts[key]
                    ends.append((f"the {key}", _walk(spec, sub, value, x, out, key == "shortcut")))
            if layer.type in ("residual", "parallel"):
                _centres(spec, layer, ends, out)
        elif rep.rf is not x.rf:  # a layer that passes the field on (activations, norms) warns of neither
            _field_vs_input(spec, layer, x, rep, out)
            if isinstance(kind, (Conv, Pool)):
                _geometry(spec, layer, x, out)
        if layer.type in _MAYBE_NO_EFFECT and not (path and len(layers) == 1 and layer.type == "identity"):
            _no_effect(spec, layer, x, out)
        x = Act(rep.shape, rep.rf)
    return x


def _warn(spec: NetSpec, layer: Layer, code: str, message: str, key: str | None = None) -> Diagnostic:
    loc = layer.locs.get(key, layer.loc) if key else layer.loc
    return Diagnostic(spec.file, loc.line, loc.column, WARNING, code, f"{layer.label}: {message}")


def _axis(ndim: int | None, i: int) -> str:
    return axis_name(ndim or 1, i)


def _field_vs_input(spec: NetSpec, layer: Layer, x: Act, rep: LayerReport, out: list[Diagnostic]) -> None:
    """CC201, at the layer whose field first grows past the input's size on an axis."""
    if not (x.rf.spatial and rep.rf.spatial):
        return
    sizes = spec.input_shape[1:]
    after_axes = rep.rf.axes
    for i, before in enumerate(x.rf.axes):
        n, after = sizes[i], after_axes[i]
        if before.size is not None and after.size is not None and before.size <= n < after.size:
            out.append(
                _warn(
                    spec,
                    layer,
                    "CC201",
                    f"its receptive field on axis {_axis(len(sizes), i)} ({after.size}) is larger than the "
                    f"input ({n}): every unit's field reaches into the padding, and what it adds past the "
                    "input is padding only",
                )
            )


def _geometry(spec: NetSpec, layer: Layer, x: Act, out: list[Diagnostic]) -> None:
    """CC203 (a stride leaves input positions uncovered) and CC204 (asymmetric 'same'), of a
    convolution or a pooling layer."""
    kind = REGISTRY[layer.type]
    assert isinstance(kind, (Conv, Pool))
    ndim = len(x.spatial)
    o = layer.opts
    padding = o["padding"]
    # the common case first, from the options alone: at stride 1 every row is in some window,
    # and 'same' pads d*(k-1) in all, asymmetric only where that is odd
    k = per_axis(o["kernel_size"], ndim)
    if max(k if o["stride"] is None else per_axis(o["stride"], ndim)) == 1:
        d = per_axis(o.get("dilation", 1), ndim)
        if padding != "same" or all(di * (ki - 1) % 2 == 0 for ki, di in zip(k, d, strict=True)):
            return
    if isinstance(kind, Conv):
        k, s, d, lefts, rights, n_outs = kind.geometry(layer, x)
    else:  # pooling pads symmetrically
        k, s, d, lefts, n_outs = kind.geometry(layer, x)
        rights = lefts
    for i, n in enumerate(x.spatial):
        span = effective_kernel(k[i], d[i])
        left, right = lefts[i], rights[i]
        padded = n + left + right
        dropped = padded - windows_span(n_outs[i], k[i], s[i], d[i]) - right
        if dropped > 0:
            out.append(
                _warn(
                    spec,
                    layer,
                    "CC203",
                    f"stride {s[i]} leaves the last {dropped} input position(s) on axis {_axis(ndim, i)} "
                    f"in no window: {n} + {left} + {right} - {span} = {padded - span} is not a "
                    f"multiple of {s[i]}",
                    "stride",
                )
            )
        if padding == "same" and left != right:
            why = f"the kernel spans {span}" if span % 2 == 0 else f"stride {s[i]} on input {n}"
            out.append(
                _warn(
                    spec,
                    layer,
                    "CC204",
                    f"padding 'same' is asymmetric on axis {_axis(ndim, i)}: "
                    f"{left} left, {right} right ({why}); convcalc puts the extra zero on the right, as "
                    "TensorFlow does; a port that pads the other side shifts the output by one",
                    "padding",
                )
            )


def _centres(spec: NetSpec, layer: Layer, ends: list[tuple[str, Act]], out: list[Diagnostic]) -> None:
    """CC202: outputs merged position by position should look at the same place of the input."""
    fields = [(label, act.rf) for label, act in ends if act.rf.spatial]
    if len(fields) < 2:
        return
    ndim = len(fields[0][1].axes)
    for i in range(ndim):
        axes = [(label, rf.axes[i]) for label, rf in fields]
        if any(not a.bounded for _, a in axes) or len({a.jump for _, a in axes}) > 1:
            continue
        twice = {2 * a.start + a.size - 1 for _, a in axes}  # type: ignore[operator]  # 2 x centre
        last = {a.start + a.size for _, a in axes}  # type: ignore[operator]
        if len(twice) > 1 and len(last) > 1:  # equal ends: causal, aligned on purpose
            centres = [(label, a.start + Fraction(a.size - 1, 2)) for label, a in axes]  # type: ignore[operator]
            where = ", ".join(f"{label} at {_num(c)}" for label, c in centres)
            out.append(
                _warn(
                    spec,
                    layer,
                    "CC202",
                    f"the receptive-field centres of what is merged differ on axis {_axis(ndim, i)}: {where} "
                    "(input index of output position 0's centre), so one output position mixes "
                    "features of different places",
                )
            )


def _num(v: Num) -> str:
    """A field coordinate: ``2``, ``-1.5`` for halves, else a fraction.

    >>> _num(Fraction(4, 2)), _num(Fraction(-3, 2)), _num(Fraction(1, 3))
    ('2', '-1.5', '1/3')
    """
    v = Fraction(v)
    if v.denominator == 1:
        return str(v.numerator)
    return f"{float(v):g}" if v.denominator == 2 else num_text(v)


#: the layer types that can pass their input through unchanged (see _no_effect)
_MAYBE_NO_EFFECT = frozenset(
    ["identity", "dropout", "pad", "flatten", "sequential", "repeat", "parallel"]
    + [t for t in REGISTRY if t.startswith(("maxpool", "avgpool"))]
)


def _no_effect(spec: NetSpec, layer: Layer, x: Act, out: list[Diagnostic]) -> None:
    """CC205: layers that pass their input through unchanged (types in _MAYBE_NO_EFFECT)."""
    o, t = layer.opts, layer.type
    why, key = None, None
    if t == "identity":
        why = "identity passes its input through"
    elif t == "dropout" and o["p"] == 0:
        why, key = "dropout with p = 0 never drops anything", "p"
    elif t.startswith(("maxpool", "avgpool")):
        ones = all(v == 1 for v in _flat(o["kernel_size"])) and all(v == 1 for v in _flat(o["stride"] or 1))
        if ones and all(v == 0 for v in _flat(o["padding"])):
            why = "a pool of kernel 1, stride 1 and no padding passes its input through"
    elif t == "pad" and all(v == 0 for v in _flat(o["padding"])):
        why, key = "padding 0 adds nothing", "padding"
    elif t == "flatten" and len(x.shape) == 1:
        why = f"its input {list(x.shape)} is flat already"
    elif t in ("sequential", "repeat") and not o["layers"]:
        why = f"an empty {t} passes its input through"
    elif t == "parallel" and len(o["branches"]) == 1 and not o["branches"][0]:
        why = "one empty branch passes the input through"
    if why:
        out.append(_warn(spec, layer, "CC205", f"has no effect: {why}", key))


def _flat(value: Any) -> list[int]:
    """
    >>> _flat(((0, 1), (2, 0))), _flat(3)
    ([0, 1, 2, 0], [3])
    """
    if isinstance(value, tuple):
        return [v for item in value for v in _flat(item)]
    return [value]


# -- expectations --------------------------------------------------------------------------------


def expectations(spec: NetSpec, report: Report) -> list[Diagnostic]:
    """An error (CC3xx) for every ``expect:`` entry that does not hold, at its line."""

    out = []
    for e in spec.expect:
        problem: str | None = None
        if e.key == "output_shape":
            if tuple(report.output_shape) != e.shape:
                problem = f"expected {shape_str(e.shape)}, got {shape_str(report.output_shape)}"
        elif e.key in ("params", "macs"):
            actual = report.total_params if e.key == "params" else report.total_macs
            if not e.ranges[0].holds(actual):
                batch = f" (batch {report.batch})" if e.key == "macs" and report.batch != 1 else ""
                problem = f"expected {e.ranges[0].text()}, got {actual:,}{batch}"
        else:
            problem = _field_problem(report, e.ranges)
        if problem:
            out.append(
                Diagnostic(
                    spec.file,
                    e.loc.line,
                    e.loc.column,
                    ERROR,
                    EXPECT_CODES[e.key],
                    f"expect {e.key}: {problem}",
                )
            )
    return out


def _field_problem(report: Report, ranges: tuple[Range, ...]) -> str | None:
    rf = report.rf
    if not rf.spatial:
        last = next((r for r in reversed(report.layers) if r.rf.spatial), None)
        seen = f"; the last layer with a spatial field is {last.layer.label}" if last else ""
        if rf.scope == GLOBAL:
            why = (
                "every unit of the final output depends on the whole input (after global pooling, "
                "a layer on flattened features or a recurrent layer's last step)"
            )
        else:
            assert rf.scope == FLATTENED
            why = "the final output's spatial axes were flattened into features"
        return f"no receptive field to compare: {why}{seen}"
    parts = []
    ndim = len(rf.axes)
    for i, (ax, want) in enumerate(zip(rf.axes, ranges, strict=True)):
        name = _axis(ndim, i)
        if ax.jump is None:
            return f"the field on axis {name} has no single size: branches with different strides were merged"
        if ax.size is None:
            return (
                f"the field on axis {name} is unbounded: after a recurrent layer every step may depend on "
                "every earlier (or later) one"
            )
        if not want.holds(ax.size):
            parts.append(f"on axis {name} expected {want.text()}, got {_num(ax.size)}")
    return "; ".join(parts) or None


# -- the forward pass ----------------------------------------------------------------------------


class _ShapeWatch:
    """Compares every layer's computed output shape with the predicted one."""

    def __init__(self, report: Report) -> None:
        self.predicted = {r.layer.dotted: r for _, r in report.rows()}
        self.current: Layer | None = None
        self.mismatch: tuple[Layer, tuple[int, ...], tuple[int, ...]] | None = None

    def enter(self, layer: Layer, x: np.ndarray) -> None:
        self.current = layer

    def leave(self, layer: Layer, y: np.ndarray) -> None:
        want = self.predicted[layer.dotted].shape
        if self.mismatch is None and tuple(y.shape[1:]) != want:
            self.mismatch = (layer, tuple(y.shape[1:]), want)


def forward_diagnostics(report: Report) -> list[Diagnostic]:
    """``--forward``: run the NumPy forward pass on a random batch of 1 and compare shapes (CC4xx)."""
    import numpy as np

    from .forward import forward

    spec = report.spec
    watch = _ShapeWatch(report)
    x = np.random.default_rng(0).standard_normal((1, *spec.input_shape)).astype(np.float32)
    try:
        y = forward(report, x, observer=watch)
    except Exception as e:  # a layer that breaks is a finding about this file, not a crash of check
        where = watch.current.loc if watch.current else Loc()
        label = f"{watch.current.label}: " if watch.current else ""
        text = str(e) if isinstance(e, ConvcalcError) else f"{type(e).__name__}: {e}"
        return [
            Diagnostic(
                spec.file, where.line, where.column, ERROR, "CC402", f"{label}forward pass failed: {text}"
            )
        ]
    if watch.mismatch is not None:
        layer, got, want = watch.mismatch
        message = f"{layer.label}: the forward pass computes {shape_str(got)}, the analysis predicts "
        message += shape_str(want)
        return [Diagnostic(spec.file, layer.loc.line, layer.loc.column, ERROR, "CC401", message)]
    if tuple(y.shape[1:]) != tuple(report.output_shape):
        message = (
            f"the forward pass outputs {shape_str(y.shape[1:])}, "
            f"the analysis predicts {shape_str(report.output_shape)}"
        )
        return [Diagnostic(spec.file, 1, 1, ERROR, "CC401", message)]
    return []


# -- output --------------------------------------------------------------------------------------


def summary(results: Sequence[FileResult], strict: bool = False) -> str:
    """``3 files checked, 1 failed`` (and the number of warnings, when there are some).

    >>> summary([FileResult("a.yaml"), FileResult("b.yaml")])
    '2 files checked, 0 failed'
    """
    n = len(results)
    failed = sum(r.failed(strict) for r in results)
    warned = sum(r.warnings for r in results)
    text = f"{n} file{'s' if n != 1 else ''} checked, {failed} failed"
    if warned:
        text += f", {warned} warning{'s' if warned != 1 else ''}"
    return text


def render_text(results: Iterable[FileResult], strict: bool = False) -> str:
    results = list(results)
    lines = [d.render() for r in results for d in r.diagnostics]
    return "\n".join([*lines, summary(results, strict)]) + "\n"


def render_github(results: Iterable[FileResult], strict: bool = False) -> str:
    results = list(results)
    lines = [d.github() for r in results for d in r.diagnostics]
    return "\n".join([*lines, summary(results, strict)]) + "\n"


def render_json(results: Iterable[FileResult], strict: bool = False) -> str:
    results = list(results)
    doc = {
        "ok": not any(r.failed(strict) for r in results),
        "strict": strict,
        "summary": {
            "files": len(results),
            "failed": sum(r.failed(strict) for r in results),
            "errors": sum(r.errors for r in results),
            "warnings": sum(r.warnings for r in results),
        },
        "files": [r.to_dict(strict) for r in results],
    }
    return json.dumps(doc) + "\n"
