"""`convcalc draw`: the pictures show exactly the inputs an output unit depends on.

The expected sets come from a brute-force dependency propagation written here, independently of
convcalc.draw: lengths from the layer options, then, backwards from one output unit, the set of
positions each layer's taps reach.
"""

from __future__ import annotations

import math
import sys
import xml.etree.ElementTree as ET
from itertools import product
from typing import Any

import pytest
from conftest import ROOT
from hypothesis import assume, example, given
from hypothesis import strategies as st
from typer.testing import CliRunner

from convcalc import load
from convcalc.cli import app
from convcalc.draw import CannotDraw, draw_svg
from convcalc.errors import ConvcalcError
from convcalc.spec import Layer

EXAMPLES = ROOT / "specs" / "examples"
SVG = "{http://www.w3.org/2000/svg}"
Pos = tuple[int, ...]


# -- brute force -------------------------------------------------------------------------------


def _ints(v: Any, ndim: int) -> tuple[int, ...]:
    return tuple(v) if isinstance(v, tuple) else (v,) * ndim


def _pads(layer: Layer, n: Pos, k: Pos, s: Pos, d: Pos) -> list[tuple[int, int]]:
    p = layer.opts["padding"]
    ndim = len(n)
    if p == "valid":
        return [(0, 0)] * ndim
    if p == "causal":
        return [(d[0] * (k[0] - 1), 0)]
    if p == "same":
        out = []
        for ni, ki, si, di in zip(n, k, s, d, strict=True):
            total = max((math.ceil(ni / si) - 1) * si + di * (ki - 1) + 1 - ni, 0)
            out.append((total // 2, total - total // 2))
        return out
    if isinstance(p, int):
        return [(p, p)] * ndim
    return [(a, b) if isinstance(a, int) else a for a, b in ((q, q) if isinstance(q, int) else q for q in p)]


def _geometry(layer: Layer, n: Pos) -> tuple[Pos, Pos, Pos, list[tuple[int, int]]] | None:
    """(k, s, d, pads) of a sliding window, None for a layer that keeps positions."""
    ndim = len(n)
    o = layer.opts
    if layer.type.startswith("conv"):
        k, s, d = (_ints(o[key], ndim) for key in ("kernel_size", "stride", "dilation"))
        return k, s, d, _pads(layer, n, k, s, d)
    if "pool" in layer.type and not layer.type.startswith("global"):
        k = _ints(o["kernel_size"], ndim)
        s = _ints(o["stride"], ndim) if o["stride"] is not None else k
        d = _ints(o.get("dilation", 1), ndim)
        return k, s, d, [(p, p) for p in _ints(o["padding"], ndim)]
    return None


def _lengths(layers: tuple[Layer, ...], n: Pos) -> list[Pos]:
    """The spatial size after each layer (containers: after the whole container)."""
    out = []
    for layer in layers:
        g = _geometry(layer, n)
        if g is not None:
            k, s, d, pads = g
            n = tuple(
                (ni + lo + hi - di * (ki - 1) - 1) // si + 1
                for ni, ki, si, di, (lo, hi) in zip(n, k, s, d, pads, strict=True)
            )
        elif layer.type in ("residual", "sequential"):
            n = _lengths(layer.opts["layers"], n)[-1] if layer.opts["layers"] else n
        elif layer.type == "parallel":
            branch = layer.opts["branches"][0]
            n = _lengths(branch, n)[-1] if branch else n
        out.append(n)
    return out


def _deps(
    layers: tuple[Layer, ...], n_in: Pos, units: set[Pos], seen: dict[int, set[Pos]] | None = None
) -> tuple[set[Pos], set[Pos]]:
    """(input positions, padding positions right below the first layer) that ``units`` of the
    output depend on; ``seen`` collects the dependency set at every layer's output, by id."""
    sizes = [n_in, *_lengths(layers, n_in)]
    pads_below: set[Pos] = set()
    for i in range(len(layers) - 1, -1, -1):
        layer, n = layers[i], sizes[i]
        if seen is not None:
            seen[id(layer)] = set(units)
        g = _geometry(layer, n)
        if g is not None:
            k, s, d, pads = g
            taps = {
                tuple(o * si - lo + j * di for o, si, (lo, _), j, di in zip(u, s, pads, js, d, strict=True))
                for u in units
                for js in product(*(range(ki) for ki in k))
            }
            inside = {t for t in taps if all(0 <= c < m for c, m in zip(t, n, strict=True))}
            pads_below = taps - inside if i == 0 else set()
            units = inside
        elif layer.type in ("residual", "sequential", "parallel"):
            paths = (
                [layer.opts["layers"], layer.opts.get("shortcut", ())]
                if layer.type != "parallel"
                else list(layer.opts["branches"])
            )
            if layer.type == "sequential":
                paths = [layer.opts["layers"]]
            found = [_deps(p, n, set(units), seen) for p in paths]
            units = set().union(*(f[0] for f in found))
            pads_below = set().union(*(f[1] for f in found)) if i == 0 else set()
    return units, pads_below


# -- reading the pictures --------------------------------------------------------------------


def _svg(text: str) -> ET.Element:
    root = ET.fromstring(text.encode())
    assert root.tag == f"{SVG}svg"
    for key in ("width", "height", "viewBox"):
        assert root.get(key), key
    assert (root.findtext(f"{SVG}title") or "").strip()
    return root


def _nodes(root: ET.Element, layer: int, *classes: str, without: str = "") -> set[int]:
    out = set()
    for c in root.iter(f"{SVG}circle"):
        cls = (c.get("class") or "").split()
        if c.get("data-layer") == str(layer) and all(x in cls for x in classes) and without not in cls:
            out.add(int(c.get("data-pos", "")))
    return out


def _texts(root: ET.Element) -> str:
    return "\n".join(t.text or "" for t in root.iter(f"{SVG}text"))


def _cells(root: ET.Element, padding: bool) -> set[Pos]:
    out: set[Pos] = set()
    for r in root.iter(f"{SVG}rect"):
        cls = (r.get("class") or "").split()
        if "field" not in cls or ("padding" in cls) != padding:
            continue
        row, col = int(r.get("data-row", "")), int(r.get("data-col", ""))
        out.update((row, col + j) for j in range(int(r.get("data-cols", "1"))))
    return out


def _spec(body: str) -> Any:
    return load(body)


# -- 1D ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("t", [2500, 100, -1])
def test_wavenet_highlights_exactly_the_inputs_it_depends_on(t: int) -> None:
    net = load(EXAMPLES / "wavenet.yaml")
    report = net.analyze()
    root = _svg(draw_svg(report, "dilated", [t]))
    unit = t % 4096
    seen: dict[int, set[Pos]] = {}
    expected, _ = _deps(net.spec.layers, (4096,), {(unit,)}, seen)
    assert _nodes(root, 0, "highlighted", without="padding") == {p for (p,) in expected}
    assert {p for (p,) in expected} == set(range(max(0, unit - 1023), unit + 1))  # the analysis' field
    # one row per dilated conv (the 1x1 convs are pointwise), each with the units the output needs
    dilated = [r.opts["layers"][0] for r in net.spec.layers if r.type == "residual"]
    for row, conv in enumerate(dilated, 1):
        assert _nodes(root, row, "highlighted", without="padding") == {p for (p,) in seen[id(conv)]}
    assert _nodes(root, len(dilated), "output") == {unit}
    assert not _nodes(root, len(dilated) + 1, "node")
    labels = _texts(root)
    assert "d=512" in labels and "d8.0" in labels and "input" in labels


def test_wavenet_near_the_start_reads_causal_padding() -> None:
    net = load(EXAMPLES / "wavenet.yaml")
    root = _svg(draw_svg(net.analyze(), "dilated", [0]))
    # every layer's unit 0 reads itself and a zero of its causal padding, d positions back
    assert _nodes(root, 0, "highlighted", without="padding") == {0}
    for row, d in enumerate([1, 2, 4, 8, 16, 32, 64, 128, 256, 512]):
        assert _nodes(root, row, "padding", "highlighted") == {-d}
        assert _nodes(root, row, "highlighted", without="padding") == {0}
    # at unit 3, d2 skips d1's unit 0 (3 - 2 = 1): no zero is read below d1
    root = _svg(draw_svg(net.analyze(), "dilated", [3]))
    assert _nodes(root, 1, "highlighted", without="padding") == {1, 3}
    assert _nodes(root, 0, "highlighted", without="padding") == {0, 1, 2, 3}
    assert not _nodes(root, 0, "padding", "highlighted")


def test_one_dilated_layer_reads_every_other_position() -> None:
    net = _spec("input: [1, 24]\nlayers:\n  - {type: conv1d, out_channels: 1, kernel_size: 4, dilation: 2}\n")
    root = _svg(draw_svg(net.analyze(), "dilated", [5]))
    assert _nodes(root, 0, "highlighted") == {5, 7, 9, 11}
    holes = {6, 8, 10}
    assert holes <= _nodes(root, 0, "node") - _nodes(root, 0, "highlighted")
    assert "holes" in (root.findtext(f"{SVG}desc") or "")


STRIDED = """\
input: [2, 50]
layers:
  - {type: conv1d, out_channels: 4, kernel_size: 3, stride: 2, padding: 1}
  - {type: relu}
  - {type: conv1d, out_channels: 4, kernel_size: 3, dilation: 3, padding: same}
  - {type: maxpool1d, kernel_size: 3, stride: 2, padding: 1}
  - type: residual
    layers:
      - {type: conv1d, out_channels: 4, kernel_size: 2, dilation: 2, padding: causal}
    shortcut:
      - {type: conv1d, out_channels: 4, kernel_size: 3, padding: 1}
"""


@pytest.mark.parametrize("t", [0, 3, 6, 12])
def test_strided_dilated_net_with_a_residual(t: int) -> None:
    net = _spec(STRIDED)
    root = _svg(draw_svg(net.analyze(), "dilated", [t]))
    expected, pads = _deps(net.spec.layers, (50,), {(t,)})
    assert _nodes(root, 0, "highlighted", without="padding") == {p for (p,) in expected}
    assert _nodes(root, 0, "padding", "highlighted") == {p for (p,) in pads}


def test_residual_draws_the_wider_path_and_highlights_the_union() -> None:
    net = _spec(
        "input: [1, 30]\nlayers:\n  - type: residual\n    layers:\n"
        "      - {type: conv1d, out_channels: 1, kernel_size: 3, padding: 1}\n"
        "    shortcut:\n"
        "      - {type: conv1d, out_channels: 1, kernel_size: 2, dilation: 4, padding: [[4, 0]]}\n"
    )
    root = _svg(draw_svg(net.analyze(), "dilated", [10]))
    assert _nodes(root, 0, "highlighted") == {6, 9, 10, 11}
    assert "shortcut drawn" in (root.findtext(f"{SVG}desc") or "")


@st.composite
def stacks(draw: st.DrawFn) -> tuple[str, int]:
    lines = [f"input: [1, {draw(st.integers(8, 60))}]", "layers:"]
    for _ in range(draw(st.integers(1, 4))):
        k, d = draw(st.integers(1, 4)), draw(st.integers(1, 3))
        if draw(st.booleans()):
            pad = draw(st.sampled_from(["0", "1", "2", "causal", "same", "[[2, 0]]", "[[0, 3]]"]))
            s = draw(st.integers(1, 3))
            lines.append(
                f"  - {{type: conv1d, out_channels: 1, kernel_size: {k}, stride: {s}, dilation: {d}, "
                f"padding: {pad}}}"
            )
        else:
            pad = str(draw(st.integers(0, k // 2)))
            lines.append(f"  - {{type: maxpool1d, kernel_size: {k}, dilation: {d}, padding: {pad}}}")
    return "\n".join(lines) + "\n", draw(st.integers(0, 10**6))


@given(stacks())
@example(  # padding that grows the length puts the output unit beyond the input's tiles
    (
        "input: [1, 8]\nlayers:\n  - {type: maxpool1d, kernel_size: 2}\n"
        "  - {type: conv1d, out_channels: 1, kernel_size: 1, padding: 2}\n",
        4,
    )
)
def test_random_stacks_match_brute_force(case: tuple[str, int]) -> None:
    text, pick = case
    try:
        net = load(text)
        report = net.analyze()
    except ConvcalcError:
        assume(False)
        return
    t = pick % report.output_shape[1]
    root = _svg(draw_svg(report, "dilated", [t], pointwise=True))
    seen: dict[int, set[Pos]] = {}
    expected, pads = _deps(net.spec.layers, (report.spec.input_shape[1],), {(t,)}, seen)
    assert _nodes(root, 0, "highlighted", without="padding") == {p for (p,) in expected}
    assert _nodes(root, 0, "padding", "highlighted") == {p for (p,) in pads}
    for row, layer in enumerate(net.spec.layers, 1):
        assert _nodes(root, row, "highlighted", without="padding") == {p for (p,) in seen[id(layer)]}


# -- 2D ------------------------------------------------------------------------------------------


def test_grid_shades_the_predicted_field() -> None:
    report = load(EXAMPLES / "seed_5x5_stride.yaml").analyze()
    root = _svg(draw_svg(report, "grid", [0, 0]))
    # the analysis: size 7, start -2 on both axes: rows and columns -2 .. 4
    box = {(r, c) for r in range(-2, 5) for c in range(-2, 5)}
    assert _cells(root, padding=False) == {p for p in box if min(p) >= 0}
    assert _cells(root, padding=True) == {p for p in box if min(p) < 0}
    (field_box,) = [r for r in root.iter(f"{SVG}rect") if r.get("class") == "field-box"]
    assert field_box.get("data-start") == "-2,-2" and field_box.get("data-size") == "7,7"


GRID = """\
input: [3, 40, 36]
layers:
  - {type: conv2d, out_channels: 4, kernel_size: 3, stride: 2, padding: 1}
  - {type: conv2d, out_channels: 4, kernel_size: [3, 2], dilation: [2, 3], padding: [2, 1]}
  - {type: maxpool2d, kernel_size: 2}
"""


@pytest.mark.parametrize("index", [[0, 0], [4, 3], [-1, -1]])
def test_grid_matches_brute_force(index: list[int]) -> None:
    net = _spec(GRID)
    report = net.analyze()
    root = _svg(draw_svg(report, "grid", index))
    unit = tuple(i % n for i, n in zip(index, report.output_shape[1:], strict=True))
    expected, _ = _deps(net.spec.layers, (40, 36), {unit})
    assert _cells(root, padding=False) == expected
    # and it lies inside the box the analysis predicts
    rf = report.rf.axes
    for r, c in expected:
        assert 0 <= r - (rf[0].start + unit[0] * rf[0].jump) < rf[0].size
        assert 0 <= c - (rf[1].start + unit[1] * rf[1].jump) < rf[1].size


def test_grid_shows_dilation_holes_and_a_union_that_is_not_a_box() -> None:
    holes = _spec(
        "input: [1, 12, 12]\nlayers:\n  - {type: conv2d, out_channels: 1, kernel_size: 3, dilation: 3}\n"
    )
    root = _svg(draw_svg(holes.analyze(), "grid", [1, 2]))
    assert _cells(root, padding=False) == {(1 + 3 * a, 2 + 3 * b) for a in range(3) for b in range(3)}
    cross = _spec(
        "input: [1, 16, 16]\nlayers:\n  - type: parallel\n    merge: add\n    branches:\n"
        "      - [{type: conv2d, out_channels: 2, kernel_size: [1, 5], padding: [0, 2]}]\n"
        "      - [{type: conv2d, out_channels: 2, kernel_size: [5, 1], padding: [2, 0]}]\n"
    )
    root = _svg(draw_svg(cross.analyze(), "grid", [8, 8]))
    assert _cells(root, padding=False) == {(8, c) for c in range(6, 11)} | {(r, 8) for r in range(6, 11)}


def test_grid_lattice_dots_are_the_neighbours_field_origins() -> None:
    report = _spec(GRID).analyze()
    root = _svg(draw_svg(report, "grid", [4, 3]))
    ax = report.rf.axes
    dots = [c for c in root.iter(f"{SVG}circle") if "origin" in (c.get("class") or "")]
    assert len(dots) > 4
    for c in dots:
        i, j = (int(v) for v in c.get("data-unit", "").split(","))
        assert (int(c.get("data-row", "")), int(c.get("data-col", ""))) == (
            ax[0].start + i * ax[0].jump,
            ax[1].start + j * ax[1].jump,
        )


# -- the plot, notes and limits -----------------------------------------------------------


def test_rf_plot_bars_are_the_analysis_sizes() -> None:
    report = load(EXAMPLES / "lenet5.yaml").analyze()
    root = _svg(draw_svg(report, "rf-plot", log=True))
    bars = {
        (r.get("data-layer"), r.get("data-axis")): r.get("data-size")
        for r in root.iter(f"{SVG}rect")
        if r.get("class") == "bar"
    }
    for _, r in report.rows():
        if r.rf.spatial:
            assert bars[(r.layer.dotted, "H")] == str(r.rf.axes[0].size)
    assert "no spatial axes (flattened)" in _texts(root)
    assert "log scale" in _texts(root)


def test_non_spatial_output_draws_the_last_spatial_layer_with_a_note() -> None:
    report = load(EXAMPLES / "lenet5.yaml").analyze()
    root = _svg(draw_svg(report, "grid"))
    desc = root.findtext(f"{SVG}desc") or ""
    assert "Not drawn: the output of the net, because layer 8 (flatten) has no spatial axes" in desc
    assert len(_cells(root, padding=False)) == 32 * 32  # C5 sees the whole input


def test_recurrent_and_3d_nets_get_a_note_or_an_error() -> None:
    crnn = load(EXAMPLES / "crnn.yaml").analyze()
    desc = _svg(draw_svg(crnn)).findtext(f"{SVG}desc") or ""
    assert "unbounded field" in desc or "No diagram" in desc
    c3d = load(EXAMPLES / "c3d.yaml").analyze()
    root = _svg(draw_svg(c3d))
    assert "No diagram: diagrams are drawn for 1D inputs" in (root.findtext(f"{SVG}desc") or "")
    assert any(r.get("class") == "bar" for r in root.iter(f"{SVG}rect"))
    with pytest.raises(
        CannotDraw, match=r"--kind grid draws nets with input \[C, H, W\]; this net's input is"
    ):
        draw_svg(c3d, "grid")
    rnn_first = load("input: [4, 20]\nlayers:\n  - {type: gru, hidden_size: 8}\n").analyze()
    with pytest.raises(CannotDraw, match=r"the first layer 0 \(gru\) has an unbounded field"):
        draw_svg(rnn_first, "dilated")
    with pytest.raises(CannotDraw, match=r"input \[4\] has no spatial axes"):
        draw_svg(load("input: [4]\nlayers:\n  - {type: linear, out_features: 2}\n").analyze())


def test_too_wide_a_field_is_refused() -> None:
    net = load("input: [1, 20000]\nlayers:\n  - {type: conv1d, out_channels: 1, kernel_size: 5000}\n")
    with pytest.raises(CannotDraw, match=r"spans 5000 input positions; at most 4096"):
        draw_svg(net.analyze(), "dilated")


def test_bad_index() -> None:
    report = load(EXAMPLES / "tcn.yaml").analyze()
    with pytest.raises(ValueError, match=r"512 is out of range on axis L"):
        draw_svg(report, "dilated", [512])
    with pytest.raises(ValueError, match=r"needs 1 indices"):
        draw_svg(report, "dilated", [1, 2])


# -- the command line ------------------------------------------------------------------------


def test_cli_writes_svg(tmp_path: Any) -> None:
    out = tmp_path / "rf.svg"
    result = CliRunner().invoke(
        app, ["draw", str(EXAMPLES / "tcn.yaml"), "-o", str(out), "--output-index", "-1"]
    )
    assert result.exit_code == 0, result.output
    root = _svg(out.read_text())
    assert _nodes(root, 8, "output") == {511}
    assert _nodes(root, 0, "highlighted") == set(range(451, 512))


def test_cli_png_without_matplotlib(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    result = CliRunner().invoke(app, ["draw", str(EXAMPLES / "tcn.yaml"), "-o", str(tmp_path / "rf.png")])
    assert result.exit_code == 1
    assert (
        "error: PNG output needs matplotlib, which is not installed: pip install 'convcalc[png]'"
        in result.stderr
    )
    assert not (tmp_path / "rf.png").exists()


def test_cli_png_with_matplotlib(tmp_path: Any) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "rf.png"
    result = CliRunner().invoke(app, ["draw", str(EXAMPLES / "seed_5x5_stride.yaml"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_errors(tmp_path: Any) -> None:
    runner = CliRunner()
    bad = tmp_path / "net.yaml"
    bad.write_text("input: [1, 8]\nlayers:\n  - {type: conv1d, out_channels: 1, kernel_size: 9}\n")
    result = runner.invoke(app, ["draw", str(bad), "-o", str(tmp_path / "x.svg")])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"{bad}:3:") and "error: layer 0 (conv1d): kernel_size 9" in result.stderr
    lenet = str(EXAMPLES / "lenet5.yaml")
    result = runner.invoke(app, ["draw", lenet, "--kind", "dilated", "-o", str(tmp_path / "x.svg")])
    assert result.exit_code == 1 and "use --kind grid" in result.stderr
    assert runner.invoke(app, ["draw", lenet, "-o", str(tmp_path / "x.pdf")]).exit_code == 2
    assert runner.invoke(app, ["draw", lenet, "--output-index", "a"]).exit_code == 2
    assert runner.invoke(app, ["draw", lenet, "--output-index", "9,9"]).exit_code == 2
    assert runner.invoke(app, ["draw", str(tmp_path / "missing.yaml")]).exit_code == 2
    stdout = runner.invoke(app, ["draw", lenet, "--kind", "rf-plot"])
    assert stdout.exit_code == 0 and _svg(stdout.stdout) is not None
