"""The NumPy forward of rnn/lstm/gru equals PyTorch's with the same weights."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch_mirror import build, state, torch_out

import convcalc
from convcalc.layers import REGISTRY
from convcalc.layers.base import ForwardContext
from convcalc.spec import Layer

TOL = {np.float64: 1e-7, np.float32: 1e-4}

# dropout is set on purpose (it must be ignored at inference); torch warns when num_layers is 1
pytestmark = pytest.mark.filterwarnings("ignore:dropout option adds dropout")


def yaml_bool(v: bool) -> str:
    return "true" if v else "false"


def rnn_text(
    cell: str, features: int, length: int, hidden: int, layers: int, bi: bool, bias: bool, seq: bool
) -> str:
    return (
        f"input: [{features}, {length}]\nlayers:\n"
        f"  - {{type: {cell}, hidden_size: {hidden}, num_layers: {layers}, bidirectional: {yaml_bool(bi)},"
        f" bias: {yaml_bool(bias)}, return_sequences: {yaml_bool(seq)}, dropout: 0.3}}\n"
    )


def torch_model(net: convcalc.Net, dtype: Any) -> torch.nn.Module:
    model = build(net.spec)
    return model.double() if dtype == np.float64 else model.float()


def rel_err(y: np.ndarray, ref: np.ndarray) -> float:
    assert y.shape == ref.shape, (y.shape, ref.shape)
    return float(np.linalg.norm(y - ref) / max(float(np.linalg.norm(ref)), 1e-30))


def no_engine() -> ForwardContext:
    def run(layers: tuple[Layer, ...], x: np.ndarray) -> np.ndarray:
        raise AssertionError("a recurrent layer has no nested layers")

    return ForwardContext(run)


def layer_forward(net: convcalc.Net, x: np.ndarray, sd: dict[str, np.ndarray]) -> np.ndarray:
    """The layer's own forward, with the mirror's weights under their local names."""
    layer = net.spec.layers[0]
    local = {k.removeprefix("0."): v for k, v in sd.items()}
    return REGISTRY[layer.type].forward(layer, x, local, no_engine())


configs = st.fixed_dictionaries(
    {
        "cell": st.sampled_from(["rnn", "lstm", "gru"]),
        "features": st.integers(1, 5),
        "length": st.integers(1, 6),
        "hidden": st.integers(1, 6),
        "layers": st.integers(1, 3),
        "bi": st.booleans(),
        "bias": st.booleans(),
        "seq": st.booleans(),
    }
)


@given(
    cfg=configs,
    batch=st.integers(1, 3),
    dtype=st.sampled_from([np.float32, np.float64]),
    seed=st.integers(0, 999),
)
def test_layer_forward_equals_torch(cfg: dict[str, Any], batch: int, dtype: Any, seed: int) -> None:
    net = convcalc.load(rnn_text(**cfg))
    torch.manual_seed(seed)
    model = torch_model(net, dtype)
    x = np.random.default_rng(seed).standard_normal((batch, cfg["features"], cfg["length"])).astype(dtype)
    sd = state(model)
    y = layer_forward(net, x, sd)
    assert y.dtype == dtype
    assert rel_err(y, torch_out(model, x)) <= TOL[dtype]
    # the same through the public API, which finds the tensors by their state_dict names
    assert net.weight_shapes() == {k: v.shape for k, v in sd.items()}
    np.testing.assert_array_equal(net.forward(x, weights=sd), y)


@given(cfg=configs)
def test_weight_specs_are_torchs_parameters(cfg: dict[str, Any]) -> None:
    net = convcalc.load(rnn_text(**cfg))
    layer = net.spec.layers[0]
    specs = REGISTRY[layer.type].weight_specs(layer, net.spec.input_shape)
    model = build(net.spec)
    params = {k.removeprefix("0."): p for k, p in model.named_parameters()}
    assert list(specs) == list(params)  # same names, in state_dict order
    bound = 1 / cfg["hidden"] ** 0.5
    for name, ws in specs.items():
        assert ws.shape == tuple(params[name].shape), name
        assert ws.init == "uniform"
        assert ws.bound == pytest.approx(bound)
        assert float(params[name].detach().abs().max()) <= bound  # torch draws from the same range


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_saturated_gates_are_stable(cell: str, dtype: Any) -> None:
    """Huge pre-activations saturate sigmoid/tanh exactly as torch does, with no NaN and no
    floating-point error raised (exp overflowing to inf is the intended path)."""
    net = convcalc.load(rnn_text(cell, 3, 5, 4, 2, True, True, True))
    torch.manual_seed(1)
    model = torch_model(net, dtype)
    x = (np.random.default_rng(1).standard_normal((2, 3, 5)) * 1e4).astype(dtype)
    with np.errstate(all="raise"):
        y = layer_forward(net, x, state(model))
    assert np.isfinite(y).all()
    assert rel_err(y, torch_out(model, x)) <= TOL[dtype]


def test_long_sequence_float32() -> None:
    """Error does not build up over many steps."""
    net = convcalc.load(rnn_text("lstm", 8, 400, 16, 2, True, True, True))
    torch.manual_seed(2)
    model = torch_model(net, np.float32)
    x = np.random.default_rng(2).standard_normal((2, 8, 400)).astype(np.float32)
    assert rel_err(layer_forward(net, x, state(model)), torch_out(model, x)) <= 1e-4


def test_last_step_output_is_forward_last_and_backward_first() -> None:
    """return_sequences false picks the forward direction's last step and the backward one's first."""
    seq_net = convcalc.load(rnn_text("gru", 3, 6, 4, 2, True, True, True))
    last_net = convcalc.load(rnn_text("gru", 3, 6, 4, 2, True, True, False))
    torch.manual_seed(3)
    sd = state(torch_model(seq_net, np.float64))
    x = np.random.default_rng(3).standard_normal((2, 3, 6))
    full = layer_forward(seq_net, x, sd)
    last = layer_forward(last_net, x, sd)
    assert last.shape == (2, 8)
    np.testing.assert_array_equal(last[:, :4], full[:, :4, -1])
    np.testing.assert_array_equal(last[:, 4:], full[:, 4:, 0])


def test_non_float_input_is_computed_in_float64() -> None:
    net = convcalc.load(rnn_text("rnn", 2, 3, 3, 1, False, True, True))
    torch.manual_seed(4)
    model = torch_model(net, np.float64)
    x = np.arange(12).reshape(2, 2, 3) - 6
    y = layer_forward(net, x, state(model))
    assert y.dtype == np.float64
    assert rel_err(y, torch_out(model, x.astype(np.float64))) <= 1e-7


STACK = """\
input: [4, 9]
layers:
  - {type: gru, hidden_size: 5, bidirectional: true}
  - {type: lstm, hidden_size: 3, num_layers: 2, bias: false}
  - {type: rnn, hidden_size: 6, return_sequences: false}
"""


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_engine_runs_a_recurrent_stack(dtype: Any) -> None:
    """Through Net.forward: full state_dict names (``1.weight_hh_l1``) reach the right layer."""
    net = convcalc.load(STACK)
    torch.manual_seed(5)
    model = torch_model(net, dtype)
    x = np.random.default_rng(5).standard_normal((3, 4, 9)).astype(dtype)
    y = net.forward(x, weights=state(model))
    assert y.shape == (3, 6) and y.dtype == dtype
    assert rel_err(y, torch_out(model, x)) <= TOL[dtype]


def test_engine_default_weights_use_torch_bounds() -> None:
    """Missing weights are drawn in ±1/sqrt(hidden): a saturating scale would make every
    output ±1, and the draw is reproducible by seed."""
    net = convcalc.load(STACK)
    x = np.random.default_rng(6).standard_normal((3, 4, 9))
    y0, y1 = net.forward(x, seed=0), net.forward(x, seed=1)
    np.testing.assert_array_equal(y0, net.forward(x, seed=0))
    assert not np.array_equal(y0, y1)
    assert np.abs(y0).max() < 0.99


def test_recurrent_module_does_not_import_numpy() -> None:
    code = "import sys, convcalc.layers.recurrent; print('numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
