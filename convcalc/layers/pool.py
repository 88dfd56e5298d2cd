"""Max and average pooling, local and global."""

from __future__ import annotations

from math import prod
from typing import TYPE_CHECKING

from ..arith import effective_kernel, pool_out, windows_span
from ..rf import GLOBAL, RF
from ..spec import Field, Layer
from .base import (
    Act,
    Context,
    ForwardContext,
    LayerKind,
    Step,
    axis_name,
    need_rank,
    per_axis,
    required,
    shape_str,
    volume,
)
from .conv import FORMS

if TYPE_CHECKING:
    import numpy as np


def pool_fields(is_max: bool) -> list[Field]:
    fields = [
        required("kernel_size", "ints", "window size, one int or one per spatial axis"),
        Field("stride", "ints", None, "step between windows (default: kernel_size)"),
        Field(
            "padding",
            "padding",
            0,
            "implicit padding on both sides, at most half the kernel",
            minimum=0,
            pairs=False,
        ),
    ]
    if is_max:
        fields.append(Field("dilation", "ints", 1, "spacing between window taps"))
    fields.append(Field("ceil_mode", "bool", False, "round the output size up instead of down"))
    if not is_max:
        fields.append(Field("count_include_pad", "bool", True, "count padded zeros in the average's divisor"))
    return fields


class Pool(LayerKind):
    family = "pool"

    def __init__(self, op: str, ndim: int) -> None:
        self.op = op
        title = "Max" if op == "max" else "Avg"
        super().__init__(
            f"{op}pool{ndim}d",
            f"{ndim}D {op} pooling (torch.nn.{title}Pool{ndim}d), input {FORMS[ndim]}",
            pool_fields(op == "max"),
            ndim,
        )

    def geometry(self, layer: Layer, x: Act) -> tuple[tuple[int, ...], ...]:
        """(k, s, d, pad, out) per axis, after PyTorch's checks."""
        ndim = self.ndim or 1
        need_rank(layer, x, ndim, FORMS[ndim])
        o = layer.opts
        k = per_axis(o["kernel_size"], ndim)
        s = per_axis(o["stride"], ndim) if o["stride"] is not None else k
        d = per_axis(o.get("dilation", 1), ndim)
        pad = o["padding"]
        if isinstance(pad, str):  # pragma: no cover - the spec admits no keywords here
            raise layer.error(f"padding '{pad}' is not supported by pooling", "padding")
        pads = per_axis(pad, ndim) if isinstance(pad, int) else tuple(p[0] for p in pad)
        if len(pads) != ndim:  # pragma: no cover - checked by the spec
            raise layer.error("padding needs one value per spatial axis", "padding")
        out = []
        ceil_mode = o["ceil_mode"]
        for i, (n, ki, si, di, p) in enumerate(zip(x.shape[1:], k, s, d, pads, strict=True)):
            if p > ki // 2:
                raise layer.error(
                    f"padding {p} on axis {axis_name(ndim, i)} is more than half the kernel size {ki} "
                    "(PyTorch rejects pad > kernel_size // 2)",
                    "padding",
                )
            span = effective_kernel(ki, di)
            # with ceil_mode, PyTorch keeps a window that overhangs the end by up to stride - 1
            overhang = si - 1 if ceil_mode else 0
            if n + 2 * p + overhang < span:
                dil = f" (dilation {di} makes it span {span})" if di > 1 else ""
                why = f" (ceil_mode lets a window overhang the end by at most stride - 1 = {overhang})"
                raise layer.error(
                    f"kernel_size {ki}{dil} is larger than the padded input on axis {axis_name(ndim, i)}: "
                    f"{n} + 2*{p} = {n + 2 * p} < {span}{why if ceil_mode else ''}",
                    "kernel_size",
                )
            if self.op == "avg" and ndim == 3 and n < ki:
                raise layer.error(
                    f"kernel_size {ki} is larger than the unpadded input on axis {axis_name(ndim, i)}: "
                    f"{n} < {ki} "
                    "(PyTorch's avg_pool3d checks the input without its padding)",
                    "kernel_size",
                )
            out.append(pool_out(n, ki, si, p, di, ceil_mode))
        return k, s, d, pads, tuple(out)

    def analyze(self, layer: Layer, x: Act, ctx: Context) -> Step:
        k, s, d, pads, out = self.geometry(layer, x)
        c = x.shape[0]
        macs = 0 if self.op == "max" else ctx.batch * c * prod(out) * prod(k)
        return Step(Act((c, *out), x.rf.windows(k, s, d, pads)), 0, macs)

    def forward(
        self, layer: Layer, x: np.ndarray, w: dict[str, np.ndarray], fctx: ForwardContext
    ) -> np.ndarray:
        """Separable: the window reduction runs one axis at a time (max and sum both split)."""
        import numpy as np

        from ..forward import pad_axes, windows

        k, s, d, pads, out = self.geometry(layer, Act(tuple(x.shape[1:]), RF()))
        sizes = x.shape[2:]
        # pad the right far enough for ceil_mode's last window (or crop what no window reads)
        need = [windows_span(o, ki, si, di) for o, ki, si, di in zip(out, k, s, d, strict=True)]
        fill = -np.inf if self.op == "max" else 0.0
        y = pad_axes(x, [(p, m - n - p) for p, m, n in zip(pads, need, sizes, strict=True)], fill)
        for i in range(len(k)):
            view = windows(y, [k[i]], [s[i]], [d[i]], [out[i]], [2 + i])
            y = view.max(axis=-1) if self.op == "max" else view.sum(axis=-1)
        if self.op == "max":
            return y
        # PyTorch's divisor: a window is clipped to the padded input's end; without
        # count_include_pad, to the input itself
        divisor = np.ones((), dtype=x.dtype)
        for n, ki, si, p, o in zip(sizes, k, s, pads, out, strict=True):
            start = np.arange(o) * si - p
            end = np.minimum(start + ki, n + p)
            if layer.opts["count_include_pad"]:
                count = end - start
            else:
                count = np.minimum(end, n) - np.maximum(start, 0)
            divisor = np.multiply.outer(divisor, count.astype(x.dtype))
        return y / divisor


class GlobalPool(LayerKind):
    family = "pool"

    def __init__(self, op: str) -> None:
        self.op = op
        super().__init__(
            f"global_{op}pool",
            f"global {op} pooling over every spatial axis: [C, ...] -> [C] "
            f"(torch.nn.Adaptive{'Max' if op == 'max' else 'Avg'}PoolNd(1) + flatten)",
        )

    def analyze(self, layer: Layer, x: Act, ctx: Context) -> Step:
        if len(x.shape) < 2:
            raise layer.error(f"needs spatial axes to pool over, got shape {shape_str(x.shape)}")
        macs = 0 if self.op == "max" else ctx.batch * volume(x.shape)
        return Step(Act((x.shape[0],), x.rf.collapse(GLOBAL)), 0, macs)

    def forward(
        self, layer: Layer, x: np.ndarray, w: dict[str, np.ndarray], fctx: ForwardContext
    ) -> np.ndarray:
        axes = tuple(range(2, x.ndim))
        y: np.ndarray = x.max(axis=axes) if self.op == "max" else x.mean(axis=axes)
        return y


KINDS = [Pool(op, n) for op in ("max", "avg") for n in (1, 2, 3)] + [GlobalPool("avg"), GlobalPool("max")]
