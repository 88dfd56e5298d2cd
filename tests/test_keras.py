"""``convention: keras`` (and ``convcalc shape --convention keras``): Keras' parameter counts.

The Keras numbers are checked three ways: against Keras' formulas written out here, against
the PyTorch modules of the same net (``torch_mirror.n_params(model, "keras")``: torch's
parameters less each ``b_hh`` a one-bias Keras layer lacks, plus batch norm's two running
buffers), and, when Keras 3 is installed, against ``model.count_params()`` of the same net
built in Keras (on the torch backend). Keras is not a test dependency: those tests skip
without it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import ROOT
from hypothesis import given
from hypothesis import strategies as st
from torch_mirror import build, n_params
from typer.testing import CliRunner

import convcalc
from convcalc.analyze import analyze
from convcalc.cli import app
from convcalc.errors import ConvcalcError, SpecError
from convcalc.explain import explain
from convcalc.spec import NetSpec, parse

EXAMPLES = sorted((ROOT / "specs" / "examples").glob("*.yaml"))
GATES = {"rnn": 1, "lstm": 4, "gru": 3}

pytestmark = pytest.mark.filterwarnings("ignore:dropout option adds dropout")


def yaml_bool(v: bool) -> str:
    return "true" if v else "false"


@st.composite
def recurrent_configs(draw: st.DrawFn) -> dict[str, Any]:
    cell = draw(st.sampled_from(["rnn", "lstm", "gru"]))
    return {
        "cell": cell,
        "features": draw(st.integers(1, 6)),
        "length": draw(st.integers(1, 5)),
        "hidden": draw(st.integers(1, 6)),
        "layers": draw(st.integers(1, 3)),
        "bi": draw(st.booleans()),
        "bias": draw(st.booleans()),
        "seq": draw(st.booleans()),
        "reset_after": draw(st.booleans()) if cell == "gru" else None,
    }


def recurrent_text(cfg: dict[str, Any], convention: str | None = "keras") -> str:
    extra = "" if cfg["reset_after"] is None else f", reset_after: {yaml_bool(cfg['reset_after'])}"
    head = f"convention: {convention}\n" if convention else ""
    return (
        f"{head}input: [{cfg['features']}, {cfg['length']}]\nlayers:\n"
        f"  - {{type: {cfg['cell']}, hidden_size: {cfg['hidden']}, num_layers: {cfg['layers']},"
        f" bidirectional: {yaml_bool(cfg['bi'])}, bias: {yaml_bool(cfg['bias'])},"
        f" return_sequences: {yaml_bool(cfg['seq'])}{extra}}}\n"
    )


def keras_formula(cfg: dict[str, Any]) -> int:
    """Keras' count, layer by layer: SimpleRNN h(d+h)+h, LSTM 4h(d+h)+4h, GRU 3h(d+h)+6h
    (reset_after) or +3h; no bias terms with use_bias=False; Bidirectional doubles; each
    stacked layer reads the previous one's h*dirs features."""
    g, h, dirs = GATES[cfg["cell"]], cfg["hidden"], 2 if cfg["bi"] else 1
    biases = 0 if not cfg["bias"] else 2 if cfg["reset_after"] else 1
    total, d = 0, cfg["features"]
    for _ in range(cfg["layers"]):
        total += dirs * (g * h * (d + h) + biases * g * h)
        d = h * dirs
    return total


@given(cfg=recurrent_configs())
def test_recurrent_keras_counts(cfg: dict[str, Any]) -> None:
    spec = parse(recurrent_text(cfg))
    report = analyze(spec)
    assert report.total_params == keras_formula(cfg)
    assert report.total_params == n_params(build(spec))  # the mirror remembers the convention
    # shapes and MACs do not depend on the convention
    if cfg["reset_after"] is not False:  # reset_after false is Keras-only
        torch_report = analyze(parse(recurrent_text(cfg, None)))
        assert torch_report.total_params == n_params(build(spec), "pytorch")
        assert (report.output_shape, report.total_macs) == (
            torch_report.output_shape,
            torch_report.total_macs,
        )
        assert analyze(spec, convention="pytorch").total_params == torch_report.total_params
        assert analyze(torch_report.spec, convention="keras").total_params == report.total_params


def test_lstm_keras_example_from_the_docs() -> None:
    text = "convention: keras\ninput: [40, 100]\nlayers:\n  - {type: lstm, hidden_size: 64}\n"
    report = convcalc.load(text).analyze()
    assert report.total_params == 4 * 64 * (40 + 64) + 4 * 64 == 26_880
    assert report.spec.convention == "keras"
    assert analyze(report.spec, convention="pytorch").total_params == 27_136


@pytest.mark.parametrize(("affine", "pytorch", "keras"), [(True, 2, 4), (False, 0, 2)])
def test_batchnorm_counts_moving_statistics_under_keras(affine: bool, pytorch: int, keras: int) -> None:
    text = f"input: [6, 4, 4]\nlayers:\n  - {{type: batchnorm, affine: {yaml_bool(affine)}}}\n"
    spec = parse(text)
    assert analyze(spec).total_params == pytorch * 6 == n_params(build(spec))
    assert analyze(spec, convention="keras").total_params == keras * 6 == n_params(build(spec), "keras")
    assert analyze(spec, convention="keras").total_macs == analyze(spec).total_macs


def examples() -> list[tuple[Path, str]]:
    return [(p, c) for p in EXAMPLES for c in ("pytorch", "keras")]


@pytest.mark.parametrize(("path", "convention"), examples(), ids=lambda v: getattr(v, "stem", v))
def test_examples_under_both_conventions(path: Path, convention: str) -> None:
    """Every example counts as the torch modules say under either convention; the ones that a
    convention rules out say why."""
    spec = parse(path.read_bytes(), str(path))
    try:
        report = analyze(spec, convention=convention)
    except SpecError as e:
        allowed = {
            "keras": "proj_size is PyTorch's LSTM projection",
            "pytorch": "reset_after: false is Keras' other GRU",
        }
        assert allowed[convention] in e.message
        return
    assert report.spec.convention == convention
    assert report.total_params == n_params(build(spec), convention)
    plain = [r for _, r in report.rows() if r.layer.type not in ("batchnorm", "rnn", "lstm", "gru")]
    if convention == "keras" and len(plain) == len(report.rows()):  # nothing Keras counts differently
        assert report.total_params == n_params(build(spec), "pytorch")


def test_keras_example_numbers() -> None:
    report = convcalc.load(ROOT / "specs" / "examples" / "keras_text_rnn.yaml").analyze()
    params = {r.layer.name: r.params for r in report.layers if r.layer.name}
    assert params == {
        "conv": 128 * 64 * 5 + 64,
        "bn": 4 * 64,
        "bilstm": 2 * (4 * 48 * (64 + 48) + 4 * 48),
        "gru": 3 * 32 * (96 + 32) + 6 * 32,
        "head": 32 * 3 + 3,
    }
    assert report.to_dict()["convention"] == "keras"


# -- the key, the option, the JSON ------------------------------------------------------------


NET = "input: [3, 7]\nlayers:\n  - {type: lstm, hidden_size: 5}\n  - {type: batchnorm}\n"


def test_json_reports_the_convention_and_the_option_overrides_it(tmp_path: Path) -> None:
    path = tmp_path / "net.yaml"
    path.write_text(NET)
    runner = CliRunner()
    runs = {
        "file default": (NET, []),
        "file keras": ("convention: keras\n" + NET, []),
        "option keras": (NET, ["--convention", "keras"]),
        "option wins": ("convention: keras\n" + NET, ["--convention", "pytorch"]),
    }
    out = {}
    for label, (text, opts) in runs.items():
        path.write_text(text)
        result = runner.invoke(app, ["shape", str(path), "-f", "json", *opts])
        assert result.exit_code == 0, result.output
        out[label] = json.loads(result.stdout)
    torch_count = (4 * 5 * (3 + 5) + 8 * 5) + 2 * 5
    keras_count = (4 * 5 * (3 + 5) + 4 * 5) + 4 * 5
    got = {label: (d["convention"], d["total_params"]) for label, d in out.items()}
    assert got == {
        "file default": ("pytorch", torch_count),
        "file keras": ("keras", keras_count),
        "option keras": ("keras", keras_count),
        "option wins": ("pytorch", torch_count),
    }
    assert out["file keras"]["memory"]["params_bytes"] == 4 * keras_count
    # the table says which convention counted (pytorch, the default, is not mentioned)
    path.write_text(NET)
    table = runner.invoke(app, ["shape", str(path), "--convention", "keras"])
    assert "(keras parameter counts)" in table.stdout
    assert "parameter counts" not in runner.invoke(app, ["shape", str(path)]).stdout


def test_bad_option_value_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "net.yaml"
    path.write_text(NET)
    result = CliRunner().invoke(app, ["shape", str(path), "--convention", "tensorflow"])
    assert result.exit_code == 2
    assert "'tensorflow' is not one of" in result.output


@pytest.mark.parametrize(
    ("value", "message", "column"),
    [
        ("kears", r"convention must be one of pytorch, keras, got 'kears' \(did you mean 'keras'\?\)", 13),
        ("PyTorch", r"got 'PyTorch' \(did you mean 'pytorch'\?\)", 13),
        ("[keras]", r"convention must be a string, got a list", 13),
    ],
)
def test_bad_convention_key(value: str, message: str, column: int) -> None:
    with pytest.raises(SpecError, match=message) as info:
        parse(f"name: n\nconvention: {value}\n{NET}", "net.yaml")
    assert (info.value.loc.line, info.value.loc.column) == (2, column)


def test_misspelt_key_gets_a_hint() -> None:
    with pytest.raises(SpecError, match=r"unknown key 'conventions' \(did you mean 'convention'\?\)"):
        parse("conventions: keras\n" + NET)


def test_spec_default_and_value() -> None:
    assert parse(NET).convention == "pytorch"
    assert parse("convention: pytorch\n" + NET).convention == "pytorch"
    assert parse("convention: keras\n" + NET).convention == "keras"
    assert isinstance(parse(NET), NetSpec)


# -- gru reset_after ---------------------------------------------------------------------------


GRU = "input: [4, 6]\nlayers:\n  - {type: gru, hidden_size: 3, reset_after: false}\n"


def test_reset_after_false_needs_keras(tmp_path: Path) -> None:
    with pytest.raises(
        SpecError, match=r"reset_after: false is Keras' other GRU .* needs convention: keras"
    ) as info:
        convcalc.load(GRU).analyze()
    assert (info.value.loc.line, info.value.loc.column) == (3, 46)
    report = convcalc.load("convention: keras\n" + GRU).analyze()
    assert report.total_params == 3 * 3 * (4 + 3) + 3 * 3
    path = tmp_path / "net.yaml"
    path.write_text(GRU)
    runner = CliRunner()
    assert runner.invoke(app, ["shape", str(path)]).exit_code == 1
    assert runner.invoke(app, ["shape", str(path), "--convention", "keras"]).exit_code == 0


def test_reset_after_true_is_pytorchs_gru() -> None:
    text = GRU.replace("false", "true")
    assert convcalc.load(text).analyze().total_params == 3 * 3 * (4 + 3) + 6 * 3
    assert convcalc.load("convention: keras\n" + text).analyze().total_params == 3 * 3 * (4 + 3) + 6 * 3


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_reset_after_is_gru_only(cell: str) -> None:
    with pytest.raises(SpecError, match=rf"\({cell}\): unknown key 'reset_after'"):
        parse(f"input: [4, 6]\nlayers:\n  - {{type: {cell}, hidden_size: 3, reset_after: true}}\n")


# -- the forward and verify --------------------------------------------------------------------


def test_forward_is_pytorchs_under_keras() -> None:
    """The convention changes counts only: the same weights give the same output."""
    text = "input: [3, 5]\nlayers:\n  - {type: lstm, hidden_size: 4}\n  - {type: batchnorm}\n"
    x = np.random.default_rng(0).standard_normal((2, 3, 5))
    torch_net, keras_net = convcalc.load(text), convcalc.load("convention: keras\n" + text)
    assert keras_net.weight_shapes() == torch_net.weight_shapes()
    np.testing.assert_array_equal(keras_net.forward(x, seed=3), torch_net.forward(x, seed=3))


def test_forward_refuses_keras_only_gru() -> None:
    net = convcalc.load("convention: keras\n" + GRU)
    with pytest.raises(ConvcalcError, match=r"reset_after: false has no PyTorch equivalent"):
        net.forward(np.zeros((1, 4, 6)))


def test_verify_notes_the_convention(tmp_path: Path) -> None:
    path = tmp_path / "net.yaml"
    path.write_text("convention: keras\n" + NET)
    result = CliRunner().invoke(app, ["verify", str(path), "-f", "json"])
    assert result.exit_code == 0, result.output
    notes = json.loads(result.stdout)["notes"]
    assert any(n.startswith("convention: keras changes parameter counts only") for n in notes)
    path.write_text(NET)
    plain = CliRunner().invoke(app, ["verify", str(path), "-f", "json"])
    assert not any("convention" in n for n in json.loads(plain.stdout)["notes"])
    path.write_text("convention: keras\n" + GRU)
    refused = CliRunner().invoke(app, ["verify", str(path)])
    assert refused.exit_code == 1
    assert "reset_after: false has no PyTorch equivalent" in " ".join(refused.stdout.split())


def test_explain_works_in_the_convention() -> None:
    text = (
        "convention: keras\ninput: [3, 7]\nlayers:\n  - {type: lstm, hidden_size: 5}\n  - {type: batchnorm}\n"
    )
    worked = explain(convcalc.load(text).analyze())
    lstm = [s.plain() for s in worked.layers[0].steps]
    norm = [s.plain() for s in worked.layers[1].steps]
    assert (
        "layer 0 params per direction = 4*5*(3+5) + 4*5 = 180 (4*h*(d+h) + 4*h: one bias vector (Keras))"
        in lstm
    )
    assert any(
        line.startswith("params = 2*5 + 2*5 = 20 (gamma and beta, and the moving mean") for line in norm
    )
    gru = explain(convcalc.load("convention: keras\n" + GRU).analyze())
    lines = [s.plain() for s in gru.layers[0].steps]
    assert any(
        line.startswith("Keras reset_after false: n = tanh(W_in x_t + W_hn (r * h_(t-1))") for line in lines
    )
    assert "layer 0 params per direction = 3*3*(4+3) + 9*3 = 90" not in lines
    assert any(line.startswith("layer 0 params per direction = 3*3*(4+3) + 3*3 = 72") for line in lines)


# -- against Keras itself (optional) ----------------------------------------------------------


@pytest.fixture(scope="module")
def keras() -> Any:
    """Keras 3 on the torch backend, or skip."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras", reason="keras is not installed (optional: pip install keras)")


def keras_model(keras: Any, spec: NetSpec) -> Any:
    """The spec's net in Keras, channels last; only the layer types the tests use."""
    lay = keras.layers
    c, *rest = spec.input_shape
    inp = keras.Input(shape=(*rest, c))
    x = inp
    for layer in spec.layers:
        o, t = layer.opts, layer.type
        if t == "conv1d":
            padding = "same" if o["padding"] == "same" else "valid"
            x = lay.Conv1D(o["out_channels"], o["kernel_size"], padding=padding, use_bias=o["bias"])(x)
        elif t == "batchnorm":
            x = lay.BatchNormalization(axis=-1, center=o["affine"], scale=o["affine"], epsilon=o["eps"])(x)
        elif t == "linear":
            x = lay.Dense(o["out_features"], use_bias=o["bias"])(x)
        elif t in GATES:
            cls = {"rnn": lay.SimpleRNN, "lstm": lay.LSTM, "gru": lay.GRU}[t]
            kw = {"reset_after": o["reset_after"]} if t == "gru" else {}
            for k in range(o["num_layers"]):
                seq = o["return_sequences"] or k + 1 < o["num_layers"]
                rnn = cls(o["hidden_size"], use_bias=o["bias"], return_sequences=seq, **kw)
                x = (lay.Bidirectional(rnn) if o["bidirectional"] else rnn)(x)
        else:
            assert t in ("relu", "tanh", "sigmoid", "identity", "dropout"), t
    return keras.Model(inp, x)


@given(cfg=recurrent_configs())
def test_recurrent_counts_equal_keras(keras: Any, cfg: dict[str, Any]) -> None:
    spec = parse(recurrent_text(cfg))
    report = analyze(spec)
    model = keras_model(keras, spec)
    assert report.total_params == model.count_params()
    # Keras' output is channels last: [L, H*dirs] or [H*dirs]
    assert tuple(model.output.shape[1:]) == tuple(reversed(report.output_shape))


def test_keras_example_equals_keras(keras: Any) -> None:
    spec = parse((ROOT / "specs" / "examples" / "keras_text_rnn.yaml").read_bytes())
    report = analyze(spec)
    model = keras_model(keras, spec)
    assert report.total_params == model.count_params()
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert report.total_params - trainable == 2 * 64, "the moving mean and variance are not trainable"


@pytest.mark.parametrize("affine", [True, False])
def test_batchnorm_equals_keras(keras: Any, affine: bool) -> None:
    layer = f"{{type: batchnorm, affine: {yaml_bool(affine)}}}"
    spec = parse(f"convention: keras\ninput: [6, 4, 4]\nlayers:\n  - {layer}\n")
    assert analyze(spec).total_params == keras_model(keras, spec).count_params()
