"""The example nets in specs/examples/: golden outputs, known values, and PyTorch parity.

Golden files live in tests/golden/: ``<example>.json`` is the exact output of
``convcalc shape EXAMPLE --format json`` and ``<example>.txt`` the table rendered at 80
columns without colour. ``python -m pytest tests/test_examples.py --update-golden``
rewrites them from the current output (review the diff before committing).
"""

from __future__ import annotations

import difflib
import io
import json
from collections.abc import Callable
from functools import cache
from pathlib import Path

import pytest
import torch
import torch_mirror
from conftest import ROOT
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from typer.testing import CliRunner

from convcalc.analyze import analyze
from convcalc.cli import app
from convcalc.render import render_table, row_label, table
from convcalc.report import LayerReport, Report
from convcalc.spec import Layer, NetSpec, parse

EXAMPLES_DIR = ROOT / "specs" / "examples"
GOLDEN_DIR = ROOT / "tests" / "golden"
EXAMPLES = sorted(EXAMPLES_DIR.glob("*.yaml"))
NAMES = [p.stem for p in EXAMPLES]


@cache
def spec_of(name: str) -> NetSpec:
    path = EXAMPLES_DIR / f"{name}.yaml"
    return parse(path.read_bytes(), str(path.relative_to(ROOT)))


@cache
def report_of(name: str) -> Report:
    return analyze(spec_of(name))


def layer(report: Report, name: str) -> LayerReport:
    """The report of the (unique) layer called ``name``, nested ones included."""
    found = [r for _, r in report.rows() if r.layer.name == name]
    assert len(found) == 1, f"expected one layer named {name!r}, found {len(found)}"
    return found[0]


def all_layers(layers: tuple[Layer, ...]) -> list[Layer]:
    out: list[Layer] = []
    for lay in layers:
        out.append(lay)
        for _, children in lay.children():
            out.extend(all_layers(children))
    return out


def check_golden(path: Path, actual: str, update: bool) -> None:
    """Compare ``actual`` with the golden file (or rewrite it), failing with a unified diff."""
    if update:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
        return
    if not path.exists():
        pytest.fail(f"{path.relative_to(ROOT)} is missing: run pytest with --update-golden to create it")
    expected = path.read_text(encoding="utf-8")
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                actual.splitlines(keepends=True),
                f"{path.name} (golden)",
                f"{path.name} (current output)",
            )
        )
        pytest.fail(
            f"{path.relative_to(ROOT)} differs from the current output "
            f"(rerun with --update-golden if the change is intended):\n{diff}"
        )


def test_examples_exist() -> None:
    assert len(EXAMPLES) >= 10, f"expected at least 10 example nets in {EXAMPLES_DIR}, found {len(EXAMPLES)}"
    required = {"seed_5x5", "lenet5", "vgg_block", "resnet_stem", "inception_block", "wavenet", "tcn", "crnn"}
    assert required <= set(NAMES), f"missing examples: {sorted(required - set(NAMES))}"


# -- golden files ------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_golden_json(name: str, update_golden: bool) -> None:
    path = EXAMPLES_DIR / f"{name}.yaml"
    result = CliRunner().invoke(app, ["shape", str(path), "--format", "json"])
    assert result.exit_code == 0, f"convcalc shape {path} failed: {result.output}"
    data = json.loads(result.stdout)
    assert data["name"] == name
    check_golden(GOLDEN_DIR / f"{name}.json", result.stdout, update_golden)


@pytest.mark.parametrize("name", NAMES)
def test_golden_table(name: str, update_golden: bool) -> None:
    text = render_table(report_of(name), width=80, color=False)
    assert "\x1b[" not in text, "the table has colour codes although colour is off"
    check_golden(GOLDEN_DIR / f"{name}.txt", text, update_golden)


@pytest.mark.parametrize("name", NAMES)
def test_table_fits_80_columns(name: str) -> None:
    text = render_table(report_of(name), width=80, color=False)
    too_wide = [(i, line) for i, line in enumerate(text.splitlines(), 1) if cell_len(line) > 80]
    assert not too_wide, f"{name}: lines wider than 80 columns: {too_wide}"
    # every layer has its own row: the row labels of the top-level layers appear in order
    labels = [line.split()[0] for line in text.splitlines() if line[:2].strip().isdigit()]
    assert labels == [str(i) for i in range(len(report_of(name).layers))]


# -- the table's layout --------------------------------------------------------------------

#: examples whose numbers alone are wider than 80 columns, so that some of their rows take two
#: lines (the receptive field wraps): c3d's type, 3-D output shape, params, field and MACs
#: (14 + 18 + 9 + 25 + 5, two columns apart) already take 81 columns with no layer column
WRAPPED_AT_80 = {"c3d"}


def body_layer_cells(text: str) -> list[str]:
    """The layer column of every line of a rendered table's body, between the header's rule
    and the total (blank lines left out), right-stripped."""
    lines = text.splitlines()
    rule = next(i for i, line in enumerate(lines) if line.strip() and set(line.strip()) == {"─"})
    header = lines[rule - 1]  # the headers' last line: each header's (last) word
    start, end = header.index("layer"), header.index(" type ") + 1
    total = next(i for i in range(rule + 1, len(lines)) if lines[i][start:].startswith("total"))
    return [line[start:end].rstrip() for line in lines[rule + 1 : total] if line.strip()]


def check_layer_cells(report: Report, cells: list[str], continued_ok: bool) -> None:
    """Each non-blank layer cell is the next row's label, whole or cut short with an ellipsis
    after its place (index or branch path, indented by depth): never the rest of a label cut
    over two lines. A blank one (another line of the row above) only when ``continued_ok``."""
    rows = report.rows()
    done = 0
    for cell in cells:
        if not cell:
            assert continued_ok and done, f"a row takes more than one line: {cells}"
            continue
        assert done < len(rows), f"more rows than layers: {cell!r}"
        depth, r = rows[done]
        place = "  " * depth + row_label(r.layer.path)
        label = f"{place} {r.layer.name}" if r.layer.name else place
        cut = cell.endswith("…") and cell[:-1].startswith(place + " ") and label.startswith(cell[:-1])
        assert cell == label or cut, f"row {done}: layer cell {cell!r}, expected {label!r}"
        done += 1
    assert done == len(rows), f"{len(rows) - done} layers have no row"


@pytest.mark.parametrize("name", NAMES)
def test_table_rows_are_single_lines_at_80_columns(name: str) -> None:
    """At 80 columns no layer cell goes on over a following line (it would read like another
    row), and each layer's row is one line unless the example's numbers cannot fit in one."""
    report = report_of(name)
    cells = body_layer_cells(render_table(report, width=80, color=False))
    check_layer_cells(report, cells, continued_ok=name in WRAPPED_AT_80)
    if name in WRAPPED_AT_80:  # the exception is still needed
        assert len(cells) > len(report.rows())


@pytest.mark.parametrize("width", [64, 72, 100, 140])
def test_table_layer_cells_never_wrap(width: int) -> None:
    """Whatever the width, a layer cell is never continued on the next line."""
    for name in NAMES:
        report = report_of(name)
        text = render_table(report, width=width, color=False)
        assert max(cell_len(line) for line in text.splitlines()) <= width, name
        check_layer_cells(report, body_layer_cells(text), continued_ok=True)


@pytest.mark.parametrize("name", NAMES)
def test_wide_table_is_laid_out_as_rich_lays_out_a_plain_table(name: str) -> None:
    """With room for every cell, the layout is rich's own (the fitting is for narrow terminals)."""
    fitted = table(report_of(name))
    plain = Table(title=fitted.title, box=fitted.box, pad_edge=False, show_footer=True, title_justify="left")
    for column in fitted.columns:
        plain.add_column(column.header, footer=column.footer, justify=column.justify)
    for row in zip(*(list(column.cells) for column in fitted.columns), strict=True):
        plain.add_row(*row)

    def text(t: Table) -> str:
        out = io.StringIO()
        Console(file=out, width=160, color_system=None).print(t)
        return out.getvalue()

    assert text(fitted) == text(plain)


def test_no_stale_golden_files() -> None:
    # explain_<example>.* belong to tests/test_explain.py, for the same examples
    stems = {p.stem.removeprefix("explain_") for p in GOLDEN_DIR.glob("*.*")}
    stale = sorted(stems - set(NAMES))
    assert not stale, f"golden files without an example: {stale}"


# -- what every example must be ----------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_example_is_documented(name: str) -> None:
    spec = spec_of(name)
    assert spec.name == name, f"{name}.yaml: 'name:' should be the file's stem, got {spec.name!r}"
    assert spec.description and len(spec.description) > 20, f"{name}.yaml needs a real description"
    text = (EXAMPLES_DIR / f"{name}.yaml").read_text(encoding="utf-8")
    comments = [line for line in text.splitlines() if line.lstrip().startswith("#")]
    assert len(comments) >= 3, f"{name}.yaml: explain the net in comments"


@pytest.mark.parametrize("name", NAMES)
def test_matches_torch(name: str) -> None:
    """Parameter count and output shape equal PyTorch's for the same net."""
    spec, report = spec_of(name), report_of(name)
    model = torch_mirror.build(spec)
    assert torch_mirror.n_params(model) == report.total_params
    torch.manual_seed(0)
    with torch.no_grad():
        y = model(torch.randn(1, *spec.input_shape))
    assert tuple(y.shape[1:]) == report.output_shape


# -- every option the format offers appears in some example -------------------------------

OPTIONS: dict[str, Callable[[Layer], bool]] = {
    "3D convolution": lambda x: x.type == "conv3d",
    "3D max pooling": lambda x: x.type == "maxpool3d",
    "3D average pooling": lambda x: x.type == "avgpool3d",
    "per-axis kernel_size": lambda x: isinstance(x.opts.get("kernel_size"), tuple),
    "global average pooling": lambda x: x.type == "global_avgpool",
    "global max pooling": lambda x: x.type == "global_maxpool",
    "pad layer with [left, right] pairs": lambda x: x.type == "pad" and isinstance(x.opts["padding"], tuple),
    "padding: same": lambda x: x.opts.get("padding") == "same",
    "padding: causal": lambda x: x.opts.get("padding") == "causal",
    "dilation > 1": lambda x: x.type.startswith("conv") and x.opts["dilation"] != 1,
    "stride > 1 on a conv": lambda x: x.type.startswith("conv") and x.opts["stride"] != 1,
    "groups (depthwise)": lambda x: (
        x.type.startswith("conv") and x.opts["groups"] == x.opts["out_channels"] > 1
    ),
    "bias: false": lambda x: x.opts.get("bias") is False,
    "dropout": lambda x: x.type == "dropout",
    "sigmoid": lambda x: x.type == "sigmoid",
    "identity": lambda x: x.type == "identity",
    "sequential": lambda x: x.type == "sequential",
    "residual with identity shortcut": lambda x: x.type == "residual" and not x.opts["shortcut"],
    "residual with a shortcut": lambda x: x.type == "residual" and bool(x.opts["shortcut"]),
    "parallel merge concat": lambda x: x.type == "parallel" and x.opts["merge"] == "concat",
    "parallel merge add": lambda x: x.type == "parallel" and x.opts["merge"] == "add",
    "rnn": lambda x: x.type == "rnn",
    "return_sequences: false": lambda x: x.opts.get("return_sequences") is False,
    "bidirectional": lambda x: x.opts.get("bidirectional") is True,
    "num_layers > 1": lambda x: x.opts.get("num_layers", 1) > 1,
    "ceil_mode": lambda x: x.opts.get("ceil_mode") is True,
    "count_include_pad: false": lambda x: x.opts.get("count_include_pad") is False,
}


def _used_layers() -> list[Layer]:
    return [lay for name in NAMES for lay in all_layers(spec_of(name).layers)]


@pytest.mark.parametrize("option", list(OPTIONS))
def test_option_used_in_an_example(option: str) -> None:
    assert any(OPTIONS[option](lay) for lay in _used_layers()), f"no example uses {option}"


def test_linear_on_a_sequence_and_batch_form_used() -> None:
    seq_linears = [
        r
        for name in NAMES
        for _, r in report_of(name).rows()
        if r.layer.type == "linear" and len(r.shape) == 2
    ]
    assert seq_linears, "no example applies linear to a [C, L] sequence"
    assert any(spec_of(name).batch > 1 for name in NAMES), "no example uses the {shape, batch} input form"


# -- known values --------------------------------------------------------------------------


def conv_params(c_in: int, c_out: int, *kernel: int, bias: bool = True, groups: int = 1) -> int:
    taps = c_in // groups
    for k in kernel:
        taps *= k
    return c_out * taps + (c_out if bias else 0)


def n_out(n: int, f: int, p: int = 0, s: int = 1) -> int:
    """The course notes' formula."""
    return (n - f + 2 * p) // s + 1


def test_seed_5x5() -> None:
    r = report_of("seed_5x5")
    assert r.output_shape == (1, n_out(5, 3), n_out(5, 3)) == (1, 3, 3)
    assert r.total_params == 3 * 3 + 1
    assert r.total_macs == 9 * 9
    assert r.rf.to_dict() == {"size": [3, 3], "jump": [1, 1], "start": [0, 0]}


def test_seed_5x5_stride() -> None:
    r = report_of("seed_5x5_stride")
    assert layer(r, "pad1").shape == (4, n_out(5, 3, 1, 1), n_out(5, 3, 1, 1)) == (4, 5, 5)
    assert layer(r, "stride2").shape == (8, 3, 3)
    assert layer(r, "floor").shape == (8, n_out(3, 2, 0, 2), n_out(3, 2, 0, 2)) == (8, 1, 1)
    assert r.rf.to_dict() == {"size": [7, 7], "jump": [4, 4], "start": [-2, -2]}


def test_lenet5() -> None:
    r = report_of("lenet5")
    assert r.total_params == 61_706
    expected = [
        ("C1", (6, 28, 28), conv_params(1, 6, 5, 5)),
        ("S2", (6, 14, 14), 0),
        ("C3", (16, 10, 10), conv_params(6, 16, 5, 5)),
        ("S4", (16, 5, 5), 0),
        ("C5", (120, 1, 1), conv_params(16, 120, 5, 5)),
        ("F6", (84,), 120 * 84 + 84),
        ("output", (10,), 84 * 10 + 10),
    ]
    for name, shape, params in expected:
        assert (layer(r, name).shape, layer(r, name).params) == (shape, params), name
    assert layer(r, "C5").rf.to_dict()["size"] == [32, 32], "C5 should see the whole 32x32 image"


def test_vgg_block() -> None:
    r = report_of("vgg_block")
    assert layer(r, "pool1").shape == (64, 112, 112)
    assert layer(r, "pool2").shape == (128, 56, 56)
    assert r.total_params == 260_160
    assert layer(r, "conv1_2").rf.to_dict()["size"] == [5, 5], "two 3x3 convs see 5x5"
    assert r.rf.to_dict()["size"] == [16, 16]


def test_resnet_stem() -> None:
    r = report_of("resnet_stem")
    conv1 = layer(r, "conv1")
    assert conv1.params == 9_408 == conv_params(3, 64, 7, 7, bias=False)
    assert conv1.shape == (64, 112, 112)
    assert layer(r, "bn1").params == 128
    assert layer(r, "maxpool").shape == (64, 56, 56)
    assert layer(r, "maxpool").rf.to_dict() == {"size": [11, 11], "jump": [4, 4], "start": [-5, -5]}
    block = layer(r, "layer1.0")
    assert block.shape == (64, 56, 56)
    assert block.params == 2 * (conv_params(64, 64, 3, 3, bias=False) + 128)
    assert layer(r, "layer2.0").shape == r.output_shape == (128, 28, 28)


def test_inception_block() -> None:
    r = report_of("inception_block")
    assert layer(r, "maxpool2").shape == (192, 28, 28), "ceil_mode: ceil((56 - 3) / 2) + 1 = 28"
    module = layer(r, "inception_3a")
    assert module.shape == r.output_shape == (64 + 128 + 32 + 32, 28, 28)
    branch_channels = [branch[-1].shape[0] for branch in module.children["branches"]]
    assert branch_channels == [64, 128, 32, 32]
    assert module.params == 163_696
    assert module.rf.to_dict()["size"] == [11, 11], "the union of the branches: the 5x5 branch's field"


def test_wavenet_receptive_field() -> None:
    r = report_of("wavenet")
    dilations = [2**i for i in range(10)]
    assert r.rf.to_dict() == {"size": [1 + sum(dilations)], "jump": [1], "start": [-(1023)]}
    assert r.rf.to_dict()["size"] == [1024]
    assert r.output_shape == (256, 4096)
    for d in dilations:
        assert layer(r, f"d{d}").rf.to_dict()["size"] == [2 * d]


def test_tcn() -> None:
    r = report_of("tcn")
    assert r.output_shape == (10, 512)
    assert r.rf.to_dict() == {"size": [1 + 2 * 2 * (1 + 2 + 4 + 8)], "jump": [1], "start": [-60]}
    assert layer(r, "block1").params == conv_params(8, 32, 3) + conv_params(32, 32, 3) + conv_params(8, 32, 1)


def test_crnn() -> None:
    r = report_of("crnn")
    assert r.output_shape == (29, 50)
    blstm = layer(r, "blstm")
    assert blstm.shape == (256, 50)
    assert blstm.params == 2 * (4 * 128 * (128 + 128) + 2 * 4 * 128) + 2 * (
        4 * 128 * (256 + 128) + 2 * 4 * 128
    )
    assert blstm.rf.to_dict() == {"size": [None], "jump": [4], "start": [None]}
    assert layer(r, "bgru").shape == (128, 50)
    assert layer(r, "chars").params == 128 * 29 + 29


def test_rnn_classifier() -> None:
    r = report_of("rnn_classifier")
    rnn = layer(r, "rnn")
    assert rnn.shape == (64,)
    assert rnn.params == (64 * 40 + 64 * 64 + 2 * 64) + (64 * 64 + 64 * 64 + 2 * 64)
    assert rnn.macs == 101 * (64 * (40 + 64) + 64 * (64 + 64))
    assert rnn.rf.to_dict() == {
        "size": None,
        "jump": None,
        "start": None,
        "spatial": False,
        "scope": "global",
    }


def test_text_cnn_batch() -> None:
    spec, r = spec_of("text_cnn"), report_of("text_cnn")
    assert spec.batch == 50
    assert r.total_macs == 50 * analyze(spec, batch=1).total_macs
    assert layer(r, "ngrams").shape == (300,)
    assert layer(r, "w5").shape == (100, 50 - 5 + 1)


def test_c3d() -> None:
    r = report_of("c3d")
    assert layer(r, "conv1").params == conv_params(3, 64, 3, 3, 3) == 5_248
    assert layer(r, "pool1").shape == (64, 16, 56, 56)
    assert layer(r, "pool3").shape == (256, 4, 14, 14)
    assert layer(r, "avg").shape == (256, 3, 8, 8)
    assert r.output_shape == (101,)


def test_mobilenet_v2() -> None:
    r = report_of("mobilenet_v2")
    assert layer(r, "stem").shape == (32, 112, 112)
    block2 = layer(r, "block2")
    dw = block2.children["layers"][3]
    assert dw.params == 96 * 9, "a depthwise 3x3 conv has 9 weights per channel"
    assert dw.shape == (96, 56, 56)
    assert block2.shape == (24, 56, 56)


def test_densenet_and_repvgg() -> None:
    dense = layer(report_of("densenet_block"), "denseblock1")
    assert [c.shape[0] for c in dense.children["layers"]] == [96, 128, 160, 192]
    assert report_of("densenet_block").output_shape == (96, 28, 28)
    rep = report_of("repvgg_block")
    assert rep.output_shape == (128, 28, 28)
    assert len(layer(rep, "stage2.1").children["branches"]) == 3
