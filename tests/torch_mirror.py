"""A PyTorch model built from the same spec: the ground truth the tests compare with.

``build(spec)`` returns an ``nn.Sequential`` whose ``state_dict`` names are the weight-name
contract: ``3.weight``, ``0.layers.1.weight``, ``0.shortcut.0.weight``,
``2.branches.1.0.weight``, ``5.weight_hh_l1_reverse``.

``build(spec, linear=True)`` builds the all-ones linearised version used to measure
receptive fields: every weight is 1, every bias 0, activations are identities, max pooling
sums its window (the same geometry, ceil_mode included).

``build(spec, probe=True)`` sizes each module from what the previous torch modules really
output (a zero batch is run through each as it is built), not from convcalc's analysis, so
a spec convcalc rejects still gets built, and torch itself says whether it runs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

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

    return AsymConv(in_shape[0], o["out_channels"], k, padding=0, **kw)


def make_conv_transpose(layer: Layer, in_shape: tuple[int, ...], ndim: int) -> nn.Module:
    o = layer.opts
    k, s, d, op = (per_axis(o[key], ndim) for key in ("kernel_size", "stride", "dilation", "output_padding"))
    pad = o["padding"]
    p = per_axis(pad, ndim) if isinstance(pad, int) else tuple(lo for lo, _ in pad)
    base: Any = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}[ndim]
    return base(  # type: ignore[no-any-return]
        in_shape[0],
        o["out_channels"],
        k,
        stride=s,
        padding=p,
        output_padding=op,
        groups=o["groups"],
        bias=o["bias"],
        dilation=d,
    )


def make_upsample(layer: Layer) -> nn.Module:
    """nn.Upsample with the torch mode for the input's rank (linear/bilinear/trilinear)."""
    o = layer.opts
    sf = o["scale_factor"]

    class Upsample(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            ndim = x.dim() - 2
            if o["mode"] == "nearest":
                mod = nn.Upsample(scale_factor=sf, mode="nearest")
            else:
                mode = {1: "linear", 2: "bilinear", 3: "trilinear"}[ndim]
                mod = nn.Upsample(scale_factor=sf, mode=mode, align_corners=o["align_corners"])
            return mod(x)  # type: ignore[no-any-return]

    return Upsample()


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

    def __init__(
        self,
        channels: int,
        k: tuple[int, ...],
        s: tuple[int, ...],
        d: tuple[int, ...],
        pads: tuple[int, ...],
        out: tuple[int, ...],
    ) -> None:
        super().__init__()
        self.k, self.s, self.d, self.pads, self.out, self.channels = k, s, d, pads, out, channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ndim = len(self.k)
        # pad generously on the right so ceil_mode's last window exists, then crop
        geometry = zip(self.pads, self.s, self.d, self.k, strict=True)
        pads = tuple((p, p + s * 2 + d * k) for p, s, d, k in geometry)
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
    seq, bi, proj = o["return_sequences"], o["bidirectional"], o.get("proj_size", 0)
    hidden = proj or o["hidden_size"]  # features of each direction's output
    extra = {"proj_size": proj} if proj else {}

    class Recurrent(base):  # type: ignore[misc, valid-type]
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y, _ = super().forward(x.transpose(1, 2))
            if seq:
                return y.transpose(1, 2)  # type: ignore[no-any-return]
            last = y[:, -1, :hidden]
            return torch.cat([last, y[:, 0, hidden:]], dim=1) if bi else last

    mod = Recurrent(
        features,
        o["hidden_size"],
        num_layers=o["num_layers"],
        bias=o["bias"],
        batch_first=True,
        bidirectional=bi,
        dropout=o["dropout"],
        **extra,
    )
    # torch has only the reset-after GRU; Keras' reset_after: false differs in its bias count
    mod.reset_after = o.get("reset_after", True)
    return mod


class Residual(nn.Module):
    def __init__(self, layers: nn.Sequential, shortcut: nn.Sequential) -> None:
        super().__init__()
        self.layers, self.shortcut = layers, shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return strict_add([self.layers(x), self.shortcut(x)])


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
        return strict_add(outs)


def strict_add(outs: list[torch.Tensor]) -> torch.Tensor:
    """The spec's 'add': equal shapes, no broadcasting."""
    shapes = {tuple(o.shape) for o in outs}
    if len(shapes) > 1:
        raise RuntimeError(f"added outputs have different shapes: {sorted(shapes)}")
    return torch.stack(outs).sum(0)


def _shape_after(layer: Layer, in_shape: tuple[int, ...], spec: NetSpec) -> tuple[int, ...]:
    """Output shape by convcalc's analysis (used only to size following torch modules)."""
    from convcalc.analyze import run_layers
    from convcalc.layers.base import Act, Context
    from convcalc.rf import RF

    ctx = Context(1, spec.convention)
    _, out = run_layers((layer,), Act(in_shape, RF.identity(len(in_shape) - 1)), ctx)
    return out.shape


def build_layers(
    layers: tuple[Layer, ...], in_shape: tuple[int, ...], spec: NetSpec, linear: bool, probe: bool = False
) -> tuple[nn.Sequential, tuple[int, ...]]:
    mods = []
    for layer in layers:
        mod, in_shape = build_layer(layer, in_shape, spec, linear, probe)
        mods.append(mod)
    return nn.Sequential(*mods), in_shape


def build_layer(
    layer: Layer, in_shape: tuple[int, ...], spec: NetSpec, linear: bool, probe: bool = False
) -> tuple[nn.Module, tuple[int, ...]]:
    t, o = layer.type, layer.opts
    assert not (probe and linear), "probe mode builds the plain model only"
    out_shape = () if probe else _shape_after(layer, in_shape, spec)
    mod: nn.Module
    if t.startswith("conv_transpose"):
        mod = make_conv_transpose(layer, in_shape, int(t[14]))
    elif t == "upsample":
        mod = make_upsample(layer)
    elif t.startswith("conv"):
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
            mod = getattr(nn, f"AvgPool{ndim}d")(
                k, s, pads, ceil_mode=o["ceil_mode"], count_include_pad=o["count_include_pad"]
            )
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
        norm = getattr(nn, f"BatchNorm{rank}d")
        mod = norm(in_shape[0], eps=o["eps"], momentum=o["momentum"], affine=o["affine"])
    elif t in ("relu", "tanh", "sigmoid"):
        mod = nn.Identity() if linear else {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}[t]()
    elif t == "identity":
        mod = nn.Identity()
    elif t == "dropout":
        mod = nn.Dropout(o["p"])
    elif t in ("rnn", "lstm", "gru"):
        mod = make_recurrent(layer, in_shape[0])
    elif t in ("sequential", "repeat"):  # repeat: the copies of a `repeat: N` entry, as `sequential`
        mod = Seq(build_layers(o["layers"], in_shape, spec, linear, probe)[0])
    elif t == "residual":
        mod = Residual(
            build_layers(o["layers"], in_shape, spec, linear, probe)[0],
            build_layers(o["shortcut"], in_shape, spec, linear, probe)[0],
        )
    elif t == "parallel":
        mod = Parallel([build_layers(b, in_shape, spec, linear, probe)[0] for b in o["branches"]], o["merge"])
    else:  # pragma: no cover - the registry test catches a missing case
        raise AssertionError(f"no torch mirror for layer type {t}")
    if probe:
        with torch.no_grad():
            out_shape = tuple(mod.eval()(torch.zeros(2, *in_shape)).shape[1:])
    return mod, out_shape


def build(spec: NetSpec, linear: bool = False, probe: bool = False) -> nn.Sequential:
    """The torch model of ``spec`` (in eval mode), or its all-ones linearised version.

    The model remembers the spec's ``convention`` for :func:`n_params`.
    """
    model, _ = build_layers(spec.layers, spec.input_shape, spec, linear, probe)
    model.__dict__["convention"] = spec.convention  # a plain attribute (nn.Module's setattr wants tensors)
    if linear:
        with torch.no_grad():
            for name, p in model.named_parameters():
                p.fill_(0.0 if "bias" in name else 1.0)
    return model.eval()


def n_params(model: nn.Module, convention: str | None = None) -> int:
    """The parameter count of ``model`` under ``convention`` (default: the one ``build`` stored).

    pytorch: its parameters. keras: what the same net has as Keras weights, derived from the
    torch modules: a recurrent layer has one bias vector per layer and direction where torch has
    ``b_ih`` and ``b_hh`` (except a reset-after GRU, which keeps both), and batch norm's moving
    mean and variance, buffers in torch, are (non-trainable) weights.
    """
    convention = convention or getattr(model, "convention", "pytorch")
    total = sum(p.numel() for p in model.parameters())
    if convention == "keras":
        for mod in model.modules():
            two_biases = isinstance(mod, nn.GRU) and getattr(mod, "reset_after", True)
            if isinstance(mod, nn.RNNBase) and not two_biases:
                total -= sum(p.numel() for n, p in mod.named_parameters() if n.startswith("bias_hh"))
            elif isinstance(mod, nn.modules.batchnorm._BatchNorm):
                assert mod.running_mean is not None and mod.running_var is not None
                total += mod.running_mean.numel() + mod.running_var.numel()
    return total


def state(model: nn.Module) -> dict[str, np.ndarray]:
    """The model's state_dict as NumPy arrays: what ``net.forward(weights=...)`` takes."""
    return {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}


def torch_out(model: nn.Module, x: np.ndarray) -> np.ndarray:
    """The model's output for a NumPy batch, as NumPy."""
    with torch.no_grad():
        out: np.ndarray = model(torch.from_numpy(x)).numpy()
    return out
