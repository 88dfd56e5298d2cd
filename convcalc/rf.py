"""Receptive-field arithmetic, one spatial axis at a time.

An axis field says, for output position ``i`` of a layer, which input positions of the
*network's* input it depends on: ``[start + i*jump, start + i*jump + size - 1]``.

``size`` is ``None`` when the field is unbounded (after a recurrent layer), ``jump`` is
``None`` when branches with different strides were merged (the field is then not the same
shape at every position, and is not reported).

After a transposed convolution or an upsampling the jump is a fraction (two outputs per
input at stride 2: jump 1/2), and ``size`` and ``start`` may be fractions too. Values are
ints whenever they are integral, :class:`~fractions.Fraction` otherwise; the interval
``[start + i*jump, start + i*jump + size - 1]`` is then a real interval and output ``i``
depends on input positions inside it. Where the exact set of inputs varies with the
output's phase, the field is the *envelope*: the smallest interval that covers every
output position's field shifted back by ``i*jump`` (see :meth:`AxisRF.affine`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import TypeAlias

#: a field coordinate: an int, or a Fraction when it is not integral
Num: TypeAlias = int | Fraction


def exact(v: Num) -> Num:
    """``v`` as an int when integral (so integral values stay ints in JSON and text).

    >>> exact(Fraction(4, 2)), exact(Fraction(1, 2))
    (2, Fraction(1, 2))
    """
    if isinstance(v, Fraction) and v.denominator == 1:
        return v.numerator
    return v


def num_text(v: Num | None) -> str:
    """A field coordinate for the table: ``3``, ``1/2``, or a decimal when the fraction's
    denominator is large.

    >>> num_text(3), num_text(Fraction(-5, 4)), num_text(Fraction(10, 13)), num_text(Fraction(7, 1000003))
    ('3', '-5/4', '10/13', '6.99998e-06')
    """
    if v is None:
        return "?"
    if isinstance(v, Fraction) and v.denominator > 1000:
        return f"{float(v):.6g}"
    return str(v)


def json_num(v: Num | None) -> int | float | None:
    """A field coordinate for JSON: ints stay ints, fractions become the nearest double
    (exact when the denominator is a power of two)."""
    return v if v is None or isinstance(v, int) else float(v)


#: why an output has no spatial axes
GLOBAL = "global"  # every output unit depends on the whole input
FLATTENED = "flattened"  # the spatial axes were folded into features


@dataclass(frozen=True)
class AxisRF:
    size: Num | None = 1
    jump: Num | None = 1
    start: Num | None = 0
    #: the field is an envelope (a transposed conv or an upsampling came before): some
    #: positions depend on fewer inputs than ``size``, even when the numbers are integers
    envelope: bool = field(default=False, repr=False, compare=False)

    def __init__(
        self, size: Num | None = 1, jump: Num | None = 1, start: Num | None = 0, envelope: bool = False
    ) -> None:
        d = self.__dict__  # cheaper than the frozen dataclass __init__ (see spec.Layer)
        d["size"], d["jump"], d["start"], d["envelope"] = size, jump, start, envelope

    @property
    def bounded(self) -> bool:
        return self.size is not None and self.jump is not None and self.start is not None

    def window(self, k: int, s: int = 1, d: int = 1, left: int = 0) -> AxisRF:
        """The field after a sliding window (conv or pool) on this axis.

        >>> AxisRF().window(3, d=2, left=4)
        AxisRF(size=5, jump=1, start=-4)
        >>> AxisRF(5, 1, -4).window(3, d=4, left=8)
        AxisRF(size=13, jump=1, start=-12)
        >>> AxisRF(3, 2, -1).window(2, s=2)
        AxisRF(size=5, jump=4, start=-1)
        """
        j, size, start = self.jump, self.size, self.start
        if type(j) is int and type(size) is int and type(start) is int and not self.envelope:
            return AxisRF(size + (k - 1) * d * j, j * s, start - left * j)  # the usual, all-int case
        return self.affine(-left, (k - 1) * d - left, s)

    def affine(self, lo: Num, hi: Num, step: Num) -> AxisRF:
        """The field after a layer whose output ``i`` depends on layer-input positions
        inside the real interval ``[lo + i*step, hi + i*step]`` (for every ``i``).

        A sliding window is ``(-left, (k-1)*d - left, s)``. A transposed convolution
        (stride s, padding p, dilation d) is ``((p - (k-1)*d)/s, p/s, 1/s)``: tap ``t``
        reaches output ``i`` from input ``(i + p - t*d)/s`` when that is an integer, so
        every input lies in the interval, and each end is reached at some phase of ``i``.

        >>> AxisRF().affine(Fraction(-1, 2), 0, Fraction(1, 2))   # nearest upsampling x2
        AxisRF(size=Fraction(3, 2), jump=Fraction(1, 2), start=Fraction(-1, 2))
        >>> AxisRF(3, 2, -1).affine(Fraction(-1), Fraction(1, 2), Fraction(1, 2))
        AxisRF(size=6, jump=1, start=-3)
        """
        if self.jump is None:
            return self
        size = None if self.size is None else exact(self.size + (hi - lo) * self.jump)
        start = None if self.start is None else exact(self.start + lo * self.jump)
        envelope = self.envelope or not all(isinstance(v, int) for v in (lo, hi, step, self.jump))
        return AxisRF(size, exact(self.jump * step), start, envelope)

    def union(self, other: AxisRF) -> AxisRF:
        """The field of two paths whose outputs are merged position by position.

        >>> AxisRF(5, 1, -4).union(AxisRF())
        AxisRF(size=5, jump=1, start=-4)
        >>> AxisRF(3, 1, -1).union(AxisRF(5, 1, -2))
        AxisRF(size=5, jump=1, start=-2)
        >>> AxisRF(3, 1, 0).union(AxisRF(2, 2, 0))
        AxisRF(size=None, jump=None, start=None)
        """
        if self.jump is None or other.jump is None or self.jump != other.jump:
            return AxisRF(None, None, None)
        envelope = self.envelope or other.envelope
        if not (self.bounded and other.bounded):
            return AxisRF(None, self.jump, None, envelope)
        assert self.start is not None and other.start is not None
        assert self.size is not None and other.size is not None
        start = min(self.start, other.start)
        end = max(self.start + self.size, other.start + other.size)
        return AxisRF(end - start, self.jump, start, envelope)

    def unbounded(self) -> AxisRF:
        """After a recurrent layer: every step may depend on every earlier (or later) one."""
        return AxisRF(None, self.jump, None, self.envelope)


@dataclass(frozen=True)
class RF:
    """The receptive field of a layer's output: one :class:`AxisRF` per input spatial axis,
    or, when the output has no spatial axes, the reason (``GLOBAL`` or ``FLATTENED``)."""

    axes: tuple[AxisRF, ...] = ()
    scope: str | None = None

    def __init__(self, axes: tuple[AxisRF, ...] = (), scope: str | None = None) -> None:
        d = self.__dict__  # cheaper than the frozen dataclass __init__ (see spec.Layer)
        d["axes"], d["scope"] = axes, scope

    @property
    def spatial(self) -> bool:
        return self.scope is None

    @staticmethod
    def identity(ndim: int) -> RF:
        return RF(tuple(AxisRF() for _ in range(ndim)))

    def windows(
        self, k: tuple[int, ...], s: tuple[int, ...], d: tuple[int, ...], left: tuple[int, ...]
    ) -> RF:
        """Apply one sliding window per axis (:meth:`AxisRF.window`), given as per-axis tuples
        of kernel, stride, dilation and left padding, as conv and pool geometry returns them."""
        if self.scope is not None:
            return self
        axes = self.axes
        if len(axes) == 1:
            return RF((axes[0].window(k[0], s[0], d[0], left[0]),))
        return RF(tuple([axes[i].window(k[i], s[i], d[i], left[i]) for i in range(len(axes))]))

    def map_affine(self, fn: list[tuple[Num, Num, Num]]) -> RF:
        """Apply one :meth:`AxisRF.affine` ``(lo, hi, step)`` per axis."""
        if not self.spatial:
            return self
        return RF(tuple(ax.affine(*w) for ax, w in zip(self.axes, fn, strict=True)))

    def union(self, other: RF) -> RF:
        if not self.spatial or not other.spatial:
            scope = GLOBAL if GLOBAL in (self.scope, other.scope) else FLATTENED
            return RF((), scope)
        return RF(tuple(a.union(b) for a, b in zip(self.axes, other.axes, strict=True)))

    def collapse(self, scope: str) -> RF:
        """The output loses its spatial axes."""
        return RF((), scope)

    def to_dict(self) -> dict[str, object]:
        if not self.spatial:
            return {"size": None, "jump": None, "start": None, "spatial": False, "scope": self.scope}
        return {
            "size": [json_num(a.size) for a in self.axes],
            "jump": [json_num(a.jump) for a in self.axes],
            "start": [json_num(a.start) for a in self.axes],
        }
