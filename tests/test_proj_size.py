"""LSTM ``proj_size``: shapes, parameters, MACs, weight names and the NumPy forward equal PyTorch's
``nn.LSTM(proj_size=...)``."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from test_recurrent_forward import no_engine, yaml_bool
from torch_mirror import build, n_params, state, torch_out
from typer.testing import CliRunner

import convcalc
from convcalc.cli import app
from convcalc.errors import SpecError
from convcalc.explain import explain
from convcalc.layers import REGISTRY

TOL = {np.float64: 1e-7, np.float32: 1e-4}

pytestmark = pytest.mark.filterwarnings("ignore:dropout option adds dropout")


def lstm_text(
    features: int, length: int, hidden: int, proj: int, layers: int, bi: bool, bias: bool, seq: bool
) -> str:
    return (
        f"input: [{features}, {length}]\nlayers:\n"
        f"  - {{type: lstm, hidden_size: {hidden}, proj_size: {proj}, num_layers: {layers},"
        f" bidirectional: {yaml_bool(bi)}, bias: {yaml_bool(bias)}, return_sequences: {yaml_bool(seq)}}}\n"
    )


@st.composite
def configs(draw: st.DrawFn) -> dict[str, Any]:
    hidden = draw(st.integers(2, 7))
    return {
        "features": draw(st.integers(1, 5)),
        "length": draw(st.integers(1, 6)),
        "hidden": hidden,
        "proj": draw(st.integers(1, hidden - 1)),
        "layers": draw(st.integers(1, 3)),
        "bi": draw(st.booleans()),
        "bias": draw(st.booleans()),
        "seq": draw(st.booleans()),
    }


def rel_err(y: np.ndarray, ref: np.ndarray) -> float:
    """The error relative to the output, or to 1% of unit scale per element when the output is
    smaller: the projection's sum can cancel to far below the size of its terms (|W_hr| is up to
    1/sqrt(h), |o * tanh(c)| up to 1), where rounding in either framework is relatively large."""
    assert y.shape == ref.shape, (y.shape, ref.shape)
    floor = 1e-2 * np.sqrt(ref.size)
    return float(np.linalg.norm(y - ref) / max(float(np.linalg.norm(ref)), floor))


@given(cfg=configs())
def test_shape_params_macs_and_names_match_torch(cfg: dict[str, Any]) -> None:
    net = convcalc.load(lstm_text(**cfg))
    report = net.analyze()
    ref = torch.nn.LSTM(
        cfg["features"],
        cfg["hidden"],
        num_layers=cfg["layers"],
        bias=cfg["bias"],
        bidirectional=cfg["bi"],
        proj_size=cfg["proj"],
        batch_first=True,
    )
    with torch.no_grad():
        y, (h_n, c_n) = ref(torch.zeros(1, cfg["length"], cfg["features"]))
    dirs = 2 if cfg["bi"] else 1
    # the output carries proj features per direction; the cell state keeps hidden_size
    assert y.shape[-1] == cfg["proj"] * dirs and h_n.shape[-1] == cfg["proj"]
    assert c_n.shape[-1] == cfg["hidden"]
    want_shape = (cfg["proj"] * dirs, cfg["length"]) if cfg["seq"] else (cfg["proj"] * dirs,)
    assert report.output_shape == want_shape
    assert report.total_params == n_params(ref)
    # one multiply-add per weight element per step (matrix-vector products only, no biases)
    weights = sum(p.numel() for name, p in ref.named_parameters() if name.startswith("weight"))
    assert report.total_macs == cfg["length"] * weights
    # names and shapes in state_dict order, the projection included
    sd = {f"0.{k}": tuple(v.shape) for k, v in ref.state_dict().items()}
    assert list(net.weight_shapes().items()) == list(sd.items())
    assert sum(name.startswith("0.weight_hr_l") for name in sd) == cfg["layers"] * dirs
    # the mirror (which the example and engine tests use) builds the same module
    mirror = build(net.spec)
    assert {k: tuple(v.shape) for k, v in mirror.state_dict().items()} == sd


def test_weight_specs_bounds_are_torchs() -> None:
    net = convcalc.load(lstm_text(3, 4, 6, 2, 2, True, True, True))
    layer = net.spec.layers[0]
    specs = REGISTRY["lstm"].weight_specs(layer, net.spec.input_shape)
    assert specs["weight_hr_l1_reverse"].shape == (2, 6)
    assert specs["weight_hh_l0"].shape == (24, 2)
    assert specs["weight_ih_l1"].shape == (24, 4), "layer 1 reads proj * dirs features"
    assert all(ws.init == "uniform" and ws.bound == pytest.approx(1 / 6**0.5) for ws in specs.values())


@given(
    cfg=configs(),
    batch=st.integers(1, 3),
    dtype=st.sampled_from([np.float32, np.float64]),
    seed=st.integers(0, 999),
)
def test_forward_equals_torch(cfg: dict[str, Any], batch: int, dtype: Any, seed: int) -> None:
    net = convcalc.load(lstm_text(**cfg))
    torch.manual_seed(seed)
    model = build(net.spec)
    model = model.double() if dtype == np.float64 else model.float()
    x = np.random.default_rng(seed).standard_normal((batch, cfg["features"], cfg["length"])).astype(dtype)
    sd = state(model)
    layer = net.spec.layers[0]
    y = REGISTRY["lstm"].forward(layer, x, {k.removeprefix("0."): v for k, v in sd.items()}, no_engine())
    assert y.dtype == dtype
    assert rel_err(y, torch_out(model, x)) <= TOL[dtype]
    # the public API finds 0.weight_hr_l0 etc. by their state_dict names
    np.testing.assert_array_equal(net.forward(x, weights=sd), y)


def test_projection_is_used() -> None:
    """Zeroing W_hr zeroes the output: the forward really goes through the projection."""
    net = convcalc.load(lstm_text(3, 5, 4, 2, 1, False, True, True))
    torch.manual_seed(0)
    sd = state(build(net.spec).double())
    x = np.random.default_rng(0).standard_normal((2, 3, 5))
    assert np.abs(net.forward(x, weights=sd)).max() > 0
    sd["0.weight_hr_l0"] = np.zeros_like(sd["0.weight_hr_l0"])
    np.testing.assert_array_equal(net.forward(x, weights=sd), 0.0)


STACK = """\
input: [5, 8]
layers:
  - {type: lstm, hidden_size: 6, proj_size: 3, num_layers: 2, bidirectional: true}
  - {type: linear, out_features: 4}
  - {type: lstm, hidden_size: 5, proj_size: 2, return_sequences: false}
"""


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_engine_runs_a_projected_stack(dtype: Any) -> None:
    net = convcalc.load(STACK)
    report = net.analyze()
    assert [r.shape for r in report.layers] == [(6, 8), (4, 8), (2,)]
    torch.manual_seed(1)
    model = build(net.spec)
    model = model.double() if dtype == np.float64 else model.float()
    assert report.total_params == n_params(model)
    assert "0.weight_hr_l1_reverse" in net.weight_shapes() and "2.weight_hr_l0" in net.weight_shapes()
    x = np.random.default_rng(1).standard_normal((3, 5, 8)).astype(dtype)
    y = net.forward(x, weights=state(model))
    assert y.shape == (3, 2) and y.dtype == dtype
    assert rel_err(y, torch_out(model, x)) <= TOL[dtype]


def test_saturated_projection_is_stable() -> None:
    net = convcalc.load(lstm_text(3, 5, 4, 3, 2, True, True, True))
    torch.manual_seed(2)
    model = build(net.spec).float()
    x = (np.random.default_rng(2).standard_normal((2, 3, 5)) * 1e4).astype(np.float32)
    with np.errstate(all="raise"):
        y = net.forward(x, weights=state(model))
    assert np.isfinite(y).all()
    assert rel_err(y, torch_out(model, x)) <= 1e-4


@pytest.mark.parametrize("proj", [4, 9])
def test_proj_size_must_be_smaller_than_hidden_size(proj: int) -> None:
    text = f"input: [3, 5]\nlayers:\n  - {{type: lstm, hidden_size: 4, proj_size: {proj}}}\n"
    with pytest.raises(
        SpecError, match=rf"proj_size must be smaller than hidden_size, got {proj} >= 4"
    ) as info:
        convcalc.load(text).analyze()
    assert (info.value.loc.line, info.value.loc.column) == (3, 45)
    with pytest.raises(ValueError, match="proj_size has to be smaller than hidden_size"):
        torch.nn.LSTM(3, 4, proj_size=proj)


def test_proj_size_zero_is_no_projection() -> None:
    plain = convcalc.load("input: [3, 5]\nlayers:\n  - {type: lstm, hidden_size: 4}\n")
    zero = convcalc.load("input: [3, 5]\nlayers:\n  - {type: lstm, hidden_size: 4, proj_size: 0}\n")
    assert zero.analyze().to_dict()["layers"] == plain.analyze().to_dict()["layers"]
    assert zero.weight_shapes() == plain.weight_shapes()
    assert not any("weight_hr" in name for name in zero.weight_shapes())


def test_negative_proj_size_is_rejected_by_the_loader() -> None:
    with pytest.raises(SpecError, match=r"proj_size must be >= 0, got -1"):
        convcalc.load("input: [3, 5]\nlayers:\n  - {type: lstm, hidden_size: 4, proj_size: -1}\n")


@pytest.mark.parametrize("cell", ["rnn", "gru"])
def test_proj_size_is_lstm_only(cell: str) -> None:
    with pytest.raises(SpecError, match=rf"\({cell}\): unknown key 'proj_size'"):
        convcalc.load(f"input: [3, 5]\nlayers:\n  - {{type: {cell}, hidden_size: 4, proj_size: 2}}\n")


def test_proj_size_is_an_error_under_keras(tmp_path: Any) -> None:
    text = "input: [3, 5]\nlayers:\n  - {type: lstm, hidden_size: 4, proj_size: 2}\n"
    with pytest.raises(SpecError, match=r"proj_size is PyTorch's LSTM projection; Keras' LSTM has none"):
        convcalc.load("convention: keras\n" + text).analyze()
    path = tmp_path / "net.yaml"
    path.write_text(text)
    ok = CliRunner().invoke(app, ["shape", str(path)])
    assert ok.exit_code == 0, ok.output
    bad = CliRunner().invoke(app, ["shape", str(path), "--convention", "keras"])
    assert bad.exit_code == 1
    assert bad.stderr.startswith(f"{path}:3:45: error: layer 0 (lstm): proj_size is PyTorch's")


def test_explain_shows_the_projection() -> None:
    text = "input: [40, 10]\nlayers:\n  - {type: lstm, hidden_size: 64, proj_size: 16}\n"
    report = convcalc.load(text).analyze()
    got = [step.plain() for step in explain(report).layers[0].steps]
    assert "layer 0: d = 40, W_ih: 256x40, W_hh: 256x16" in got
    assert "proj_size p = 16: h_t = W_hr (o * tanh(c_t)), W_hr: 16x64" in got
    params = n_params(torch.nn.LSTM(40, 64, proj_size=16))
    assert report.total_params == params
    assert f"params = (4*64*(40+16) + 16*64 + 8*64) = {params} (sum over layers and directions)" in got
    assert f"MACs = 1*10*1*(4*64*(40+16) + 16*64) = {report.total_macs} (B*L*dirs*sum g*h*(d+p) + p*h)" in got
    assert got[0] == "features = 16*1 = 16 (p*dirs) at each of the 10 steps"
