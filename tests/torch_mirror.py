"""A PyTorch model built from the same spec: the ground truth the tests compare with.

``build(spec)`` returns an ``nn.Sequential`` whose ``state_dict`` names are the weight-name
contract: ``3.weight``, ``0.layers.1.weight``, ``0.shortcut.0.weight``,
``2.branches.1.0.weight``, ``5.weight_hh_l1_reverse``.

``build(spec, linear=True)`` builds the all-ones linearised version used to measure
receptive fields: every weight is 1, every bias 0, activations are identities, max pooling
sums its window (the same geometry, ceil_mode included).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from convcalc.arith import pool_out
from convcalc.layers.base import per_axis, resolve_padding
from convcalc.spec import Layer, NetSpec


def _flat_pads(pads: tuple[tuple[int, int], ...]) -> list[int]:
    """F.pad's order: last axis first."""
    out: list[int] = []
    for lo, hi in reversed(pads):
        out += [lo, hi]
    return out


class Padded(nn.Module):
    """Explicit (possibly asymmetric) zero padding in front of a module."""

    def __init__(self, pads: tuple[tuple[int, int], ...]) -> None:
        super().__init__()
        self.pads = _flat_pads(pads)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x, self.pads)


def _conv_class(ndim: int) -> Any:
    return {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}[ndim]


def make_conv(layer: Layer, in_shape: tuple[int, ...], ndim: int) -> nn.Module:
    o = layer.opts
    k, s, d = (per_axis(o[key], ndim) for key in ("kernel_size", "stride", "dilation"))
    base = _conv_class(ndim)
    kw = dict(stride=s, dilation=d, groups=o["groups"], bias=o["bias"])
    if o["padding"] == "same" and all(v == 1 for v in s):
        # PyTorch's own 'same': the tests check that our rule agrees with it
        return base(in_shape[0], o["out_channels"], k, padding="same", **kw)  # type: ignore[no-any-return]
    pads = resolve_padding(layer, o["padding"], in_shape[1:], k, s, d)
    if all(lo == hi for lo, hi in pads):
        return base(in_shape[0], o["out_channels"], k, padding=tuple(lo for lo, _ in pads), **kw)  # type: ignore[no-any-return]

    class AsymConv(base):  # type: ignore[misc, valid-type]
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return super().forward(F.pad(x, _flat_pads(pads)))  # type: ignore[no-any-return]

    return AsymConv(in_shape[0], o["out_channels"], k, padding=0, **kw)  # type: ignore[no-any-return]


class ChannelLinear(nn.Linear):
    """nn.Linear acting on the channel axis (dim 1), as convcalc's ``linear`` does."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.movedim(1, -1)).movedim(-1, 1)


class GlobalPool(nn.Module):
    def __init__(self, op: str) -> None:
        super().__init__()
        self.op = op

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dims = tuple(range(2, x.dim()))
        return x.mean(dims) if self.op == "avg" else x.amax(dims)


class WindowSum(nn.Module):
    """Max pooling's linearised stand-in: sums each window (same geometry as the pool)."""

    def __init__(self, channels: int, k: tuple[int, ...], s: tuple[int, ...], d: tuple[int, ...],
                 pads: tuple[int, ...], out: tuple[int, ...]) -> None:
        super().__init__()
        self.k, self.s, self.d, self.pads, self.out, self.channels = k, s, d, pads, out, channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ndim = len(self.k)
        # pad generously on the right so ceil_mode's last window exists, then crop
        pads = tuple((p, p + s * 2 + d * k) for p, s, d, k in zip(self.pads, self.s, self.d, self.k, strict=True))
        w = torch.ones((self.channels, 1, *self.k), dtype=x.dtype)
        y = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[ndim](
            F.pad(x, _flat_pads(pads)), w, stride=self.s, dilation=self.d, groups=self.channels
        )
        index = (slice(None), slice(None), *(slice(0, n) for n in self.out))
        return y[index]


def make_recurrent(layer: Layer, features: int) -> nn.Module:
    """nn.RNN/LSTM/GRU on [B, F, L], returning [B, H*dirs, L] or the last/first step.

    A subclass, so the parameters keep PyTorch's names right under the layer
    (``5.weight_hh_l1_reverse``).
    """
    o = layer.opts
    base = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[layer.type]
    hidden, seq, bi = o["hidden_size"], o["return_sequences"], o["bidirectional"]

    class Recurrent(base):  # type: ignore[misc, valid-type]
        def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
            y, _ = super().forward(x.transpose(1, 2))
            if seq:
                return y.transpose(1, 2)  # type: ignore[no-any-return]
            last = y[:, -1, :hidden]
            return torch.cat([last, y[:, 0, hidden:]], dim=1) if bi else last

    return Recurrent(  # type: ignore[no-any-return]
        features, hidden, num_layers=o["num_layers"], bias=o["bias"], batch_first=True,
        bidirectional=bi, dropout=o["dropout"],
    )


class Residual(nn.Module):
    def __init__(self, layers: nn.Sequential, shortcut: nn.Sequential) -> None:
        super().__init__()
        self.layers, self.shortcut = layers, shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x) + self.shortcut(x)  # type: ignore[no-any-return]


class Seq(nn.Module):
    def __init__(self, layers: nn.Sequential) -> None:
        super().__init__()
        self.layers = layers

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)  # type: ignore[no-any-return]


class Parallel(nn.Module):
    def __init__(self, branches: list[nn.Sequential], merge: str) -> None:
        super().__init__()
        self.branches = nn.ModuleList(branches)
        self.merge = merge

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = [b(x) for b in self.branches]
        if self.merge == "concat":
            return torch.cat(outs, dim=1)
        return torch.stack(outs).sum(0)


def _shape_after(layer: Layer, in_shape: tuple[int, ...], spec: NetSpec) -> tuple[int, ...]:
    """Output shape by convcalc's analysis (used only to size following torch modules)."""
    from convcalc.analyze import _run
    from convcalc.layers.base import Act, Context
    from convcalc.rf import RF

    ctx = Context(1, lambda layers, x: _run(layers, x, ctx))
    _, out = _run((layer,), Act(in_shape, RF.identity(len(in_shape) - 1)), ctx)
    return out.shape


def build_layers(layers: tuple[Layer, ...], in_shape: tuple[int, ...], spec: NetSpec, linear: bool) -> tuple[nn.Sequential, tuple[int, ...]]:
    mods = []
    for layer in layers:
        mod, in_shape = build_layer(layer, in_shape, spec, linear)
        mods.append(mod)
    return nn.Sequential(*mods), in_shape


def build_layer(layer: Layer, in_shape: tuple[int, ...], spec: NetSpec, linear: bool) -> tuple[nn.Module, tuple[int, ...]]:
    t, o = layer.type, layer.opts
    out_shape = _shape_after(layer, in_shape, spec)
    mod: nn.Module
    if t.startswith("conv"):
        mod = make_conv(layer, in_shape, int(t[4]))
    elif t[:7] in ("maxpool", "avgpool"):
        ndim = int(t[7])
        k = per_axis(o["kernel_size"], ndim)
        s = per_axis(o["stride"], ndim) if o["stride"] is not None else k
        pad = o["padding"]
        pads = per_axis(pad, ndim) if isinstance(pad, int) else tuple(p[0] for p in pad)
        if t.startswith("max"):
            d = per_axis(o["dilation"], ndim)
            if linear:
                mod = WindowSum(in_shape[0], k, s, d, pads, out_shape[1:])
            else:
                mod = getattr(nn, f"MaxPool{ndim}d")(k, s, pads, d, ceil_mode=o["ceil_mode"])
        else:
            mod = getattr(nn, f"AvgPool{ndim}d")(k, s, pads, ceil_mode=o["ceil_mode"], count_include_pad=o["count_include_pad"])
    elif t in ("global_avgpool", "global_maxpool"):
        mod = GlobalPool("avg" if linear else t[7:10])
    elif t == "flatten":
        mod = nn.Flatten()
    elif t == "pad":
        ones = (1,) * (len(in_shape) - 1)
        mod = Padded(resolve_padding(layer, o["padding"], in_shape[1:], ones, ones, ones))
    elif t == "linear":
        mod = ChannelLinear(in_shape[0], o["out_features"], bias=o["bias"])
    elif t == "batchnorm":
        rank = max(len(in_shape) - 1, 1)
        mod = getattr(nn, f"BatchNorm{rank}d")(in_shape[0], eps=o["eps"], momentum=o["momentum"], affine=o["affine"])
    elif t in ("relu", "tanh", "sigmoid"):
        mod = nn.Identity() if linear else {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}[t]()
    elif t == "identity":
        mod = nn.Identity()
    elif t == "dropout":
        mod = nn.Dropout(o["p"])
    elif t in ("rnn", "lstm", "gru"):
        mod = make_recurrent(layer, in_shape[0])
    elif t == "sequential":
        mod = Seq(build_layers(o["layers"], in_shape, spec, linear)[0])
    elif t == "residual":
        mod = Residual(
            build_layers(o["layers"], in_shape, spec, linear)[0],
            build_layers(o["shortcut"], in_shape, spec, linear)[0],
        )
    elif t == "parallel":
        mod = Parallel([build_layers(b, in_shape, spec, linear)[0] for b in o["branches"]], o["merge"])
    else:  # pragma: no cover - the registry test catches a missing case
        raise AssertionError(f"no torch mirror for layer type {t}")
    return mod, out_shape


def build(spec: NetSpec, linear: bool = False) -> nn.Sequential:
    """The torch model of ``spec`` (in eval mode), or its all-ones linearised version."""
    model, _ = build_layers(spec.layers, spec.input_shape, spec, linear)
    if linear:
        with torch.no_grad():
            for name, p in model.named_parameters():
                p.fill_(0.0 if "bias" in name else 1.0)
    return model.eval()


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
