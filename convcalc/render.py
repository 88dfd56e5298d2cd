"""Renderers: a report in, text out. No I/O here (the CLI prints)."""

from __future__ import annotations

import json
from functools import cache
from typing import TYPE_CHECKING, Any

from .rf import GLOBAL, RF, AxisRF, num_text

if TYPE_CHECKING:
    from collections.abc import Callable

    from rich.console import Console, ConsoleOptions, RenderResult
    from rich.measure import Measurement
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
_C_MAKE = getattr(json.encoder, "c_make_encoder", None)
_C_ENCODE = _C_MAKE(None, None, _ESCAPE, None, ": ", ", ", False, False, True) if _C_MAKE else None


def _inline(value: Any) -> str:
    """One-line JSON of a plain value or a list of them, by the C encoder where there is one."""
    if type(value) is int:
        return str(value)
    if _C_ENCODE is None:  # pragma: no cover - CPython has the C encoder
        return json.dumps(value, separators=(", ", ": "))
    return "".join(_C_ENCODE(value, 0))


_NESTED = (dict, list)


def _write(data: Any, indent: str, out: list[str]) -> None:
    """Append ``data`` as JSON to ``out``: containers of containers over several lines, the
    rest (scalars, lists of scalars, empty containers) on one."""
    t = type(data)
    if t is dict and data:
        inner = indent + "  "
        sep = "{\n"
        for k, v in data.items():
            out.append(f"{sep}{inner}{_ESCAPE(k)}: ")
            sep = ",\n"
            if type(v) is dict or (type(v) is list and any(type(e) in _NESTED for e in v)):
                _write(v, inner, out)
            else:
                out.append(_inline(v))
        out.append(f"\n{indent}}}")
    elif t is list and any(type(e) in _NESTED for e in data):
        inner = indent + "  "
        sep = "[\n"
        for v in data:
            out.append(sep + inner)
            sep = ",\n"
            _write(v, inner, out)
        out.append(f"\n{indent}]")
    else:
        out.append(_inline(data))


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
        return "unbounded" if a.size is None else num_text(a.size)

    sizes = "x".join(size(a) for a in rf.axes) if len(rf.axes) > 1 else size(rf.axes[0])
    if any(a.jump is None for a in rf.axes):
        return sizes + " (mixed strides)"
    text = f"{sizes} j{_join([num_text(a.jump) for a in rf.axes])}"
    if all(a.start is not None for a in rf.axes):
        text += f" @{_join([num_text(a.start) for a in rf.axes])}"
    return text


def shape_text(shape: tuple[int, ...] | list[int]) -> str:
    return "[" + ", ".join(str(n) for n in shape) + "]"


def table(report: Report) -> Table:
    """The report as a rich table that fits the width it is printed at (see :func:`fit_widths`):
    with room for every cell, rich's own layout; in 80 columns still one line a layer whenever
    the numbers fit, a long layer label cut short with an ellipsis rather than wrapped."""
    from rich import box
    from rich.cells import cell_len

    spec = report.spec
    title = f"{spec.name or 'net'}: {shape_text(spec.input_shape)} -> {shape_text(report.output_shape)}"
    if report.batch != 1:
        title += f" (batch {report.batch})"
    if spec.convention != "pytorch":
        title += f" ({spec.convention} parameter counts)"
    rows, places = [], [0]
    for depth, r in report.rows():
        label = "  " * depth + row_label(r.layer.path)
        places.append(cell_len(label))
        if r.layer.name:
            label += f" {r.layer.name}"
        rows.append((label, r.layer.type, shape_text(r.shape), f"{r.params:,}", rf_text(r.rf), human(r.macs)))
    t = _fitting_table_class()(
        title=title,
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        show_footer=True,
        title_justify="left",
        label_floor=max(places) + _NAME_KEPT,
    )
    # No cell wraps but the receptive field's, and that one only when nothing else helps: a
    # continued cell reads like another row. A layer label too long is cut short ("…") instead.
    t.add_column("layer", footer="total", no_wrap=True, overflow="ellipsis")
    t.add_column("type", no_wrap=True)  # short words: never split 'global_avgpool' mid-name
    t.add_column("output", no_wrap=True)
    t.add_column("params", justify="right", footer=f"{report.total_params:,}", no_wrap=True)
    t.add_column("receptive field", footer=rf_text(report.rf), overflow="fold")
    t.add_column("MACs", justify="right", footer=human(report.total_macs), no_wrap=True)
    for row in rows:
        t.add_row(*row)
    return t


#: the table's columns that may give way when it is too wide: the layer's label (cut short)
#: and the receptive field (wrapped at its spaces); the output shape wraps only as a last resort
_LAYER, _OUTPUT, _FIELD = 0, 2, 4
#: a label cut short keeps its whole place (index or branch path) and this many more cells:
#: a space, a few letters of the name and the ellipsis
_NAME_KEPT = 5


def fit_widths(
    natural: list[int], tight: list[int], width: int, label_floor: int, fields: list[str]
) -> tuple[bool, list[int | None] | None]:
    """The layout of a table of ``len(natural)`` columns in ``width`` cells: whether it is compact
    (two cells between columns and no edge, instead of three and an edge cell on either side),
    and the width of each column (``None`` for all: each as wide as its widest cell; a ``None``
    column: rich shares the room left between such columns, wrapping them).

    ``natural`` are the widest cells of each column, ``tight`` the same with the headers wrapped
    at their spaces, ``label_floor`` how narrow the layer column may be cut, ``fields`` the
    receptive field column's text: header, cells, footer. The first layout that fits, best
    first: roomy; roomy with wrapped headers; compact; compact with wrapped headers; compact with
    the layer labels cut. When even that is too wide, the labels are cut down to ``label_floor``
    as far as that saves lines, and the receptive field wraps at its spaces; in a terminal too
    narrow for that, the output shape wraps as well.

    >>> fit_widths([9, 9, 12, 6, 15, 5], [9, 9, 12, 6, 11, 5], 80, 8, [])
    (False, None)
    >>> fit_widths([15, 10, 13, 7, 15, 5], [15, 10, 13, 7, 12, 5], 80, 18, [])
    (False, [15, 10, 13, 7, 13, 5])
    >>> fit_widths([19, 16, 12, 6, 15, 5], [19, 16, 12, 6, 13, 5], 80, 13, [])
    (True, [18, 16, 12, 6, 13, 5])
    >>> fields = ["receptive field", "3x3 j1 @-1", "9x9 j2x4 @-4", "whole input"]
    >>> fit_widths([9, 14, 18, 9, 15, 5], [9, 14, 18, 9, 12, 5], 74, 7, fields)
    (True, [7, 14, 18, 9, 11, 5])
    >>> fit_widths([9, 14, 18, 9, 15, 5], [9, 14, 18, 9, 12, 5], 50, 7, fields)
    (True, [7, 14, None, 9, None, 5])
    """
    n = len(natural)
    roomy, compact = 2 + 3 * (n - 1), 2 * (n - 1)
    if sum(natural) + roomy <= width:
        return False, None
    if sum(tight) + roomy <= width:
        return False, _widen(tight, natural, width - roomy)
    if sum(natural) + compact <= width:
        return True, list(natural)
    if sum(tight) + compact <= width:
        return True, _widen(tight, natural, width - compact)
    label_floor = min(label_floor, tight[_LAYER])
    others = sum(tight) - tight[_LAYER]
    if width - compact - others >= label_floor:  # one line a layer, long labels cut
        return True, [width - compact - others, *tight[1:]]
    # The numbers do not fit on one line: the receptive field wraps at its spaces, as wide as
    # saves lines, with the labels cut down to their floor for that only.
    room = width - compact - (others - tight[_FIELD])  # for the label and the field
    out: list[int | None] = list(tight)
    # the field's narrowest: its longest word (the header's may fold)
    narrowest = max((len(word) for text in fields[1:] for word in text.split()), default=1)
    if room - label_floor < narrowest:  # a narrow terminal: output and field share what is left
        out[_LAYER], out[_OUTPUT], out[_FIELD] = label_floor, None, None
        return True, out

    def lines(w: int) -> int:
        return sum(_wrapped_lines(text, w) for text in fields)

    fewest = lines(room - label_floor)
    field = next(w for w in range(narrowest, room - label_floor + 1) if lines(w) == fewest)
    label = min(tight[_LAYER], room - field)
    out[_LAYER], out[_FIELD] = label, room - label
    return True, out


def _wrapped_lines(text: str, width: int) -> int:
    """How many lines ``text`` takes wrapped at its spaces to ``width``, a longer word folded.

    >>> _wrapped_lines("16x70x70 j4x8x8 @-4x-7x-7", 15), _wrapped_lines("3x3 j1 @-1", 10)
    (2, 1)
    >>> _wrapped_lines("receptive field", 7)
    3
    """
    count, used = 0, width
    for word in text.split():
        if used + 1 + len(word) <= width:
            used += 1 + len(word)
        else:
            folds, used = divmod(len(word), width)
            count += folds + (used > 0)
            used = used or width
    return max(count, 1)


def _widen(tight: list[int], natural: list[int], room: int) -> list[int | None]:
    """``tight`` with the room left over given to the columns whose headers wrap, in order."""
    out: list[int | None] = []
    spare = room - sum(tight)
    for t, n in zip(tight, natural, strict=True):
        more = min(spare, n - t)
        out.append(t + more)
        spare -= more
    return out


@cache
def _fitting_table_class() -> Callable[..., Table]:
    """A rich Table that chooses its layout (:func:`fit_widths`) for the width it is printed at,
    laying out a copy (the table itself is left as built); ``label_floor`` is how narrow its first
    column may be cut. Rich is imported here so that the machine formats do without it."""
    from copy import copy

    from rich.measure import Measurement
    from rich.table import Table

    class FittingTable(Table):
        def __init__(self, *args: Any, label_floor: int = 1, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.label_floor = label_floor

        def fitted(self, console: Console, options: ConsoleOptions) -> Table:
            """A copy laid out for ``options.max_width``: padding, edge and column widths."""
            natural, tight = [], []
            for column in self.columns:
                head = Measurement.get(console, options, column.header)
                widest = max(
                    Measurement.get(console, options, c).maximum for c in [*column.cells, column.footer]
                )
                natural.append(max(head.maximum, widest))
                tight.append(max(head.minimum, widest))
            field = self.columns[_FIELD]
            fields = [str(text) for text in (field.header, *field.cells, field.footer)]
            compact, widths = fit_widths(natural, tight, options.max_width, self.label_floor, fields)
            out = copy(self)
            out.columns = [copy(column) for column in self.columns]
            if compact:  # no edge: the blank lines it gives above and below the table, kept
                out.show_edge = False
                out.padding = (0, 1, 0, 0)
                if isinstance(self.title, str):
                    out.title = f"{self.title}\n"
                out.caption = " "
            for i, column in enumerate(out.columns):
                column.width = None if widths is None else widths[i]
                if widths is not None and widths[i] is None:  # shares the room left, wrapping
                    column.no_wrap, column.overflow = False, "fold"
            return out

        def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
            return Table.__rich_console__(self.fitted(console, options), console, options)

        def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
            return Table.__rich_measure__(self.fitted(console, options), console, options)

    return FittingTable


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
    return (
        "receptive field: size per axis, j = jump (input step between outputs), "
        "@ = start (input index seen first)"
    )


def render_table(report: Report, width: int | None = 80, color: bool = False) -> str:
    """The table as text (for tests and for piping)."""
    from io import StringIO

    from rich.console import Console

    buf = StringIO()
    console = Console(file=buf, width=width, color_system="auto" if color else None, force_terminal=color)
    console.print(table(report))
    console.print(legend(), style="dim")
    return buf.getvalue()


def md_escape(text: str) -> str:
    r"""Text with the characters that markdown would take as markup escaped.

    >>> md_escape("a*b_c [d] <e> |")
    'a\\*b\\_c [d] \\<e\\> \\|'
    """
    return "".join("\\" + ch if ch in "\\`*_<>|" else ch for ch in text)


def md_code(text: str) -> str:
    """``text`` as a markdown code span, fenced with more backticks than it contains.

    >>> md_code("a*b"), md_code("x`y")
    ('`a*b`', '`` x`y ``')
    """
    run = longest = 0
    for ch in text:
        run = run + 1 if ch == "`" else 0
        longest = max(longest, run)
    if not longest:
        return f"`{text}`"
    fence = "`" * (longest + 1)
    return f"{fence} {text} {fence}"


def to_markdown(report: Report) -> str:
    """The table as GitHub-flavoured markdown (for PR comments): a heading with the net's name
    and shapes, the table's columns, a total row, and the receptive-field legend."""
    spec = report.spec
    batch = f" (batch {report.batch})" if report.batch != 1 else ""
    if spec.convention != "pytorch":
        batch += f" ({spec.convention} parameter counts)"
    name = md_escape(spec.name or "net")
    lines = [
        f"### {name}: {md_code(shape_text(spec.input_shape))} -> "
        f"{md_code(shape_text(report.output_shape))}{batch}",
        "",
        "| layer | type | output | params | receptive field | MACs |",
        "|:--|:--|:--|--:|:--|--:|",
    ]
    for depth, r in report.rows():
        label = "&nbsp;&nbsp;" * depth + row_label(r.layer.path)
        if r.layer.name:
            label += f" {md_escape(r.layer.name)}"
        cells = [label, r.layer.type, shape_text(r.shape), f"{r.params:,}", rf_text(r.rf), human(r.macs)]
        lines.append("| " + " | ".join(cells) + " |")
    total = f"**{report.total_params:,}** | {rf_text(report.rf)} | **{human(report.total_macs)}**"
    lines += [f"| **total** | | | {total} |", "", md_escape(legend()), ""]
    return "\n".join(lines)


#: the columns of ``convcalc shape --format csv``
CSV_COLUMNS = ("path", "name", "type", "output_shape", "params", "macs", "rf_size", "rf_jump", "rf_start")


def _per_axis(values: Any) -> str:
    """Per-axis values joined with 'x'; empty for null (and for no axes).

    >>> _per_axis([11, 7]), _per_axis(None), _per_axis([None]), _per_axis([])
    ('11x7', '', '', '')
    """
    if not values or all(v is None for v in values):
        return ""
    return "x".join("" if v is None else str(v) for v in values)


def to_csv(report: Report) -> str:
    """One row per layer, nested ones included (``path`` is the dotted path, as in error
    messages), with a header row; RFC 4180 quoting and CRLF line ends (the csv module's
    default dialect)."""
    import csv
    from io import StringIO

    buf = StringIO()
    writer = csv.writer(buf)
    writer.writerow(CSV_COLUMNS)
    for _, r in report.rows():
        rf = r.rf.to_dict()
        writer.writerow(
            [
                r.layer.dotted,
                r.layer.name or "",
                r.layer.type,
                _per_axis(list(r.shape)),
                r.params,
                r.macs,
                _per_axis(rf["size"]),
                _per_axis(rf["jump"]),
                _per_axis(rf["start"]),
            ]
        )
    return buf.getvalue()
