"""``convcalc explain``: the worked arithmetic agrees with the analysis, formula by formula.

Golden files: ``tests/golden/explain_<example>.txt`` (plain text) and ``explain_<example>.md``;
``python -m pytest tests/test_explain.py --update-golden`` rewrites them.
"""

from __future__ import annotations

import ast
import re
from fractions import Fraction
from functools import cache
from io import StringIO
from math import ceil, floor

import pytest
import torch
from conftest import ROOT
from rich.console import Console
from test_formats import check_golden_bytes
from typer.testing import CliRunner

from convcalc.analyze import analyze
from convcalc.cli import app
from convcalc.explain import (
    EXPLAINERS,
    HANG,
    WIDTH,
    Explanation,
    LayerExplanation,
    explain,
    render_markdown,
    render_text,
    walk,
)
from convcalc.layers import REGISTRY
from convcalc.report import LayerReport, Report
from convcalc.spec import parse

EXAMPLES_DIR = ROOT / "specs" / "examples"
GOLDEN_DIR = ROOT / "tests" / "golden"
EXAMPLES = sorted(p.stem for p in EXAMPLES_DIR.glob("*.yaml"))


@cache
def report_of(name: str) -> Report:
    path = EXAMPLES_DIR / f"{name}.yaml"
    return analyze(parse(path.read_bytes(), str(path.relative_to(ROOT))))


def by_path(report: Report) -> dict[str, LayerReport]:
    return {r.layer.dotted: r for _, r in report.rows()}


def evaluate(formula: str) -> Fraction:
    """Exact value of a printed formula: integers, + - * /, parentheses, floor, ceil, min, max."""

    def ev(node: ast.expr) -> Fraction:
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            return Fraction(node.value)  # type: ignore[arg-type]  # a float (an upsampling factor) exactly as the double it is
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -ev(node.operand)
        if isinstance(node, ast.BinOp):
            a, b = ev(node.left), ev(node.right)
            ops = {ast.Add: a + b, ast.Sub: a - b, ast.Mult: a * b}
            if isinstance(node.op, ast.Div):
                return a / b
            return ops[type(node.op)]
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            args = [ev(a) for a in node.args]
            fns = {"floor": lambda: Fraction(floor(args[0])), "ceil": lambda: Fraction(ceil(args[0]))}
            fns |= {"min": lambda: min(args), "max": lambda: max(args)}
            return fns[node.func.id]()
        raise AssertionError(f"unexpected syntax in formula {formula!r}: {ast.dump(node)}")

    return ev(ast.parse(formula, mode="eval").body)


def check_layer(lay: LayerExplanation, r: LayerReport) -> None:
    """Every number of one explanation against the report."""
    assert (lay.out_shape, lay.params, lay.macs) == (r.shape, r.params, r.macs)
    kinds = [st.kind for st in lay.steps]
    assert kinds.count("params") == 1 and kinds.count("macs") == 1, f"{lay.title}: {kinds}"
    for st in lay.steps:
        where = f"{lay.title}: {st.plain()}"
        if st.formula:
            assert st.result is not None, where
            assert evaluate(st.formula) == st.result, where
        if st.kind == "shape":
            dims = [a + 1 for a in st.axes] if st.axes else [0]
            assert all(r.shape[d] == st.result for d in dims), where
        elif st.kind.startswith("rf_"):
            attr = st.kind[3:]
            assert st.axes, where
            assert all(getattr(r.rf.axes[a], attr) == st.result for a in st.axes), where
        elif st.kind == "params":
            assert st.result == r.params, where
        elif st.kind == "macs":
            assert st.result == r.macs, where
        elif st.kind == "text":
            assert st.result is None and not st.formula, where


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_step_agrees_with_the_report(name: str) -> None:
    report = report_of(name)
    worked = explain(report)
    layers = by_path(report)
    assert [lay.path for lay in worked.layers] == list(layers)
    for lay in worked.layers:
        assert lay.explained, f"{lay.type} has no explanation"
        check_layer(lay, layers[lay.path])
    assert (worked.total_params, worked.total_macs) == (report.total_params, report.total_macs)


def logical_lines(text: str) -> list[str]:
    """Printed lines with the folded ones joined back: a continuation is indented exactly
    ``HANG`` more than the line it continues (never after a blank line) and takes back the
    single space the fold dropped."""
    out: list[str] = []
    indent = 0
    for line in text.splitlines():
        assert line == line.rstrip(), f"trailing space: {line!r}"
        depth = len(line) - len(line.lstrip(" "))
        if out and out[-1] and line and depth == indent + HANG:
            out[-1] += " " + line[depth:]
        else:
            out.append(line)
            indent = depth
    return out


HEADER = re.compile(r"^\s*(\S+) #([\w.]+)(?: '.*')?: \[[\d, ]*\] -> \[([\d, ]*)\]$")
RESULT = re.compile(
    r"(?:^|, )(?:([DHWL](?:, [DHWL])*): )?(n_out|features|channels|params|MACs) = (?:.* = )?(-?\d+)"
)


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_printed_result_is_the_reports(name: str) -> None:
    """Read the plain text back: every ``= N`` printed for a shape, params or MACs is the report's."""
    report = report_of(name)
    layers = by_path(report)
    current: LayerReport | None = None
    seen: dict[str, set[str]] = {}
    for line in logical_lines(render_text(explain(report))):
        if m := HEADER.match(line):
            current = layers[m[2]]
            assert m[1] == current.layer.type and m[3] == ", ".join(map(str, current.shape))
            seen[m[2]] = set()
            continue
        for part in re.split(r"(?=, (?:params|MACs) = )", line.strip()):
            m = RESULT.match(part)
            if not m:
                continue
            assert current is not None, line
            value, what = int(m[3]), m[2]
            seen[current.layer.dotted].add(what)
            if what == "params":
                assert value == current.params, line
            elif what == "MACs":
                assert value == current.macs, line
            elif what in ("features", "channels"):
                assert value == current.shape[0], line
            else:
                axes = m[1].split(", ") if m[1] else ["L"]
                names = {1: "L", 2: "HW", 3: "DHW"}[len(current.shape) - 1]
                assert all(current.shape[1 + names.index(a)] == value for a in axes), line
    assert set(seen) == set(layers)
    assert all({"params", "MACs"} <= found for found in seen.values())


def markdown_html(text: str) -> str:
    """``text`` rendered by a CommonMark parser, runs of white space made one space (a line
    end inside a paragraph or a code span reads as a space)."""
    markdown_it = pytest.importorskip("markdown_it")
    return re.sub(r"\s+", " ", markdown_it.MarkdownIt("commonmark").render(text))


@pytest.mark.parametrize("name", EXAMPLES)
def test_lines_fit_in_80_columns_and_folding_loses_nothing(name: str) -> None:
    """Piped text and markdown fit in 80 columns: long lines are folded at spaces, and
    joining the folds back gives the unfolded lines exactly (markdown: the same document)."""
    path = str(EXAMPLES_DIR / f"{name}.yaml")
    result = CliRunner().invoke(app, ["explain", path])  # piped: rich drops the markup
    assert result.exit_code == 0, result.output
    worked = explain(report_of(name))
    assert result.stdout == render_text(worked)
    assert WIDTH == 80
    too_long = [line for line in result.stdout.splitlines() if len(line) > WIDTH]
    assert not too_long, "\n".join(too_long)
    assert logical_lines(result.stdout) == render_text(worked, width=None).splitlines()
    md = CliRunner().invoke(app, ["explain", path, "--format", "markdown"])
    assert md.exit_code == 0, md.output
    assert md.stdout == render_markdown(worked)
    # a heading cannot be folded (none of the examples' is too long but one deep in unet_small)
    too_long = [line for line in md.stdout.splitlines() if len(line) > WIDTH and not line.startswith("#")]
    assert not too_long, "\n".join(too_long)
    assert markdown_html(md.stdout) == markdown_html(render_markdown(worked, width=None))
    # in a terminal the same lines, coloured
    buf = StringIO()
    Console(file=buf, force_terminal=True, color_system="standard", width=WIDTH).print(
        render_text(worked, markup=True), highlight=False, soft_wrap=True
    )
    assert "\x1b[" in buf.getvalue()
    assert re.sub(r"\x1b\[[\d;]*m", "", buf.getvalue()) == render_text(worked) + "\n"


def test_folding_breaks_at_sensible_points() -> None:
    """After a ``+`` or ``,``, before a note, between words; never inside a shape nor before
    an operator; continuations hang by ``HANG``."""
    worked = explain(report_of("wavenet_repeat"))
    text = render_text(worked)
    assert (
        "  MACs = 12582912 + 12582912 + 12582912 + 12582912 + 12582912 + 12582912 +\n"
        "      12582912 + 12582912 + 12582912 + 12582912 = 125829120\n"
        "      (sum over the nested layers)\n"
    ) in text
    assert (
        "    y = f(x) + g(x): the main path gives [32, 4096], the identity shortcut gives\n"
        "        [32, 4096]; added, so the shapes must match\n"
    ) in text
    lstm = render_text(explain(report_of("lstm_projection")))
    assert (
        "  i, f, g, o = sigmoid, sigmoid, tanh, sigmoid of the 4 row blocks of\n"
        "      W_ih x_t + b_ih + W_hh h_(t-1) + b_hh\n"
    ) in lstm
    assert (
        "  layer 0 params per direction = 4*256*(40+64) + 64*256 + 8*256 = 124928\n"
        "      (4*h*(d+p) + p*h: W_hr + 8*h: b_ih and b_hh)\n"
    ) in lstm
    for line in [*text.splitlines(), *lstm.splitlines()]:
        assert not re.match(r"\s*(?:[-+*/=]|\.\.|->) ", line), line  # no line opens with an operator
        assert line.count("[") == line.count("]"), line  # nor folds a shape
    # a long header folds too; a width of None never folds
    unet = explain(report_of("unet_small"))
    assert (
        "    conv2d #2.branches.1.3.branches.1.1 'bottleneck':\n        [16, 16, 16] -> [32, 16, 16]\n"
        in (render_text(unet))
    )
    assert max(map(len, render_text(unet, width=None).splitlines())) > WIDTH


def test_markdown_folds_inside_list_items_only() -> None:
    """A folded item continues two spaces in, inside its code span if need be; no continuation
    line could start a new block (a list item, a heading, a quote)."""
    text = render_markdown(explain(report_of("crnn")))
    assert (
        "- `params = 2*(4*128*(128+128) + 8*128) + 2*(4*128*(256+128) + 8*128) = 659456\n"
        "  (sum over layers and directions)`\n"
    ) in text
    for line in text.splitlines():
        if line.startswith("  "):
            assert not re.match(r"  (?:[-+*>#]|\d+[.)])(?: |$)", line), line


def test_every_layer_type_has_an_explanation() -> None:
    """A new layer type must come with its worked formulas (convcalc/explain.py EXPLAINERS)."""
    missing = sorted(set(REGISTRY) - set(EXPLAINERS))
    assert not missing, f"layer types without an explanation: {missing}"
    assert not set(EXPLAINERS) - set(REGISTRY), "EXPLAINERS lists types that do not exist"


def test_unknown_type_degrades_to_the_reports_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(EXPLAINERS, "conv2d")
    report = report_of("seed_5x5_stride")
    worked = explain(report)
    lay = worked.layers[0]
    assert not lay.explained
    check_layer(lay, report.layers[0])
    text = render_text(worked)
    assert "no worked formulas for 'conv2d' yet" in text
    assert "  params = 40, MACs = 900\n" in text  # the report's numbers, no formula
    assert worked.layers[1].explained


def explain_spec(text: str, which: str | None = None) -> Explanation:
    worked = explain(analyze(parse(text)), which)
    layers = by_path(analyze(parse(text)))
    for lay in worked.layers:
        check_layer(lay, layers[lay.path])
    return worked


def lines(worked: Explanation, path: str) -> list[str]:
    lay = next(lay for lay in worked.layers if lay.path == path)
    return [st.plain() for st in lay.steps]


def test_causal_dilated_conv_textbook() -> None:
    worked = explain_spec(
        "input: [16, 512]\nlayers:\n"
        + "".join(
            f"  - {{type: conv1d, out_channels: 16, kernel_size: 3, dilation: {d}, padding: causal}}\n"
            for d in (1, 2, 3)
        )
        + "  - {type: conv1d, name: dil4, out_channels: 16, kernel_size: 3, dilation: 4, padding: causal}\n"
    )
    assert "conv1d #3 'dil4': [16, 512] -> [16, 512]" in render_text(worked)
    assert lines(worked, "3") == [
        "causal: left = 4*(3-1) = 8, right 0",
        "n_out = floor((512 + 8 + 0 - 4*(3-1) - 1) / 1) + 1 = 512",
        "r = 13 + (3-1)*4*1 = 21",
        "j = 1*1 = 1",
        "start = -12 - 8*1 = -20",
        "params = 16*16*3 + 16 = 784 (C_out*C_in/groups*k + C_out)",
        "MACs = 1*16*512*16*3 = 393216 (B*C_out*out*C_in/groups*k)",
    ]


def test_same_padding_and_groups() -> None:
    worked = explain_spec(
        "input: {shape: [16, 512], batch: 2}\nlayers:\n"
        "  - {type: conv1d, out_channels: 8, kernel_size: 9, padding: same, groups: 2}\n"
    )
    assert lines(worked, "0")[:2] == [
        "same: total = max((ceil(512/1) - 1)*1 + 1*(9-1) + 1 - 512, 0) = 8, left 4, right 4",
        "n_out = floor((512 + 4 + 4 - 1*(9-1) - 1) / 1) + 1 = 512",
    ]
    assert "params = 8*(16/2)*9 + 8 = 584 (C_out*C_in/groups*k + C_out)" in lines(worked, "0")
    assert "MACs = 2*8*512*(16/2)*9 = 589824 (B*C_out*out*C_in/groups*k)" in lines(worked, "0")
    two = explain_spec(
        "input: [1, 10, 7]\nlayers:\n"
        "  - {type: conv2d, out_channels: 1, kernel_size: [3, 4], stride: 2, padding: same}\n"
    )
    assert (
        lines(two, "0")[0]
        == "H: same: total = max((ceil(10/2) - 1)*2 + 1*(3-1) + 1 - 10, 0) = 1, left 0, right 1"
    )
    assert "W: same: total = max((ceil(7/2) - 1)*2 + 1*(4-1) + 1 - 7, 0) = 3, left 1, right 2" in lines(
        two, "0"
    )


def test_pool_ceil_mode_drops_a_window_in_the_padding() -> None:
    worked = explain_spec(
        "input: [1, 5]\nlayers:\n"
        "  - {type: maxpool1d, kernel_size: 2, stride: 2, padding: 1, ceil_mode: true}\n"
    )
    assert lines(worked, "0")[:3] == [
        "windows = ceil((5 + 2*1 - 1*(2-1) - 1) / 2) + 1 = 4 (ceil_mode)",
        "last window start = (4-1)*2 = 6, >= n + p = 5 + 1: "
        "it would start in the right padding, and PyTorch drops it",
        "n_out = 4 - 1 = 3",
    ]
    torch_len = torch.nn.MaxPool1d(2, 2, 1, ceil_mode=True)(torch.zeros(1, 1, 5)).shape[-1]
    assert torch_len == 3
    kept = explain_spec("input: [1, 5]\nlayers:\n  - {type: avgpool1d, kernel_size: 2, ceil_mode: true}\n")
    assert lines(kept, "0")[0] == "n_out = ceil((5 + 2*0 - 1*(2-1) - 1) / 2) + 1 = 3 (ceil_mode)"
    assert not any("last window" in line for line in lines(kept, "0"))


def test_lstm_gates_and_parameters() -> None:
    worked = explain_spec("input: [80, 100]\nlayers:\n  - {type: lstm, hidden_size: 128}\n")
    got = lines(worked, "0")
    assert "layer 0: d = 80, W_ih: 512x80, W_hh: 512x128" in got
    assert (
        "layer 0 params per direction = 4*128*(80+128) + 8*128 = 107520 (4*h*(d+h) + 8*h: b_ih and b_hh)"
        in got
    )
    assert any(line.startswith("i, f, g, o = sigmoid, sigmoid, tanh, sigmoid") for line in got)
    assert any(line.startswith("receptive field unbounded: h_t depends on x_0 .. x_t;") for line in got)
    assert sum(p.numel() for p in torch.nn.LSTM(80, 128).parameters()) == worked.layers[0].params
    deep = explain_spec(
        "input: [80, 100]\nlayers:\n  - {type: gru, hidden_size: 64, num_layers: 2, bidirectional: true}\n"
    )
    got = lines(deep, "0")
    assert "layer 1: d = 128, W_ih: 192x128, W_hh: 192x64 (forward and backward each)" in got
    params = (
        "params = 2*(3*64*(80+64) + 6*64) + 2*(3*64*(128+64) + 6*64) = 130560 "
        "(sum over layers and directions)"
    )
    assert params in got
    assert sum(p.numel() for p in torch.nn.GRU(80, 64, 2, bidirectional=True).parameters()) == 130560
    last = explain_spec(
        "input: [8, 10]\nlayers:\n  - {type: rnn, hidden_size: 4, bias: false, return_sequences: false}\n"
    )
    got = lines(last, "0")
    assert got[0] == "features = 4*1 = 4 (h*dirs): the forward direction's last step"
    assert "params = 1*4*(8+4) = 48 (sum over layers and directions)" in got


def test_containers_explain_the_merge() -> None:
    worked = explain(report_of("tcn"))
    got = lines(worked, "0")
    assert got[0].startswith(
        "y = f(x) + g(x): the main path gives [32, 512], the shortcut (1 layer) gives [32, 512]"
    )
    assert "r = max(-4 + 5, 0 + 1) - min(-4, 0) = 5 (largest end - smallest start)" in got
    assert "params = 800 + 3104 + 288 = 4192 (sum over the nested layers)" in got
    inception = explain(report_of("inception_block"))
    assert "channels = 64 + 128 + 32 + 32 = 256" in lines(inception, "1")
    assert "H, W: start = min(0, -2, -4, -2) = -4" in lines(inception, "1")
    mixed = explain_spec(
        "input: [1, 16]\nlayers:\n  - type: parallel\n    merge: add\n    branches:\n"
        "      - - {type: conv1d, out_channels: 1, kernel_size: 2, stride: 2}\n"
        "      - - {type: maxpool1d, kernel_size: 4, stride: 4}\n        - {type: pad, padding: [[0, 4]]}\n"
    )
    got = lines(mixed, "0")
    assert got[0] == "add: all 2 branches give [1, 8], summed element by element"
    assert got[1] == "jumps (2, 4) differ: the field is not the same at every position (mixed strides)"


def test_walk_gives_each_layer_its_input() -> None:
    report = report_of("resnet_stem")
    inputs = {s.report.layer.dotted: s.x.shape for s in walk(report)}
    assert inputs["6.shortcut.0"] == inputs["6.layers.0"] == inputs["6"] == (64, 56, 56)
    assert inputs["6.shortcut.1"] == (64, 28, 28)
    assert inputs["7"] == (128, 28, 28)


def test_select_by_path_or_name() -> None:
    report = report_of("tcn")
    assert [lay.path for lay in explain(report, "4.layers.3").layers] == ["4.layers.3"]
    block = [lay.path for lay in explain(report, "block1").layers]
    assert block == ["0", *(f"0.layers.{i}" for i in range(6)), "0.shortcut.0"]
    assert [lay.path for lay in explain(report, "head").layers] == ["8"]
    with pytest.raises(
        LookupError, match=r"no layer '9' in this net; give a dotted path, paths 0 to 8 .*block1"
    ):
        explain(report, "9")


def test_markup_is_escaped_and_coloured() -> None:
    worked = explain_spec(
        "input: [2, 8]\nlayers:\n"
        "  - {type: conv1d, name: '[bold]x[/bold]', out_channels: 2, kernel_size: 3}\n"
    )
    buf = StringIO()
    Console(file=buf, force_terminal=True, color_system="standard", width=200).print(
        render_text(worked, markup=True), highlight=False, soft_wrap=True
    )
    coloured = buf.getvalue()
    assert "\x1b[" in coloured
    plain = re.sub(r"\x1b\[[\d;]*m", "", coloured)
    assert plain == render_text(worked) + "\n"
    assert "conv1d #0 '[bold]x[/bold]': [2, 8] -> [2, 6]" in plain


def test_cli_piped_output_is_plain_text() -> None:
    path = str(EXAMPLES_DIR / "crnn.yaml")
    result = CliRunner().invoke(app, ["explain", path, "--layer", "blstm", "--batch", "3"])
    assert result.exit_code == 0, result.output
    assert "\x1b[" not in result.stdout
    worked = explain(analyze(parse((EXAMPLES_DIR / "crnn.yaml").read_bytes()), 3), "blstm")
    assert result.stdout == render_text(worked)
    assert "MACs = 3*50*2*(" in result.stdout


def test_cli_errors() -> None:
    runner = CliRunner()
    path = str(EXAMPLES_DIR / "tcn.yaml")
    bad = runner.invoke(app, ["explain", path, "--layer", "nope"])
    assert bad.exit_code == 2
    assert "no layer 'nope'" in bad.output
    assert runner.invoke(app, ["explain", path, "--format", "html"]).exit_code == 2
    assert runner.invoke(app, ["explain", str(ROOT / "missing.yaml")]).exit_code == 2
    broken = runner.invoke(
        app,
        ["explain", "-"],
        input="input: [3, 8]\nlayers:\n  - {type: conv1d, out_channels: 2, kernel_size: 9}\n",
    )
    assert broken.exit_code == 1
    assert re.fullmatch(
        r"<stdin>:3:\d+: error: layer 0 \(conv1d\): kernel_size 9 is larger .*\n", broken.stderr
    )


def test_markdown_has_a_heading_per_layer_and_formulas_in_code() -> None:
    worked = explain(report_of("tcn"))
    text = render_markdown(worked)
    headings = [line for line in text.splitlines() if re.match(r"#{2,6} ", line)]
    assert len(headings) == len(worked.layers)
    assert "## residual #0 `block1`: `[8, 512]` -> `[32, 512]`" in headings
    assert "### conv1d #0.layers.0: `[8, 512]` -> `[32, 512]`" in headings
    assert "- `r = 13 + (3-1)*4*1 = 21`" in text
    for line in text.splitlines():
        if line.startswith("- ") and re.search(r"= [^=]*= -?\d", line):  # a formula with its result
            assert line.startswith("- `"), line


@pytest.mark.parametrize("name", ["crnn", "inception_block"])
def test_text_golden(name: str, update_golden: bool) -> None:
    result = CliRunner().invoke(app, ["explain", str(EXAMPLES_DIR / f"{name}.yaml")])
    assert result.exit_code == 0, result.output
    check_golden_bytes(GOLDEN_DIR / f"explain_{name}.txt", result.stdout, update_golden)


@pytest.mark.parametrize("name", ["tcn", "mobilenet_v2"])
def test_markdown_golden(name: str, update_golden: bool) -> None:
    result = CliRunner().invoke(app, ["explain", str(EXAMPLES_DIR / f"{name}.yaml"), "--format", "markdown"])
    assert result.exit_code == 0, result.output
    check_golden_bytes(GOLDEN_DIR / f"explain_{name}.md", result.stdout, update_golden)


def test_readme_example_is_real() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    shown = (
        readme.split("### Worked arithmetic, markdown and CSV", 1)[1]
        .split("```text\n", 1)[1]
        .split("```", 1)[0]
    )
    actual = render_text(explain(report_of("tcn"), "4.layers.0"))
    assert [line.strip() for line in shown.splitlines()] == [
        line.strip() for line in actual.splitlines()[3:12]
    ]


@pytest.mark.parametrize("factor", ["1.2", "1.5", "2", "[2.5, 3]", "1.25"])
def test_upsample_field_steps_agree_with_the_report(factor: str) -> None:
    """A non-integer nearest factor gives an envelope; its written steps must still add up."""
    text = f"input: [2, 7, 9]\nlayers:\n  - {{type: upsample, scale_factor: {factor}}}\n"
    worked = explain_spec(text)
    assert lines(worked, "0")
