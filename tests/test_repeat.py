"""Stack sugar: ``repeat: N`` and ``vary:`` (lists or ``{pow2: [a, b]}``) on any layer mapping.

A repeated entry becomes one ``repeat`` container whose copies nest under ``layers``: the analysis,
the NumPy forward and the torch mirror all see the same net as the long form written out, and the
JSON keeps one entry per YAML entry, each with its origin line.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch_mirror
import yaml
from conftest import ROOT
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

import convcalc
import convcalc.spec
from convcalc.analyze import analyze
from convcalc.cli import app
from convcalc.errors import SpecError
from convcalc.report import LayerReport, Report
from convcalc.schema import build_schema
from convcalc.spec import MAX_LAYERS, Layer, NetSpec, parse

EXAMPLES = ROOT / "specs" / "examples"
LONG, SHORT = EXAMPLES / "wavenet.yaml", EXAMPLES / "wavenet_repeat.yaml"


def run(text: str) -> Report:
    return analyze(parse(text, "net.yaml"))


def fails(text: str, match: str) -> SpecError:
    with pytest.raises(SpecError, match=match) as info:
        run(text)
    return info.value


def line_of(text: str, needle: str, nth: int = 0) -> int:
    """The 1-based line of the ``nth`` line containing ``needle``."""
    return [i for i, line in enumerate(text.splitlines(), 1) if needle in line][nth]


def leaves(layers: tuple[Layer, ...]) -> list[Layer]:
    """Every layer, nested ones included, containers dropped: what runs."""
    out: list[Layer] = []
    for lay in layers:
        kids = lay.children()
        if not kids:
            out.append(lay)
        for _, sub in kids:
            out.extend(leaves(sub))
    return out


def rows(report: Report, drop: tuple[str, ...] = ("repeat",)) -> list[tuple[Any, ...]]:
    """(type, shape, field, params, MACs) of every analysed layer in order, ``drop`` types left out."""
    return [
        (r.layer.type, r.shape, r.rf, r.params, r.macs) for _, r in report.rows() if r.layer.type not in drop
    ]


def net_text(shape: list[int], *layers: str) -> str:
    return f"input: {json.dumps(shape)}\nlayers:\n" + "".join(f"  - {layer}\n" for layer in layers)


# -- the WaveNet example: short form == long form ---------------------------------------------


def test_wavenet_repeat_analysis_equals_the_long_form() -> None:
    short, long = (analyze(parse(p.read_bytes(), str(p))) for p in (SHORT, LONG))
    assert short.output_shape == long.output_shape == (256, 4096)
    assert short.total_params == long.total_params
    assert short.total_macs == long.total_macs
    assert short.rf == long.rf
    assert short.rf.axes[0].size == 1024 and short.rf.axes[0].start == -1023
    assert short.memory() == long.memory()
    # layer by layer, the same computation (the long form's ten residual entries are the copies)
    assert rows(short) == rows(long)
    assert len(short.layers) == 6 and len(long.layers) == 15


def test_wavenet_repeat_json_keeps_one_entry_per_yaml_entry() -> None:
    text = SHORT.read_text()
    data = analyze(parse(text, str(SHORT))).to_dict()
    entries = data["layers"]
    assert [e["type"] for e in entries] == ["conv1d", "repeat", "relu", "conv1d", "relu", "conv1d"]
    rep = entries[1]
    origin = line_of(text, "- type: residual")
    assert (rep["name"], rep["line"]) == ("d", origin)
    copies = rep["layers"]
    assert [c["name"] for c in copies] == [f"d[{k}]" for k in range(10)]
    assert {c["type"] for c in copies} == {"residual"} and {c["line"] for c in copies} == {origin}
    # the template's own layers keep their lines in every copy
    for c in copies:
        assert [e["line"] for e in c["layers"]] == [
            line_of(text, "kernel_size: 2"),
            line_of(text, "{type: tanh}"),
            line_of(text, "kernel_size: 1}", 1),
        ]
    assert [c["receptive_field"]["size"] for c in copies] == [[2 ** (k + 1)] for k in range(10)]
    assert rep["params"] == sum(c["params"] for c in copies) and rep["receptive_field"]["size"] == [1024]


def test_wavenet_repeat_validates_against_the_schema() -> None:
    validator = Draft202012Validator(build_schema())
    doc = yaml.safe_load(SHORT.read_text())
    assert [e.message for e in validator.iter_errors(doc)] == []
    committed = json.loads((ROOT / "specs" / "convcalc.schema.json").read_text())
    assert [e.message for e in Draft202012Validator(committed).iter_errors(doc)] == []


def test_wavenet_repeat_state_dict_names() -> None:
    net = convcalc.load(SHORT)
    names = list(net.weight_shapes())
    assert "1.layers.3.layers.0.weight" in names and "1.layers.9.layers.2.bias" in names
    model = torch_mirror.build(net.spec)
    assert list(model.state_dict()) == names
    assert dict(net.weight_shapes())["1.layers.3.layers.0.weight"] == (32, 32, 2)
    assert isinstance(model[1], torch_mirror.Seq)
    convs = [m for m in model[1].modules() if isinstance(m, torch.nn.Conv1d) and m.kernel_size == (2,)]
    dilations = [m.dilation[0] for m in convs]
    assert dilations == [2**k for k in range(10)]


# -- expansion --------------------------------------------------------------------------------


def test_repeat_makes_copies_with_paths_names_and_origin_lines() -> None:
    text = net_text(
        [2, 32], "{type: relu}", "{type: conv1d, name: c, out_channels: 2, kernel_size: 3, repeat: 4}"
    )
    spec = parse(text, "net.yaml")
    rep = spec.layers[1]
    assert (rep.type, rep.name, rep.path, rep.loc.line) == ("repeat", "c", (1,), 4)
    copies = rep.opts["layers"]
    assert [c.dotted for c in copies] == [f"1.layers.{k}" for k in range(4)]
    assert [c.name for c in copies] == ["c[0]", "c[1]", "c[2]", "c[3]"]
    assert {c.type for c in copies} == {"conv1d"} and {c.loc.line for c in copies} == {4}
    assert all(c.opts == copies[0].opts for c in copies)
    report = analyze(spec)
    assert report.output_shape == (2, 32 - 4 * 2) and report.total_params == 4 * (2 * 2 * 3 + 2)


def test_unnamed_copies_stay_unnamed() -> None:
    spec = parse(net_text([1, 8], "{type: relu, repeat: 3}"))
    assert [c.name for c in spec.layers[0].opts["layers"]] == [None, None, None]
    assert spec.layers[0].name is None


def test_repeat_one_is_a_container_of_one() -> None:
    report = run(net_text([1, 8], "{type: conv1d, out_channels: 1, kernel_size: 3, repeat: 1}"))
    assert [(d, r.layer.type) for d, r in report.rows()] == [(0, "repeat"), (1, "conv1d")]
    assert report.output_shape == (1, 6)


def test_vary_list_values_and_their_lines() -> None:
    text = (
        "input: [2, 64]\nlayers:\n"
        "  - type: conv1d\n    out_channels: 2\n    kernel_size: 2\n    padding: causal\n"
        "    vary:\n      dilation:\n        - 1\n        - 3\n        - 9\n"
    )
    rep = parse(text).layers[0]
    copies = rep.opts["layers"]
    assert [c.opts["dilation"] for c in copies] == [1, 3, 9]  # no repeat: the list gives the count
    assert [c.locs["dilation"].line for c in copies] == [line_of(text, "- 1"), line_of(text, "- 3"), 11]
    assert {c.loc.line for c in copies} == {3}
    assert analyze(parse(text)).rf.axes[0].size == 1 + 1 + 3 + 9


@pytest.mark.parametrize(
    "dilation",
    [
        "dilation: {pow2: [0, 3]}",
        "repeat: 4, dilation: {pow2: [0, 3]}",
        "vary: {dilation: {pow2: [0, 3]}}",
        "repeat: 4, vary: {dilation: {pow2: [0, 3]}}",
        "vary: {dilation: [1, 2, 4, 8]}",
    ],
)
def test_pow2_forms_are_the_same_stack(dilation: str) -> None:
    conv = "type: conv1d, out_channels: 3, kernel_size: 2, padding: causal"
    sugar = run(net_text([3, 40], f"{{{conv}, {dilation}}}"))
    long = run(net_text([3, 40], *(f"{{{conv}, dilation: {d}}}" for d in (1, 2, 4, 8))))
    assert rows(sugar) == rows(long)
    assert sugar.rf.axes[0].size == 16


def test_pow2_on_an_int_and_a_padding_field() -> None:
    report = run(net_text([1, 4], "{type: conv1d, kernel_size: 1, out_channels: {pow2: [1, 3]}}"))
    assert [r.shape for _, r in report.rows()][1:] == [(2, 4), (4, 4), (8, 4)]
    report = run(net_text([1, 4], "{type: pad, padding: {pow2: [0, 2]}}"))
    assert report.output_shape == (1, 4 + 2 * (1 + 2 + 4))


def test_several_fields_vary_together() -> None:
    spec = parse(
        net_text(
            [1, 100],
            "{type: conv1d, out_channels: 2, kernel_size: 3, vary: {dilation: [1, 2], stride: [2, 1]}}",
        )
    )
    copies = spec.layers[0].opts["layers"]
    assert [(c.opts["dilation"], c.opts["stride"]) for c in copies] == [(1, 2), (2, 1)]


def test_vary_per_axis_values() -> None:
    report = run(
        net_text(
            [1, 9, 9],
            "{type: conv2d, out_channels: 1, vary: {kernel_size: [[3, 1], [1, 3]]}}",
        )
    )
    assert report.output_shape == (1, 7, 7)


def test_repeat_of_a_residual_varies_a_nested_field() -> None:
    block = (
        "{type: residual, name: b, repeat: 3, vary: {layers.0.dilation: [1, 2, 4]}, "
        "layers: [{type: conv1d, out_channels: 2, kernel_size: 3, padding: same}, {type: relu}]}"
    )
    spec = parse(net_text([2, 32], block))
    copies = spec.layers[0].opts["layers"]
    assert [c.name for c in copies] == ["b[0]", "b[1]", "b[2]"]
    assert [c.opts["layers"][0].opts["dilation"] for c in copies] == [1, 2, 4]
    assert [c.opts["layers"][0].dotted for c in copies] == [f"0.layers.{k}.layers.0" for k in range(3)]
    assert [c.opts["layers"][0].name for c in copies] == [None] * 3


def test_vary_reaches_branches_and_shortcuts() -> None:
    par = (
        "{type: parallel, repeat: 2, vary: {branches.1.0.kernel_size: [3, 5]}, branches: "
        "[[], [{type: conv1d, out_channels: 2, padding: same}]]}"
    )
    spec = parse(net_text([2, 16], par))
    assert [c.opts["branches"][1][0].opts["kernel_size"] for c in spec.layers[0].opts["layers"]] == [3, 5]
    res = (
        "{type: residual, vary: {shortcut.0.out_channels: [2, 2], layers.0.out_channels: [2, 2]}, "
        "layers: [{type: conv1d, kernel_size: 1}], shortcut: [{type: conv1d, kernel_size: 1}]}"
    )
    assert run(net_text([3, 8], res)).output_shape == (2, 8)


def test_repeat_of_a_sequential_and_nested_repeats() -> None:
    inner = (
        "{type: conv1d, name: c, out_channels: 2, kernel_size: 2, padding: causal, dilation: {pow2: [0, 2]}}"
    )
    text = net_text([2, 64], f"{{type: sequential, name: s, repeat: 2, layers: [{inner}, {{type: relu}}]}}")
    report = run(text)
    paths = [r.layer.dotted for _, r in report.rows()]
    assert paths[:4] == ["0", "0.layers.0", "0.layers.0.layers.0", "0.layers.0.layers.0.layers.0"]
    names = [r.layer.name for _, r in report.rows() if r.layer.type == "conv1d"]
    assert names == ["c[0]", "c[1]", "c[2]"] * 2
    assert report.rf.axes[0].size == 1 + 2 * (1 + 2 + 4)
    conv = "{{type: conv1d, out_channels: 2, kernel_size: 2, padding: causal, dilation: {}}}"
    once = [*(conv.format(d) for d in (1, 2, 4)), "{type: relu}"]
    long = run(net_text([2, 64], *once, *once))
    assert rows(report, ("repeat", "sequential")) == rows(long)


def test_repeat_on_an_aliased_block() -> None:
    text = (
        "input: [2, 16]\nx-block: &blk {type: conv1d, out_channels: 2, kernel_size: 3, padding: same}\n"
        "layers:\n  - *blk\n  - {type: residual, repeat: 3, layers: [*blk]}\n"
    )
    report = run(text)
    assert report.total_params == 4 * (2 * 2 * 3 + 2)


def test_written_out_repeat_type_is_a_sequential() -> None:
    a = run(net_text([2, 16], "{type: repeat, layers: [{type: conv1d, out_channels: 2, kernel_size: 3}]}"))
    b = run(
        net_text([2, 16], "{type: sequential, layers: [{type: conv1d, out_channels: 2, kernel_size: 3}]}")
    )
    assert rows(a, ("repeat", "sequential")) == rows(b, ("repeat", "sequential"))


# -- errors -------------------------------------------------------------------------------------

CONV = "type: conv1d, out_channels: 2, kernel_size: 2"


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        ("repeat: 0", r"layer 0 \(conv1d\): repeat must be positive, got 0"),
        ("repeat: -2", r"repeat must be positive, got -2"),
        ("repeat: true", r"repeat must be an integer, got the boolean true"),
        ("repeat: 2.0", r"repeat must be an integer, got the float 2.0"),
        ("repeat: '3'", r"repeat must be an integer, got the string '3' \(remove the quotes\)"),
        ("repeat: [2]", r"repeat must be an integer, got a list"),
        ("repeat: 3, vary: {dilation: [1, 2]}", r"vary: 'dilation' has 2 values but repeat is 3"),
        ("vary: {dilation: [1, 2], stride: [1]}", r"vary: 'stride' has 1 value but 'dilation' has 2"),
        ("repeat: 3, dilation: {pow2: [0, 3]}", r"'dilation' has 4 values but repeat is 3"),
        ("vary: {dilaton: [1, 2]}", r"unknown field 'dilaton' of conv1d \(did you mean 'dilation'\?\)"),
        ("vary: {type: [relu, tanh]}", r"vary: 'type' cannot be varied"),
        ("vary: {name: [a, b]}", r"vary: 'name' cannot be varied"),
        ("vary: {}", r"vary must name at least one field"),
        ("vary: [1, 2]", r"vary must be a mapping, got a list"),
        ("vary: {dilation: 2}", r"vary: dilation must be a list \(one value per copy\) or \{pow2"),
        ("vary: {dilation: []}", r"vary: dilation must list at least one value"),
        ("vary: {kernel_size: [2, 3]}", r"vary: 'kernel_size' is also given at line 3: give it once"),
        ("vary: {dilation: [1, 2]}, dilation: {pow2: [0, 1]}", r"'dilation' is also varied at line 3"),
        ("dilation: {pow2: [3, 1]}", r"dilation: pow2 \[3, 1\]: the first exponent is larger than the last"),
        ("dilation: {pow2: [0, 63]}", r"pow2\[1\] is too large: 2\*\*63 > 2\*\*63 - 1"),
        ("dilation: {pow2: [-1, 2]}", r"pow2\[0\] must be >= 0, got -1"),
        ("dilation: {pow2: [1]}", r"pow2 needs two exponents \[first, last\], got 1 value"),
        ("dilation: {pow2: [0, 1.5]}", r"pow2\[1\] must be an integer, got the float 1.5"),
        ("dilation: {pow2: [0, 2], to: 3}", r"dilation: unknown key 'to'"),
        ("dilation: {pow2: 3}", r"dilation: pow2 must be a list, got the int 3"),
        (
            "bias: {pow2: [0, 1]}",
            r"'bias': \{pow2: \[first, last\]\} is for integer fields and bias is a bool",
        ),
        ("x-note: {pow2: [0, 1]}, dilation: 0", r"dilation must be positive, got 0"),
    ],
)
def test_sugar_errors(extra: str, match: str) -> None:
    text = f"input: [2, 64]\nlayers:\n  - {{{CONV}, {extra}}}\n"
    assert fails(text, match).line == 3


@pytest.mark.parametrize(
    ("layer", "match"),
    [
        ("{repeat: 2}", r"^net\.yaml:3:5: error: layer 0: missing required key 'type'"),
        ("{type: relux, repeat: 2}", r"layer 0: unknown layer type 'relux' \(did you mean 'relu'\?\)"),
        ("{type: relu, repaet: 2}", r"layer 0 \(relu\): unknown key 'repaet' \(did you mean 'repeat'\?\)"),
        ("{type: relu, name: 5, repeat: 2}", r"layer 0 \(relu\): name must be a string"),
        (
            "{type: relu, repeat: 2, kernel_size: 3}",
            r"layer 0\.layers\.0 \(relu\): unknown key 'kernel_size'",
        ),
    ],
)
def test_the_entry_itself_is_checked(layer: str, match: str) -> None:
    assert fails(net_text([2, 16], layer), match).line == 3


def test_a_bad_varied_value_is_reported_at_its_list_element() -> None:
    text = (
        "input: [2, 64]\nlayers:\n  - type: conv1d\n    out_channels: 2\n    kernel_size: 2\n"
        "    vary:\n      dilation:\n        - 1\n        - two\n        - 4\n"
    )
    err = fails(text, r"layer 0\.layers\.1 \(conv1d\): dilation must be an integer, got the string 'two'")
    assert (err.line, err.column) == (line_of(text, "- two"), 11)
    err = fails(
        text.replace("- two", "- 0"), r"layer 0\.layers\.1 \(conv1d\): dilation must be positive, got 0"
    )
    assert err.line == line_of(text, "- two")


def test_an_analysis_error_in_a_copy_names_its_path_and_line() -> None:
    layer = "{type: conv1d, name: c, out_channels: 1, kernel_size: 3, dilation: {pow2: [0, 3]}}"
    text = net_text([1, 10], layer)
    err = fails(text, r"layer 0\.layers\.2 'c\[2\]' \(conv1d\): kernel_size 3 \(dilation 4 makes it span 9\)")
    assert err.line == 3


@pytest.mark.parametrize(
    ("vary", "match"),
    [
        ("layers.0.dilaton", r"unknown field 'dilaton' of conv1d \(did you mean 'dilation'\?\)"),
        ("layers.5.dilation", r"'layers\.5' is not an entry of 'layers', which has 2 \(0 to 1\)"),
        ("layers.x.dilation", r"'layers\.x' is not an entry of 'layers'"),
        ("layrs.0.dilation", r"no key 'layrs' here \(did you mean 'layers'\?\)"),
        ("layers.1.p", r"unknown field 'p' of relu"),
        ("layers", r"'layers' holds layers, which cannot be varied; vary a field inside them"),
        ("layers.0", r"'layers\.0' does not name a field of a layer"),
        ("layers.0.kernel_size.0", r"'layers\.0\.kernel_size\.0' does not name a field of a layer"),
        ("dilation", r"unknown field 'dilation' of residual"),
        ("layers.0.kernel_size", r"'layers\.0\.kernel_size' is also given at line 3"),
    ],
)
def test_dotted_vary_errors(vary: str, match: str) -> None:
    text = (
        "input: [2, 16]\nlayers:\n  - {type: residual, layers: [{type: conv1d, out_channels: 2, "
        f"kernel_size: 3, padding: same}}, {{type: relu}}], vary: {{{vary}: [1, 2]}}}}\n"
    )
    assert fails(text, match).line == 3


def test_huge_repeat_counts_fail_fast() -> None:
    start = time.perf_counter()
    fails(net_text([1, 8], "{type: relu, repeat: 1000000000}"), rf"more than {MAX_LAYERS:,} layers")
    nested = (
        "{type: sequential, repeat: 1000, layers: [{type: sequential, repeat: 1000, layers: [{type: relu}]}]}"
    )
    err = fails(net_text([1, 8], nested), r"1,000 copies of 2,002 layers would make more than")
    assert err.line == 3  # counted at the outer entry, before any copy is made
    fails(net_text([1, 8], "{type: relu, repeat: 99999999999999999999999}"), r"repeat is too large")
    assert time.perf_counter() - start < 1.0


def test_the_layer_limit_counts_every_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(convcalc.spec, "MAX_LAYERS", 20)
    assert len(run(net_text([1, 8], "{type: relu, repeat: 19}")).rows()) == 20  # the container and 19 copies
    fails(net_text([1, 8], "{type: relu, repeat: 20}"), r"more than 20 layers")
    seq = "{type: sequential, repeat: 6, layers: [{type: relu}, {type: relu}]}"
    assert len(run(net_text([1, 8], seq)).rows()) == 19
    fails(net_text([1, 8], seq.replace("6", "7")), r"more than 20 layers")


def test_cli_reports_sugar_errors_with_file_and_line(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    bad = tmp_path / "net.yaml"
    bad.write_text(f"input: [2, 64]\nlayers:\n  - {{{CONV}, vary: {{dilaton: [1, 2]}}}}\n")
    result = CliRunner().invoke(app, ["shape", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:3:" in result.output and "did you mean 'dilation'" in result.output
    assert "Traceback" not in result.output


# -- forward and the torch mirror -----------------------------------------------------------------

SMALL = """\
input: [3, 40]
layers:
  - {type: conv1d, name: embed, out_channels: 4, kernel_size: 1}
  - type: residual
    name: blk
    vary: {layers.0.dilation: {pow2: [0, 3]}}
    layers:
      - {type: conv1d, out_channels: 4, kernel_size: 2, padding: causal}
      - {type: tanh}
      - {type: conv1d, out_channels: 4, kernel_size: 1}
  - type: parallel
    repeat: 2
    merge: add
    branches:
      - [{type: batchnorm}]
      - [{type: conv1d, out_channels: 4, kernel_size: 3, padding: same}]
  - {type: conv1d, out_channels: 5, kernel_size: 3, stride: {pow2: [0, 1]}}
"""


def torch_model(spec: NetSpec) -> tuple[torch.nn.Module, dict[str, np.ndarray]]:
    torch.manual_seed(0)
    model = torch_mirror.build(spec).double()
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith("running_var"):
                t.uniform_(0.5, 2.0)
            elif name.endswith("running_mean"):
                t.normal_()
    return model.eval(), {k: v.numpy() for k, v in model.state_dict().items()}


def test_forward_matches_torch_through_repeat_containers() -> None:
    net = convcalc.load(SMALL)
    model, sd = torch_model(net.spec)
    assert [k for k in sd if not k.endswith("num_batches_tracked")] == list(net.weight_shapes())
    assert "1.layers.3.layers.0.weight" in sd and "2.layers.1.branches.1.0.weight" in sd
    x = np.random.default_rng(1).standard_normal((2, 3, 40))
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    y = net.forward(x, sd)
    assert y.shape == expected.shape == (2, *net.analyze().output_shape)
    assert np.abs(y - expected).max() <= 1e-9 * np.abs(expected).max()


def test_forward_equals_the_long_form_with_the_same_weights() -> None:
    conv = "type: conv1d, out_channels: 2, kernel_size: 2, padding: causal"
    short = convcalc.load(net_text([2, 30], f"{{{conv}, vary: {{dilation: [1, 3, 5]}}}}"))
    long = convcalc.load(net_text([2, 30], *(f"{{{conv}, dilation: {d}}}" for d in (1, 3, 5))))
    rng = np.random.default_rng(0)
    weights = {name: rng.standard_normal(shape) for name, shape in long.weight_shapes().items()}
    renamed = {f"0.layers.{name}": w for name, w in weights.items()}  # "2.weight" -> "0.layers.2.weight"
    assert set(renamed) == set(short.weight_shapes())
    x = rng.standard_normal((1, 2, 30))
    np.testing.assert_allclose(short.forward(x, renamed), long.forward(x, weights), rtol=1e-12)


def measured_span(model: torch.nn.Module, shape: tuple[int, ...], t: int) -> tuple[int, int]:
    """First and last input positions the output at ``t`` depends on (the all-ones linear mirror)."""
    x = torch.ones((1, *shape), dtype=torch.float64, requires_grad=True)
    y = model.double()(x)
    y[0, :, t].sum().backward()
    assert x.grad is not None
    hit = torch.nonzero(x.grad[0].abs().sum(0)).flatten().tolist()
    return hit[0], hit[-1]


def test_receptive_field_matches_the_linear_mirror() -> None:
    spec = parse(SMALL)
    report = analyze(spec)
    ax = report.rf.axes[0]
    assert ax.start is not None and ax.size is not None and ax.jump is not None
    model = torch_mirror.build(spec, linear=True)
    n_out = report.output_shape[1]
    for t in (0, n_out // 2, n_out - 1):
        first = ax.start + t * ax.jump
        want = (max(first, 0), min(first + ax.size - 1, spec.input_shape[1] - 1))
        assert measured_span(model, spec.input_shape, t) == want


# -- the long form, at random ----------------------------------------------------------------------


@st.composite
def stacks(draw: st.DrawFn) -> tuple[str, str]:
    """A repeated conv (fields varied at random) and the same stack written out."""
    n = draw(st.integers(1, 5))
    fields = draw(st.sets(st.sampled_from(["dilation", "kernel_size", "stride", "out_channels"]), max_size=3))
    values = {f: draw(st.lists(st.integers(1, 3), min_size=n, max_size=n)) for f in fields}
    base = {"dilation": 1, "kernel_size": 2, "stride": 1, "out_channels": 2}
    fixed = ", ".join(f"{k}: {v}" for k, v in base.items() if k not in fields)
    sep = ", " if fixed else ""
    vary = ", ".join(f"{f}: {values[f]}" for f in sorted(fields))
    count = draw(st.sampled_from(["", f"repeat: {n}, "])) if fields else f"repeat: {n}, "
    sugar = f"{{type: conv1d, {count}{fixed}{sep}padding: same" + (f", vary: {{{vary}}}}}" if fields else "}")
    long = [
        "{type: conv1d, padding: same, "
        + ", ".join(f"{k}: {values[k][i] if k in fields else v}" for k, v in base.items())
        + "}"
        for i in range(n)
    ]
    return net_text([2, 50], "{type: relu}", sugar), net_text([2, 50], "{type: relu}", *long)


@given(stacks())
def test_random_repeats_equal_their_long_form(pair: tuple[str, str]) -> None:
    sugar, long = pair
    a, b = run(sugar), run(long)
    assert rows(a) == rows(b)
    assert (a.output_shape, a.rf, a.total_params, a.total_macs) == (
        b.output_shape,
        b.rf,
        b.total_params,
        b.total_macs,
    )
    assert [lay.opts for lay in leaves(parse(sugar).layers)] == [
        lay.opts for lay in leaves(parse(long).layers)
    ]


# -- the other views of the container --------------------------------------------------------------


def test_explain_draw_and_check_handle_the_container(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    runner = CliRunner()
    result = runner.invoke(app, ["explain", str(SHORT), "--layer", "d"])
    assert result.exit_code == 0, result.output
    assert "10 copies of a residual (repeat, varying layers.0.dilation)" in result.output
    assert "d[9]" in result.output
    out = tmp_path / "w.svg"
    result = runner.invoke(app, ["draw", str(SHORT), "-o", str(out)])
    assert result.exit_code == 0, result.output
    svg = out.read_text()
    assert "repeat 'd'" not in svg  # one path: nothing left undrawn beside the copies
    result = runner.invoke(app, ["check", str(SHORT)])
    assert result.exit_code == 0, result.output


def test_layer_report_walk_nests_the_copies() -> None:
    report = run(net_text([1, 8], "{type: relu, name: r, repeat: 2}"))
    walked = [(d, r.layer.name) for d, r in report.rows()]
    assert walked == [(0, "r"), (1, "r[0]"), (1, "r[1]")]
    assert isinstance(report.layers[0], LayerReport)
    assert report.to_dict()["layers"][0]["layers"][1]["name"] == "r[1]"


# -- the documentation ------------------------------------------------------------------------------

DOC_ERRORS = [  # the specs behind the error lines printed in format.md's "Stack sugar" section
    "{type: conv1d, out_channels: 8, kernel_size: 2, repeat: 3, vary: {dilation: [1, 2]}}",
    "{type: conv1d, out_channels: 8, kernel_size: 2, vary: {dilaton: [1, 2]}}",
    "{type: residual, vary: {layers.2.dilation: [1, 2]}, "
    "layers: [{type: conv1d, out_channels: 8, kernel_size: 2}]}",
    "type: conv1d\n    out_channels: 8\n    kernel_size: 2\n    vary:\n      dilation: [1, 2, 0]",
]


def test_documented_errors_are_current() -> None:
    doc = (ROOT / "specs" / "format.md").read_text()
    section = doc[doc.index("## Stack sugar: repeat and vary") :]
    block = section[section.index("```text\n") + 8 :]
    printed = block[: block.index("```")].splitlines()
    rendered = []
    for layer in DOC_ERRORS:
        with pytest.raises(SpecError, match=r"^net\.yaml:\d+:\d+: error: layer 0") as info:
            parse(net_text([8, 64], layer), "net.yaml")
        rendered.append(info.value.render())
    assert printed == rendered
