"""Receptive-field arithmetic, one spatial axis at a time.

An axis field says, for output position ``i`` of a layer, which input positions of the
*network's* input it depends on: ``[start + i*jump, start + i*jump + size - 1]``.

``size`` is ``None`` when the field is unbounded (after a recurrent layer), ``jump`` is
``None`` when branches with different strides were merged (the field is then not the same
shape at every position, and is not reported).
"""

from __future__ import annotations

from dataclasses import dataclass

#: why an output has no spatial axes
GLOBAL = "global"  # every output unit depends on the whole input
FLATTENED = "flattened"  # the spatial axes were folded into features


@dataclass(frozen=True)
class AxisRF:
    size: int | None = 1
    jump: int | None = 1
    start: int | None = 0

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
        if self.jump is None:
            return self
        size = None if self.size is None else self.size + (k - 1) * d * self.jump
        start = None if self.start is None else self.start - left * self.jump
        return AxisRF(size, self.jump * s, start)

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
        if not (self.bounded and other.bounded):
            return AxisRF(None, self.jump, None)
        assert self.start is not None and other.start is not None
        assert self.size is not None and other.size is not None
        start = min(self.start, other.start)
        end = max(self.start + self.size, other.start + other.size)
        return AxisRF(end - start, self.jump, start)

    def unbounded(self) -> AxisRF:
        """After a recurrent layer: every step may depend on every earlier (or later) one."""
        return AxisRF(None, self.jump, None)


@dataclass(frozen=True)
class RF:
    """The receptive field of a layer's output: one :class:`AxisRF` per input spatial axis,
    or, when the output has no spatial axes, the reason (``GLOBAL`` or ``FLATTENED``)."""

    axes: tuple[AxisRF, ...] = ()
    scope: str | None = None

    @property
    def spatial(self) -> bool:
        return self.scope is None

    @staticmethod
    def identity(ndim: int) -> RF:
        return RF(tuple(AxisRF() for _ in range(ndim)))

    def map_axes(self, fn: list[tuple[int, int, int, int]]) -> RF:
        """Apply one window ``(k, s, d, left)`` per axis."""
        if not self.spatial:
            return self
        return RF(tuple(ax.window(*w) for ax, w in zip(self.axes, fn, strict=True)))

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
            "size": [a.size for a in self.axes],
            "jump": [a.jump for a in self.axes],
            "start": [a.start for a in self.axes],
        }
