"""conv1d, conv2d, conv3d."""

from __future__ import annotations

from math import prod, sqrt
from typing import TYPE_CHECKING

from ..arith import conv_out
from ..rf import RF
from ..spec import Field, Layer
from .base import (
    Act,
    Context,
    ForwardContext,
    LayerKind,
    Step,
    WeightSpec,
    check_groups,
    check_windows,
    need_rank,
    per_axis,
    required,
    resolve_padding,
    volume,
)

if TYPE_CHECKING:
    import numpy as np

FORMS = {1: "[C, L]", 2: "[C, H, W]", 3: "[C, D, H, W]"}


def conv_fields() -> list[Field]:
    return [
        required("out_channels", "int", "number of output channels"),
        required("kernel_size", "ints", "window size, one int or one per spatial axis"),
        Field("stride", "ints", 1, "step between windows"),
        Field(
            "padding",
            "padding",
            0,
            "zeros added: int, per axis, per-axis [left, right], 'valid', 'same' or 'causal' (1D)",
            minimum=0,
            choices=("valid", "same", "causal"),
        ),
        *kernel_fields(),
    ]


def kernel_fields() -> list[Field]:
    """dilation, groups and bias: what convolutions and transposed convolutions share."""
    return [
        Field("dilation", "ints", 1, "spacing between kernel taps"),
        Field("groups", "int", 1, "channel groups; in and out channels must divide by it"),
        Field("bias", "bool", True, "add a learned bias per output channel"),
    ]


class Conv(LayerKind):
    family = "conv"

    def __init__(self, ndim: int) -> None:
        super().__init__(
            f"conv{ndim}d",
            f"{ndim}D convolution (torch.nn.Conv{ndim}d), input {FORMS[ndim]}",
            conv_fields(),
            ndim,
        )

    def geometry(self, layer: Layer, x: Act) -> tuple[tuple[int, ...], ...]:
        """(k, s, d, left, right, out) per axis, after checking the input."""
        ndim = self.ndim or 1
        need_rank(layer, x, ndim, FORMS[ndim])
        o = layer.opts
        k, s, d = per_axis(o["kernel_size"], ndim), per_axis(o["stride"], ndim), per_axis(o["dilation"], ndim)
        sizes = x.shape[1:]
        pads = resolve_padding(layer, o["padding"], sizes, k, s, d)
        check_windows(layer, sizes, k, d, pads)
        if ndim == 1:  # the usual case, without the per-axis loops
            (lo, hi), n = pads[0], sizes[0]
            return k, s, d, (lo,), (hi,), (conv_out(n, k[0], s[0], d[0], lo, hi),)
        out = tuple([conv_out(sizes[i], k[i], s[i], d[i], *pads[i]) for i in range(ndim)])
        return k, s, d, tuple([p[0] for p in pads]), tuple([p[1] for p in pads]), out

    def analyze(self, layer: Layer, x: Act, ctx: Context) -> Step:
        o = layer.opts
        c_in, c_out, groups = x.shape[0], o["out_channels"], o["groups"]
        k, s, d, left, _right, out = self.geometry(layer, x)
        if c_in % groups or c_out % groups:
            check_groups(layer, x, c_out, groups)
        taps = c_in // groups * prod(k)
        params = c_out * taps + (c_out if o["bias"] else 0)
        macs = ctx.batch * c_out * prod(out) * taps
        return Step(Act((c_out, *out), x.rf.windows(k, s, d, left)), params, macs)

    def weight_specs(self, layer: Layer, in_shape: tuple[int, ...]) -> dict[str, WeightSpec]:
        o = layer.opts
        k = per_axis(o["kernel_size"], self.ndim or 1)
        fan_in = in_shape[0] // o["groups"] * volume(k)
        bound = 1 / sqrt(fan_in)
        specs = {"weight": WeightSpec((o["out_channels"], in_shape[0] // o["groups"], *k), "uniform", bound)}
        if o["bias"]:
            specs["bias"] = WeightSpec((o["out_channels"],), "uniform", bound)
        return specs

    def forward(
        self, layer: Layer, x: np.ndarray, w: dict[str, np.ndarray], fctx: ForwardContext
    ) -> np.ndarray:
        """im2col: a strided view of every window, copied once into columns, then one
        (group-batched) matrix product."""
        import numpy as np

        from ..forward import pad_axes, windows

        ndim = self.ndim or 1
        k, s, d, left, right, out = self.geometry(layer, Act(tuple(x.shape[1:]), RF()))
        batch, c_in = x.shape[:2]
        groups = layer.opts["groups"]
        weight = w["weight"]
        c_out = weight.shape[0]
        xp = pad_axes(x, list(zip(left, right, strict=True)))
        view = windows(xp, k, s, d, out, range(2, 2 + ndim))  # [B, C, *out, *k]
        view = view.reshape(batch, groups, c_in // groups, *out, *k)
        # -> [G, C/G, *k, B, *out]: one column per output position, per group
        order = (1, 2, *range(3 + ndim, 3 + 2 * ndim), 0, *range(3, 3 + ndim))
        n_pos = batch * volume(out)
        cols = view.transpose(order).reshape(groups, c_in // groups * volume(k), n_pos)
        y = np.matmul(weight.reshape(groups, c_out // groups, -1), cols).reshape(c_out, n_pos)
        if "bias" in w:
            y += w["bias"][:, None]
        return np.ascontiguousarray(np.moveaxis(y.reshape(c_out, batch, *out), 0, 1))


KINDS = [Conv(1), Conv(2), Conv(3)]
