"""conv_transpose1d/2d/3d and upsample: the layers that make spatial axes longer.

Both give fractional receptive-field jumps (two outputs per input at stride 2: jump 1/2);
see :meth:`convcalc.rf.AxisRF.affine` and the "Receptive fields" section of the format.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from itertools import product
from math import sqrt
from typing import TYPE_CHECKING

from ..arith import windows_span
from ..rf import RF, Num
from ..spec import MAX_INT, Field, Layer
from .base import (
    Act,
    Context,
    ForwardContext,
    LayerKind,
    Step,
    WeightSpec,
    axis_name,
    check_groups,
    need_rank,
    per_axis,
    required,
    shape_str,
    volume,
)
from .conv import FORMS, kernel_fields

if TYPE_CHECKING:
    import numpy as np


def transpose_out(n: int, k: int, s: int = 1, p: int = 0, op: int = 0, d: int = 1) -> int:
    """Output length of a transposed convolution (PyTorch's rule).

    n_out = (n - 1)*s - 2*p + d*(k - 1) + op + 1

    >>> transpose_out(16, 2, s=2)                 # U-Net's 2x2 up-convolution doubles
    32
    >>> transpose_out(7, 3, s=2, p=1, op=1)      # the inverse of a stride-2 'same' conv
    14
    """
    return (n - 1) * s - 2 * p + d * (k - 1) + op + 1


def transpose_envelopes(
    k: Sequence[int], s: Sequence[int], d: Sequence[int], p: Sequence[int]
) -> list[tuple[Num, Num, Num]]:
    """(lo, hi, step) per axis for :meth:`convcalc.rf.AxisRF.affine`: output ``i`` reads
    inputs in ``[(p - (k-1)*d)/s + i/s, p/s + i/s]``.

    >>> transpose_envelopes([3], [2], [1], [1])
    [(Fraction(-1, 2), Fraction(1, 2), Fraction(1, 2))]
    """
    return [
        (Fraction(pi - (ki - 1) * di, si), Fraction(pi, si), Fraction(1, si))
        for ki, si, di, pi in zip(k, s, d, p, strict=True)
    ]


def transpose_fields() -> list[Field]:
    return [
        required("out_channels", "int", "number of output channels"),
        required("kernel_size", "ints", "kernel size, one int or one per spatial axis"),
        Field("stride", "ints", 1, "step between the input positions' output windows"),
        Field(
            "padding",
            "padding",
            0,
            "positions cropped from both ends of the full output, int or per axis",
            minimum=0,
            pairs=False,
        ),
        Field(
            "output_padding",
            "ints",
            0,
            "positions added at the end of each axis; less than the stride or the dilation",
            minimum=0,
        ),
        *kernel_fields(),
    ]


class ConvTranspose(LayerKind):
    family = "conv"

    def __init__(self, ndim: int) -> None:
        super().__init__(
            f"conv_transpose{ndim}d",
            f"{ndim}D transposed convolution (torch.nn.ConvTranspose{ndim}d), input {FORMS[ndim]}",
            transpose_fields(),
            ndim,
        )

    def geometry(self, layer: Layer, x: Act) -> tuple[tuple[int, ...], ...]:
        """(k, s, d, p, op, out) per axis, after PyTorch's checks."""
        ndim = self.ndim or 1
        need_rank(layer, x, ndim, FORMS[ndim])
        o = layer.opts
        k, s, d, op = (
            per_axis(o[key], ndim) for key in ("kernel_size", "stride", "dilation", "output_padding")
        )
        pad = o["padding"]
        if isinstance(pad, str):  # pragma: no cover - the spec admits no keywords here
            raise layer.error(f"padding '{pad}' is not supported by a transposed convolution", "padding")
        p = per_axis(pad, ndim) if isinstance(pad, int) else tuple(lo for lo, _ in pad)
        check_groups(layer, x, o["out_channels"], o["groups"])
        for i, (opi, si, di) in enumerate(zip(op, s, d, strict=True)):
            if not (opi < si or opi < di):
                raise layer.error(
                    f"output_padding {opi} on axis {axis_name(ndim, i)} must be smaller than the "
                    f"stride ({si}) or the dilation ({di}) (PyTorch's rule)",
                    "output_padding",
                )
        out = []
        for i, (n, ki, si, pi, opi, di) in enumerate(zip(x.spatial, k, s, p, op, d, strict=True)):
            ax = axis_name(ndim, i)
            m = transpose_out(n, ki, si, pi, opi, di)
            if m < 1:
                raise layer.error(
                    f"the output would be empty on axis {ax}: (n-1)*s - 2*p + d*(k-1) + output_padding + 1 = "
                    f"({n}-1)*{si} - 2*{pi} + {di}*({ki}-1) + {opi} + 1 = {m}",
                    "padding",
                )
            out.append(m)
        return k, s, d, p, op, tuple(out)

    def analyze(self, layer: Layer, x: Act, ctx: Context) -> Step:
        o = layer.opts
        c_in, c_out, groups = x.shape[0], o["out_channels"], o["groups"]
        k, s, d, p, _op, out = self.geometry(layer, x)
        taps = c_out // groups * volume(k)  # outputs each input element scatters into
        params = c_in * taps + (c_out if o["bias"] else 0)
        macs = ctx.batch * c_in * volume(x.spatial) * taps
        rf = x.rf.map_affine(transpose_envelopes(k, s, d, p))
        return Step(Act((c_out, *out), rf), params, macs)

    def weight_specs(self, layer: Layer, in_shape: tuple[int, ...]) -> dict[str, WeightSpec]:
        o = layer.opts
        k = per_axis(o["kernel_size"], self.ndim or 1)
        c_out, groups = o["out_channels"], o["groups"]
        # PyTorch's fan-in of a transposed conv's weight [C_in, C_out/g, *k] is its dim 1 times Π(k)
        bound = 1 / sqrt(c_out // groups * volume(k))
        specs = {"weight": WeightSpec((in_shape[0], c_out // groups, *k), "uniform", bound)}
        if o["bias"]:
            specs["bias"] = WeightSpec((c_out,), "uniform", bound)
        return specs

    def forward(
        self, layer: Layer, x: np.ndarray, w: dict[str, np.ndarray], fctx: ForwardContext
    ) -> np.ndarray:
        """One (group-batched) matrix product gives every input position's contribution to
        every kernel tap; a loop over the Π(k) taps adds them, strided, into the full output
        (col2im); then the padding is cropped and the output padding appended."""
        import numpy as np

        ndim = self.ndim or 1
        k, s, d, p, _op, out = self.geometry(layer, Act(tuple(x.shape[1:]), RF()))
        batch, c_in = x.shape[:2]
        sizes = x.shape[2:]
        groups = layer.opts["groups"]
        weight = w["weight"]
        c_out = weight.shape[1] * groups
        n_pos = batch * volume(sizes)
        # [G, C_in/G, B*N]
        xg = np.moveaxis(x, 1, 0).reshape(groups, c_in // groups, n_pos)
        # [G, C_out/G * Π(k), C_in/G]
        wg = weight.reshape(groups, c_in // groups, -1).transpose(0, 2, 1)
        cols = np.matmul(wg, xg).reshape(c_out, *k, batch, *sizes)
        full = [windows_span(n, ki, si, di) for n, ki, si, di in zip(sizes, k, s, d, strict=True)]
        length = [max(f, pi + m) for f, pi, m in zip(full, p, out, strict=True)]
        buf = np.zeros((c_out, batch, *length), dtype=np.result_type(x, weight))
        for tap in product(*(range(ki) for ki in k)):
            where = tuple(
                slice(t * di, t * di + (n - 1) * si + 1, si)
                for t, di, si, n in zip(tap, d, s, sizes, strict=True)
            )
            buf[tuple([slice(None), slice(None), *where])] += cols[tuple([slice(None), *tap])]
        crop = [slice(pi, pi + m) for pi, m in zip(p, out, strict=True)]
        y = buf[tuple([slice(None), slice(None), *crop])]
        if "bias" in w:
            y = y + w["bias"].reshape(c_out, *(1,) * (ndim + 1))
        return np.ascontiguousarray(np.moveaxis(y, 0, 1))


# -- upsample ----------------------------------------------------------------------------------

TORCH_MODES = {1: "linear", 2: "bilinear", 3: "trilinear"}


def upsample_out(n: int, f: float) -> int:
    """PyTorch's output size for a scale factor: ``floor(n * f)``, in double precision.

    >>> upsample_out(7, 2.0), upsample_out(10, 0.7), upsample_out(3, 1.5)
    (14, 7, 4)
    """
    return math.floor(float(n) * f)


def decimal_fraction(f: float) -> Fraction:
    """The factor as the fraction its shortest decimal means: 1.3 -> 13/10 (PyTorch's index
    arithmetic lands on the same integers as this fraction, up to rounding).

    >>> decimal_fraction(1.3), decimal_fraction(2.0), decimal_fraction(0.25)
    (Fraction(13, 10), Fraction(2, 1), Fraction(1, 4))
    """
    return Fraction(repr(f))


def nearest_envelope(f: float, n: int = 0, out: int = -1, ndim: int = 1) -> tuple[Num, Num, Num]:
    """(lo, hi, step) of nearest upsampling by ``f = a/b``: output ``i`` reads input
    ``floor(i*b/a)``, which is ``i*b/a - r/a`` for an ``r`` in ``0..a-1``, every ``r``
    occurring at some ``i``. PyTorch's 2D kernel (not the 1D or 3D one) copies an axis whose
    size does not change and reads ``i // 2`` when it doubles, whatever the factor.

    >>> nearest_envelope(2.0)
    (Fraction(-1, 2), 0, Fraction(1, 2))
    >>> nearest_envelope(0.5)
    (Fraction(0, 1), 0, Fraction(2, 1))
    >>> nearest_envelope(1.2, 3, 3, 2), nearest_envelope(0.8, 3, 2, 1), nearest_envelope(1.2, 3, 3, 1)
    ((0, 0, 1), (Fraction(-3, 4), 0, Fraction(5, 4)), (-1, 0, Fraction(5, 6)))

    When ``1/f`` is not exact in binary (``f = 3``), PyTorch's rounded scale may read
    ``k - 1`` where ``i*b/a`` is exactly ``k``, so the envelope starts at ``-1``.
    """
    if ndim == 2 and out == n:
        return 0, 0, 1
    if ndim == 2 and out == 2 * n:
        return Fraction(-1, 2), 0, Fraction(1, 2)
    r = 1 / decimal_fraction(f)
    a = r.denominator
    if not exact_scale(r):  # a rounded scale can put i*b/a = k just below k: PyTorch reads k - 1
        return -1, 0, r
    return Fraction(1 - a, a), 0, r


def exact_scale(r: Fraction) -> bool:
    """Whether the scale ``1/f`` is exact in float32 (so PyTorch's products are exact).

    >>> exact_scale(Fraction(1, 2)), exact_scale(Fraction(5, 2)), exact_scale(Fraction(1, 3))
    (True, True, False)
    """
    return r.denominator & (r.denominator - 1) == 0 and r.numerator < 2**24


def linear_envelope(f: float, n: int, out: int, align_corners: bool) -> tuple[Num, Num, Num]:
    """(lo, hi, step) of linear interpolation on one axis.

    Output ``i`` reads the two inputs around the source coordinate ``x(i)`` (only one when
    ``x(i)`` is an input position). Without ``align_corners``, ``x(i) = (i + 1/2)*b/a - 1/2``
    for ``f = a/b``: relative to ``i*b/a`` it is ``c = (b/a - 1)/2``; when ``a`` or ``b`` is
    even ``x`` is never an input position and its fractional part ranges over the odd
    multiples of ``1/(2a)``, so the inputs lie within ``c ± (2a-1)/(2a)``; when both are odd
    ``x`` can be an input position, where PyTorch's rounding may put a tiny nonzero weight
    on either neighbour, so the envelope is ``c ± 1``. With ``align_corners`` the step is
    ``(n-1)/(out-1)`` and the envelope ``± 1``. An axis whose size does not change is copied.

    >>> linear_envelope(2.0, 8, 16, False)
    (Fraction(-1, 1), Fraction(1, 2), Fraction(1, 2))
    >>> linear_envelope(3.0, 8, 24, False)
    (Fraction(-4, 3), Fraction(2, 3), Fraction(1, 3))
    >>> linear_envelope(2.0, 8, 16, True)
    (-1, 1, Fraction(7, 15))
    """
    if out == n:
        return 0, 0, 1
    if align_corners:
        if out == 1:
            return 0, 0, 1
        return -1, 1, Fraction(n - 1, out - 1)
    r = 1 / decimal_fraction(f)
    a, b = r.denominator, r.numerator
    c = (r - 1) / 2
    m = Fraction(1) if a % 2 and b % 2 else Fraction(2 * a - 1, 2 * a)
    return c - m, c + m, r


def upsample_fields() -> list[Field]:
    return [
        required(
            "scale_factor",
            "floats",
            "size multiplier, one number or one per spatial axis; the output is floor(n * scale_factor)",
            minimum=0,
        ),
        Field(
            "mode",
            "choice",
            "nearest",
            "nearest or linear (linear/bilinear/trilinear by rank)",
            choices=("nearest", "linear"),
        ),
        Field("align_corners", "bool", False, "linear only: align the first and last positions"),
    ]


class Upsample(LayerKind):
    family = "resize"

    def __init__(self) -> None:
        super().__init__(
            "upsample",
            "resizing by a scale factor (torch.nn.Upsample), nearest or (bi/tri)linear; "
            "input [C, L], [C, H, W] or [C, D, H, W]",
            upsample_fields(),
        )

    def geometry(self, layer: Layer, x: Act) -> tuple[tuple[float, ...], tuple[int, ...]]:
        """(factor, out) per axis, after PyTorch's checks."""
        o = layer.opts
        ndim = len(x.shape) - 1
        if ndim < 1:
            raise layer.error(f"needs spatial axes to resize, got shape {shape_str(x.shape)}")
        sf = o["scale_factor"]
        if isinstance(sf, tuple) and len(sf) != ndim:
            raise layer.error(
                f"scale_factor has {len(sf)} values but the input has {ndim} spatial axes "
                f"(shape {shape_str(x.shape)})",
                "scale_factor",
            )
        factors: tuple[float, ...] = sf if isinstance(sf, tuple) else (sf,) * ndim
        if o["align_corners"] and o["mode"] == "nearest":
            raise layer.error(
                "align_corners applies to mode 'linear' only (PyTorch rejects it for 'nearest')",
                "align_corners",
            )
        out = []
        for i, (n, f) in enumerate(zip(x.spatial, factors, strict=True)):
            ax = axis_name(ndim, i)
            if f <= 0:
                raise layer.error(f"scale_factor must be positive, got {f:g}", "scale_factor")
            prod_ = float(n) * f
            if not math.isfinite(prod_) or prod_ >= MAX_INT:
                raise layer.error(f"the output on axis {ax} is too large: {n} * {f:g}", "scale_factor")
            m = upsample_out(n, f)
            if m < 1:
                raise layer.error(
                    f"the output would be empty on axis {ax}: floor({n} * {f:g}) = {m}", "scale_factor"
                )
            out.append(m)
        return factors, tuple(out)

    def analyze(self, layer: Layer, x: Act, ctx: Context) -> Step:
        factors, out = self.geometry(layer, x)
        o = layer.opts
        c = x.shape[0]
        macs = 0 if o["mode"] == "nearest" else ctx.batch * c * volume(out) * 2 ** len(out)
        rf = x.rf.map_affine(self.envelopes(layer, x.spatial, factors, out))
        return Step(Act((c, *out), rf), 0, macs)

    def envelopes(
        self, layer: Layer, sizes: Sequence[int], factors: Sequence[float], out: Sequence[int]
    ) -> list[tuple[Num, Num, Num]]:
        """(lo, hi, step) per axis for :meth:`convcalc.rf.AxisRF.affine`."""
        o = layer.opts
        if o["mode"] == "nearest":
            return [nearest_envelope(f, n, m, len(out)) for f, n, m in zip(factors, sizes, out, strict=True)]
        return [
            linear_envelope(f, n, m, o["align_corners"]) for f, n, m in zip(factors, sizes, out, strict=True)
        ]

    def forward(
        self, layer: Layer, x: np.ndarray, w: dict[str, np.ndarray], fctx: ForwardContext
    ) -> np.ndarray:
        """One axis at a time (nearest and linear interpolation are both separable), with
        PyTorch's source-index arithmetic in x's dtype."""
        import numpy as np

        factors, out = self.geometry(layer, Act(tuple(x.shape[1:]), RF()))
        o = layer.opts
        dt = x.dtype.type
        y = x
        for i, (f, n, m) in enumerate(zip(factors, x.shape[2:], out, strict=True)):
            axis = 2 + i
            dst = np.arange(m).astype(dt)
            if o["mode"] == "nearest":
                # PyTorch: floor(float32(dst * (1/f))), the product in x's dtype; the 2D kernel
                # copies an unchanged axis and takes i // 2 on a doubled one
                if len(out) == 2 and m == n:
                    continue
                if len(out) == 2 and m == 2 * n:
                    src = np.arange(m) // 2
                else:
                    src = np.floor((dst * dt(1.0 / f)).astype(np.float32)).astype(np.int64)
                y = np.take(y, np.minimum(src, n - 1), axis=axis)
                continue
            if m == n:  # PyTorch copies an axis whose size does not change
                continue
            if o["align_corners"]:
                scale = dt(n - 1) / dt(m - 1) if m > 1 else dt(0)
                real = scale * dst
            else:
                real = np.maximum(dt(1.0 / f) * (dst + dt(0.5)) - dt(0.5), dt(0))
            i0 = np.minimum(real.astype(np.int64), n - 1)
            lam = np.clip(real - i0.astype(dt), dt(0), dt(1))
            i1 = i0 + (i0 < n - 1)
            shape = [1] * y.ndim
            shape[axis] = m
            lam = lam.reshape(shape)
            y = (dt(1) - lam) * np.take(y, i0, axis=axis) + lam * np.take(y, i1, axis=axis)
        return np.ascontiguousarray(y)


KINDS = [ConvTranspose(1), ConvTranspose(2), ConvTranspose(3), Upsample()]
