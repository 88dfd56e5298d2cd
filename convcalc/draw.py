"""Pictures of receptive fields: SVG text, built from the analysis and the layers' own geometry.

Three pictures:

- ``dilated`` (1D nets): one row of nodes per conv/pool/pad layer over the input row, with the
  connections that feed one output unit highlighted, traced backwards through each layer's
  kernel, stride, dilation and left padding (the same ``geometry`` the analysis uses);
- ``grid`` (2D nets): the input cells one output unit depends on, over the input grid, with
  the field box the analysis predicts and the field origins of the neighbouring units;
- ``rf-plot`` (any net): the receptive-field size of every layer, per axis.

A picture is first built as a :class:`Scene` of plain shapes; :func:`to_svg` writes it as SVG
and :mod:`convcalc.draw_png` renders the same scene with matplotlib.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from itertools import product
from xml.sax.saxutils import escape, quoteattr

import numpy as np

from .arith import windows_span
from .errors import ConvcalcError
from .layers import REGISTRY
from .layers.base import Act, axis_name, shape_str
from .layers.conv import Conv
from .layers.dense import Pad
from .layers.pool import Pool
from .report import LayerReport, Report
from .rf import GLOBAL, RF, AxisRF

KINDS = ("auto", "dilated", "grid", "rf-plot")

#: the widest 1D window (input positions) and 2D window (cells per axis) that are drawn
MAX_POSITIONS = 4096
MAX_CELLS = 512
#: above this many faint (non-highlighted) connections, they are left out
MAX_FAINT_EDGES = 15000

HIGHLIGHT = "#d62728"
HIGHLIGHT_DARK = "#7f1010"
PADDING_FILL = "#fde0e0"
FAINT = "#b8b8b8"
NODE_STROKE = "#6b6b6b"
TEXT = "#222222"
MUTED = "#666666"
AXIS_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c")


class CannotDraw(ConvcalcError):
    """The picture asked for cannot be drawn for this net (the message says why)."""


# -- the scene -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Style:
    fill: str = "none"
    stroke: str = "none"
    width: float = 1.0
    dash: bool = False
    opacity: float = 1.0


@dataclass(frozen=True)
class Circle:
    cx: float
    cy: float
    r: float
    style: Style
    cls: str = ""
    data: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Line:
    x1: float
    y1: float
    x2: float
    y2: float
    style: Style
    cls: str = ""


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    w: float
    h: float
    style: Style
    cls: str = ""
    data: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Text:
    x: float
    y: float
    text: str
    size: float = 11.0
    anchor: str = "start"  # start | middle | end
    fill: str = TEXT
    cls: str = "label"
    bold: bool = False
    italic: bool = False


Item = Circle | Line | Rect | Text


@dataclass
class Scene:
    """A picture as plain shapes, in pixels, y pointing down."""

    width: float
    height: float
    title: str
    items: list[Item] = field(default_factory=list)
    desc: str = ""


def _shift(item: Item, dy: float) -> Item:
    if isinstance(item, Circle):
        return replace(item, cy=item.cy + dy)
    if isinstance(item, Line):
        return replace(item, y1=item.y1 + dy, y2=item.y2 + dy)
    return replace(item, y=item.y + dy)


def _num(v: float) -> str:
    text = f"{v:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _style_attrs(st: Style) -> str:
    out = f' fill="{st.fill}" stroke="{st.stroke}"'
    if st.stroke != "none":
        out += f' stroke-width="{_num(st.width)}"'
        if st.dash:
            out += ' stroke-dasharray="3 2"'
    if st.opacity != 1.0:
        out += f' opacity="{_num(st.opacity)}"'
    return out


def _data_attrs(cls: str, data: tuple[tuple[str, str], ...]) -> str:
    out = f" class={quoteattr(cls)}" if cls else ""
    return out + "".join(f" data-{k}={quoteattr(v)}" for k, v in data)


def to_svg(scene: Scene) -> str:
    """The scene as a standalone SVG document."""
    w, h = _num(scene.width), _num(scene.height)
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
        'font-family="DejaVu Sans, Helvetica, Arial, sans-serif">',
        f"<title>{escape(scene.title)}</title>",
    ]
    if scene.desc:
        out.append(f"<desc>{escape(scene.desc)}</desc>")
    out.append(f'<rect class="background" x="0" y="0" width="{w}" height="{h}" fill="#ffffff"/>')
    for it in scene.items:
        if isinstance(it, Line):
            out.append(
                f'<line{_data_attrs(it.cls, ())} x1="{_num(it.x1)}" y1="{_num(it.y1)}" '
                f'x2="{_num(it.x2)}" y2="{_num(it.y2)}"{_style_attrs(it.style)}/>'
            )
        elif isinstance(it, Circle):
            out.append(
                f'<circle{_data_attrs(it.cls, it.data)} cx="{_num(it.cx)}" cy="{_num(it.cy)}" '
                f'r="{_num(it.r)}"{_style_attrs(it.style)}/>'
            )
        elif isinstance(it, Rect):
            out.append(
                f'<rect{_data_attrs(it.cls, it.data)} x="{_num(it.x)}" y="{_num(it.y)}" '
                f'width="{_num(it.w)}" height="{_num(it.h)}"{_style_attrs(it.style)}/>'
            )
        else:
            extra = ' font-weight="bold"' if it.bold else ""
            extra += ' font-style="italic"' if it.italic else ""
            out.append(
                f'<text{_data_attrs(it.cls, ())} x="{_num(it.x)}" y="{_num(it.y)}" '
                f'font-size="{_num(it.size)}" text-anchor="{it.anchor}" fill="{it.fill}"{extra}>'
                f"{escape(it.text)}</text>"
            )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _wrap(text: str, width_px: float, size: float) -> list[str]:
    """Greedy word wrap at an estimated character width."""
    per_line = max(20, int(width_px / (0.56 * size)))
    lines: list[str] = []
    current = ""
    for word in text.split():
        if current and len(current) + 1 + len(word) > per_line:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    if current:
        lines.append(current)
    return lines


@dataclass
class Panel:
    width: float
    height: float
    items: list[Item]
    notes: list[str]


def _compose(title: str, panels: list[Panel], desc: str) -> Scene:
    """Stack panels vertically under a title, each followed by its notes."""
    width = max(max((p.width for p in panels), default=400), 520)
    items: list[Item] = [Text(16, 26, title, size=15, bold=True, cls="title")]
    y = 40.0
    for panel in panels:
        items.extend(_shift(it, y) for it in panel.items)
        y += panel.height + 6
        for note in panel.notes:
            for line in _wrap(note, width - 32, 11):
                y += 15
                items.append(Text(16, y, line, size=11, fill=MUTED, cls="caption"))
        y += 22
    return Scene(width, y, title, items, desc)


# -- masks: sets of positions on a box of integer coordinates ------------------------------


@dataclass(frozen=True)
class Mask:
    """A set of positions (one coordinate per spatial axis): ``data[i]`` is position ``origin + i``."""

    origin: tuple[int, ...]
    data: np.ndarray

    @staticmethod
    def point(index: Sequence[int]) -> Mask:
        return Mask(tuple(index), np.ones((1,) * len(index), dtype=bool))

    @staticmethod
    def empty(ndim: int) -> Mask:
        return Mask((0,) * ndim, np.zeros((0,) * ndim, dtype=bool))

    @property
    def ndim(self) -> int:
        return len(self.origin)

    def positions(self) -> set[tuple[int, ...]]:
        return {
            tuple(int(c) + o for c, o in zip(p, self.origin, strict=True)) for p in np.argwhere(self.data)
        }

    def tight(self) -> Mask:
        if not self.data.any():
            return Mask.empty(self.ndim)
        lo, hi = [], []
        for axis in range(self.ndim):
            other = tuple(a for a in range(self.ndim) if a != axis)
            hit = np.flatnonzero(self.data.any(axis=other) if other else self.data)
            lo.append(int(hit[0]))
            hi.append(int(hit[-1]) + 1)
        sl = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
        return Mask(tuple(o + a for o, a in zip(self.origin, lo, strict=True)), self.data[sl])

    def clip(self, sizes: Sequence[int]) -> Mask:
        """The positions inside ``[0, n)`` on every axis (the real input, not its padding)."""
        lo = [max(0, o) for o in self.origin]
        hi = [min(n, o + s) for n, o, s in zip(sizes, self.origin, self.data.shape, strict=True)]
        if any(a >= b for a, b in zip(lo, hi, strict=True)):
            return Mask.empty(self.ndim)
        sl = tuple(slice(a - o, b - o) for a, b, o in zip(lo, hi, self.origin, strict=True))
        return Mask(tuple(lo), self.data[sl]).tight()

    def back(self, k: Sequence[int], s: Sequence[int], d: Sequence[int], left: Sequence[int]) -> Mask:
        """The input positions (padding included, as coordinates outside the input) that a
        sliding window (kernel k, stride s, dilation d, left padding) reads for these outputs:
        output ``o`` reads ``o*s - left + j*d`` for ``j`` in ``0 .. k-1``."""
        if self.data.size == 0:
            return self
        size = self.data.shape
        shape = tuple(windows_span(n, ki, si, di) for n, ki, si, di in zip(size, k, s, d, strict=True))
        origin = tuple(o * si - li for o, si, li in zip(self.origin, s, left, strict=True))
        out = np.zeros(shape, dtype=bool)
        for taps in product(*(range(ki) for ki in k)):
            sl = tuple(
                slice(j * di, j * di + (n - 1) * si + 1, si)
                for j, di, n, si in zip(taps, d, size, s, strict=True)
            )
            out[sl] |= self.data
        return Mask(origin, out).tight()


def _union(masks: Sequence[Mask], ndim: int) -> Mask:
    masks = [m for m in masks if m.data.size]
    if not masks:
        return Mask.empty(ndim)
    lo = [min(m.origin[a] for m in masks) for a in range(ndim)]
    hi = [max(m.origin[a] + m.data.shape[a] for m in masks) for a in range(ndim)]
    out = np.zeros(tuple(b - a for a, b in zip(lo, hi, strict=True)), dtype=bool)
    for m in masks:
        sl = tuple(slice(o - a, o - a + n) for o, a, n in zip(m.origin, lo, m.data.shape, strict=True))
        out[sl] |= m.data
    return Mask(tuple(lo), out)


# -- the net as the picture sees it: windows and containers ---------------------------------


@dataclass
class Window:
    """One conv, pool or pad layer: its geometry per axis, as the analysis computes it."""

    report: LayerReport
    label: str
    k: tuple[int, ...]
    s: tuple[int, ...]
    d: tuple[int, ...]
    left: tuple[int, ...]
    right: tuple[int, ...]
    n_in: tuple[int, ...]
    n_out: tuple[int, ...]
    out_mask: Mask | None = None  # set by the backward trace, on the drawn path
    taps: Mask | None = None

    @property
    def pointwise(self) -> bool:
        return all(k == 1 and s == 1 for k, s in zip(self.k, self.s, strict=True)) and self.n_in == self.n_out

    @property
    def type(self) -> str:
        return self.report.layer.type


@dataclass
class Branch:
    """A container: its paths (each a list of ops) and the one drawn."""

    report: LayerReport
    label: str
    paths: list[list[Op]]
    names: list[str]
    main: int


Op = Window | Branch


def _field_reason(rf: RF) -> str | None:
    """Why a layer's output has no drawable field, or None when it has one."""
    if not rf.spatial:
        if rf.scope == GLOBAL:
            return "has no spatial axes (every output unit depends on the whole input)"
        return "has no spatial axes (they were flattened into features)"
    for ax in rf.axes:
        if any(v is not None and not isinstance(v, int) for v in (ax.size, ax.jump, ax.start)):
            return (
                "has a fractional jump (after a transposed convolution or an upsampling, outputs are "
                "finer than input positions)"
            )
        if ax.jump is None:
            return "merges branches with different strides (its field is not the same at every position)"
        if ax.size is None or ax.start is None:
            return (
                "has an unbounded field (after a recurrent layer a step may depend on every earlier "
                "or later one)"
            )
    return None


def _path_extent(reports: list[LayerReport], rf_in: RF) -> float:
    rf = reports[-1].rf if reports else rf_in
    return sum(float(ax.size or 0) for ax in rf.axes) if rf.spatial else 0


def _trace(
    reports: list[LayerReport], shape: tuple[int, ...], rf: RF, prefix: str, notes: list[str]
) -> list[Op]:
    """The ops of a layer list, given its input shape and field."""
    ops: list[Op] = []
    for i, r in enumerate(reports):
        layer = r.layer
        label = layer.name or f"{prefix}{i}"
        kind = REGISTRY[layer.type]
        x = Act(shape, rf)
        if type(kind) is Conv:
            k, s, d, left, right, out = kind.geometry(layer, x)
            ops.append(Window(r, label, k, s, d, left, right, shape[1:], out))
        elif type(kind) is Pool:
            k, s, d, pads, out = kind.geometry(layer, x)
            ops.append(Window(r, label, k, s, d, pads, pads, shape[1:], out))
        elif type(kind) is Pad:
            ones = (1,) * len(shape[1:])
            pads2 = kind.pads(layer, shape[1:])
            lo, hi = tuple(p[0] for p in pads2), tuple(p[1] for p in pads2)
            ops.append(Window(r, label, ones, ones, ones, lo, hi, shape[1:], tuple(r.shape[1:])))
        elif "branches" in r.children or "layers" in r.children:
            if "branches" in r.children:
                groups = list(r.children["branches"])
                names = [f"branch {j}" for j in range(len(groups))]
                prefixes = [f"{label}.b{j}." for j in range(len(groups))]
            else:
                groups = [list(r.children["layers"]), list(r.children.get("shortcut", []))]
                names = ["layers", "shortcut"]
                prefixes = [f"{label}.", f"{label}.shortcut."]
                if "shortcut" not in r.children:  # sequential, repeat: one path, no identity beside it
                    groups, names, prefixes = groups[:1], names[:1], prefixes[:1]
            paths = [_trace(g, shape, rf, p, notes) for g, p in zip(groups, prefixes, strict=True)]
            extents = [_path_extent(g, rf) for g in groups]
            main = extents.index(max(extents))
            if len(paths) > 1:
                others = [n for j, n in enumerate(names) if j != main]
                empty = [n for j, n in enumerate(names) if j != main and not groups[j]]
                what = ", ".join(f"{n} (identity)" if n in empty else n for n in others)
                notes.append(f"{layer.type} '{label}': {names[main]} drawn; not drawn: {what}")
            ops.append(Branch(r, label, paths, names, main))
        elif tuple(r.shape[1:]) != tuple(shape[1:]) or r.rf != rf:
            raise CannotDraw(f"layer {label} ({layer.type}): its geometry is not known to `convcalc draw`")
        shape, rf = tuple(r.shape), r.rf
    return ops


def _back(ops: list[Op], mask: Mask, record: bool, clip: bool = True) -> Mask:
    """The input positions the positions ``mask`` of the ops' output depend on (with ``clip``
    false, padding positions are followed too, as if the input went on)."""
    for op in reversed(ops):
        if isinstance(op, Window):
            taps = mask.back(op.k, op.s, op.d, op.left)
            if record:
                op.out_mask, op.taps = mask, taps
            mask = taps.clip(op.n_in) if clip else taps
        else:
            parts = [_back(p, mask, record and j == op.main, clip) for j, p in enumerate(op.paths)]
            mask = _union(parts, mask.ndim)
    return mask


def _rows(ops: list[Op], pointwise: bool) -> list[Window]:
    """The windows on the drawn path, in order."""
    out: list[Window] = []
    for op in ops:
        if isinstance(op, Window):
            if pointwise or not op.pointwise:
                out.append(op)
        else:
            out.extend(_rows(op.paths[op.main], pointwise))
    return out


@dataclass
class Target:
    """What is drawn: the output of the last layer with a bounded spatial field."""

    reports: list[LayerReport]
    shape: tuple[int, ...]
    rf: RF
    label: str
    note: str | None


def _target(report: Report) -> Target:
    spec = report.spec
    if len(spec.input_shape) < 2:
        raise CannotDraw(
            f"the input {shape_str(spec.input_shape)} has no spatial axes: "
            "there is no receptive field to draw"
        )
    for i, r in enumerate(report.layers):
        reason = _field_reason(r.rf)
        if reason is None:
            continue
        what = f"layer {r.layer.name or i} ({r.layer.type}) {reason}"
        if i == 0:
            raise CannotDraw(f"the first {what}: no layer has a receptive field to draw")
        last = report.layers[i - 1]
        label = last.layer.name or str(i - 1)
        note = (
            f"Not drawn: the output of the net, because {what}. Drawn instead: the output "
            f"{shape_str(last.shape)} of layer {label} ({last.layer.type}), "
            "the last one with a bounded field."
        )
        return Target(report.layers[:i], tuple(last.shape), last.rf, label, note)
    label = "the net"
    return Target(list(report.layers), tuple(report.output_shape), report.rf, label, None)


def _resolve_index(index: Sequence[int] | None, shape: tuple[int, ...]) -> tuple[int, ...]:
    spatial = shape[1:]
    if index is None:
        return tuple(n // 2 for n in spatial)
    idx = list(index)
    if len(idx) == 1 and len(spatial) > 1:
        idx = idx * len(spatial)
    if len(idx) != len(spatial):
        raise ValueError(
            f"needs {len(spatial)} indices (one per spatial axis of the output {shape_str(shape)})"
        )
    out = []
    for a, (i, n) in enumerate(zip(idx, spatial, strict=True)):
        j = i + n if i < 0 else i
        if not 0 <= j < n:
            ax = axis_name(len(spatial), a)
            raise ValueError(
                f"{i} is out of range on axis {ax}: the output {shape_str(shape)} has {n} positions"
            )
        out.append(j)
    return tuple(out)


def _layer_desc(w: Window) -> str:
    parts = [w.type]
    k, s, d = w.k[0], w.s[0], w.d[0]
    if w.type != "pad":
        parts.append(f"k={k}")
        parts.append(f"d={d}")
        if s != 1:
            parts.append(f"s={s}")
    if w.left[0] or w.right[0]:
        parts.append(f"pad={w.left[0]}/{w.right[0]}")
    return " ".join(parts)


def _margin(size: int) -> int:
    return max(2, min(64, size // 8))


# -- the 1D diagram ------------------------------------------------------------------------


def _dilated_panel(report: Report, target: Target, index: tuple[int, ...], pointwise: bool) -> Panel:
    notes: list[str] = []
    container_notes: list[str] = []
    spec = report.spec
    in_shape = tuple(spec.input_shape)
    ops = _trace(target.reports, in_shape, RF.identity(1), "", container_notes)
    seen = _back(ops, Mask.point(index), record=True)
    rows = _rows(ops, pointwise)
    n_pointwise = len([w for w in _rows(ops, True) if w.pointwise]) - (len(rows) if pointwise else 0)
    n_pointwise = max(0, n_pointwise)

    size, jump, start = _ints(target.rf.axes[0])
    t = index[0]
    f_lo = start + t * jump
    f_hi = f_lo + size  # exclusive
    m = _margin(size)
    lo, hi = f_lo - m, f_hi + m
    n_input = in_shape[1]
    if n_input <= 64:
        lo, hi = min(lo, 0), max(hi, n_input)
    if hi - lo > MAX_POSITIONS:
        raise CannotDraw(
            f"the receptive field of this output unit spans {size} input positions; at most "
            f"{MAX_POSITIONS} can be drawn in a diagram (use --kind rf-plot)"
        )

    # per row: length, jump (from the analysis), highlighted real positions, highlighted padding
    lengths = [n_input] + [w.n_out[0] for w in rows]
    jumps = [1] + [_jump(w.report.rf) for w in rows]
    highlight: list[set[int]] = [{p[0] for p in seen.positions()}]
    for w in rows:
        assert w.out_mask is not None
        highlight.append({p[0] for p in w.out_mask.positions()})
    pad_hl: list[set[int]] = [set() for _ in range(len(rows) + 1)]
    for r, w in enumerate(rows):
        assert w.taps is not None
        pad_hl[r] = {p[0] for p in w.taps.positions() if not 0 <= p[0] < lengths[r]}

    # a layer that pads more than it trims puts units beyond the input's tiles: widen the window
    # so that every highlighted node (the output unit first) is drawn
    for r in range(len(rows) + 1):
        for p in highlight[r] | pad_hl[r]:
            lo, hi = min(lo, p * jumps[r] - 1), max(hi, (p + 1) * jumps[r] + 1)
    if hi - lo > MAX_POSITIONS:
        raise CannotDraw(
            f"this output unit's connections span {hi - lo} positions; at most {MAX_POSITIONS} can be "
            "drawn in a diagram (use --kind rf-plot)"
        )
    # the drawn positions of every row: the tiles that meet the window, and padding taps
    drawn: list[list[int]] = []
    for r in range(len(rows) + 1):
        j = jumps[r]
        first, last = max(0, math.floor(lo / j)), min(lengths[r], math.ceil(hi / j))
        drawn.append(list(range(first, last)))
    pads: list[set[int]] = [set(p) for p in pad_hl]
    for r, w in enumerate(rows):
        for o in drawn[r + 1]:
            for jj in range(w.k[0]):
                p = o * w.s[0] - w.left[0] + jj * w.d[0]
                if not 0 <= p < lengths[r] and lo <= (p + 0.5) * jumps[r] < hi:
                    pads[r].add(p)

    # layout
    label_w = 250.0
    span = hi - lo
    scale = min(28.0, max(1.2, 1100.0 / span))
    radius = min(7.0, max(0.7, 0.3 * scale))
    row_h = 44.0 if len(rows) < 30 else 30.0
    top = 14.0
    width = label_w + span * scale + 30
    n_rows = len(rows) + 1

    def xy(r: int, p: int) -> tuple[float, float]:
        return label_w + ((p + 0.5) * jumps[r] - lo) * scale, top + (n_rows - 1 - r) * row_h + 10

    items: list[Item] = []
    # the field the analysis predicts, as a band under the input row
    _x0, y0 = xy(0, 0)
    items.append(
        Rect(
            label_w + (f_lo - lo) * scale,
            y0 - row_h * 0.32,
            size * scale,
            row_h * 0.64,
            Style(fill="#fff1c1", stroke="#e0b000", width=0.8),
            cls="field-span",
            data=(("start", str(f_lo)), ("size", str(size))),
        )
    )
    faint: list[Item] = []
    strong: list[Item] = []
    n_faint = 0
    for r, w in enumerate(rows):
        below = set(drawn[r]) | pads[r]
        for o in drawn[r + 1]:
            hot = o in highlight[r + 1]
            x2, y2 = xy(r + 1, o)
            for jj in range(w.k[0]):
                p = o * w.s[0] - w.left[0] + jj * w.d[0]
                if p not in below:
                    continue
                x1, y1 = xy(r, p)
                if hot:
                    strong.append(
                        Line(x1, y1, x2, y2, Style(stroke=HIGHLIGHT, width=1.3), "edge highlighted")
                    )
                else:
                    n_faint += 1
                    faint.append(Line(x1, y1, x2, y2, Style(stroke=FAINT, width=0.6, opacity=0.7), "edge"))
    if n_faint > MAX_FAINT_EDGES:
        notes.append(f"The other {n_faint} connections are not drawn (too many to be readable).")
    else:
        items.extend(faint)
    items.extend(strong)

    for r in range(n_rows):
        for p in drawn[r]:
            hot = p in highlight[r]
            cls = "node highlighted" if hot else "node"
            if r == n_rows - 1 and hot:
                cls += " output"
            st = (
                Style(fill=HIGHLIGHT, stroke=HIGHLIGHT_DARK, width=0.8)
                if hot
                else Style(fill="#ffffff", stroke=NODE_STROKE, width=0.7)
            )
            cx, cy = xy(r, p)
            rad = radius * 1.6 if "output" in cls else radius
            items.append(Circle(cx, cy, rad, st, cls, (("layer", str(r)), ("pos", str(p)))))
        for p in sorted(pads[r]):
            hot = p in pad_hl[r]
            st = Style(
                fill=PADDING_FILL if hot else "#ffffff", stroke=HIGHLIGHT if hot else "#9a9a9a", dash=True
            )
            cls = "node padding highlighted" if hot else "node padding"
            cx, cy = xy(r, p)
            items.append(Circle(cx, cy, radius, st, cls, (("layer", str(r)), ("pos", str(p)))))

    # row labels
    for r in range(n_rows):
        _, cy = xy(r, 0)
        if r == 0:
            name, desc = "input", f"{shape_str(in_shape)}  jump 1"
        else:
            w = rows[r - 1]
            name, desc = w.label, f"{_layer_desc(w)}  jump {jumps[r]}"
        items.append(Text(10, cy - 2, name, size=11, bold=True, cls="row-label"))
        items.append(Text(10, cy + 11, desc, size=10, fill=MUTED, cls="row-desc"))

    height = top + n_rows * row_h
    n_hl = len(highlight[0])
    where = target.label if target.note is None else f"layer {target.label}"
    notes.insert(
        0,
        f"Output unit at position {t} of {where} {shape_str(target.shape)}: its receptive field "
        f"(convcalc's analysis, yellow band) is input positions {f_lo} .. {f_hi - 1}, size {size}, "
        f"jump {jump}. Red: the {n_hl} input positions and the connections it depends on, traced "
        f"back through each layer's kernel, stride, dilation and padding; dashed: zero padding.",
    )
    if n_hl and n_hl < len([p for p in range(f_lo, f_hi) if 0 <= p < n_input]):
        notes.append(
            f"The field has holes: {n_hl} of the input positions in it are read, the others are skipped by "
            "dilation or stride."
        )
    if not n_hl:
        notes.append("This output unit reads only padding: it depends on no input position.")
    if lo > 0 or hi < n_input:
        notes.append(
            f"Drawn: input positions {max(lo, 0)} .. {min(hi, n_input) - 1} of {n_input} (the field "
            f"plus a margin of {m}); the positions outside this window are left out on every row."
        )
    if n_pointwise:
        notes.append(
            f"Not drawn as rows: {n_pointwise} pointwise layers (kernel 1, stride 1: position t reads "
            "position t); --pointwise draws them."
        )
    if container_notes:
        notes.append(
            "Containers: "
            + "; ".join(container_notes[:4])
            + (f"; and {len(container_notes) - 4} more" if len(container_notes) > 4 else "")
            + ". The red input nodes include what the paths not drawn read."
        )
    if target.note:
        notes.append(target.note)
    return Panel(width, height, items, notes)


def _jump(rf: RF) -> int:
    return _ints(rf.axes[0])[1]


def _ints(ax: AxisRF) -> tuple[int, int, int]:
    """(size, jump, start) of a bounded, integral axis field (what :func:`_target` keeps)."""
    size, jump, start = ax.size, ax.jump, ax.start
    assert isinstance(size, int) and isinstance(jump, int) and isinstance(start, int)
    return size, jump, start


# -- the 2D grid -----------------------------------------------------------------------------


def _grid_panel(report: Report, target: Target, index: tuple[int, ...]) -> Panel:
    notes: list[str] = []
    container_notes: list[str] = []
    in_shape = tuple(report.spec.input_shape)
    ops = _trace(target.reports, in_shape, RF.identity(2), "", container_notes)
    seen_real = _back(ops, Mask.point(index), record=False)
    padding = _padding_taps(ops, Mask.point(index), in_shape[1:])
    sizes = in_shape[1:]
    boxes = []
    for a, ax in enumerate(target.rf.axes):
        size, jump, start = _ints(ax)
        f_lo = start + index[a] * jump
        m = _margin(size)
        lo, hi = f_lo - m, f_lo + size + m
        if sizes[a] <= 64:
            lo, hi = min(lo, 0), max(hi, sizes[a])
        if hi - lo > MAX_CELLS:
            raise CannotDraw(
                f"the receptive field of this output unit spans {size} positions on axis "
                f"{axis_name(2, a)}; at most {MAX_CELLS} can be drawn in a grid (use --kind rf-plot)"
            )
        boxes.append((f_lo, size, jump, lo, hi))
    (fy, sy, jy, ly, hy), (fx, sx, jx, lx, hx) = boxes
    cell = min(24.0, max(2.0, 720.0 / max(hy - ly, hx - lx)))
    left, top = 48.0, 30.0

    def at(row: float, col: float) -> tuple[float, float]:
        return left + (col - lx) * cell, top + (row - ly) * cell

    items: list[Item] = []
    # the window outside the input: light grey; the input grid: white with lines
    gx, gy = at(ly, lx)
    items.append(Rect(gx, gy, (hx - lx) * cell, (hy - ly) * cell, Style(fill="#eeeeee"), "outside"))
    r0, r1, c0, c1 = max(0, ly), min(sizes[0], hy), max(0, lx), min(sizes[1], hx)
    ix, iy = at(r0, c0)
    items.append(Rect(ix, iy, (c1 - c0) * cell, (r1 - r0) * cell, Style(fill="#ffffff"), "input"))
    # the field: runs of real cells, and padding cells
    for row, start, length in _runs(seen_real):
        x, y = at(row, start)
        items.append(
            Rect(
                x,
                y,
                length * cell,
                cell,
                Style(fill=HIGHLIGHT, opacity=0.75),
                "cell field",
                (("row", str(row)), ("col", str(start)), ("cols", str(length))),
            )
        )
    for row, col in sorted(padding):
        if ly <= row < hy and lx <= col < hx:
            x, y = at(row, col)
            items.append(
                Rect(
                    x + 0.15 * cell,
                    y + 0.15 * cell,
                    0.7 * cell,
                    0.7 * cell,
                    Style(fill=PADDING_FILL, stroke=HIGHLIGHT, width=0.7, dash=True),
                    "cell field padding",
                    (("row", str(row)), ("col", str(col))),
                )
            )
    if cell >= 5:
        for r in range(r0, r1 + 1):
            xa, ya = at(r, c0)
            xb, _ = at(r, c1)
            items.append(Line(xa, ya, xb, ya, Style(stroke="#c8c8c8", width=0.5), "grid-line"))
        for c in range(c0, c1 + 1):
            xa, ya = at(r0, c)
            _, yb = at(r1, c)
            items.append(Line(xa, ya, xa, yb, Style(stroke="#c8c8c8", width=0.5), "grid-line"))
    # the input's edge, and the field box of the analysis
    items.append(
        Rect(ix, iy, (c1 - c0) * cell, (r1 - r0) * cell, Style(stroke="#000000", width=1.2), "input-edge")
    )
    bx, by = at(fy, fx)
    items.append(
        Rect(
            bx,
            by,
            sx * cell,
            sy * cell,
            Style(stroke="#e0a000", width=2.0),
            "field-box",
            (("start", f"{fy},{fx}"), ("size", f"{sy},{sx}")),
        )
    )
    # the stride lattice: field origins of the neighbouring output units
    out_h, out_w = target.shape[1], target.shape[2]
    for a in range(-3, 4):
        for b in range(-3, 4):
            i, j = index[0] + a, index[1] + b
            if not (0 <= i < out_h and 0 <= j < out_w):
                continue
            oy, ox = fy + a * jy, fx + b * jx
            if not (ly <= oy < hy and lx <= ox < hx):
                continue
            cx, cy = at(oy + 0.5, ox + 0.5)
            chosen = a == 0 and b == 0
            items.append(
                Circle(
                    cx,
                    cy,
                    max(1.5, cell * (0.28 if chosen else 0.18)),
                    Style(fill="#1d3557" if chosen else "#457b9d", stroke="#ffffff", width=0.5),
                    "origin chosen" if chosen else "origin",
                    (("unit", f"{i},{j}"), ("row", str(oy)), ("col", str(ox))),
                )
            )
    # axis ticks
    step = _nice_step(max(hy - ly, hx - lx) / 8)
    for c in range(math.ceil(lx / step) * step, hx, step):
        x, _ = at(0, c + 0.5)
        items.append(Text(x, top - 6, str(c), size=9, anchor="middle", fill=MUTED, cls="tick"))
    for r in range(math.ceil(ly / step) * step, hy, step):
        _, y = at(r + 0.5, 0)
        items.append(Text(left - 6, y + 3, str(r), size=9, anchor="end", fill=MUTED, cls="tick"))
    items.append(
        Text(left + (hx - lx) * cell / 2, top - 18, "W (columns)", size=10, anchor="middle", cls="axis")
    )
    items.append(Text(8, top - 18, "H (rows)", size=10, cls="axis"))

    n_cells = int(seen_real.data.sum())
    where = target.label if target.note is None else f"layer {target.label}"
    notes.append(
        f"Output unit (row {index[0]}, column {index[1]}) of {where} {shape_str(target.shape)}: its "
        f"receptive field (convcalc's analysis, orange box) is input rows {fy} .. {fy + sy - 1}, "
        f"columns {fx} .. {fx + sx - 1} (size {sy} x {sx}, jump {jy} x {jx}). Red: the {n_cells} input "
        "cells it depends on, traced back through each layer's geometry; dashed: the part of the "
        "field outside the input (zero padding); "
        "grey: outside the input."
    )
    notes.append(
        f"Dots: the field origins (top-left corners) of the neighbouring output units, {jy} rows and {jx} "
        "columns apart; the dark one is the drawn unit's."
    )
    in_box = (min(fy + sy, sizes[0]) - max(fy, 0)) * (min(fx + sx, sizes[1]) - max(fx, 0))
    if 0 < n_cells < in_box:
        notes.append(
            f"The field has holes: {n_cells} of the {in_box} input cells in the box are read, the others "
            "are skipped by dilation or stride."
        )
    if ly > 0 or lx > 0 or hy < sizes[0] or hx < sizes[1]:
        notes.append(
            f"Drawn: a window of the {sizes[0]} x {sizes[1]} input around the field (rows "
            f"{max(ly, 0)} .. {min(hy, sizes[0]) - 1}, columns {max(lx, 0)} .. {min(hx, sizes[1]) - 1})."
        )
    if container_notes:
        notes.append("Containers: every path is followed; the red cells are the union of what they read.")
    if target.note:
        notes.append(target.note)
    width = left + (hx - lx) * cell + 30
    height = top + (hy - ly) * cell + 8
    return Panel(max(width, 520), height, items, notes)


def _padding_taps(ops: list[Op], mask: Mask, sizes: Sequence[int]) -> set[tuple[int, ...]]:
    """The positions outside the input that the field covers: the unit's dependencies traced back
    without cutting off padding, so that the padding of a later layer shows where its zeros sit
    over the input (the span the analysis reports)."""
    full = _back(ops, mask, record=False, clip=False)
    return {p for p in full.positions() if any(not 0 <= c < n for c, n in zip(p, sizes, strict=True))}


def _runs(mask: Mask) -> list[tuple[int, int, int]]:
    """(row, first column, length) of every horizontal run of positions of a 2D mask."""
    out = []
    for i, row in enumerate(mask.data):
        cols = np.flatnonzero(row)
        if not cols.size:
            continue
        breaks = np.flatnonzero(np.diff(cols) != 1)
        starts = np.concatenate(([0], breaks + 1))
        ends = np.concatenate((breaks, [cols.size - 1]))
        for a, b in zip(starts, ends, strict=True):
            out.append((mask.origin[0] + i, mask.origin[1] + int(cols[a]), int(cols[b] - cols[a]) + 1))
    return out


def _nice_step(raw: float) -> int:
    if raw <= 1:
        return 1
    mag = 10 ** math.floor(math.log10(raw))
    for f in (1, 2, 5, 10):
        if f * mag >= raw:
            return int(f * mag)
    return int(10 * mag)  # pragma: no cover - the loop always returns


# -- the per-layer plot ------------------------------------------------------------------------


def _labelled_rows(reports: list[LayerReport], prefix: str, depth: int) -> list[tuple[int, str, LayerReport]]:
    """(depth, label, report) of every layer, nested ones included, labelled as in the diagram."""
    out = []
    for i, r in enumerate(reports):
        label = r.layer.name or f"{prefix}{i}"
        out.append((depth, label, r))
        if "branches" in r.children:
            for j, branch in enumerate(r.children["branches"]):
                out.extend(_labelled_rows(list(branch), f"{label}.b{j}.", depth + 1))
        for key, sub in (("layers", f"{label}."), ("shortcut", f"{label}.shortcut.")):
            if key in r.children:
                out.extend(_labelled_rows(list(r.children[key]), sub, depth + 1))
    return out


def _plot_panel(report: Report, log: bool) -> Panel:
    ndim = len(report.spec.input_shape) - 1
    if ndim < 1:
        raise CannotDraw(
            f"the input {shape_str(report.spec.input_shape)} has no spatial axes: "
            "there is no receptive field to plot"
        )
    rows = _labelled_rows(report.layers, "", 0)
    names = [label + f" ({r.layer.type})" for _, label, r in rows]
    label_w = min(
        320.0, max(140.0, max(6.3 * len(n) + 10 * d for n, (d, _, _) in zip(names, rows, strict=True)) + 20)
    )
    bar_h = 12.0 if ndim == 1 else 8.0
    row_h = bar_h * ndim + 6
    plot_w = 520.0
    top = 40.0
    sizes = [float(a.size) for _, _, r in rows if r.rf.spatial for a in r.rf.axes if a.size is not None]
    biggest = max(sizes, default=1)
    if log:
        top_exp = max(1, math.ceil(math.log10(max(biggest, 2))))

        def scale(v: float) -> float:
            return plot_w * math.log10(max(v, 1)) / top_exp

        ticks = [10**e for e in range(top_exp + 1)]
    else:
        step = _nice_step(biggest / 5)
        limit = math.ceil(biggest / step) * step

        def scale(v: float) -> float:
            return plot_w * v / limit

        ticks = list(range(0, limit + 1, step))
    items: list[Item] = []
    x0 = label_w
    bottom = top + row_h * len(rows)
    for tv in ticks:
        x = x0 + scale(tv)
        items.append(Line(x, top - 4, x, bottom, Style(stroke="#e4e4e4", width=0.8), "gridline"))
        items.append(Text(x, top - 8, f"{tv:,}", size=9, anchor="middle", fill=MUTED, cls="tick"))
    items.append(
        Text(
            x0 + plot_w / 2,
            top - 24,
            "receptive field size" + (" (log scale)" if log else "") + " per layer",
            size=11,
            anchor="middle",
            cls="axis",
        )
    )
    for a in range(ndim):
        lx = x0 + plot_w - 40 * (ndim - a)
        items.append(Rect(lx, 6, 10, 10, Style(fill=AXIS_COLORS[a % 3]), "legend"))
        items.append(Text(lx + 13, 15, axis_name(ndim, a), size=10, cls="legend"))
    for i, ((depth, _, r), name) in enumerate(zip(rows, names, strict=True)):
        y = top + i * row_h + 3
        items.append(Text(8 + 10 * depth, y + row_h / 2 + 1, name, size=10, cls="layer-name"))
        short = None
        if not r.rf.spatial:
            short = "no spatial axes (global)" if r.rf.scope == GLOBAL else "no spatial axes (flattened)"
        elif any(ax.jump is None for ax in r.rf.axes):
            short = "not uniform (branches with different strides)"
        elif any(ax.size is None for ax in r.rf.axes):
            short = "unbounded (recurrent)"
        if short is not None:
            mid = y + row_h / 2 + 1
            items.append(Text(x0 + 4, mid, short, size=10, fill=MUTED, italic=True, cls="no-field"))
            continue
        for a, ax in enumerate(r.rf.axes):
            assert ax.size is not None
            value = float(ax.size)
            shown = f"{ax.size:,}" if isinstance(ax.size, int) else str(ax.size)
            by = y + a * bar_h
            items.append(
                Rect(
                    x0,
                    by,
                    max(1.0, scale(value)),
                    bar_h - 1,
                    Style(fill=AXIS_COLORS[a % 3]),
                    "bar",
                    (("layer", r.layer.dotted), ("axis", axis_name(ndim, a)), ("size", str(ax.size))),
                )
            )
            items.append(Text(x0 + max(1.0, scale(value)) + 4, by + bar_h - 2.5, shown, size=9, cls="value"))
    notes = [
        "Bars: the receptive-field size of each layer's output, in input positions, per spatial axis "
        "(convcalc's analysis; nested layers indented)."
    ]
    return Panel(x0 + plot_w + 60, bottom + 4, items, notes)


# -- entry points ------------------------------------------------------------------------------


def draw(
    report: Report,
    kind: str = "auto",
    index: Sequence[int] | None = None,
    log: bool = False,
    pointwise: bool = False,
) -> Scene:
    """The picture of an analysed net.

    ``kind`` is ``dilated`` (1D), ``grid`` (2D), ``rf-plot`` or ``auto`` (the diagram that fits the
    input, then the plot). ``index`` picks the output unit (one index per spatial axis, or one for
    all; negative counts from the end; default the middle). Raises :class:`CannotDraw` when the
    picture cannot be drawn for this net and ``ValueError`` for a bad index.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}: expected one of {', '.join(KINDS)}")
    ndim = len(report.spec.input_shape) - 1
    name = report.spec.name or report.spec.file
    panels: list[Panel] = []
    if kind in ("dilated", "grid") or (kind == "auto" and ndim in (1, 2)):
        want = 1 if kind == "dilated" else 2 if kind == "grid" else ndim
        if ndim != want:
            form = "[C, L]" if want == 1 else "[C, H, W]"
            raise CannotDraw(
                f"--kind {kind} draws nets with input {form}; this net's input is "
                f"{shape_str(report.spec.input_shape)}"
                + (" (use --kind dilated)" if ndim == 1 else " (use --kind grid)" if ndim == 2 else "")
            )
        try:
            target = _target(report)
            idx = _resolve_index(index, target.shape)
            panels.append(
                _dilated_panel(report, target, idx, pointwise)
                if want == 1
                else _grid_panel(report, target, idx)
            )
        except CannotDraw as e:
            if kind != "auto":
                raise
            panels.append(Panel(520, 0, [], [f"No diagram: {e}."]))
    elif kind == "auto":
        panels.append(
            Panel(
                520,
                0,
                [],
                [
                    f"No diagram: diagrams are drawn for 1D inputs [C, L] and 2D inputs [C, H, W]; this "
                    f"net's input is {shape_str(report.spec.input_shape)}."
                ],
            )
        )
    if kind in ("rf-plot", "auto"):
        panels.append(_plot_panel(report, log))
    what = {"rf-plot": "receptive field per layer"}.get(kind, "receptive field")
    title = f"{name}: {what}"
    desc = " ".join(n for p in panels for n in p.notes)
    return _compose(title, panels, desc)


def draw_svg(
    report: Report,
    kind: str = "auto",
    index: Sequence[int] | None = None,
    log: bool = False,
    pointwise: bool = False,
) -> str:
    """:func:`draw`, written as SVG text."""
    return to_svg(draw(report, kind, index, log, pointwise))


__all__ = ["KINDS", "CannotDraw", "Scene", "draw", "draw_svg", "to_svg"]
