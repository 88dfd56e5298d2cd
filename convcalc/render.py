"""Renderers: a report in, text out. No I/O here (the CLI prints)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .rf import GLOBAL, RF, AxisRF

if TYPE_CHECKING:
    from rich.table import Table

    from .report import Report


def to_json(report: Report) -> str:
    return dump(report.to_dict())


def dump(data: Any) -> str:
    """JSON with two-space indentation, lists of plain values kept on one line.

    >>> print(dump({"a": [1, 2], "b": {"c": None}, "d": []}))
    {
      "a": [1, 2],
      "b": {
        "c": null
      },
      "d": []
    }
    """
    out: list[str] = []
    _write(data, "", out)
    return "".join(out)


_ESCAPE = json.encoder.encode_basestring  # C-accelerated string quoting


def _scalar(v: Any) -> str:
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return _ESCAPE(v)
    return json.dumps(v)


def _write(data: Any, indent: str, out: list[str]) -> None:
    if type(data) is dict and data:
        inner = indent + "  "
        sep = "{\n"
        for k, v in data.items():
            out.append(f"{sep}{inner}{_ESCAPE(k)}: ")
            sep = ",\n"
            t = type(v)
            if t is int:
                out.append(str(v))
            elif t is list and not any(type(e) in (dict, list) for e in v):
                out.append("[" + ", ".join(map(_scalar, v)) + "]")
            elif t is dict or t is list:
                _write(v, inner, out)
            else:
                out.append(_scalar(v))
        out.append(f"\n{indent}}}")
    elif type(data) is list and any(type(e) in (dict, list) for e in data):
        inner = indent + "  "
        sep = "[\n"
        for v in data:
            out.append(sep + inner)
            sep = ",\n"
            _write(v, inner, out)
        out.append(f"\n{indent}]")
    elif type(data) is list:
        out.append("[" + ", ".join(map(_scalar, data)) + "]")
    elif type(data) is dict:
        out.append("{}")
    else:
        out.append(_scalar(data))


def human(n: int) -> str:
    """A count, short.

    >>> human(999), human(4532), human(1_234_567), human(10**12)
    ('999', '4.53K', '1.23M', '1T')
    """
    if n < 1000:
        return str(n)
    for unit, scale in (("K", 10**3), ("M", 10**6), ("G", 10**9), ("T", 10**12), ("P", 10**15)):
        if n < scale * 1000 or unit == "P":
            return f"{n / scale:.3g}{unit}"
    raise AssertionError  # pragma: no cover


def _join(values: list[str]) -> str:
    return values[0] if len(set(values)) == 1 else "x".join(values)


def rf_text(rf: RF) -> str:
    """A receptive field in a few characters: size per axis, jump (j) and start (@).

    >>> from convcalc.rf import RF, AxisRF
    >>> rf_text(RF((AxisRF(5, 1, -4),)))
    '5 j1 @-4'
    >>> rf_text(RF((AxisRF(11, 4, -2), AxisRF(7, 4, -2))))
    '11x7 j4 @-2'
    >>> rf_text(RF((AxisRF(None, 1, None),)))
    'unbounded j1'
    >>> rf_text(RF((), 'global'))
    'whole input'
    """
    if not rf.spatial:
        return "whole input" if rf.scope == GLOBAL else "flattened"
    if not rf.axes:
        return "-"

    def size(a: AxisRF) -> str:
        if a.jump is None:
            return "?"
        return "unbounded" if a.size is None else str(a.size)

    sizes = "x".join(size(a) for a in rf.axes) if len(rf.axes) > 1 else size(rf.axes[0])
    if any(a.jump is None for a in rf.axes):
        return sizes + " (mixed strides)"
    text = f"{sizes} j{_join([str(a.jump) for a in rf.axes])}"
    if all(a.start is not None for a in rf.axes):
        text += f" @{_join([str(a.start) for a in rf.axes])}"
    return text


def shape_text(shape: tuple[int, ...] | list[int]) -> str:
    return "[" + ", ".join(str(n) for n in shape) + "]"


def table(report: Report) -> Table:
    """The report as a rich table, readable at 80 columns."""
    from rich import box
    from rich.table import Table

    spec = report.spec
    title = f"{spec.name or 'net'}: {shape_text(spec.input_shape)} -> {shape_text(report.output_shape)}"
    if report.batch != 1:
        title += f" (batch {report.batch})"
    t = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, show_footer=True, title_justify="left")
    t.add_column("layer", footer="total", overflow="fold")
    t.add_column("type", overflow="fold")
    t.add_column("output", overflow="fold")
    t.add_column("params", justify="right", footer=f"{report.total_params:,}")
    t.add_column("receptive field", footer=rf_text(report.rf), overflow="fold")
    t.add_column("MACs", justify="right", footer=human(report.total_macs))
    for depth, r in report.rows():
        label = row_label(r.layer.path)
        if r.layer.name:
            label += f" {r.layer.name}"
        label = "  " * depth + label
        t.add_row(label, r.layer.type, shape_text(r.shape), f"{r.params:,}", rf_text(r.rf), human(r.macs))
    return t


def row_label(path: tuple[str | int, ...]) -> str:
    """A short label for a layer's place: its index, with s (shortcut) or bN (branch N).

    >>> row_label((3,)), row_label((0, "layers", 1)), row_label((0, "shortcut", 0))
    ('3', '1', 's0')
    >>> row_label((2, "branches", 1, 0))
    'b1.0'
    """
    if len(path) >= 3 and path[-3] == "branches":
        return f"b{path[-2]}.{path[-1]}"
    if len(path) >= 2 and path[-2] == "shortcut":
        return f"s{path[-1]}"
    return str(path[-1])


def legend() -> str:
    return "receptive field: size per axis, j = jump (input step between outputs), @ = start (input index seen first)"


def render_table(report: Report, width: int | None = 80, color: bool = False) -> str:
    """The table as text (for tests and for piping)."""
    from io import StringIO

    from rich.console import Console

    buf = StringIO()
    console = Console(file=buf, width=width, color_system="auto" if color else None, force_terminal=color)
    console.print(table(report))
    console.print(legend(), style="dim")
    return buf.getvalue()

