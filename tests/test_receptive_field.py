"""convcalc's receptive fields against fields measured with PyTorch.

The all-ones linearised mirror (``build(spec, linear=True)``: weights 1, biases 0,
activations identities, max pooling summing its window) has only positive paths, so an
input position gets a nonzero gradient from an output position exactly when the output
depends on it. convcalc predicts that output position ``i`` sees
``[start + i*jump, start + i*jump + size - 1]``, clipped to the input, on every axis.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import torch
import torch_mirror
from hypothesis import event, given
from hypothesis import strategies as st

import convcalc
from convcalc import SpecError
from convcalc.report import Report
from convcalc.rf import FLATTENED, GLOBAL, AxisRF

torch.set_num_threads(1)

LayerDict = dict[str, Any]
Shape = tuple[int, ...]
Span = tuple[int, int]


def spec_text(shape: Shape, layers: list[LayerDict]) -> str:
    body = "\n".join(f"  - {json.dumps(layer)}" for layer in layers)
    return f"input: {json.dumps(list(shape))}\nlayers:\n{body}\n"


def load(shape: Shape, layers: list[LayerDict]) -> tuple[convcalc.Net, Report]:
    net = convcalc.load(spec_text(shape, layers))
    return net, net.analyze()


def measured_span(grad: torch.Tensor) -> list[Span | None]:
    """(first, last) input index with a nonzero gradient on each spatial axis of [C, *spatial];
    None when nothing in the input reaches the output (it sees padding only)."""
    hit = grad.abs().sum(0) > 0
    spans: list[Span | None] = []
    for axis in range(hit.dim()):
        others = tuple(a for a in range(hit.dim()) if a != axis)
        idx = torch.nonzero(hit.any(dim=others) if others else hit).flatten()
        spans.append((int(idx.min()), int(idx.max())) if len(idx) else None)
    return spans


def predicted_span(ax: AxisRF, i: int) -> Span:
    """The unclipped field of output position ``i``."""
    assert ax.size is not None and ax.jump is not None and ax.start is not None
    lo = ax.start + i * ax.jump
    hi = lo + ax.size - 1
    assert isinstance(lo, int) and isinstance(hi, int), "integral fields only"
    return lo, hi


def agrees(measured: Span | None, predicted: Span, n: int) -> bool:
    """Equal to the prediction clipped to [0, n-1] on each side that lies inside the input.

    A side that sticks out of the input is only an upper bound: layers that drop trailing
    positions (floor division) or add padding can cut the clipped field shorter there.
    """
    lo, hi = predicted
    if measured is None:
        return lo < 0 or hi > n - 1
    m_lo, m_hi = measured
    lo_ok = m_lo == lo if lo >= 0 else m_lo >= 0
    hi_ok = m_hi == hi if hi <= n - 1 else m_hi <= n - 1
    return lo_ok and hi_ok and lo <= m_lo <= m_hi <= hi


def inside_position(ax: AxisRF, n_in: int, n_out: int) -> int:
    """A middle output position whose field lies inside the input, if there is one."""
    assert ax.size is not None and ax.jump is not None and ax.start is not None
    inside = [
        i for i in range(n_out) if ax.start + i * ax.jump >= 0 and ax.start + i * ax.jump + ax.size <= n_in
    ]
    pool = inside or list(range(n_out))
    return pool[len(pool) // 2]


def check_fields(shape: Shape, layers: list[LayerDict]) -> Report:
    """Measure the field of a middle output position (and of the first and last one) and
    compare with convcalc's prediction on every axis."""
    net, report = load(shape, layers)
    assert report.rf.spatial and all(ax.bounded for ax in report.rf.axes)
    model = torch_mirror.build(net.spec, linear=True).double()
    x = torch.ones(1, *shape, dtype=torch.float64, requires_grad=True)
    y = model(x)
    assert tuple(y.shape[1:]) == report.output_shape
    n_in, n_out = shape[1:], report.output_shape[1:]
    middle = tuple(inside_position(ax, a, b) for ax, a, b in zip(report.rf.axes, n_in, n_out, strict=True))
    for pos in {middle, tuple(0 for _ in n_out), tuple(b - 1 for b in n_out)}:
        index = (0, slice(None), *pos)
        (grad,) = torch.autograd.grad(y[index].sum(), x, retain_graph=True)
        got = measured_span(grad[0])
        want = [predicted_span(ax, i) for ax, i in zip(report.rf.axes, pos, strict=True)]
        if None in got:  # the output sees padding only: on some axis its field is outside the input
            assert any(agrees(None, p, n) for p, n in zip(want, n_in, strict=True)), f"position {pos}"
            continue
        for axis, (m, p, n) in enumerate(zip(got, want, n_in, strict=True)):
            assert agrees(m, p, n), f"output position {pos}, axis {axis}: measured {m}, predicted {p}, n={n}"
        if all(lo >= 0 and hi <= n - 1 for (lo, hi), n in zip(want, n_in, strict=True)):
            assert got == want  # inside the input: exactly the predicted field
    return report


def conv(ndim: int, c: int = 2, **kw: Any) -> LayerDict:
    return {"type": f"conv{ndim}d", "out_channels": c, **kw}


# -- hand-picked nets --------------------------------------------------------------------

RF_CASES: list[tuple[str, Shape, list[LayerDict]]] = [
    ("plain 1d", (1, 30), [conv(1, kernel_size=5)]),
    ("strided 1d", (1, 30), [conv(1, kernel_size=3, stride=2, padding=1), conv(1, kernel_size=3, stride=3)]),
    ("dilated 1d", (1, 40), [conv(1, kernel_size=3, dilation=4), conv(1, kernel_size=2, dilation=3)]),
    (
        "causal 1d",
        (1, 30),
        [
            conv(1, kernel_size=3, dilation=2, padding="causal"),
            conv(1, kernel_size=4, padding="causal", stride=2),
        ],
    ),
    (
        "same 1d stride 1",
        (1, 20),
        [conv(1, kernel_size=4, padding="same"), conv(1, kernel_size=3, padding="same")],
    ),
    ("same 1d stride 3", (1, 20), [conv(1, kernel_size=4, stride=3, padding="same")]),
    (
        "asymmetric pad 1d",
        (1, 20),
        [conv(1, kernel_size=3, padding=[[4, 0]]), conv(1, kernel_size=2, padding=[[0, 3]])],
    ),
    ("valid 1d", (1, 20), [conv(1, kernel_size=6, padding="valid")]),
    ("grouped 1d", (4, 20), [conv(1, 4, kernel_size=3, groups=4), conv(1, 2, kernel_size=1, groups=2)]),
    (
        "2d per-axis",
        (1, 20, 24),
        [
            conv(2, kernel_size=[3, 5], stride=[2, 1], dilation=[1, 2], padding=[[1, 2], 3]),
            conv(2, kernel_size=3, stride=2),
        ],
    ),
    ("2d same stride 2", (1, 15, 16), [conv(2, kernel_size=[3, 4], stride=2, padding="same")]),
    (
        "3d",
        (1, 9, 10, 11),
        [
            conv(3, kernel_size=[3, 1, 2], stride=[2, 1, 2], padding=[1, 0, [0, 2]]),
            conv(3, kernel_size=2, dilation=[1, 2, 1]),
        ],
    ),
    (
        "maxpool 1d ceil",
        (1, 21),
        [
            conv(1, kernel_size=3),
            {"type": "maxpool1d", "kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True},
        ],
    ),
    (
        "maxpool ceil last window",
        (1, 5),
        [{"type": "maxpool1d", "kernel_size": 2, "stride": 2, "padding": 1, "ceil_mode": True}],
    ),
    ("maxpool ceil kernel above input", (1, 2), [{"type": "maxpool1d", "kernel_size": 3, "ceil_mode": True}]),
    (
        "avgpool ceil overhang",
        (1, 7),
        [{"type": "avgpool1d", "kernel_size": 3, "stride": 3, "ceil_mode": True}],
    ),
    ("maxpool dilated", (1, 25), [{"type": "maxpool1d", "kernel_size": 3, "stride": 2, "dilation": 3}]),
    (
        "avgpool 2d",
        (1, 13, 14),
        [
            {
                "type": "avgpool2d",
                "kernel_size": [3, 2],
                "padding": [1, 0],
                "ceil_mode": True,
                "count_include_pad": False,
            },
            conv(2, kernel_size=2),
        ],
    ),
    (
        "maxpool 3d",
        (1, 7, 8, 9),
        [{"type": "maxpool3d", "kernel_size": 2, "ceil_mode": True}, conv(3, kernel_size=2)],
    ),
    (
        "pad layers",
        (1, 12, 12),
        [
            {"type": "pad", "padding": [[3, 0], [1, 2]]},
            conv(2, kernel_size=3, stride=2),
            {"type": "pad", "padding": 1},
            conv(2, kernel_size=2),
        ],
    ),
    (
        "activations and batchnorm",
        (2, 20),
        [
            conv(1, kernel_size=3),
            {"type": "relu"},
            {"type": "batchnorm"},
            {"type": "dropout"},
            {"type": "linear", "out_features": 3},
            conv(1, kernel_size=3, stride=2),
        ],
    ),
    (
        "residual identity",
        (2, 24),
        [
            conv(1, kernel_size=3, stride=2),
            {
                "type": "residual",
                "layers": [
                    conv(1, kernel_size=3, padding=1),
                    {"type": "relu"},
                    conv(1, kernel_size=5, padding=2),
                ],
            },
        ],
    ),
    (
        "residual conv shortcut",
        (2, 16, 16),
        [
            {
                "type": "residual",
                "layers": [
                    conv(2, 4, kernel_size=3, stride=2, padding=1),
                    {"type": "batchnorm"},
                    conv(2, 4, kernel_size=3, padding=1),
                ],
                "shortcut": [conv(2, 4, kernel_size=1, stride=2)],
            }
        ],
    ),
    (
        "residual offset shortcut",
        (1, 20),
        [
            {
                "type": "residual",
                "layers": [conv(1, kernel_size=3, padding=[[0, 2]])],
                "shortcut": [conv(1, kernel_size=1)],
            }
        ],
    ),
    (
        "inception concat",
        (2, 20, 20),
        [
            {
                "type": "parallel",
                "branches": [
                    [conv(2, kernel_size=1)],
                    [conv(2, kernel_size=1), conv(2, kernel_size=3, padding=1)],
                    [conv(2, kernel_size=1), conv(2, kernel_size=5, padding=2)],
                    [
                        {"type": "maxpool2d", "kernel_size": 3, "stride": 1, "padding": 1},
                        conv(2, kernel_size=1),
                    ],
                ],
            },
            {"type": "maxpool2d", "kernel_size": 2},
        ],
    ),
    (
        "parallel add",
        (1, 30),
        [
            {
                "type": "parallel",
                "merge": "add",
                "branches": [
                    [conv(1, 1, kernel_size=3, padding="causal")],
                    [conv(1, 1, kernel_size=5, padding=2)],
                    [],
                ],
            }
        ],
    ),
    (
        "parallel strided branches",
        (1, 30),
        [
            {
                "type": "parallel",
                "branches": [
                    [conv(1, kernel_size=4, stride=2, padding=1)],
                    [{"type": "avgpool1d", "kernel_size": 2}],
                ],
            },
            conv(1, kernel_size=3),
        ],
    ),
]


@pytest.mark.parametrize(("shape", "layers"), [c[1:] for c in RF_CASES], ids=[c[0] for c in RF_CASES])
def test_field_matches_measurement(shape: Shape, layers: list[LayerDict]) -> None:
    check_fields(shape, layers)


def test_wavenet_field_is_1024() -> None:
    layers = [conv(1, kernel_size=2, dilation=2**i, padding="causal") for i in range(10)]
    report = check_fields((1, 1500), layers)
    (ax,) = report.rf.axes
    assert (ax.size, ax.jump, ax.start) == (1024, 1, -1023)


def tcn_block(c_in: int, c: int, d: int) -> LayerDict:
    block: LayerDict = {
        "type": "residual",
        "layers": [
            conv(1, c, kernel_size=3, dilation=d, padding="causal"),
            {"type": "relu"},
            {"type": "dropout", "p": 0.1},
            conv(1, c, kernel_size=3, dilation=d, padding="causal"),
            {"type": "relu"},
        ],
    }
    if c_in != c:
        block["shortcut"] = [conv(1, c, kernel_size=1)]
    return block


def test_tcn_residual_blocks() -> None:
    layers = [tcn_block(3, 4, 1), tcn_block(4, 4, 2), tcn_block(4, 6, 4), tcn_block(6, 6, 8)]
    report = check_fields((3, 100), layers)
    (ax,) = report.rf.axes
    assert ax.size == 1 + 2 * 2 * (1 + 2 + 4 + 8)
    assert ax.start == 1 - ax.size


# -- random stacks -----------------------------------------------------------------------


@st.composite
def window_layer(draw: st.DrawFn, ndim: int) -> LayerDict:
    def ints(lo: int, hi: int) -> int | list[int]:
        if draw(st.booleans()):
            return draw(st.integers(lo, hi))
        return draw(st.lists(st.integers(lo, hi), min_size=ndim, max_size=ndim))

    kind = draw(st.sampled_from(["conv", "conv", "maxpool", "avgpool", "pad"]))
    if kind == "pad":
        return {"type": "pad", "padding": ints(0, 2)}
    k = draw(st.integers(1, 4))
    layer: LayerDict = {"kernel_size": k, "stride": ints(1, 3)}
    if kind == "conv":
        forms: list[Any] = [
            ints(0, 2),
            "same",
            "valid",
            [[draw(st.integers(0, 3)), draw(st.integers(0, 3))]] * ndim,
        ]
        if ndim == 1:
            forms.append("causal")
        layer.update(
            type=f"conv{ndim}d",
            out_channels=draw(st.integers(1, 2)),
            padding=draw(st.sampled_from(forms)),
            dilation=ints(1, 3),
        )
    else:
        layer.update(
            type=f"{kind}{ndim}d", padding=draw(st.integers(0, k // 2)), ceil_mode=draw(st.booleans())
        )
        if kind == "maxpool":
            layer["dilation"] = ints(1, 2)
    return layer


@pytest.mark.parametrize(("ndim", "size"), [(1, 60), (2, 18)])
@given(data=st.data())
def test_random_stack_fields(ndim: int, size: int, data: st.DataObject) -> None:
    layers = data.draw(st.lists(window_layer(ndim), min_size=1, max_size=5 if ndim == 1 else 3))
    if ndim == 1 and data.draw(st.booleans()):
        layers.append(
            {
                "type": "residual",
                "layers": [conv(1, 1, kernel_size=data.draw(st.integers(1, 4)), padding="same")],
                "shortcut": [conv(1, 1, kernel_size=1)],
            }
        )
    try:
        load((1, *(size,) * ndim), layers)
    except SpecError:
        event("rejected by convcalc")
        return  # the shapes test checks that torch rejects these too
    check_fields((1, *(size,) * ndim), layers)


# -- recurrent layers and non-spatial outputs ------------------------------------------


def time_dependence(shape: Shape, layers: list[LayerDict]) -> tuple[Report, list[list[int]]]:
    """For each output time t: the input times with a nonzero gradient (random weights)."""
    torch.manual_seed(0)
    net, report = load(shape, layers)
    model = torch_mirror.build(net.spec).double()
    x = (0.5 * torch.randn(1, *shape, dtype=torch.float64)).requires_grad_(True)
    y = model(x)
    seen = []
    for t in range(y.shape[-1]):
        (grad,) = torch.autograd.grad(y[0, :, t].sum(), x, retain_graph=True)
        seen.append(torch.nonzero(grad[0].abs().sum(0) > 0).flatten().tolist())
    return report, seen


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_unidirectional_recurrent_sees_the_past(cell: str) -> None:
    layers = [{"type": cell, "hidden_size": 3, "num_layers": 2}]
    report, seen = time_dependence((2, 7), layers)
    assert seen == [list(range(t + 1)) for t in range(7)]
    (ax,) = report.rf.axes
    assert (ax.size, ax.start) == (None, None)
    assert report.rf.to_dict()["size"] == [None]


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_bidirectional_recurrent_sees_everything(cell: str) -> None:
    layers = [
        conv(1, 3, kernel_size=3, padding=1),
        {"type": cell, "hidden_size": 2, "bidirectional": True},
        conv(1, 2, kernel_size=2),
    ]
    report, seen = time_dependence((2, 8), layers)
    assert seen == [list(range(8))] * 7
    (ax,) = report.rf.axes
    assert (ax.size, ax.start) == (None, None)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_last_step_output_is_global(bidirectional: bool) -> None:
    layers = [
        {"type": "gru", "hidden_size": 2, "bidirectional": bidirectional, "return_sequences": False},
        {"type": "linear", "out_features": 2},
    ]
    torch.manual_seed(0)
    net, report = load((2, 6), layers)
    x = torch.randn(1, 2, 6, dtype=torch.float64, requires_grad=True)
    y = torch_mirror.build(net.spec).double()(x)
    (grad,) = torch.autograd.grad(y.sum(), x)
    assert bool((grad[0].abs().sum(0) > 0).all())
    assert not report.rf.spatial
    assert report.rf.scope == GLOBAL
    assert report.rf.to_dict()["spatial"] is False


@pytest.mark.parametrize("op", ["global_avgpool", "global_maxpool"])
def test_global_pool_is_global(op: str) -> None:
    net, report = load((1, 9, 10), [conv(2, kernel_size=3), {"type": op}])
    x = torch.ones(1, 1, 9, 10, dtype=torch.float64, requires_grad=True)
    y = torch_mirror.build(net.spec, linear=True).double()(x)
    (grad,) = torch.autograd.grad(y[0, 0], x)
    assert bool((grad[0, 0] > 0).all())
    assert report.output_shape == (2,)
    assert (report.rf.spatial, report.rf.scope) == (False, GLOBAL)


def test_flatten_is_flattened_and_keeps_local_fields() -> None:
    layers = [conv(1, 2, kernel_size=3, stride=2), {"type": "flatten"}]
    net, report = load((1, 15), layers)
    assert (report.rf.spatial, report.rf.scope) == (False, FLATTENED)
    conv_rf = report.layers[0].rf.axes[0]
    length = report.layers[0].shape[1]
    x = torch.ones(1, 1, 15, dtype=torch.float64, requires_grad=True)
    y = torch_mirror.build(net.spec, linear=True).double()(x)
    for feature in (0, length - 1, length + 3):
        (grad,) = torch.autograd.grad(y[0, feature], x, retain_graph=True)
        assert measured_span(grad[0]) == [predicted_span(conv_rf, feature % length)]
    _, after = load((1, 15), [*layers, {"type": "linear", "out_features": 3}])
    assert (after.rf.spatial, after.rf.scope) == (False, GLOBAL)
