"""conv_transpose1d/2d/3d and upsample against PyTorch: shapes, parameters, errors, the NumPy
forward pass, and the fractional-jump receptive fields (measured with an all-ones net)."""

from __future__ import annotations

import json
import math
import re
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
import torch
import torch_mirror
from conftest import ROOT
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

import convcalc
from convcalc import SpecError
from convcalc.rf import AxisRF

torch.set_num_threads(1)

LayerDict = dict[str, Any]


def spec_text(shape: tuple[int, ...], layers: list[LayerDict]) -> str:
    body = "\n".join(f"  - {json.dumps(layer)}" for layer in layers)
    return f"input: {json.dumps(list(shape))}\nlayers:\n{body}\n"


def load(shape: tuple[int, ...], layers: list[LayerDict]) -> convcalc.Net:
    return convcalc.load(spec_text(shape, layers))


# -- shapes, parameters, MACs and errors ---------------------------------------------------------


@st.composite
def transpose_case(draw: st.DrawFn) -> tuple[tuple[int, ...], LayerDict]:
    ndim = draw(st.integers(1, 3))
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    c_in = groups * draw(st.integers(1, 2)) + draw(st.sampled_from([0, 0, 0, 1]))
    c_out = groups * draw(st.integers(1, 2)) + draw(st.sampled_from([0, 0, 0, 1]))
    sizes = tuple(draw(st.integers(1, 5)) for _ in range(ndim))

    def axis(lo: int, hi: int) -> int | list[int]:
        if draw(st.booleans()):
            return draw(st.integers(lo, hi))
        return [draw(st.integers(lo, hi)) for _ in range(ndim)]

    layer: LayerDict = {"type": f"conv_transpose{ndim}d", "out_channels": c_out, "kernel_size": axis(1, 4)}
    for key, lo, hi in (("stride", 1, 3), ("padding", 0, 3), ("output_padding", 0, 2), ("dilation", 1, 3)):
        if draw(st.booleans()):
            layer[key] = axis(lo, hi)
    layer["groups"] = groups
    layer["bias"] = draw(st.booleans())
    return (c_in, *sizes), layer


def torch_transpose(shape: tuple[int, ...], layer: LayerDict) -> tuple[nn.Module, tuple[int, ...]]:
    """PyTorch's own module and output shape for the layer (raises what torch raises)."""
    ndim = len(shape) - 1

    def tup(key: str, default: int) -> tuple[int, ...]:
        v = layer.get(key, default)
        return tuple(v) if isinstance(v, list) else (v,) * ndim

    cls: Any = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}[ndim]
    mod = cls(
        shape[0],
        layer["out_channels"],
        tup("kernel_size", 1),
        stride=tup("stride", 1),
        padding=tup("padding", 0),
        output_padding=tup("output_padding", 0),
        groups=layer["groups"],
        bias=layer["bias"],
        dilation=tup("dilation", 1),
    )
    with torch.no_grad():
        y = mod(torch.zeros(1, *shape))
    if 0 in y.shape:  # oneDNN returns an empty tensor for a zero size (the 1D path rejects it)
        raise RuntimeError("Output size is too small: " + str(tuple(y.shape)))
    return mod, tuple(y.shape[1:])


TORCH_ERRORS = {
    "output padding must be smaller": "output_padding .* must be smaller than the stride",
    "Output size is too small": "the output would be empty",
    "could not construct a memory descriptor": "the output would be empty",  # oneDNN, for a negative size
    "divisible by groups": "must be divisible by groups",
}


@given(transpose_case())
def test_transpose_matches_torch(case: tuple[tuple[int, ...], LayerDict]) -> None:
    shape, layer = case
    try:
        mod, want = torch_transpose(shape, layer)
    except (RuntimeError, ValueError) as e:
        pattern = next(ours for theirs, ours in TORCH_ERRORS.items() if theirs in str(e))
        with pytest.raises(SpecError, match=pattern):
            load(shape, [layer]).analyze()
        return
    report = load(shape, [layer]).analyze()
    assert report.output_shape == want
    assert report.total_params == torch_mirror.n_params(mod)
    k = layer["kernel_size"]
    taps = math.prod(k) if isinstance(k, list) else k ** (len(shape) - 1)
    assert (
        report.total_macs == shape[0] * math.prod(shape[1:]) * layer["out_channels"] // layer["groups"] * taps
    )


def test_transpose_weight_layout_and_errors() -> None:
    net = load(
        (4, 5, 5), [{"type": "conv_transpose2d", "out_channels": 6, "kernel_size": [3, 2], "groups": 2}]
    )
    assert net.weight_shapes() == {"0.weight": (4, 3, 3, 2), "0.bias": (6,)}
    with pytest.raises(SpecError, match="needs input \\[C, L\\]"):
        load((4, 5, 5), [{"type": "conv_transpose1d", "out_channels": 2, "kernel_size": 2}]).analyze()
    with pytest.raises(SpecError, match="symmetric padding only"):
        load((4, 5), [{"type": "conv_transpose1d", "out_channels": 2, "kernel_size": 2, "padding": [[1, 0]]}])
    with pytest.raises(SpecError, match="padding must be an integer, a per-axis list; got 'same'"):
        load((4, 5), [{"type": "conv_transpose1d", "out_channels": 2, "kernel_size": 2, "padding": "same"}])


def upsample_torch(shape: tuple[int, ...], layer: LayerDict, x: torch.Tensor) -> torch.Tensor:
    ndim = len(shape) - 1
    sf = layer["scale_factor"]
    sf = tuple(sf) if isinstance(sf, list) else sf
    if layer.get("mode", "nearest") == "nearest":
        return nn.Upsample(scale_factor=sf, mode="nearest")(x)  # type: ignore[no-any-return]
    mode = {1: "linear", 2: "bilinear", 3: "trilinear"}[ndim]
    return nn.Upsample(scale_factor=sf, mode=mode, align_corners=layer.get("align_corners", False))(x)  # type: ignore[no-any-return]


factors = st.one_of(
    st.sampled_from([0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 2.5, 1.2, 1.3, 0.7, 2.3, 4.6]),
    st.integers(10, 500).map(lambda i: i / 100),
)


@st.composite
def upsample_case(draw: st.DrawFn) -> tuple[tuple[int, ...], LayerDict]:
    ndim = draw(st.integers(1, 3))
    shape = (draw(st.integers(1, 3)), *(draw(st.integers(1, 9)) for _ in range(ndim)))
    layer: LayerDict = {"type": "upsample", "mode": draw(st.sampled_from(["nearest", "linear"]))}
    layer["scale_factor"] = draw(factors) if draw(st.booleans()) else [draw(factors) for _ in range(ndim)]
    if layer["mode"] == "linear":
        layer["align_corners"] = draw(st.booleans())
    return shape, layer


@given(upsample_case())
def test_upsample_matches_torch(case: tuple[tuple[int, ...], LayerDict]) -> None:
    shape, layer = case
    x = torch.rand(2, *shape, dtype=torch.float64)
    try:
        want = upsample_torch(shape, layer, x)
    except RuntimeError as e:
        assert "should be greater than 0" in str(e) or "output sizes" in str(e), str(e)
        with pytest.raises(SpecError, match="the output would be empty"):
            load(shape, [layer]).analyze()
        return
    net = load(shape, [layer])
    report = net.analyze()
    assert report.output_shape == tuple(want.shape[1:])
    assert report.total_params == 0
    out_volume = math.prod(want.shape[1:])
    assert report.total_macs == (0 if layer["mode"] == "nearest" else out_volume * 2 ** (len(shape) - 1))
    for dtype, tol in ((torch.float64, 1e-7), (torch.float32, 1e-4)):
        xt = x.to(dtype)
        y = net.forward(xt.numpy())
        np.testing.assert_allclose(y, upsample_torch(shape, layer, xt).numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize(
    ("layer", "shape", "message"),
    [
        ({"scale_factor": 0}, (1, 4), "scale_factor must be positive, got 0"),
        ({"scale_factor": 0.1}, (1, 4), r"the output would be empty on axis L: floor\(4 \* 0.1\) = 0"),
        ({"scale_factor": [2, 2]}, (1, 4), "scale_factor has 2 values but the input has 1 spatial axes"),
        ({"scale_factor": 2}, (3,), r"needs spatial axes to resize, got shape \[3\]"),
        ({"scale_factor": 2, "align_corners": True}, (1, 4), "align_corners applies to mode 'linear' only"),
        ({"scale_factor": 1e308}, (1, 4), "the output on axis L is too large"),
        ({"scale_factor": "x2"}, (1, 4), "scale_factor must be a number, got the string 'x2'"),
        ({"scale_factor": [2, "a"]}, (1, 4, 4), r"scale_factor\[1\] must be a number"),
        ({"scale_factor": 2, "mode": "bicubic"}, (1, 4), "mode must be one of nearest, linear"),
    ],
)
def test_upsample_errors(layer: LayerDict, shape: tuple[int, ...], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        load(shape, [{"type": "upsample", **layer}]).analyze()


def test_torch_rejects_align_corners_with_nearest() -> None:
    with pytest.raises(ValueError, match="align_corners option can only be set with the interpolating modes"):
        nn.Upsample(scale_factor=2, mode="nearest", align_corners=False)(torch.zeros(1, 1, 4))


# -- the NumPy forward pass of transposed convolutions -------------------------------------------


@given(transpose_case(), st.integers(0, 2**32 - 1))
def test_transpose_forward_matches_torch(case: tuple[tuple[int, ...], LayerDict], seed: int) -> None:
    shape, layer = case
    try:
        mod, _ = torch_transpose(shape, layer)
    except (RuntimeError, ValueError):
        return  # the rejections are checked above
    net = load(shape, [{**layer, "type": layer["type"]}])
    x = np.random.default_rng(seed).standard_normal((2, *shape))
    weights = {f"0.{k}": v.numpy() for k, v in mod.double().state_dict().items()}
    for dtype, tol in ((np.float64, 1e-7), (np.float32, 1e-4)):
        y = net.forward(x.astype(dtype), weights)
        assert y.dtype == dtype
        with torch.no_grad():
            want = mod.to(torch.float64 if dtype == np.float64 else torch.float32)(
                torch.from_numpy(x.astype(dtype))
            )
        np.testing.assert_allclose(
            y, want.numpy(), rtol=tol, atol=tol * float(np.abs(want.numpy()).max(initial=1))
        )


def test_transpose_forward_drawn_weights_match_torch_shapes() -> None:
    """Weights not given are drawn at PyTorch's scale, with the [C_in, C_out/g, *k] layout."""
    net = load((4, 3, 3, 3), [{"type": "conv_transpose3d", "out_channels": 2, "kernel_size": 2, "stride": 2}])
    y = net.forward(np.ones((1, 4, 3, 3, 3)))
    assert y.shape == (1, 2, 6, 6, 6)
    assert 0 < float(np.abs(y).max()) < 4 * 8  # |w| <= 1/sqrt(2*8), 4 inputs per output


# -- receptive fields: the envelope, measured ------------------------------------------------------


def measured_spans(net: convcalc.Net, axis: int) -> dict[int, tuple[int, int]]:
    """Per output position on ``axis`` (the other axes at their middle), the first and last
    input position with a nonzero gradient in the all-ones linearised net."""
    spec = net.spec
    model = torch_mirror.build(spec, linear=True).double()
    x = torch.ones(1, *spec.input_shape, dtype=torch.float64, requires_grad=True)
    y = model(x)
    out: dict[int, tuple[int, int]] = {}
    mid = [s // 2 for s in y.shape[2:]]
    for o in range(y.shape[2 + axis]):
        index = tuple([0, 0, *(o if a == axis else m for a, m in enumerate(mid))])
        (grad,) = torch.autograd.grad(y[index], x, retain_graph=True)
        hit = grad[0].abs().sum(0) > 0
        others = tuple(a for a in range(hit.dim()) if a != axis)
        idx = torch.nonzero(hit.any(dim=others) if others else hit).flatten()
        if len(idx):
            out[o] = (int(idx.min()), int(idx.max()))
    return out


def check_envelope(net: convcalc.Net, tight: bool) -> AxisRF:
    """Every measured field lies in the predicted envelope; with ``tight``, the envelope is the
    smallest one: its ends are reached (relative to ``o*jump``) at some interior positions."""
    report = net.analyze()
    n_in = net.spec.input_shape[1:]
    rel_lo: list[Fraction] = []
    rel_hi: list[Fraction] = []
    for axis, ax in enumerate(report.rf.axes):
        assert ax.size is not None and ax.jump is not None and ax.start is not None
        for o, (m_lo, m_hi) in measured_spans(net, axis).items():
            lo = ax.start + o * ax.jump
            hi = lo + ax.size - 1
            assert lo <= m_lo and m_hi <= hi, (
                f"axis {axis}, output {o}: measured {m_lo}..{m_hi}, envelope {lo}..{hi}"
            )
            if lo >= 0 and hi <= n_in[axis] - 1:  # the field lies inside the input: nothing is clipped
                rel_lo.append(Fraction(m_lo) - o * Fraction(ax.jump))
                rel_hi.append(Fraction(m_hi) - o * Fraction(ax.jump))
        if tight:
            assert rel_lo and min(rel_lo) == ax.start, f"axis {axis}: lowest {min(rel_lo)}, start {ax.start}"
            assert max(rel_hi) == ax.start + ax.size - 1, f"axis {axis}: highest {max(rel_hi)}"
        rel_lo, rel_hi = [], []
    return report.rf.axes[0]


@given(
    st.integers(1, 4), st.integers(1, 4), st.integers(1, 3), st.integers(0, 3), st.integers(0, 2), st.data()
)
def test_transpose_field_envelope(k: int, s: int, d: int, p: int, op: int, data: st.DataObject) -> None:
    op = min(op, max(s, d) - 1)
    n = data.draw(st.integers(4, 12))
    layer = {
        "type": "conv_transpose1d",
        "out_channels": 1,
        "kernel_size": k,
        "stride": s,
        "padding": p,
        "output_padding": op,
        "dilation": d,
    }
    try:
        net = load((1, n), [layer])
        net.analyze()
    except SpecError:
        return
    ax = check_envelope(net, tight=False)
    assert ax.jump == Fraction(1, s)
    if (n - 1) * s > (k - 1) * d + 2 * s + 2 * p:  # enough interior positions to see every phase
        check_envelope(net, tight=True)


@pytest.mark.parametrize(
    ("layers", "shape", "tight", "field"),
    [
        # stride 2: output o sees input o/2 - 1/2 .. o/2 (even o: one input, odd o: two)
        (
            [{"type": "conv_transpose1d", "out_channels": 1, "kernel_size": 2, "stride": 2}],
            (1, 12),
            True,
            (Fraction(3, 2), Fraction(1, 2), Fraction(-1, 2)),
        ),
        (
            [{"type": "upsample", "scale_factor": 2}],
            (1, 12),
            True,
            (Fraction(3, 2), Fraction(1, 2), Fraction(-1, 2)),
        ),
        ([{"type": "upsample", "scale_factor": 3}], (1, 12), False, (2, Fraction(1, 3), -1)),
        ([{"type": "upsample", "scale_factor": 1.5}], (1, 16), False, (2, Fraction(2, 3), -1)),
        (
            [{"type": "upsample", "scale_factor": 0.8}],
            (1, 40),
            True,
            (Fraction(7, 4), Fraction(5, 4), Fraction(-3, 4)),
        ),
        (
            [{"type": "upsample", "scale_factor": 0.4}],
            (1, 40),
            True,
            (Fraction(3, 2), Fraction(5, 2), Fraction(-1, 2)),
        ),
        (
            [{"type": "upsample", "scale_factor": 2, "mode": "linear"}],
            (1, 12),
            True,
            (Fraction(5, 2), Fraction(1, 2), -1),
        ),
        ([{"type": "upsample", "scale_factor": 2.5, "mode": "linear"}], (1, 12), True, None),
        ([{"type": "upsample", "scale_factor": 3, "mode": "linear"}], (1, 12), False, None),
        ([{"type": "upsample", "scale_factor": 1.3, "mode": "linear"}], (1, 30), False, None),
        (
            [{"type": "upsample", "scale_factor": 2, "mode": "linear", "align_corners": True}],
            (1, 9),
            False,
            None,
        ),
        # a conv after the up-sampling: the jumps compose, and a stride-2 conv brings it back to 1
        (
            [
                {"type": "conv_transpose1d", "out_channels": 2, "kernel_size": 3, "stride": 2, "padding": 1},
                {"type": "conv1d", "out_channels": 1, "kernel_size": 3, "padding": 1},
            ],
            (1, 12),
            False,
            None,
        ),
        (
            [
                {"type": "upsample", "scale_factor": 2},
                {"type": "conv1d", "out_channels": 1, "kernel_size": 2, "stride": 2},
            ],
            (1, 12),
            False,
            (2, 1, Fraction(-1, 2)),
        ),
        (
            [
                {"type": "upsample", "scale_factor": [2, 1.5], "mode": "linear"},
                {"type": "conv_transpose2d", "out_channels": 1, "kernel_size": 3, "stride": [1, 2]},
            ],
            (1, 6, 7),
            False,
            None,
        ),
    ],
)
def test_field_envelopes(layers: list[LayerDict], shape: tuple[int, ...], tight: bool, field: Any) -> None:
    ax = check_envelope(load(shape, layers), tight)
    if field is not None:
        assert (ax.size, ax.jump, ax.start) == field


@pytest.mark.parametrize("f", [i / 10 for i in range(3, 60)] + [i / 4 for i in range(1, 24)])
def test_nearest_and_linear_indices_in_envelope(f: float) -> None:
    """PyTorch's own source indices (in float32 and float64) lie in the envelope for every
    output position of a long input, for factors written with a few digits."""
    n = 300
    from convcalc.layers.transpose import linear_envelope, nearest_envelope

    out = math.floor(n * f)
    x = torch.arange(1, n + 1, dtype=torch.float64).reshape(1, 1, n)
    o = np.arange(out)
    for dtype in (torch.float64, torch.float32):
        got = nn.Upsample(scale_factor=f, mode="nearest")(x.to(dtype)).flatten().numpy().astype(np.int64) - 1
        lo, hi, step = nearest_envelope(f)
        rel = [Fraction(int(i)) - int(oi) * Fraction(step) for oi, i in zip(o, got, strict=True)]
        assert all(lo <= r <= hi for r in rel[: out - 2])  # the last outputs are clamped to n - 1
        eye = torch.eye(n, dtype=dtype).reshape(n, 1, n)
        weights = nn.Upsample(scale_factor=f, mode="linear")(eye)[:, 0, :].numpy()  # [input, output]
        lo, hi, step = linear_envelope(f, n, out, False)
        for oi in range(out - 2):
            used = np.nonzero(weights[:, oi])[0]
            assert lo <= Fraction(int(used.min())) - oi * Fraction(step), (dtype, oi)
            assert Fraction(int(used.max())) - oi * Fraction(step) <= hi, (dtype, oi)


def test_fractional_field_in_json_and_table() -> None:
    net = load((1, 8), [{"type": "conv_transpose1d", "out_channels": 1, "kernel_size": 3, "stride": 3}])
    report = net.analyze()
    assert report.to_dict()["receptive_field"] == {"size": [5 / 3], "jump": [1 / 3], "start": [-2 / 3]}
    from convcalc.render import render_table, to_json

    text = render_table(report, width=100)
    assert re.search(r"5/3 j1/3 @-2/3", text), text
    assert '"jump": [0.3333333333333333]' in to_json(report)
    # back to integers: no fraction is left
    net = load(
        (1, 8),
        [{"type": "upsample", "scale_factor": 2}, {"type": "maxpool1d", "kernel_size": 2, "padding": 1}],
    )
    assert net.analyze().to_dict()["receptive_field"] == {"size": [2], "jump": [1], "start": [-1]}
    assert all(type(v) is int for v in (net.analyze().rf.axes[0].size, net.analyze().rf.axes[0].jump))


# -- the example -------------------------------------------------------------------------------------


def test_unet_small_example() -> None:
    net = convcalc.load(ROOT / "specs" / "examples" / "unet_small.yaml")
    report = net.analyze()
    model = torch_mirror.build(net.spec).double()
    assert report.total_params == torch_mirror.n_params(model)
    x = np.random.default_rng(1).standard_normal((2, *net.spec.input_shape))
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    assert report.output_shape == want.shape[1:]
    weights = {k: v.numpy() for k, v in model.state_dict().items()}
    np.testing.assert_allclose(net.forward(x, weights), want, rtol=1e-7, atol=1e-9)
    types = {r.layer.type for _, r in report.rows()}
    assert {"conv_transpose2d", "upsample", "parallel"} <= types
    assert report.output_shape[1:] == net.spec.input_shape[1:]  # a U-Net gives back the input's size
    check_envelope(net, tight=False)
