"""convcalc's shapes and parameter counts against PyTorch.

Every case is YAML text -> ``convcalc.load`` -> report, and the same spec -> the torch
mirror (tests/torch_mirror.py) -> a forward pass. Output shapes (without batch) and
parameter counts must agree, layer by layer (nested layers included) and in total.

The hypothesis tests draw random configs and check that convcalc accepts a config exactly
when torch runs it; for single conv/pool layers the torch module is built here from
torch's own arguments, for stacks by the mirror in ``probe`` mode (sized by torch, not by
convcalc).
"""

from __future__ import annotations

import json
import math
from typing import Any, cast

import pytest
import torch
import torch.nn.functional as F
import torch_mirror
from hypothesis import event, given
from hypothesis import strategies as st
from torch import nn

import convcalc
from convcalc import SpecError
from convcalc.arith import conv_out, pool_out, same_padding
from convcalc.layers import REGISTRY
from convcalc.report import LayerReport, Report

torch.set_num_threads(1)

LayerDict = dict[str, Any]
Shape = tuple[int, ...]


def spec_text(shape: Shape, layers: list[LayerDict]) -> str:
    """YAML text of a spec (JSON flow mappings are YAML)."""
    body = "\n".join(f"  - {json.dumps(layer)}" for layer in layers)
    return f"name: t\ninput: {json.dumps(list(shape))}\nlayers:\n{body}\n"


def analyze(shape: Shape, layers: list[LayerDict]) -> tuple[convcalc.Net, Report]:
    net = convcalc.load(spec_text(shape, layers))
    return net, net.analyze()


def pairs(reports: list[LayerReport], mods: nn.Module) -> list[tuple[LayerReport, nn.Module]]:
    """(report, torch module) of every layer, nested ones included."""
    out: list[tuple[LayerReport, nn.Module]] = []
    for rep, mod in zip(reports, mods.children(), strict=True):
        out.append((rep, mod))
        for key, value in rep.children.items():
            if key == "branches":
                for branch, seq in zip(value, cast(nn.ModuleList, mod.branches), strict=True):
                    out += pairs(branch, seq)
            else:
                out += pairs(value, getattr(mod, key))
    return out


def check_against_torch(shape: Shape, layers: list[LayerDict]) -> Report:
    """Shapes and parameters of every layer, and the totals, as torch has them."""
    net, report = analyze(shape, layers)
    model = torch_mirror.build(net.spec)
    seen: dict[int, Shape] = {}

    def hook(mod: nn.Module, args: Any, out: torch.Tensor) -> None:
        seen[id(mod)] = tuple(out.shape[1:])

    matched = pairs(report.layers, model)
    for _, mod in matched:
        mod.register_forward_hook(hook)
    with torch.no_grad():
        y = model(torch.randn(2, *shape))
    assert tuple(y.shape) == (2, *report.output_shape)
    for rep, mod in matched:
        where = f"{rep.layer.label}"
        assert seen[id(mod)] == rep.shape, where
        assert torch_mirror.n_params(mod) == rep.params, where
    assert torch_mirror.n_params(model) == report.total_params
    return report


# -- every layer type and option ----------------------------------------------------------

CONV1 = {"type": "conv1d", "out_channels": 4, "kernel_size": 3}
CASES: list[tuple[str, Shape, list[LayerDict]]] = [
    ("conv1d", (3, 20), [CONV1]),
    ("conv1d stride", (3, 20), [{**CONV1, "stride": 2}]),
    ("conv1d padding int", (3, 20), [{**CONV1, "padding": 2}]),
    ("conv1d padding pair", (3, 20), [{**CONV1, "padding": [[3, 1]]}]),
    ("conv1d valid", (3, 20), [{**CONV1, "padding": "valid"}]),
    ("conv1d same s1 even k", (3, 20), [{**CONV1, "kernel_size": 4, "padding": "same"}]),
    ("conv1d same s1 dilated", (3, 20), [{**CONV1, "kernel_size": 3, "dilation": 3, "padding": "same"}]),
    ("conv1d same s3", (3, 20), [{**CONV1, "kernel_size": 4, "stride": 3, "padding": "same"}]),
    ("conv1d causal", (3, 20), [{**CONV1, "dilation": 4, "padding": "causal"}]),
    ("conv1d groups", (6, 20), [{**CONV1, "out_channels": 9, "groups": 3}]),
    ("conv1d depthwise", (6, 20), [{**CONV1, "out_channels": 12, "groups": 6}]),
    ("conv1d no bias", (3, 20), [{**CONV1, "bias": False}]),
    ("conv1d 1x1", (5, 20), [{**CONV1, "kernel_size": 1}]),
    (
        "conv2d per-axis",
        (3, 11, 13),
        [
            {
                "type": "conv2d",
                "out_channels": 4,
                "kernel_size": [3, 5],
                "stride": [2, 1],
                "dilation": [1, 2],
                "padding": [1, 2],
            }
        ],
    ),
    (
        "conv2d pairs",
        (3, 11, 13),
        [{"type": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": [[0, 2], [3, 1]]}],
    ),
    (
        "conv2d mixed pairs",
        (3, 11, 13),
        [{"type": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": [1, [0, 2]]}],
    ),
    (
        "conv2d same s2",
        (3, 11, 12),
        [{"type": "conv2d", "out_channels": 4, "kernel_size": 3, "stride": 2, "padding": "same"}],
    ),
    (
        "conv2d same s1",
        (3, 11, 12),
        [{"type": "conv2d", "out_channels": 4, "kernel_size": [2, 5], "padding": "same"}],
    ),
    (
        "conv2d 1x1 no bias",
        (8, 5, 5),
        [{"type": "conv2d", "out_channels": 2, "kernel_size": 1, "bias": False}],
    ),
    ("conv2d depthwise", (4, 9, 9), [{"type": "conv2d", "out_channels": 4, "kernel_size": 3, "groups": 4}]),
    (
        "conv3d",
        (2, 7, 8, 9),
        [
            {
                "type": "conv3d",
                "out_channels": 4,
                "kernel_size": [3, 1, 2],
                "stride": [2, 1, 3],
                "padding": [[1, 0], 0, [2, 1]],
                "groups": 2,
            }
        ],
    ),
    (
        "conv3d same",
        (2, 7, 8, 9),
        [
            {
                "type": "conv3d",
                "out_channels": 3,
                "kernel_size": 3,
                "stride": 2,
                "padding": "same",
                "dilation": [1, 2, 1],
            }
        ],
    ),
    ("maxpool1d", (3, 20), [{"type": "maxpool1d", "kernel_size": 3}]),
    ("maxpool1d ceil", (3, 20), [{"type": "maxpool1d", "kernel_size": 3, "stride": 2, "ceil_mode": True}]),
    # a 4th window would start in the right padding: PyTorch drops it
    (
        "maxpool1d ceil last window",
        (3, 5),
        [{"type": "maxpool1d", "kernel_size": 2, "stride": 2, "padding": 1, "ceil_mode": True}],
    ),
    (
        "avgpool1d ceil last window",
        (3, 5),
        [{"type": "avgpool1d", "kernel_size": 2, "stride": 2, "padding": 1, "ceil_mode": True}],
    ),
    # with ceil_mode PyTorch keeps a window larger than the padded input (one output)
    (
        "maxpool1d ceil kernel above input",
        (3, 2),
        [{"type": "maxpool1d", "kernel_size": 3, "ceil_mode": True}],
    ),
    (
        "avgpool2d ceil kernel above input",
        (3, 2, 5),
        [{"type": "avgpool2d", "kernel_size": 4, "ceil_mode": True}],
    ),
    (
        "maxpool1d dilation",
        (3, 20),
        [{"type": "maxpool1d", "kernel_size": 3, "stride": 1, "padding": 1, "dilation": 3}],
    ),
    (
        "maxpool2d",
        (3, 9, 10),
        [
            {
                "type": "maxpool2d",
                "kernel_size": [3, 2],
                "stride": [2, 1],
                "padding": [1, 1],
                "dilation": [2, 1],
                "ceil_mode": True,
            }
        ],
    ),
    ("maxpool3d", (2, 5, 6, 7), [{"type": "maxpool3d", "kernel_size": 2, "ceil_mode": True}]),
    (
        "avgpool2d count_include_pad",
        (3, 9, 10),
        [{"type": "avgpool2d", "kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": False}],
    ),
    (
        "avgpool3d",
        (2, 5, 6, 7),
        [{"type": "avgpool3d", "kernel_size": [1, 2, 3], "padding": [0, 1, 1], "ceil_mode": True}],
    ),
    ("global_avgpool", (3, 4, 5), [{"type": "global_avgpool"}]),
    ("global_maxpool", (3, 4, 5, 6), [{"type": "global_maxpool"}]),
    ("global_avgpool 1d", (3, 7), [{"type": "global_avgpool"}]),
    ("flatten", (3, 4, 5), [{"type": "flatten"}, {"type": "linear", "out_features": 7}]),
    ("pad", (3, 4, 5), [{"type": "pad", "padding": [[1, 2], 3]}]),
    ("pad int 1d", (3, 4), [{"type": "pad", "padding": 2}]),
    ("linear [F]", (6,), [{"type": "linear", "out_features": 4}]),
    ("linear [C, L]", (6, 9), [{"type": "linear", "out_features": 4, "bias": False}]),
    ("batchnorm rank 1", (6,), [{"type": "batchnorm"}]),
    ("batchnorm rank 2", (6, 5), [{"type": "batchnorm", "eps": 0.001, "momentum": 0.5}]),
    ("batchnorm rank 3", (6, 5, 4), [{"type": "batchnorm", "affine": False}]),
    ("batchnorm rank 4", (6, 5, 4, 3), [{"type": "batchnorm"}]),
    (
        "activations",
        (3, 8),
        [
            {"type": "relu"},
            {"type": "tanh"},
            {"type": "sigmoid"},
            {"type": "identity"},
            {"type": "dropout", "p": 0.3},
        ],
    ),
    ("rnn", (5, 7), [{"type": "rnn", "hidden_size": 4}]),
    (
        "lstm stacked bidirectional",
        (5, 7),
        [{"type": "lstm", "hidden_size": 4, "num_layers": 3, "bidirectional": True, "dropout": 0.1}],
    ),
    (
        "gru no bias last step",
        (5, 7),
        [{"type": "gru", "hidden_size": 6, "num_layers": 2, "bias": False, "return_sequences": False}],
    ),
    (
        "lstm bidirectional last step",
        (5, 7),
        [{"type": "lstm", "hidden_size": 3, "bidirectional": True, "return_sequences": False}],
    ),
    (
        "rnn then linear",
        (5, 7),
        [{"type": "rnn", "hidden_size": 4, "num_layers": 2}, {"type": "linear", "out_features": 2}],
    ),
    (
        "sequential",
        (3, 12),
        [{"type": "sequential", "layers": [CONV1, {"type": "relu"}, {**CONV1, "stride": 2}]}],
    ),
    ("residual identity", (4, 12), [{"type": "residual", "layers": [{**CONV1, "padding": 1}]}]),
    (
        "residual shortcut",
        (3, 12),
        [
            {
                "type": "residual",
                "layers": [{**CONV1, "stride": 2, "padding": 1}, {"type": "batchnorm"}],
                "shortcut": [{**CONV1, "kernel_size": 1, "stride": 2}],
            }
        ],
    ),
    (
        "parallel concat",
        (3, 12, 12),
        [
            {
                "type": "parallel",
                "branches": [
                    [{"type": "conv2d", "out_channels": 2, "kernel_size": 1}],
                    [{"type": "conv2d", "out_channels": 3, "kernel_size": 3, "padding": 1}],
                    [{"type": "conv2d", "out_channels": 4, "kernel_size": 5, "padding": 2}],
                    [{"type": "maxpool2d", "kernel_size": 3, "stride": 1, "padding": 1}],
                    [],
                ],
            }
        ],
    ),
    (
        "parallel add",
        (3, 12),
        [
            {
                "type": "parallel",
                "merge": "add",
                "branches": [
                    [{**CONV1, "padding": "same"}],
                    [{**CONV1, "kernel_size": 5, "padding": 2, "bias": False}],
                ],
            }
        ],
    ),
    (
        "repeat and vary",  # the stack sugar (tests/test_repeat.py), and the container it makes
        (3, 40),
        [
            {**CONV1, "padding": "causal", "kernel_size": 2, "dilation": {"pow2": [0, 2]}},
            {
                "type": "residual",
                "repeat": 2,
                "vary": {"layers.0.dilation": [1, 3]},
                "layers": [{**CONV1, "kernel_size": 3, "padding": "same"}],
            },
            {"type": "repeat", "layers": [{**CONV1, "stride": 2}, {"type": "relu"}]},
        ],
    ),
    (
        "nested containers",
        (4, 16),
        [
            {
                "type": "sequential",
                "layers": [
                    {
                        "type": "residual",
                        "layers": [
                            {
                                "type": "parallel",
                                "merge": "concat",
                                "branches": [
                                    [{**CONV1, "out_channels": 2, "padding": "same"}],
                                    [{**CONV1, "out_channels": 2, "padding": 1}],
                                ],
                            }
                        ],
                    },
                    {"type": "maxpool1d", "kernel_size": 2},
                ],
            },
            {"type": "global_maxpool"},
        ],
    ),
    (
        "conv_transpose and upsample (tests/test_transpose.py has the property tests)",
        (4, 5),
        [
            {
                "type": "conv_transpose1d",
                "out_channels": 6,
                "kernel_size": 3,
                "stride": 2,
                "output_padding": 1,
                "groups": 2,
            },
            {"type": "upsample", "scale_factor": 1.5, "mode": "linear"},
        ],
    ),
    (
        "conv_transpose2d/3d with nearest upsampling",
        (2, 3, 4, 5),
        [
            {
                "type": "conv_transpose3d",
                "out_channels": 3,
                "kernel_size": [2, 3, 1],
                "stride": [2, 1, 3],
                "padding": [0, 1, 0],
                "dilation": [1, 2, 1],
            },
            {"type": "upsample", "scale_factor": [1, 0.5, 2.5]},
            {"type": "flatten"},
        ],
    ),
    (
        "conv_transpose2d",
        (2, 4, 4),
        [{"type": "conv_transpose2d", "out_channels": 2, "kernel_size": 2, "stride": 2}],
    ),
]


@pytest.mark.parametrize(("shape", "layers"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_case_matches_torch(shape: Shape, layers: list[LayerDict]) -> None:
    check_against_torch(shape, layers)


def _types(layers: list[LayerDict]) -> set[str]:
    out = set()
    for layer in layers:
        out.add(layer["type"])
        for key in ("layers", "shortcut"):
            out |= _types(layer.get(key, []))
        for branch in layer.get("branches", []):
            out |= _types(branch)
    return out


def test_every_registered_type_is_covered() -> None:
    covered = set().union(*(_types(c[2]) for c in CASES))
    assert set(REGISTRY) - covered == set()


# -- single conv layers: accepted iff torch runs them ------------------------------------


def torch_conv(ndim: int, c_in: int, o: LayerDict) -> nn.Module:
    """The conv from torch's own arguments; F.pad where torch has no such padding."""
    k, s, d = (o[key] for key in ("kernel_size", "stride", "dilation"))
    cls: Any = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}[ndim]
    kw = {"stride": s, "dilation": d, "groups": o["groups"], "bias": o["bias"]}
    p = o["padding"]
    stride1 = all(v == 1 for v in (s if isinstance(s, list) else [s]))
    if isinstance(p, int) or p == "valid" or (p == "same" and stride1):
        return cast(nn.Module, cls(c_in, o["out_channels"], k, padding=p, **kw))
    if isinstance(p, list) and all(isinstance(v, int) for v in p):
        return cast(nn.Module, cls(c_in, o["out_channels"], k, padding=tuple(p), **kw))
    conv = cls(c_in, o["out_channels"], k, padding=0, **kw)
    return nn.Sequential(PadFor(ndim, o), conv)


def _axes(v: int | list[int], ndim: int) -> list[int]:
    return v if isinstance(v, list) else [v] * ndim


class PadFor(nn.Module):
    """Pairs, causal (all of d*(k-1) on the left) and TF 'same' at stride > 1, as F.pad."""

    def __init__(self, ndim: int, o: LayerDict) -> None:
        super().__init__()
        self.ndim, self.o = ndim, o

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        o, ndim = self.o, self.ndim
        k, s, d = (_axes(o[key], ndim) for key in ("kernel_size", "stride", "dilation"))
        p = o["padding"]
        if p == "causal":
            pads = [(d[0] * (k[0] - 1), 0)]
        elif p == "same":
            pads = [tf_same(n, ki, si, di) for n, ki, si, di in zip(x.shape[2:], k, s, d, strict=True)]
        else:
            pads = [(v, v) if isinstance(v, int) else (v[0], v[1]) for v in p]
        flat: list[int] = []
        for lo, hi in reversed(pads):
            flat += [lo, hi]
        return F.pad(x, flat)


def tf_same(n: int, k: int, s: int, d: int) -> tuple[int, int]:
    """TensorFlow's 'SAME' padding as its documentation states it (the extra one on the right)."""
    eff = d * (k - 1) + 1
    total = max(eff - s, 0) if n % s == 0 else max(eff - n % s, 0)
    return total // 2, total - total // 2


def torch_runs(make: Any, shape: Shape) -> tuple[Shape, int] | None:
    """(output shape without batch, parameters), or None when torch refuses."""
    try:
        mod = make()
        with torch.no_grad():
            y = mod.eval()(torch.randn(2, *shape))
    except (RuntimeError, ValueError):
        return None
    return tuple(y.shape[1:]), torch_mirror.n_params(mod)


def convcalc_runs(shape: Shape, layers: list[LayerDict], reasons: list[str]) -> tuple[Shape, int] | None:
    """(output shape, params), or None when convcalc raises a SpecError matching ``reasons``."""
    if reasons:
        with pytest.raises(SpecError, match="|".join(reasons)):
            analyze(shape, layers)
        return None
    _, report = analyze(shape, layers)
    return report.output_shape, report.total_params


def per_axis_or_int(draw: st.DrawFn, ndim: int, lo: int, hi: int) -> int | list[int]:
    if draw(st.booleans()):
        return draw(st.integers(lo, hi))
    return draw(st.lists(st.integers(lo, hi), min_size=ndim, max_size=ndim))


@st.composite
def conv_configs(draw: st.DrawFn, ndim: int) -> tuple[Shape, LayerDict]:
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    c_in = draw(st.integers(1, 6))
    sizes = draw(st.lists(st.integers(1, 12 if ndim < 3 else 6), min_size=ndim, max_size=ndim))
    forms = ["int", "axes", "pairs", "valid", "same"] + (["causal"] if ndim == 1 else [])
    form = draw(st.sampled_from(forms))
    padding: Any = form
    if form == "int":
        padding = draw(st.integers(0, 3))
    elif form == "axes":
        padding = draw(st.lists(st.integers(0, 3), min_size=ndim, max_size=ndim))
    elif form == "pairs":
        pair = st.lists(st.integers(0, 3), min_size=2, max_size=2)
        padding = draw(st.lists(pair, min_size=ndim, max_size=ndim))
    layer = {
        "type": f"conv{ndim}d",
        "out_channels": draw(st.integers(1, 6)),
        "kernel_size": per_axis_or_int(draw, ndim, 1, 5),
        "stride": per_axis_or_int(draw, ndim, 1, 3),
        "padding": padding,
        "dilation": per_axis_or_int(draw, ndim, 1, 3),
        "groups": groups,
        "bias": draw(st.booleans()),
    }
    return (c_in, *sizes), layer


def conv_reasons(shape: Shape, o: LayerDict, ndim: int) -> list[str]:
    """Why convcalc must reject the conv, worked out here independently."""
    reasons = []
    if shape[0] % o["groups"] or o["out_channels"] % o["groups"]:
        reasons.append("must be divisible by groups")
    k, d = _axes(o["kernel_size"], ndim), _axes(o["dilation"], ndim)
    p = o["padding"]
    if p in ("same", "causal"):
        return reasons  # both pad so that a window always fits
    for i, n in enumerate(shape[1:]):
        v = 0 if p == "valid" else p if isinstance(p, int) else p[i]
        total = sum(v) if isinstance(v, list) else 2 * v
        if n + total < d[i] * (k[i] - 1) + 1:
            reasons.append("is larger than the padded input")
    return reasons


@pytest.mark.parametrize("ndim", [1, 2, 3])
@given(data=st.data())
def test_random_conv_accepted_iff_torch_runs(ndim: int, data: st.DataObject) -> None:
    shape, layer = data.draw(conv_configs(ndim))
    ours = convcalc_runs(shape, [layer], conv_reasons(shape, layer, ndim))
    theirs = torch_runs(lambda: torch_conv(ndim, shape[0], layer), shape)
    assert ours == theirs
    event("accepted" if ours is not None else "rejected")
    if ours is not None:
        check_against_torch(shape, [layer])


# -- single pooling layers --------------------------------------------------------------


@st.composite
def pool_configs(draw: st.DrawFn, ndim: int, op: str) -> tuple[Shape, LayerDict]:
    sizes = draw(st.lists(st.integers(1, 12 if ndim < 3 else 6), min_size=ndim, max_size=ndim))
    layer: LayerDict = {
        "type": f"{op}pool{ndim}d",
        "kernel_size": per_axis_or_int(draw, ndim, 1, 5),
        "padding": per_axis_or_int(draw, ndim, 0, 2),
        "ceil_mode": draw(st.booleans()),
    }
    if draw(st.booleans()):
        layer["stride"] = per_axis_or_int(draw, ndim, 1, 3)
    if op == "max":
        layer["dilation"] = per_axis_or_int(draw, ndim, 1, 3)
    else:
        layer["count_include_pad"] = draw(st.booleans())
    return (draw(st.integers(1, 3)), *sizes), layer


def pool_reasons(shape: Shape, o: LayerDict, ndim: int) -> list[str]:
    """PyTorch's rules: pad <= k // 2, at least one output (ceil_mode rounds up, so a window
    may overhang the end), and avg_pool3d wants the unpadded input to hold the kernel."""
    reasons = []
    k, p, d = (_axes(o.get(key, 1), ndim) for key in ("kernel_size", "padding", "dilation"))
    s = _axes(o["stride"] if "stride" in o else o["kernel_size"], ndim)
    for n, ki, si, pi, di in zip(shape[1:], k, s, p, d, strict=True):
        if pi > ki // 2:
            reasons.append("is more than half the kernel size")
        rounding = si - 1 if o["ceil_mode"] else 0
        if (n + 2 * pi - di * (ki - 1) - 1 + rounding) // si + 1 < 1:
            reasons.append("is larger than the padded input")
        if o["type"] == "avgpool3d" and n < ki:
            reasons.append("is larger than the unpadded input")
    return reasons


def torch_pool(ndim: int, o: LayerDict) -> nn.Module:
    title = "Max" if o["type"].startswith("max") else "Avg"
    cls = getattr(nn, f"{title}Pool{ndim}d")
    kw = {
        key: o[key] for key in ("stride", "padding", "dilation", "ceil_mode", "count_include_pad") if key in o
    }
    return cls(o["kernel_size"], **kw)  # type: ignore[no-any-return]


@pytest.mark.parametrize("op", ["max", "avg"])
@pytest.mark.parametrize("ndim", [1, 2, 3])
@given(data=st.data())
def test_random_pool_accepted_iff_torch_runs(ndim: int, op: str, data: st.DataObject) -> None:
    shape, layer = data.draw(pool_configs(ndim, op))
    ours = convcalc_runs(shape, [layer], pool_reasons(shape, layer, ndim))
    theirs = torch_runs(lambda: torch_pool(ndim, layer), shape)
    assert ours == theirs
    event("accepted" if ours is not None else "rejected")
    if ours is not None:
        check_against_torch(shape, [layer])


# -- recurrent ---------------------------------------------------------------------------


@given(
    cell=st.sampled_from(["rnn", "lstm", "gru"]),
    features=st.integers(1, 6),
    length=st.integers(1, 6),
    hidden=st.integers(1, 6),
    num_layers=st.integers(1, 3),
    bidirectional=st.booleans(),
    bias=st.booleans(),
    return_sequences=st.booleans(),
)
def test_random_recurrent_matches_torch(
    cell: str,
    features: int,
    length: int,
    hidden: int,
    num_layers: int,
    bidirectional: bool,
    bias: bool,
    return_sequences: bool,
) -> None:
    layer = {
        "type": cell,
        "hidden_size": hidden,
        "num_layers": num_layers,
        "bidirectional": bidirectional,
        "bias": bias,
        "return_sequences": return_sequences,
    }
    report = check_against_torch((features, length), [layer])
    dirs = 2 if bidirectional else 1
    assert report.output_shape == ((hidden * dirs, length) if return_sequences else (hidden * dirs,))
    base = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell]
    ref = base(features, hidden, num_layers=num_layers, bias=bias, bidirectional=bidirectional)
    assert report.total_params == torch_mirror.n_params(ref)


def test_recurrent_needs_a_sequence() -> None:
    layers: list[LayerDict] = [{"type": "gru", "hidden_size": 3}]
    with pytest.raises(SpecError, match=r"needs a sequence \[features, time\], got shape \[2, 4, 4\]"):
        analyze((2, 4, 4), layers)
    net = convcalc.load(spec_text((2, 4), layers))
    with pytest.raises(ValueError, match="Expected input to be 2D or 3D, got 4D"):
        torch_mirror.build(net.spec)(torch.zeros(1, 2, 4, 4))


# -- random stacks, containers included --------------------------------------------------


@st.composite
def stack_layers(draw: st.DrawFn, ndim: int, depth: int = 0) -> list[LayerDict]:
    n = draw(st.integers(2 if depth == 0 else 1, 5 if depth == 0 else 2))
    out: list[LayerDict] = []
    for _ in range(n):
        kinds = ["conv", "conv", "pool", "relu", "batchnorm", "pad"] + (
            ["residual", "parallel"] if depth < 2 else []
        )
        kind = draw(st.sampled_from(kinds))
        if kind == "conv":
            _, layer = draw(conv_configs(ndim))
            out.append(layer)
        elif kind == "pool":
            _, layer = draw(pool_configs(ndim, draw(st.sampled_from(["max", "avg"]))))
            if draw(st.booleans()):
                layer["padding"] = 0  # keep most stacks valid; the pool tests cover bad padding
            out.append(layer)
        elif kind == "pad":
            out.append({"type": "pad", "padding": per_axis_or_int(draw, ndim, 0, 2)})
        elif kind in ("relu", "batchnorm"):
            out.append({"type": kind})
        elif kind == "residual":
            layer = {"type": "residual", "layers": draw(stack_layers(ndim, depth + 1))}
            if draw(st.booleans()):
                layer["shortcut"] = draw(stack_layers(ndim, depth + 1))
            out.append(layer)
        else:
            branches = [draw(stack_layers(ndim, depth + 1)) for _ in range(draw(st.integers(1, 3)))]
            out.append(
                {"type": "parallel", "branches": branches, "merge": draw(st.sampled_from(["concat", "add"]))}
            )
    return out


STACK_ERRORS = [
    "must be divisible by groups",
    "is larger than the padded input",
    "is more than half the kernel size",
    "is larger than the unpadded input",
    "outputs are added, so shapes must match",
    "merge 'add' needs equal shapes",
    "merge 'concat' joins channels, so the other axes must match",
]


@pytest.mark.parametrize("ndim", [1, 2])
@given(data=st.data())
def test_random_stack_accepted_iff_torch_runs(ndim: int, data: st.DataObject) -> None:
    c = data.draw(st.sampled_from([2, 6]))
    shape = (c, *data.draw(st.lists(st.integers(6, 20 if ndim == 1 else 14), min_size=ndim, max_size=ndim)))
    layers = data.draw(stack_layers(ndim))
    try:
        _, report = analyze(shape, layers)
        ok = True
    except SpecError as e:
        assert any(reason in e.message for reason in STACK_ERRORS), e.message
        ok = False
    try:
        with torch.no_grad():
            y = torch_mirror.build(_unchecked_spec(shape, layers), probe=True)(torch.randn(2, *shape))
        torch_ok = True
    except (RuntimeError, ValueError):
        torch_ok = False
    assert torch_ok == ok
    event("accepted" if ok else "rejected")
    if ok:
        assert tuple(y.shape[1:]) == report.output_shape
        check_against_torch(shape, layers)


def _unchecked_spec(shape: Shape, layers: list[LayerDict]) -> Any:
    """The validated spec of a net whose analysis fails (loading does not analyse)."""
    return convcalc.load(spec_text(shape, layers)).spec


# -- 'same' padding -----------------------------------------------------------------------


@given(n=st.integers(1, 20), k=st.integers(1, 6), d=st.integers(1, 3))
def test_same_equals_torch_same_at_stride_1(n: int, k: int, d: int) -> None:
    x = torch.randn(1, 2, n, dtype=torch.float64)
    conv = nn.Conv1d(2, 3, k, padding="same", dilation=d).double()
    lo, hi = same_padding(n, k, 1, d)
    with torch.no_grad():
        ours = F.conv1d(F.pad(x, [lo, hi]), conv.weight, conv.bias, dilation=d)
        torch.testing.assert_close(ours, conv(x), rtol=0, atol=1e-12)
    assert ours.shape[-1] == n


@given(n=st.integers(1, 40), k=st.integers(1, 7), s=st.integers(2, 5), d=st.integers(1, 3))
def test_same_equals_tensorflow_rule_at_stride_above_1(n: int, k: int, s: int, d: int) -> None:
    assert same_padding(n, k, s, d) == tf_same(n, k, s, d)
    _, report = analyze(
        (1, n),
        [
            {
                "type": "conv1d",
                "out_channels": 1,
                "kernel_size": k,
                "stride": s,
                "dilation": d,
                "padding": "same",
            }
        ],
    )
    assert report.output_shape == (1, math.ceil(n / s))


def test_torch_rejects_same_at_stride_2_so_the_mirror_pads() -> None:
    with pytest.raises(ValueError, match="padding='same' is not supported for strided convolutions"):
        nn.Conv1d(1, 1, 3, stride=2, padding="same")


# -- named error cases ---------------------------------------------------------------------

ERRORS: list[tuple[str, Shape, list[LayerDict], str]] = [
    (
        "kernel larger than input",
        (1, 4),
        [{**CONV1, "kernel_size": 5}],
        r"kernel_size 5 is larger than the padded input on axis L: 4 \+ 0 \+ 0 = 4 < 5",
    ),
    (
        "dilated kernel larger than input",
        (1, 6),
        [{**CONV1, "kernel_size": 3, "dilation": 3}],
        r"kernel_size 3 \(dilation 3 makes it span 7\) is larger than the padded input",
    ),
    (
        "in channels not divisible",
        (3, 8),
        [{**CONV1, "groups": 2, "out_channels": 4}],
        r"input channels \(3\) must be divisible by groups \(2\)",
    ),
    (
        "out channels not divisible",
        (4, 8),
        [{**CONV1, "groups": 2, "out_channels": 3}],
        r"out_channels \(3\) must be divisible by groups \(2\)",
    ),
    (
        "pool window overhangs too far",
        (1, 2),
        [{"type": "maxpool1d", "kernel_size": 5, "stride": 2, "ceil_mode": True}],
        r"kernel_size 5 is larger than the padded input on axis L: 2 \+ 2\*0 = 2 < 5 "
        r"\(ceil_mode lets a window overhang the end by at most stride - 1 = 1\)",
    ),
    (
        "avgpool3d unpadded input",
        (1, 2, 4, 4),
        [{"type": "avgpool3d", "kernel_size": 3, "padding": 1}],
        r"kernel_size 3 is larger than the unpadded input on axis D: 2 < 3",
    ),
    (
        "pool pad above half kernel",
        (1, 8),
        [{"type": "maxpool1d", "kernel_size": 3, "padding": 2}],
        r"padding 2 on axis L is more than half the kernel size 3",
    ),
    (
        "pool kernel larger than input",
        (1, 3),
        [{"type": "avgpool1d", "kernel_size": 5, "padding": 0}],
        r"kernel_size 5 is larger than the padded input on axis L: 3 \+ 2\*0 = 3 < 5",
    ),
    (
        "residual shapes",
        (2, 8),
        [{"type": "residual", "layers": [CONV1]}],
        r"shapes must match: the layers give \[4, 6\] but the identity shortcut gives \[2, 8\]",
    ),
    (
        "parallel add shapes",
        (2, 8),
        [{"type": "parallel", "merge": "add", "branches": [[CONV1], []]}],
        r"merge 'add' needs equal shapes: branch 0 gives \[4, 6\], branch 1 gives \[2, 8\]",
    ),
    (
        "parallel concat shapes",
        (2, 8),
        [{"type": "parallel", "branches": [[CONV1], []]}],
        r"merge 'concat' joins channels, so the other axes must match",
    ),
]


@pytest.mark.parametrize(("shape", "layers", "message"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_rejected_by_both(shape: Shape, layers: list[LayerDict], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        analyze(shape, layers)
    spec = _unchecked_spec(shape, layers)
    with pytest.raises((RuntimeError, ValueError)):
        torch_mirror.build(spec, probe=True)(torch.zeros(2, *shape))


# -- exact arithmetic at huge sizes ----------------------------------------------------------


@pytest.mark.parametrize("n", [10**12, 10**12 + 7, 10**18 + 1, 2**62 + 3])
def test_huge_sizes_are_exact(n: int) -> None:
    k, s, d, p = 3, 2, 5, 4
    expected = (n + 2 * p - d * (k - 1) - 1) // s + 1
    assert conv_out(n, k, s, d, p, p) == expected
    _, report = analyze(
        (2, n),
        [
            {"type": "conv1d", "out_channels": 4, "kernel_size": k, "stride": s, "dilation": d, "padding": p},
            {"type": "maxpool1d", "kernel_size": 2, "ceil_mode": True},
        ],
    )
    pooled = pool_out(expected, 2, 2, ceil_mode=True)
    assert pooled == -(-expected // 2)
    assert report.output_shape == (4, pooled)
    assert report.layers[0].macs == 4 * expected * 2 * k
    assert report.rf.axes[0].size == 1 + d * (k - 1) + s
    assert report.rf.axes[0].jump == 2 * s
