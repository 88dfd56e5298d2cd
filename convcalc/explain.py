"""``convcalc explain``: the arithmetic of every layer, worked out with its real numbers.

Pure: a :class:`~convcalc.report.Report` in, :class:`Explanation` data out, and text renderers
(plain, rich markup, markdown) that do no I/O. Every number comes from the analysis itself:
results are the report's values or what the layer kinds' own geometry and the functions of
:mod:`convcalc.arith` return; a step's ``formula`` is the same arithmetic spelt out with the
layer's numbers, and evaluates to its ``result`` (the test suite checks both).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .arith import causal_padding, pool_windows, same_padding
from .layers import REGISTRY
from .layers.base import Act, axis_name
from .render import md_code, md_escape
from .report import LayerReport, Report
from .rf import FLATTENED, GLOBAL, RF, AxisRF, Num, exact
from .spec import Layer

#: Step kinds. ``shape``: an output size (of the spatial ``axes``, or without axes of the
#: channel axis); ``rf_size``, ``rf_jump``, ``rf_start``: the output field on ``axes``;
#: ``params`` and ``macs``: the layer's totals; ``padding`` and ``detail``: intermediate
#: numbers; ``text``: a sentence, no number.
STEP_KINDS = ("shape", "padding", "detail", "rf_size", "rf_jump", "rf_start", "params", "macs", "text")


@dataclass(frozen=True)
class Step:
    """One line of an explanation: ``label = formula = result, note`` (or a sentence in ``label``)."""

    kind: str
    label: str
    formula: str = ""
    result: Num | None = None
    note: str = ""
    #: the spatial axes the step is about (several when they have the same arithmetic)
    axes: tuple[int, ...] = ()
    ndim: int = 0

    @property
    def prefix(self) -> str:
        """``H: `` or ``H, W: `` when the input has several spatial axes."""
        if self.ndim < 2 or not self.axes:
            return ""
        return ", ".join(axis_name(self.ndim, a) for a in self.axes) + ": "

    def plain(self) -> str:
        if self.kind == "text":
            return self.prefix + self.label
        parts = [self.prefix + self.label]
        if self.formula:
            parts.append(self.formula)
        if self.result is not None:
            parts.append(str(self.result))
        text = " = ".join(parts)
        return f"{text}{_note_sep(self.note)}{self.note}" if self.note else text


def _note_sep(note: str) -> str:
    return " " if note.startswith("(") else ", "


@dataclass(frozen=True)
class LayerExplanation:
    """The worked arithmetic of one layer (``explained`` is false for a type with no formulas)."""

    path: str
    type: str
    name: str | None
    depth: int
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    params: int
    macs: int
    steps: tuple[Step, ...]
    explained: bool = True

    @property
    def title(self) -> str:
        named = f" '{self.name}'" if self.name else ""
        return f"{self.type} #{self.path}{named}"


@dataclass(frozen=True)
class Explanation:
    name: str | None
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    batch: int
    total_params: int
    total_macs: int
    layers: tuple[LayerExplanation, ...] = field(default_factory=tuple)

    @property
    def title(self) -> str:
        return f"{self.name or 'net'}: {_shape(self.input_shape)} -> {_shape(self.output_shape)}"

    @property
    def totals(self) -> str:
        return f"params {self.total_params}, MACs {self.total_macs} (batch {self.batch})"


@dataclass(frozen=True)
class Seen:
    """A layer as the walk meets it: its report, its input and its place."""

    report: LayerReport
    x: Act
    depth: int
    batch: int
    convention: str = "pytorch"  # the report's parameter-counting convention

    @property
    def opts(self) -> dict[str, object]:
        return dict(self.report.layer.opts)


Explainer = Callable[[Seen], list[Step]]


# -- the walk ------------------------------------------------------------------------------


def walk(report: Report) -> list[Seen]:
    """Every layer, nested ones included, in table order, with the input it receives."""
    out: list[Seen] = []
    x = Act(report.spec.input_shape, RF.identity(len(report.spec.input_shape) - 1))
    _walk(report.layers, x, 0, report.batch, out, report.spec.convention)
    return out


def _walk(
    reports: Sequence[LayerReport],
    x: Act,
    depth: int,
    batch: int,
    out: list[Seen],
    convention: str = "pytorch",
) -> Act:
    for r in reports:
        out.append(Seen(r, x, depth, batch, convention))
        for key, value in r.children.items():
            for branch in value if key == "branches" else [value]:
                # every nested path sees the container's input
                _walk(branch, x, depth + 1, batch, out, convention)
        x = Act(r.shape, r.rf)
    return x


def select(seen: list[Seen], which: str) -> list[Seen]:
    """The layers whose dotted path or name is ``which``, with everything nested in them.

    Raises :class:`LookupError` with the choices when nothing matches.
    """
    hits = [s.report.layer.path for s in seen if which in (s.report.layer.dotted, s.report.layer.name)]
    if not hits:
        tops = [s for s in seen if s.depth == 0]
        names = [s.report.layer.name for s in seen if s.report.layer.name]
        choices = (
            f"paths 0 to {len(tops) - 1} (nested: 0.layers.1, 2.branches.0.1, ...)" if tops else "no layers"
        )
        if names:
            shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
            choices += f", or a name: {shown}"
        raise LookupError(f"no layer '{which}' in this net; give a dotted path, {choices}")
    return [s for s in seen if any(s.report.layer.path[: len(h)] == h for h in hits)]


def explain(report: Report, which: str | None = None) -> Explanation:
    """The worked arithmetic of every layer of ``report`` (or of the layer ``which`` and its children)."""
    seen = walk(report)
    if which is not None:
        seen = select(seen, which)
    return Explanation(
        report.spec.name,
        report.spec.input_shape,
        report.output_shape,
        report.batch,
        report.total_params,
        report.total_macs,
        tuple(explain_layer(s) for s in seen),
    )


def explain_layer(s: Seen) -> LayerExplanation:
    r = s.report
    fn = EXPLAINERS.get(r.layer.type)
    steps = _merge_axes(fn(s) if fn is not None else _unknown(s))
    return LayerExplanation(
        r.layer.dotted,
        r.layer.type,
        r.layer.name,
        s.depth,
        s.x.shape,
        r.shape,
        r.params,
        r.macs,
        tuple(steps),
        fn is not None,
    )


def _merge_axes(steps: list[Step]) -> list[Step]:
    """Per-axis steps, axis by axis; axes whose arithmetic is identical share their steps
    (``H, W: n_out = ...``)."""
    out: list[Step] = []
    run: list[Step] = []

    def flush() -> None:
        by_axis: dict[int, list[Step]] = {}
        for st in run:
            by_axis.setdefault(st.axes[0], []).append(st)
        blocks: list[tuple[tuple[int, ...], list[Step]]] = []
        for axis, block in by_axis.items():
            key = [_key(st) for st in block]
            for j, (axes, other) in enumerate(blocks):
                if [_key(st) for st in other] == key:
                    blocks[j] = ((*axes, axis), other)
                    break
            else:
                blocks.append(((axis,), block))
        out.extend(replace(st, axes=axes) for axes, block in blocks for st in block)
        run.clear()

    for st in steps:
        if st.axes and st.ndim > 1:
            run.append(st)
        else:
            flush()
            out.append(st)
    flush()
    return out


def _key(st: Step) -> tuple[str, str, str, Num | None, str]:
    return st.kind, st.label, st.formula, st.result, st.note


# -- small helpers -------------------------------------------------------------------------


def _num(v: Num | None) -> str:
    """A field coordinate inside a formula: ``3``, or a fraction in parentheses ``(1/2)``."""
    v = v if v is None else exact(v)
    return str(v) if isinstance(v, int) or v is None else f"({v})"


def _on(i: int, ndim: int) -> dict[str, Any]:
    return {"axes": (i,), "ndim": ndim}


def _shape(shape: Sequence[int]) -> str:
    return "[" + ", ".join(str(n) for n in shape) + "]"


def _times(values: Sequence[int]) -> str:
    """A product written out: ``7*7``; ``1`` for no factors."""
    return "*".join(str(v) for v in values) if values else "1"


def _sum(terms: Sequence[str]) -> str:
    return " + ".join(terms) if terms else "0"


def _batch_macs(s: Seen, factors: Sequence[int], note: str = "") -> Step:
    return Step("macs", "MACs", _times([s.batch, *factors]), s.report.macs, note or "(B first)")


def _zero_cost(s: Seen, params_note: str, macs_note: str) -> list[Step]:
    return [
        Step("params", "params", "", s.report.params, params_note),
        Step("macs", "MACs", "", s.report.macs, macs_note),
    ]


def _unchanged(s: Seen) -> Step:
    return Step("text", f"shape {_shape(s.report.shape)} and receptive field unchanged")


def _children_cost(s: Seen) -> list[Step]:
    """A container's params and MACs: the sum over its children (nonzero terms written out)."""
    kids = [c for key, v in s.report.children.items() for b in (v if key == "branches" else [v]) for c in b]
    params = [str(c.params) for c in kids if c.params]
    macs = [str(c.macs) for c in kids if c.macs]
    return [
        Step("params", "params", _sum(params), s.report.params, "(sum over the nested layers)"),
        Step("macs", "MACs", _sum(macs), s.report.macs, "(sum over the nested layers)"),
    ]


# -- receptive-field steps -----------------------------------------------------------------


def _field_scope(rf: RF) -> str:
    if rf.scope == GLOBAL:
        return "every output depends on the whole input (field: whole input)"
    return "the positions are folded into features (field: flattened, no longer spatial)"


def _window_rf(
    rf_in: RF, rf_out: RF, k: Sequence[int], s: Sequence[int], d: Sequence[int], left: Sequence[int]
) -> list[Step]:
    """r = r_in + (k-1)*d*j_in, j = j_in*s, start = start_in - left*j_in, per axis."""
    if not rf_in.spatial:  # pragma: no cover - windows need spatial axes
        return [Step("text", _field_scope(rf_in))]
    steps: list[Step] = []
    ndim = len(rf_in.axes)
    for i, (a, b) in enumerate(zip(rf_in.axes, rf_out.axes, strict=True)):
        if a.jump is None:
            steps.append(
                Step(
                    "text",
                    "field: mixed strides before this layer, no single size, jump or start",
                    **_on(i, ndim),
                )
            )
            continue
        if a.size is None:
            steps.append(Step("text", "r: unbounded, and stays so", **_on(i, ndim)))
        else:
            steps.append(
                Step(
                    "rf_size",
                    "r",
                    f"{_num(a.size)} + ({k[i]}-1)*{d[i]}*{_num(a.jump)}",
                    b.size,
                    **_on(i, ndim),
                )
            )
        steps.append(Step("rf_jump", "j", f"{_num(a.jump)}*{s[i]}", b.jump, **_on(i, ndim)))
        if a.start is None:
            steps.append(Step("text", "start: unbounded, and stays so", **_on(i, ndim)))
        else:
            steps.append(
                Step(
                    "rf_start",
                    "start",
                    f"{_num(a.start)} - {left[i]}*{_num(a.jump)}",
                    b.start,
                    **_on(i, ndim),
                )
            )
    return steps


def _affine_rf(rf_in: RF, rf_out: RF, envelopes: Sequence[tuple[Num, Num, Num]]) -> list[Step]:
    """Output i reads inputs in [lo + i*step, hi + i*step]: r = r_in + (hi - lo)*j_in,
    j = j_in*step, start = start_in + lo*j_in, per axis."""
    if not rf_in.spatial:  # pragma: no cover - resizing needs spatial axes
        return [Step("text", _field_scope(rf_in))]
    steps: list[Step] = []
    ndim = len(rf_in.axes)
    for i, (a, b, (lo, hi, step)) in enumerate(zip(rf_in.axes, rf_out.axes, envelopes, strict=True)):
        on = _on(i, ndim)
        if a.jump is None:
            steps.append(
                Step("text", "field: mixed strides before this layer, no single size, jump or start", **on)
            )
            continue
        span = f"output i reads inputs {_num(lo)} + i*{_num(step)} .. {_num(hi)} + i*{_num(step)}"
        steps.append(Step("text", span, **on))
        if a.size is None:
            steps.append(Step("text", "r: unbounded, and stays so", **on))
        else:
            formula = f"{_num(a.size)} + ({_num(hi)} - {_num(lo)})*{_num(a.jump)}"
            steps.append(Step("rf_size", "r", formula, b.size, **on))
        steps.append(Step("rf_jump", "j", f"{_num(a.jump)}*{_num(step)}", b.jump, **on))
        if a.start is None:
            steps.append(Step("text", "start: unbounded, and stays so", **on))
        else:
            steps.append(
                Step("rf_start", "start", f"{_num(a.start)} + {_num(lo)}*{_num(a.jump)}", b.start, **on)
            )
    return steps


def _union_rf(paths: Sequence[AxisRF], out: AxisRF, i: int, ndim: int) -> list[Step]:
    """The field of merged paths on one axis: from the smallest start to the largest end."""
    axes = list(paths)
    if out.jump is None:
        jumps = ", ".join("?" if a.jump is None else str(a.jump) for a in axes)
        return [
            Step(
                "text",
                f"jumps ({jumps}) differ: the field is not the same at every position (mixed strides)",
                **_on(i, ndim),
            )
        ]
    steps = [Step("rf_jump", "j", "", out.jump, "(the same on every path)", **_on(i, ndim))]
    if out.size is None or out.start is None:
        return [*steps, Step("text", "r, start: unbounded (a path is unbounded)", **_on(i, ndim))]
    starts = [a.start for a in axes if a.start is not None]
    ends = [f"{_num(a.start)} + {_num(a.size)}" for a in axes if a.start is not None and a.size is not None]
    lo = f"min({', '.join(_num(v) for v in starts)})"
    return [
        *steps,
        Step("rf_start", "start", lo, out.start, **_on(i, ndim)),
        Step(
            "rf_size",
            "r",
            f"max({', '.join(ends)}) - {lo}",
            out.size,
            "(largest end - smallest start)",
            **_on(i, ndim),
        ),
    ]


def _merge_rf(paths: Sequence[RF], out: RF) -> list[Step]:
    if not out.spatial:
        return [Step("text", f"union of the fields: {_field_scope(out)}")]
    steps: list[Step] = []
    ndim = len(out.axes)
    for i, axis in enumerate(out.axes):
        steps.extend(_union_rf([rf.axes[i] for rf in paths], axis, i, ndim))
    return steps


def _path_out(reports: Sequence[LayerReport], x: Act) -> Act:
    return Act(reports[-1].shape, reports[-1].rf) if reports else x


# -- the layer families --------------------------------------------------------------------


def _conv(s: Seen) -> list[Step]:
    from .layers.conv import Conv

    kind = REGISTRY[s.report.layer.type]
    assert isinstance(kind, Conv)
    o = s.report.layer.opts
    k, st, d, left, right, out = kind.geometry(s.report.layer, s.x)
    ndim = len(k)
    c_in, c_out, groups = s.x.shape[0], o["out_channels"], o["groups"]
    steps: list[Step] = []
    for i, n in enumerate(s.x.spatial):
        if o["padding"] == "same":
            lo, hi = same_padding(n, k[i], st[i], d[i])
            total = f"max((ceil({n}/{st[i]}) - 1)*{st[i]} + {d[i]}*({k[i]}-1) + 1 - {n}, 0)"
            steps.append(
                Step("padding", "same: total", total, lo + hi, f"left {lo}, right {hi}", **_on(i, ndim))
            )
        elif o["padding"] == "causal":
            lo, hi = causal_padding(k[i], d[i])
            steps.append(
                Step("padding", "causal: left", f"{d[i]}*({k[i]}-1)", lo, f"right {hi}", **_on(i, ndim))
            )
        formula = f"floor(({n} + {left[i]} + {right[i]} - {d[i]}*({k[i]}-1) - 1) / {st[i]}) + 1"
        steps.append(Step("shape", "n_out", formula, out[i], **_on(i, ndim)))
    steps.extend(_window_rf(s.x.rf, s.report.rf, k, st, d, left))
    per_group = f"({c_in}/{groups})" if groups > 1 else str(c_in)
    taps = "*".join([per_group, *map(str, k)])
    weights = f"{c_out}*{taps}"
    bias = f" + {c_out}" if o["bias"] else ""
    steps.append(
        Step(
            "params",
            "params",
            weights + bias,
            s.report.params,
            "(C_out*C_in/groups*k" + (" + C_out)" if bias else ")"),
        )
    )
    steps.append(
        Step(
            "macs",
            "MACs",
            "*".join([str(s.batch), str(c_out), _times(out), taps]),
            s.report.macs,
            "(B*C_out*out*C_in/groups*k)",
        )
    )
    return steps


def _pool(s: Seen) -> list[Step]:
    from .layers.pool import Pool

    kind = REGISTRY[s.report.layer.type]
    assert isinstance(kind, Pool)
    o = s.report.layer.opts
    k, st, d, pads, out = kind.geometry(s.report.layer, s.x)
    ndim = len(k)
    steps: list[Step] = []
    for i, n in enumerate(s.x.spatial):
        inner = f"({n} + 2*{pads[i]} - {d[i]}*({k[i]}-1) - 1) / {st[i]}"
        if not o["ceil_mode"]:
            steps.append(Step("shape", "n_out", f"floor({inner}) + 1", out[i], **_on(i, ndim)))
            continue
        windows, dropped = pool_windows(n, k[i], st[i], pads[i], d[i], True)
        if not dropped:
            steps.append(Step("shape", "n_out", f"ceil({inner}) + 1", out[i], "(ceil_mode)", **_on(i, ndim)))
            continue
        steps.append(Step("detail", "windows", f"ceil({inner}) + 1", windows, "(ceil_mode)", **_on(i, ndim)))
        steps.append(
            Step(
                "detail",
                "last window start",
                f"({windows}-1)*{st[i]}",
                (windows - 1) * st[i],
                f">= n + p = {n} + {pads[i]}: it would start in the right padding, and PyTorch drops it",
                **_on(i, ndim),
            )
        )
        steps.append(Step("shape", "n_out", f"{windows} - 1", out[i], **_on(i, ndim)))
    steps.extend(_window_rf(s.x.rf, s.report.rf, k, st, d, pads))
    if kind.op == "avg" and not o["count_include_pad"]:
        steps.append(
            Step("text", "count_include_pad: false: padded zeros are left out of the divisor (values only)")
        )
    steps.append(Step("params", "params", "", s.report.params, "(no weights)"))
    if kind.op == "max":
        steps.append(Step("macs", "MACs", "", s.report.macs, "(comparisons only)"))
    else:
        steps.append(_batch_macs(s, [s.x.shape[0], *out, *k], "(B*C*out*k: one add per tap)"))
    return steps


def _global_pool(s: Seen) -> list[Step]:
    op = "average" if s.report.layer.type == "global_avgpool" else "maximum"
    steps = [
        Step(
            "text",
            f"{_shape(s.x.shape)} -> {_shape(s.report.shape)}: "
            f"the {op} of each channel over all {_times(s.x.spatial)} positions",
        ),
        Step("text", _field_scope(s.report.rf)),
        Step("params", "params", "", s.report.params, "(no weights)"),
    ]
    if op == "maximum":
        return [*steps, Step("macs", "MACs", "", s.report.macs, "(comparisons only)")]
    return [*steps, _batch_macs(s, s.x.shape, "(B*numel: one add per element)")]


def _linear(s: Seen) -> list[Step]:
    o = s.report.layer.opts
    n_in, n_out = s.x.shape[0], o["out_features"]
    where = f"at each of the {_times(s.x.spatial)} positions" if s.x.spatial else "on the feature vector"
    steps = [
        Step(
            "text",
            f"y = W x + b on the channel axis {where}, W: {n_out}x{n_in}: "
            f"{_shape(s.x.shape)} -> {_shape(s.report.shape)}",
        )
    ]
    if s.x.rf.scope == FLATTENED:
        steps.append(
            Step("text", "after flatten every output mixes every position: " + _field_scope(s.report.rf))
        )
    else:
        steps.append(Step("text", "receptive field unchanged"))
    bias = f" + {n_out}" if o["bias"] else ""
    steps.append(
        Step(
            "params",
            "params",
            f"{n_in}*{n_out}{bias}",
            s.report.params,
            "(in*out" + (" + out)" if bias else ")"),
        )
    )
    steps.append(_batch_macs(s, [*s.x.spatial, n_in, n_out], "(B*positions*in*out)"))
    return steps


def _batchnorm(s: Seen) -> list[Step]:
    o = s.report.layer.opts
    c = s.x.shape[0]
    steps = [
        Step("text", f"y = (x - mean) / sqrt(var + {o['eps']}) * gamma + beta, per channel ({c} channels)"),
        _unchanged(s),
    ]
    if s.convention == "keras":
        affine = f"2*{c} + " if o["affine"] else ""
        steps.append(
            Step(
                "params",
                "params",
                f"{affine}2*{c}",
                s.report.params,
                ("(gamma and beta, and " if affine else "(") + "the moving mean and var: Keras counts "
                "them as non-trainable weights)",
            )
        )
    elif o["affine"]:
        steps.append(
            Step(
                "params",
                "params",
                f"2*{c}",
                s.report.params,
                "(gamma and beta; running mean and var are buffers)",
            )
        )
    else:
        steps.append(
            Step("params", "params", "", s.report.params, "(affine: false; running mean and var are buffers)")
        )
    steps.append(_batch_macs(s, s.x.shape, "(B*numel: one multiply-add per element at inference)"))
    return steps


_ELEMENTWISE = {
    "relu": "y = max(x, 0), element by element",
    "tanh": "y = tanh(x), element by element",
    "sigmoid": "y = 1 / (1 + exp(-x)), element by element",
    "identity": "y = x",
}


def _elementwise(s: Seen) -> list[Step]:
    t = s.report.layer.type
    if t == "dropout":
        p = s.report.layer.opts["p"]
        what = f"training: zeroes elements with probability p = {p}, scales the rest by 1/(1-p); else y = x"
    else:
        what = _ELEMENTWISE[t]
    return [Step("text", f"{what}; shape and receptive field unchanged"), *_zero_cost(s, "", "")]


def _flatten(s: Seen) -> list[Step]:
    if len(s.x.shape) == 1:
        return [
            Step("text", f"{_shape(s.x.shape)} has a single axis: unchanged"),
            *_zero_cost(s, "(no weights)", "(a reshape)"),
        ]
    return [
        Step("shape", "features", _times(s.x.shape), s.report.shape[0], "(C*spatial)"),
        Step("text", _field_scope(s.report.rf)),
        *_zero_cost(s, "(no weights)", "(a reshape)"),
    ]


def _pad(s: Seen) -> list[Step]:
    from .layers.dense import Pad

    kind = REGISTRY[s.report.layer.type]
    assert isinstance(kind, Pad)
    ndim = len(s.x.spatial)
    pads = kind.pads(s.report.layer, s.x.spatial)
    steps: list[Step] = []
    for i, (n, (lo, hi)) in enumerate(zip(s.x.spatial, pads, strict=True)):
        steps.append(
            Step(
                "shape",
                "n_out",
                f"{n} + {lo} + {hi}",
                s.report.shape[i + 1],
                "(n + left + right)",
                **_on(i, ndim),
            )
        )
    if s.x.rf.spatial:
        for i, (a, b) in enumerate(zip(s.x.rf.axes, s.report.rf.axes, strict=True)):
            if a.jump is not None and a.start is not None:
                steps.append(
                    Step(
                        "rf_start",
                        "start",
                        f"{_num(a.start)} - {pads[i][0]}*{_num(a.jump)}",
                        b.start,
                        "(size and jump unchanged)",
                        **_on(i, ndim),
                    )
                )
    return [*steps, *_zero_cost(s, "(no weights)", "(zeros only)")]


_EQUATIONS = {
    "rnn": ["h_t = tanh(W_ih x_t + b_ih + W_hh h_(t-1) + b_hh)"],
    "lstm": [
        "i, f, g, o = sigmoid, sigmoid, tanh, sigmoid of the 4 row blocks of "
        "W_ih x_t + b_ih + W_hh h_(t-1) + b_hh",
        "c_t = f * c_(t-1) + i * g,  h_t = o * tanh(c_t)",
    ],
    "gru": [
        "r, z = sigmoid of the first 2 row blocks of W_ih x_t + b_ih + W_hh h_(t-1) + b_hh",
        "n = tanh(W_in x_t + b_in + r * (W_hn h_(t-1) + b_hn))",
        "h_t = (1 - z) * n + z * h_(t-1)",
    ],
}


def _recurrent(s: Seen) -> list[Step]:
    from .layers.recurrent import Recurrent

    layer = s.report.layer
    kind = REGISTRY[layer.type]
    assert isinstance(kind, Recurrent)
    o = layer.opts
    h, g = o["hidden_size"], kind.gates
    r, proj = kind.out_features(layer), o.get("proj_size", 0)  # r: features of h_t
    rh = "p" if proj else "h"
    dirs = 2 if o["bidirectional"] else 1
    inputs = kind.layer_inputs(layer, s.x.shape[0])
    specs = kind.weight_specs(layer, s.x.shape)
    length = s.x.shape[1]
    steps = [Step("text", eq) for eq in _EQUATIONS[layer.type]]
    if proj:
        steps.append(Step("text", f"proj_size p = {proj}: h_t = W_hr (o * tanh(c_t)), W_hr: {proj}x{h}"))
    n_bias = kind.bias_vectors(layer, s.convention)
    bias_why = {2: "b_ih and b_hh", 1: "one bias vector (Keras)"}.get(n_bias, "")
    if n_bias == 2 and s.convention == "keras":
        bias_why = "input and recurrent bias (Keras reset_after)"
    if s.convention == "keras" and not o.get("reset_after", True):
        steps.append(
            Step("text", "Keras reset_after false: n = tanh(W_in x_t + W_hn (r * h_(t-1)) + b_n), one bias")
        )
    elif s.convention == "keras" and n_bias == 1:
        keras_bias = "convention keras: one bias vector per layer and direction (b_ih + b_hh as one)"
        steps.append(Step("text", keras_bias))
    per_dir: list[str] = []
    for n, d_in in enumerate(inputs):
        w_ih, w_hh = specs[f"weight_ih_l{n}"].shape, specs[f"weight_hh_l{n}"].shape
        both = " (forward and backward each)" if dirs == 2 else ""
        steps.append(
            Step("text", f"layer {n}: d = {d_in}, W_ih: {w_ih[0]}x{w_ih[1]}, W_hh: {w_hh[0]}x{w_hh[1]}{both}")
        )
        term = f"{g}*{h}*({d_in}+{r})" + (f" + {proj}*{h}" if proj else "")
        term += f" + {n_bias * g}*{h}" if n_bias else ""
        own = g * h * (d_in + r) + proj * h + n_bias * g * h
        why = f"({g}*h*(d+{rh})" + (" + p*h: W_hr" if proj else "")
        why += f" + {n_bias * g}*h: {bias_why})" if n_bias else ")"
        steps.append(Step("detail", f"layer {n} params per direction", term, own, why))
        per_dir.append(f"({term})" if n_bias or proj else term)
    scale = f"{dirs}*" if dirs > 1 else ""
    steps.append(
        Step(
            "params",
            "params",
            " + ".join(scale + t for t in per_dir),
            s.report.params,
            "(sum over layers and directions)",
        )
    )
    products = " + ".join(f"{g}*{h}*({d_in}+{r})" + (f" + {proj}*{h}" if proj else "") for d_in in inputs)
    steps.append(
        Step(
            "macs",
            "MACs",
            f"{s.batch}*{length}*{dirs}*({products})",
            s.report.macs,
            "(B*L*dirs*sum g*h*(d+p) + p*h)" if proj else "(B*L*dirs*sum g*h*(d+h))",
        )
    )
    if o["return_sequences"]:
        back = ", the backward direction on x_t .. x_(L-1)" if dirs == 2 else ""
        steps.insert(
            0,
            Step(
                "shape",
                "features",
                f"{r}*{dirs}",
                s.report.shape[0],
                f"({rh}*dirs) at each of the {length} steps",
            ),
        )
        ax = s.report.rf.axes[0] if s.report.rf.axes else AxisRF(None, None, None)
        jump = "kept" if ax.jump is None else f"j = {ax.jump} kept"
        steps.append(
            Step(
                "text",
                f"receptive field unbounded: h_t depends on x_0 .. x_t{back}; size, start unbounded, {jump}",
            )
        )
    else:
        which = "the forward direction's last step" + (
            " and the backward direction's first step" if dirs == 2 else ""
        )
        steps.insert(0, Step("shape", "features", f"{r}*{dirs}", s.report.shape[0], f"({rh}*dirs): {which}"))
        steps.append(Step("text", f"receptive field: {_field_scope(s.report.rf)}"))
    return steps


def _sequential(s: Seen) -> list[Step]:
    n = len(s.report.children["layers"])
    if not n:
        return [Step("text", "no layers: passes its input through"), *_children_cost(s)]
    return [
        Step(
            "text",
            f"runs its {n} layers in order: output {_shape(s.report.shape)}, field as the last layer's",
        ),
        *_children_cost(s),
    ]


def _flat_opts(layer: Layer, prefix: str = "") -> dict[str, object]:
    """A layer's options with its nested layers' by dotted path (``layers.0.dilation``)."""
    out: dict[str, object] = {}
    for key, value in layer.opts.items():
        if isinstance(value, tuple) and value and isinstance(value[0], (Layer, tuple)):
            lists = value if key == "branches" else (value,)
            for j, layers in enumerate(lists):
                sub = f"{prefix}{key}.{j}." if key == "branches" else f"{prefix}{key}."
                for i, child in enumerate(layers):
                    out.update(_flat_opts(child, f"{sub}{i}."))
        else:
            out[prefix + key] = value
    return out


def _repeat(s: Seen) -> list[Step]:
    kids = [r.layer for r in s.report.children["layers"]]
    if not kids:
        return [Step("text", "no layers: passes its input through"), *_children_cost(s)]
    types = sorted({k.type for k in kids})
    of = f"a {types[0]}" if len(types) == 1 else "layers"
    flat = [_flat_opts(k) for k in kids]
    varied = [key for key in flat[0] if any(f.get(key) != flat[0][key] for f in flat[1:])]
    what = f", varying {', '.join(varied)}" if varied and len(types) == 1 else ""
    return [
        Step(
            "text",
            f"{len(kids)} copies of {of} (repeat{what}), run in order: output {_shape(s.report.shape)}, "
            "field as the last copy's",
        ),
        *_children_cost(s),
    ]


def _residual(s: Seen) -> list[Step]:
    main = _path_out(s.report.children["layers"], s.x)
    short = _path_out(s.report.children["shortcut"], s.x)
    n = len(s.report.children["shortcut"])
    what = f"the shortcut ({n} layer{'s' if n > 1 else ''})" if n else "the identity shortcut"
    steps = [
        Step(
            "text",
            f"y = f(x) + g(x): the main path gives {_shape(main.shape)}, {what} gives "
            f"{_shape(short.shape)}; added, so the shapes must match",
        ),
        *_merge_rf([main.rf, short.rf], s.report.rf),
    ]
    return [*steps, *_children_cost(s)]


def _parallel(s: Seen) -> list[Step]:
    outs = [_path_out(b, s.x) for b in s.report.children["branches"]]
    steps: list[Step] = []
    if s.report.layer.opts["merge"] == "concat":
        rest = f"; the other axes {_shape(outs[0].shape[1:])} match" if len(outs[0].shape) > 1 else ""
        steps.append(Step("text", f"concat on the channel axis of {len(outs)} branches{rest}"))
        steps.append(Step("shape", "channels", _sum([str(o.shape[0]) for o in outs]), s.report.shape[0]))
    else:
        steps.append(
            Step(
                "text",
                f"add: all {len(outs)} branches give {_shape(outs[0].shape)}, summed element by element",
            )
        )
    steps.extend(_merge_rf([o.rf for o in outs], s.report.rf))
    return [*steps, *_children_cost(s)]


def _conv_transpose(s: Seen) -> list[Step]:
    from .layers.transpose import ConvTranspose, transpose_envelopes

    kind = REGISTRY[s.report.layer.type]
    assert isinstance(kind, ConvTranspose)
    o = s.report.layer.opts
    k, st, d, p, op, out = kind.geometry(s.report.layer, s.x)
    ndim = len(k)
    c_in, c_out, groups = s.x.shape[0], o["out_channels"], o["groups"]
    steps: list[Step] = []
    for i, n in enumerate(s.x.spatial):
        formula = f"({n}-1)*{st[i]} - 2*{p[i]} + {d[i]}*({k[i]}-1) + {op[i]} + 1"
        why = "((n-1)*s - 2*p + d*(k-1) + output_padding + 1)"
        steps.append(Step("shape", "n_out", formula, out[i], why, **_on(i, ndim)))
    envelopes = [(exact(lo), exact(hi), exact(step)) for lo, hi, step in transpose_envelopes(k, st, d, p)]
    steps.extend(_affine_rf(s.x.rf, s.report.rf, envelopes))
    per_group = f"({c_out}/{groups})" if groups > 1 else str(c_out)
    taps = "*".join([per_group, *map(str, k)])
    bias = f" + {c_out}" if o["bias"] else ""
    why = "(C_in*C_out/groups*k" + (" + C_out)" if bias else ")")
    steps.append(Step("params", "params", f"{c_in}*{taps}{bias}", s.report.params, why))
    macs = "*".join([str(s.batch), str(c_in), _times(s.x.spatial), taps])
    steps.append(Step("macs", "MACs", macs, s.report.macs, "(B*C_in*n*C_out/groups*k: each input scatters)"))
    return steps


def _upsample(s: Seen) -> list[Step]:
    from .layers.transpose import Upsample

    kind = REGISTRY[s.report.layer.type]
    assert isinstance(kind, Upsample)
    o = s.report.layer.opts
    factors, out = kind.geometry(s.report.layer, s.x)
    ndim = len(out)
    steps = [
        Step("shape", "n_out", f"floor({n} * {f!r})", out[i], **_on(i, ndim))
        for i, (n, f) in enumerate(zip(s.x.spatial, factors, strict=True))
    ]
    steps.extend(_affine_rf(s.x.rf, s.report.rf, kind.envelopes(s.report.layer, s.x.spatial, factors, out)))
    steps.append(Step("params", "params", "", s.report.params, "(no weights)"))
    if o["mode"] == "nearest":
        steps.append(Step("macs", "MACs", "", s.report.macs, "(copies only)"))
    else:
        terms = _times([s.batch, s.x.shape[0], *out, *([2] * ndim)])
        steps.append(
            Step("macs", "MACs", terms, s.report.macs, f"(B*C*out*2^{ndim}: one weight per neighbour)")
        )
    return steps


def _unknown(s: Seen) -> list[Step]:
    return [
        Step("text", f"no worked formulas for '{s.report.layer.type}' yet: the numbers of the analysis"),
        Step("text", f"output {_shape(s.report.shape)}"),
        Step("params", "params", "", s.report.params),
        Step("macs", "MACs", "", s.report.macs),
    ]


EXPLAINERS: dict[str, Explainer] = {
    **{f"conv{n}d": _conv for n in (1, 2, 3)},
    **{f"conv_transpose{n}d": _conv_transpose for n in (1, 2, 3)},
    "upsample": _upsample,
    **{f"{op}pool{n}d": _pool for op in ("max", "avg") for n in (1, 2, 3)},
    "global_avgpool": _global_pool,
    "global_maxpool": _global_pool,
    "linear": _linear,
    "batchnorm": _batchnorm,
    **{t: _elementwise for t in ("relu", "tanh", "sigmoid", "identity", "dropout")},
    "flatten": _flatten,
    "pad": _pad,
    **{t: _recurrent for t in ("rnn", "lstm", "gru")},
    "sequential": _sequential,
    "repeat": _repeat,
    "residual": _residual,
    "parallel": _parallel,
}


# -- renderers -----------------------------------------------------------------------------

#: Plain text and markdown are folded to fit this many columns (``None``: one line per step).
WIDTH = 80
#: The extra indent of a folded line's continuations in plain text (markdown: the list item's).
HANG = 4

#: Operators a line never starts with: a fold goes after them, not before.
_OPERATORS = frozenset({"+", "-", "*", "/", "=", "..", "->", "-\\>", ">=", "<="})
_MD_ORDERED = re.compile(r"\d{1,9}[.)]")

#: A run of text and its rich style (``None``: unstyled).
Segment = tuple[str, str | None]


def _math(token: str) -> bool:
    """Is ``token`` a term of a formula (``3``, ``x_t``, ``2*p``, ``f(x)``) rather than a word?"""
    return any(ch.isdigit() or ch in "_*/^" for ch in token) or ("(" in token and ")" in token)


def _fold_cost(prev: str, nxt: str, paren: int) -> int:
    """What breaking a line between the words ``prev`` and ``nxt`` costs, in columns."""
    if nxt[0] == "(" and not paren:  # before a note
        return 0
    if prev[-1] == ":" and len(prev) <= 2:  # an axis or matrix name and its value: ``W: 42x64``
        cost = 30
    elif prev[-1] in ",;:" or prev in ("+", "-", "->", "-\\>"):
        cost = 0
    elif prev == "=":  # the result would start a line
        cost = 16
    elif prev in _OPERATORS or (_math(prev) and _math(nxt)):  # after ``..``; inside ``W_ih x_t``
        cost = 40
    else:  # between words
        cost = 6
    if _math(nxt) and (_math(prev) or prev in _OPERATORS):  # inside a formula
        cost += 20
    return cost + 40 * paren


def _md_block_start(token: str) -> bool:
    """Would a line starting with ``token`` open a markdown block (and end the paragraph)?"""
    return (
        token[:1] in ("#", ">", "<", "|")
        or token.startswith(("```", "~~~"))
        or set(token) <= set("-+*_=")
        or _MD_ORDERED.fullmatch(token) is not None
    )


def _fold_points(text: str, markdown: bool = False) -> list[tuple[int, int]]:
    """The single spaces of ``text`` a line may break at, each with its cost in columns.

    Never inside ``[...]`` (a shape), next to another space (the fold drops exactly one) or
    before an operator (nor, in ``markdown``, where the next line would open a block).
    Before a ``(note)`` and after ``,``, ``;``, ``:`` is best, between words fair; a formula
    is broken after a ``+`` or ``-`` rather than inside a product (``W_ih x_t``), though a
    break between it and the words around it is preferred; and every open parenthesis
    around the space costs more.
    """
    out: list[tuple[int, int]] = []
    paren = square = 0
    for i, ch in enumerate(text):
        if ch == "(":
            paren += 1
        elif ch == ")":
            paren = max(paren - 1, 0)
        elif ch == "[":
            square += 1
        elif ch == "]":
            square = max(square - 1, 0)
        elif ch == " " and not square and 0 < i < len(text) - 1 and " " not in (text[i - 1], text[i + 1]):
            prev = text[text.rfind(" ", 0, i) + 1 : i]
            end = text.find(" ", i + 1)
            nxt = text[i + 1 : end if end >= 0 else len(text)]
            if nxt in _OPERATORS or (markdown and _md_block_start(nxt)):
                continue
            out.append((i, _fold_cost(prev, nxt, paren)))
    return out


def fold(text: str, first: int, rest: int, markdown: bool = False) -> list[int]:
    """Where to break ``text`` (indices of the spaces that become line ends) so that its first
    line fits in ``first`` columns and the others in ``rest``; nothing is dropped but those
    spaces. Greedy: each line ends at the fitting break with the most text less its cost
    (and less the shortness of a last line it would leave). A piece that cannot be broken
    to fit stays whole (the line runs over)."""
    points = _fold_points(text, markdown)
    cuts: list[int] = []
    start, room = 0, first

    def score(i: int, cost: int) -> int:
        tail = len(text) - i - 1  # what the break leaves for the next lines
        orphan = max(0, 24 - tail) if tail <= rest else 0  # a last line of a word or two
        return i - start - cost - orphan

    while len(text) - start > room:
        fits = [(score(i, cost), i) for i, cost in points if start < i <= start + room]
        later = [i for i, _ in points if i > start]
        if not fits and not later:
            break
        cut = max(fits)[1] if fits else later[0]
        cuts.append(cut)
        start, room = cut + 1, rest
    return cuts


def _folded(
    segments: Sequence[Segment],
    lead: str,
    cont: str,
    markup: bool,
    width: int | None,
    markdown: bool = False,
) -> list[str]:
    """One printed line after ``lead``, folded to ``width`` with its continuations after
    ``cont``; in ``markup``, each piece is styled on its own so that no style spans a line end."""
    text = "".join(t for t, _ in segments)
    cuts = fold(text, width - len(lead), width - len(cont), markdown) if width else []
    lines = []
    for n, (a, b) in enumerate(zip([0, *(c + 1 for c in cuts)], [*cuts, len(text)], strict=True)):
        pieces, pos = [], 0
        for t, tag in segments:
            lo, hi = max(a, pos), min(b, pos + len(t))
            if lo < hi:
                pieces.append(_style(text[lo:hi], tag, markup))
            pos += len(t)
        lines.append((cont if n else lead) + "".join(pieces))
    return lines


def lines_of(steps: Sequence[Step]) -> list[list[Step]]:
    """Steps grouped into printed lines: a bare ``params = 0`` and ``MACs = 0`` share one."""
    out: list[list[Step]] = []
    for st in steps:
        prev = out[-1] if out else []
        if (
            st.kind == "macs"
            and not st.formula
            and len(prev) == 1
            and prev[0].kind == "params"
            and not prev[0].formula
        ):
            prev.append(st)
        else:
            out.append([st])
    return out


def render_text(e: Explanation, markup: bool = False, width: int | None = WIDTH) -> str:
    """Plain text, or (``markup``) the same text with rich console markup for colour; lines
    longer than ``width`` are folded, their continuations indented by :data:`HANG` more."""
    hang = " " * HANG
    lines = [
        *_folded([(e.title, "bold")], "", hang, markup, width),
        *_folded([(e.totals, "dim")], "", hang, markup, width),
        "",
    ]
    for lay in e.layers:
        pad = "  " * lay.depth
        head = f"{lay.title}: {_shape(lay.in_shape)} -> {_shape(lay.out_shape)}"
        lines += _folded([(head, "bold")], pad, pad + hang, markup, width)
        for group in lines_of(lay.steps):
            segments = [
                seg for j, st in enumerate(group) for seg in [*([(", ", None)] if j else []), *_segments(st)]
            ]
            lines += _folded(segments, pad + "  ", pad + "  " + hang, markup, width)
        lines.append("")
    return "\n".join(lines)


def _style(text: str, tag: str | None, markup: bool) -> str:
    if not markup or tag is None:
        return text
    from rich.markup import escape

    return f"[{tag}]{escape(text)}[/{tag}]"


def _segments(st: Step) -> list[Segment]:
    """``st.plain()`` in styled runs."""
    if st.kind == "text":
        return [(st.prefix + st.label, "italic")]
    out: list[Segment] = [(st.prefix + st.label, "cyan")]
    if st.formula:
        out += [(" = ", None), (st.formula, "yellow")]
    if st.result is not None:
        out += [(" = ", None), (str(st.result), "bold green")]
    if st.note:
        out += [(_note_sep(st.note), None), (st.note, "dim")]
    return out


def render_markdown(e: Explanation, width: int | None = WIDTH) -> str:
    """GitHub-flavoured markdown: a heading per layer, every formula in a code span. Paragraphs
    and list items longer than ``width`` are folded (a line end inside a code span reads as
    the space it replaces); headings cannot be, and stay whole."""
    span_in, span_out = md_code(_shape(e.input_shape)), md_code(_shape(e.output_shape))
    lines = [f"# {md_escape(e.name or 'net')}: {span_in} -> {span_out}", ""]
    lines += [*_folded([(md_escape(e.totals), None)], "", "", False, width, markdown=True), ""]
    for lay in e.layers:
        named = f" {md_code(lay.name)}" if lay.name else ""
        shapes = f"{md_code(_shape(lay.in_shape))} -> {md_code(_shape(lay.out_shape))}"
        lines += [f"{'#' * min(2 + lay.depth, 6)} {lay.type} #{lay.path}{named}: {shapes}", ""]
        for group in lines_of(lay.steps):
            item = ", ".join(_step_markdown(st) for st in group)
            lines += _folded([(item, None)], "- ", "  ", False, width, markdown=True)
        lines.append("")
    return "\n".join(lines)


def _step_markdown(st: Step) -> str:
    return md_escape(st.plain()) if st.kind == "text" else md_code(st.plain())
