"""The NumPy forward pass against PyTorch: same weights, same input, same output."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch_mirror
from hypothesis import assume, given
from hypothesis import strategies as st
from torch import nn

import convcalc
from convcalc.errors import ConvcalcError
from convcalc.forward import draw, resolve_weights, weight_table

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "specs" / "examples").glob("*.yaml"))
TOL = {np.dtype(np.float64): 1e-7, np.dtype(np.float32): 1e-4}
DTYPES = st.sampled_from([np.float32, np.float64])


def rel_err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float64) - b).max() / max(float(np.abs(b).max()), 1e-30))


def torch_model(net: convcalc.Net, dtype: Any, seed: int = 0) -> tuple[nn.Module, dict[str, np.ndarray]]:
    """The torch mirror with random batchnorm statistics and affine parameters."""
    torch.manual_seed(seed)
    model = torch_mirror.build(net.spec)
    model = model.double() if dtype == np.float64 else model.float()
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith("running_var"):
                t.uniform_(0.5, 2.0)
            elif name.endswith("running_mean"):
                t.normal_()
        for mod in model.modules():
            if isinstance(mod, nn.modules.batchnorm._BatchNorm) and mod.affine:
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.normal_()
    sd = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    return model.eval(), sd


def check_against_torch(text: str | Path, dtype: Any = np.float64, batch: int = 2, seed: int = 0) -> None:
    net = convcalc.load(text)
    x = np.random.default_rng(seed).standard_normal((batch, *net.spec.input_shape)).astype(dtype)
    model, sd = torch_model(net, dtype, seed)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    y = net.forward(x, sd)
    assert y.dtype == np.dtype(dtype)
    assert y.shape == expected.shape == (batch, *net.analyze().output_shape)
    assert rel_err(y, expected) <= TOL[np.dtype(dtype)], rel_err(y, expected)


def analyzes(text: str) -> bool:
    try:
        convcalc.load(text).analyze()
    except ConvcalcError:
        return False
    return True


def flow(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(flow(v) for v in value) + "]"
    return str(value)


def spec_text(input_shape: list[int], *layers: dict[str, object]) -> str:
    lines = [f"input: {flow(input_shape)}", "layers:"]
    for layer in layers:
        lines.append("  - {" + ", ".join(f"{k}: {flow(v)}" for k, v in layer.items()) + "}")
    return "\n".join(lines) + "\n"


# -- hypothesis: every option of conv and pooling -------------------------------------------------


@st.composite
def conv_specs(draw_: st.DrawFn) -> str:
    ndim = draw_(st.integers(1, 3))
    groups = draw_(st.sampled_from([1, 1, 2, 3]))
    sizes = [draw_(st.integers(5, 8 if ndim == 3 else 13)) for _ in range(ndim)]
    layer: dict[str, object] = {
        "type": f"conv{ndim}d",
        "out_channels": groups * draw_(st.integers(1, 3)),
        "kernel_size": [draw_(st.integers(1, 3)) for _ in range(ndim)],
        "stride": [draw_(st.integers(1, 3)) for _ in range(ndim)],
        "dilation": [draw_(st.integers(1, 2)) for _ in range(ndim)],
        "groups": groups,
        "bias": draw_(st.booleans()),
    }
    form = draw_(
        st.sampled_from(["int", "axes", "pairs", "same", "valid"] + (["causal"] if ndim == 1 else []))
    )
    if form == "int":
        layer["padding"] = draw_(st.integers(0, 2))
    elif form == "axes":
        layer["padding"] = [draw_(st.integers(0, 2)) for _ in range(ndim)]
    elif form == "pairs":
        layer["padding"] = [[draw_(st.integers(0, 3)), draw_(st.integers(0, 3))] for _ in range(ndim)]
    else:
        layer["padding"] = form
    text = spec_text([groups * draw_(st.integers(1, 3)), *sizes], layer)
    assume(analyzes(text))
    return text


@st.composite
def pool_specs(draw_: st.DrawFn) -> str:
    ndim = draw_(st.integers(1, 3))
    op = draw_(st.sampled_from(["max", "avg"]))
    k = [draw_(st.integers(1, 4)) for _ in range(ndim)]
    layer: dict[str, object] = {"type": f"{op}pool{ndim}d", "kernel_size": k}
    if draw_(st.booleans()):
        layer["stride"] = [draw_(st.integers(1, 3)) for _ in range(ndim)]
    layer["padding"] = [draw_(st.integers(0, ki // 2)) for ki in k]
    layer["ceil_mode"] = draw_(st.booleans())
    if op == "max":
        layer["dilation"] = [draw_(st.integers(1, 2)) for _ in range(ndim)]
    else:
        layer["count_include_pad"] = draw_(st.booleans())
    sizes = [draw_(st.integers(3, 7 if ndim == 3 else 12)) for _ in range(ndim)]
    text = spec_text([draw_(st.integers(1, 3)), *sizes], layer)
    assume(analyzes(text))
    return text


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@given(conv_specs(), DTYPES)
def test_conv_matches_torch(text: str, dtype: Any) -> None:
    check_against_torch(text, dtype)


@given(pool_specs(), DTYPES)
def test_pool_matches_torch(text: str, dtype: Any) -> None:
    check_against_torch(text, dtype)


ELEMENTWISE = ["relu", "tanh", "sigmoid", "identity", "dropout"]


@st.composite
def dense_specs(draw_: st.DrawFn) -> str:
    """linear, batchnorm, pad, flatten, activations and global pools, in random stacks."""
    input_shape = [draw_(st.integers(1, 4))] + [
        draw_(st.integers(2, 6)) for _ in range(draw_(st.integers(0, 3)))
    ]
    spatial = len(input_shape) - 1
    layers: list[dict[str, object]] = []
    for _ in range(draw_(st.integers(1, 4))):
        choice = draw_(st.sampled_from(["linear", "batchnorm", "act", "pad", "flatten", "global"]))
        if choice == "linear":
            layers.append(
                {"type": "linear", "out_features": draw_(st.integers(1, 5)), "bias": draw_(st.booleans())}
            )
        elif choice == "batchnorm":
            eps = draw_(st.sampled_from([1e-5, 0.1]))
            layers.append({"type": "batchnorm", "eps": eps, "affine": draw_(st.booleans())})
        elif choice == "act":
            layers.append({"type": draw_(st.sampled_from(ELEMENTWISE))})
        elif choice == "pad" and spatial:
            pads = [[draw_(st.integers(0, 2)), draw_(st.integers(0, 2))] for _ in range(spatial)]
            layers.append({"type": "pad", "padding": pads})
        elif choice in ("flatten", "global") and spatial:
            kind = draw_(st.sampled_from(["global_avgpool", "global_maxpool"]))
            layers.append({"type": "flatten" if choice == "flatten" else kind})
            spatial = 0
    assume(layers)
    text = spec_text(input_shape, *layers)
    assume(analyzes(text))
    return text


@given(dense_specs(), DTYPES)
def test_dense_layers_match_torch(text: str, dtype: Any) -> None:
    check_against_torch(text, dtype)


# -- containers and fixed cases -------------------------------------------------------------------

CONTAINERS = {
    "residual identity": """
input: [4, 12]
layers:
  - type: residual
    layers: [{type: conv1d, out_channels: 4, kernel_size: 3, padding: same}, {type: batchnorm}, {type: relu}]
""",
    "residual shortcut": """
input: [3, 9, 10]
layers:
  - {type: conv2d, out_channels: 4, kernel_size: 3}
  - type: residual
    layers:
      - {type: conv2d, out_channels: 8, kernel_size: 3, stride: 2, padding: 1}
      - {type: sigmoid}
    shortcut:
      - {type: avgpool2d, kernel_size: 2, ceil_mode: true, count_include_pad: false}
      - {type: conv2d, out_channels: 8, kernel_size: 1, bias: false}
""",
    "parallel": """
input: [4, 11, 11]
layers:
  - type: parallel
    branches:
      - [{type: conv2d, out_channels: 2, kernel_size: 1}]
      - []
      - [{type: maxpool2d, kernel_size: 3, stride: 1, padding: 1}, {type: tanh}]
  - type: parallel
    merge: add
    branches:
      - [{type: conv2d, out_channels: 3, kernel_size: [1, 3], padding: [0, 1]}]
      - [{type: conv2d, out_channels: 3, kernel_size: [3, 1], padding: [1, 0]}]
      - [{type: conv2d, out_channels: 3, kernel_size: 1, groups: 1}, {type: dropout, p: 0.3}]
  - {type: sequential, layers: [{type: global_avgpool}, {type: linear, out_features: 2}]}
""",
    "nested": """
input: [2, 16]
layers:
  - type: sequential
    layers:
      - type: residual
        layers:
          - type: parallel
            branches:
              - [{type: conv1d, out_channels: 1, kernel_size: 3, padding: causal, dilation: 2}]
              - [{type: identity}]
          - {type: conv1d, out_channels: 2, kernel_size: 1}
  - {type: flatten}
  - {type: linear, out_features: 3, bias: false}
""",
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(CONTAINERS))
def test_containers_match_torch(name: str, dtype: Any) -> None:
    check_against_torch(CONTAINERS[name], dtype, batch=3)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_examples_match_torch(path: Path) -> None:
    big = convcalc.load(path).analyze().total_macs > 1e9
    check_against_torch(path, np.float32 if big else np.float64, batch=1)


# -- the weight-name contract -------------------------------------------------------------------


def test_plain_sequential_state_dict_loads_directly() -> None:
    """A hand-written nn.Sequential's state_dict (num_batches_tracked included) is accepted."""
    torch.manual_seed(3)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 4, 3, groups=4, bias=False),
        nn.Flatten(),
        nn.Linear(16, 5),
        nn.Sigmoid(),
    ).double()
    bn = model[1]
    assert isinstance(bn, nn.BatchNorm2d) and bn.running_mean is not None and bn.running_var is not None
    with torch.no_grad():
        bn.running_mean.normal_()
        bn.running_var.uniform_(0.5, 2)
    model.eval()
    net = convcalc.load(
        spec_text(
            [3, 8, 8],
            {"type": "conv2d", "out_channels": 8, "kernel_size": 3, "padding": 1},
            {"type": "batchnorm"},
            {"type": "relu"},
            {"type": "maxpool2d", "kernel_size": 2},
            {"type": "conv2d", "out_channels": 4, "kernel_size": 3, "groups": 4, "bias": False},
            {"type": "flatten"},
            {"type": "linear", "out_features": 5},
            {"type": "sigmoid"},
        )
    )
    sd = {k: v.numpy() for k, v in model.state_dict().items()}
    assert "1.num_batches_tracked" in sd
    x = np.random.default_rng(0).standard_normal((2, 3, 8, 8))
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    assert rel_err(net.forward(x, sd), expected) <= 1e-7


def test_weight_shapes_follow_the_state_dict_of_nested_containers() -> None:
    net = convcalc.load(CONTAINERS["residual shortcut"] + "  - {type: batchnorm}\n")
    model = torch_mirror.build(net.spec)
    torch_shapes = {
        k: tuple(v.shape) for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")
    }
    shapes = net.weight_shapes()
    assert shapes == torch_shapes
    assert list(shapes) == list(torch_shapes)  # state_dict order too
    assert shapes["1.layers.0.weight"] == (8, 4, 3, 3)
    assert shapes["1.shortcut.1.weight"] == (8, 4, 1, 1)
    assert shapes["2.running_var"] == (8,)
    par = convcalc.load(CONTAINERS["parallel"])
    assert par.weight_shapes()["1.branches.1.0.weight"] == (3, 10, 3, 1)
    assert par.weight_shapes()["2.layers.1.bias"] == (2,)


# -- defaults, dtypes and errors ----------------------------------------------------------------

CONV = "input: [2, 10]\nlayers:\n  - {type: conv1d, out_channels: 4, kernel_size: 3}\n  - {type: relu}\n"


def test_missing_weights_are_seeded_and_independent_of_given_ones() -> None:
    net = convcalc.load(CONV)
    x = np.random.default_rng(0).standard_normal((3, 2, 10))
    assert np.array_equal(net.forward(x, seed=5), net.forward(x, seed=5))
    assert not np.allclose(net.forward(x, seed=5), net.forward(x, seed=6))
    table = weight_table(net.analyze())
    drawn = resolve_weights(table, None, 5, np.dtype(np.float64))
    partly = resolve_weights(table, {"0.weight": np.zeros((4, 2, 3))}, 5, np.dtype(np.float64))
    assert np.array_equal(drawn["0.bias"], partly["0.bias"])
    assert not partly["0.weight"].any()


def test_default_scales_are_pytorchs() -> None:
    table = weight_table(
        convcalc.load(
            "input: [6, 40]\nlayers:\n  - {type: conv1d, out_channels: 600, kernel_size: 5, groups: 3}\n"
        ).analyze()
    )
    w = draw("0.weight", table.expected["0.weight"].spec, 0)
    bound = 1 / np.sqrt(2 * 5)
    assert w.shape == (600, 2, 5)
    assert np.abs(w).max() <= bound
    assert abs(w.std() - bound / np.sqrt(3)) < 0.01
    lin = weight_table(
        convcalc.load("input: [9]\nlayers:\n  - {type: linear, out_features: 400}\n").analyze()
    )
    assert np.abs(draw("0.bias", lin.expected["0.bias"].spec, 1)).max() <= 1 / 3
    bn = convcalc.load("input: [3, 5]\nlayers:\n  - {type: batchnorm, eps: 0.25}\n")
    x = np.random.default_rng(0).standard_normal((2, 3, 5))
    assert np.allclose(bn.forward(x), x / np.sqrt(1.25))  # weight 1, bias 0, mean 0, var 1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_computes_in_the_input_dtype_whatever_the_weights_dtype(dtype: Any) -> None:
    net = convcalc.load(CONV)
    x = np.ones((1, 2, 10), dtype=dtype)
    other = np.float32 if dtype == np.float64 else np.float64
    w = {"0.weight": np.full((4, 2, 3), 0.5, dtype=other), "0.bias": np.zeros(4, dtype=other)}
    y = net.forward(x, w)
    assert y.dtype == np.dtype(dtype)
    assert np.allclose(y, 3.0)


def test_sigmoid_is_stable_for_large_inputs() -> None:
    net = convcalc.load("input: [1, 3]\nlayers:\n  - {type: sigmoid}\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for dtype in (np.float32, np.float64):
            y = net.forward(np.array([[[-1000.0, 0.0, 1000.0]]], dtype=dtype))
            assert y.tolist() == [[[0.0, 0.5, 1.0]]]


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        (
            {"0.weight": np.zeros((4, 2, 5))},
            r"layer 0 \(conv1d\): weight '0.weight' has shape \[4, 2, 5\], expected \[4, 2, 3\]",
        ),
        (
            {"0.wieght": np.zeros((4, 2, 3))},
            r"unknown weight '0.wieght' \(did you mean '0.weight'\?\); this net expects 2 tensors",
        ),
        (
            {"0.bias": np.zeros(4, dtype=np.int64)},
            r"layer 0 \(conv1d\): weight '0.bias' has dtype int64; it must be float32 or float64",
        ),
        (
            {"0.bias": np.array(["a", "b", "c", "d"])},
            r"weight '0.bias' has dtype <U1; it must be float32 or float64",
        ),
        ({"0.bias": np.zeros(4, dtype=np.float16)}, r"weight '0.bias' has dtype float16"),
        ({"0.num_batches_tracked": np.zeros(())}, r"unknown weight '0.num_batches_tracked'"),
    ],
)
def test_bad_weights_are_clear_errors(weights: dict[str, np.ndarray], message: str) -> None:
    with pytest.raises(ConvcalcError, match=message):
        convcalc.load(CONV).forward(np.zeros((1, 2, 10)), weights)


def test_num_batches_tracked_is_accepted_for_batchnorm_only_and_ignored() -> None:
    net = convcalc.load("input: [3, 5]\nlayers:\n  - {type: batchnorm}\n")
    x = np.ones((1, 3, 5))
    assert np.allclose(net.forward(x, {"0.num_batches_tracked": np.array(7)}), net.forward(x))
    assert "0.num_batches_tracked" not in net.weight_shapes()


@pytest.mark.parametrize(
    ("x", "message"),
    [
        (np.zeros((2, 10)), r"the input x must have shape \[batch, 2, 10\], got \[2, 10\]"),
        (np.zeros((1, 2, 11)), r"must have shape \[batch, 2, 10\], got \[1, 2, 11\]"),
        (np.zeros((0, 2, 10)), r"got \[0, 2, 10\]"),
        (np.zeros((1, 2, 10), dtype=np.int32), r"the input x has dtype int32; it must be float32 or float64"),
        ([[[1.0, 2.0], [3.0]]], r"the input x is not an array"),
    ],
)
def test_bad_inputs_are_clear_errors(x: Any, message: str) -> None:
    with pytest.raises(ConvcalcError, match=message):
        convcalc.load(CONV).forward(x)


@pytest.mark.parametrize("seed", [-1, 1.5, True])
def test_bad_seed(seed: Any) -> None:
    with pytest.raises(ConvcalcError, match="seed must be a non-negative integer"):
        convcalc.load(CONV).forward(np.zeros((1, 2, 10)), seed=seed)


def test_spec_errors_surface_from_forward() -> None:
    net = convcalc.load(
        "input: [3, 10]\nlayers:\n  - {type: conv1d, out_channels: 4, kernel_size: 3, groups: 2}\n"
    )
    with pytest.raises(
        ConvcalcError, match=r"<string>:3:.*input channels \(3\) must be divisible by groups \(2\)"
    ):
        net.forward(np.zeros((1, 3, 10)))


def test_shape_command_does_not_import_numpy() -> None:
    code = (
        "import sys\n"
        "from convcalc.cli import app\n"
        f"try:\n    app(['shape', {str(EXAMPLES[0])!r}, '--format', 'json'])\n"
        "except SystemExit as e:\n    assert e.code in (0, None), e.code\n"
        "assert 'numpy' not in sys.modules, 'numpy was imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
