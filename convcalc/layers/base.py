"""What every layer kind provides, and the helpers they share."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from math import prod
from typing import TYPE_CHECKING, Any

from ..arith import causal_padding, effective_kernel, same_padding
from ..rf import RF
from ..spec import REQUIRED, Field, Layer, Padding

if TYPE_CHECKING:
    import numpy as np

    from ..report import LayerReport

AXIS_NAMES = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}


@dataclass(frozen=True)
class Act:
    """An activation as the analysis sees it: shape without batch, and its field."""

    shape: tuple[int, ...]
    rf: RF

    def __init__(self, shape: tuple[int, ...], rf: RF) -> None:
        d = self.__dict__  # cheaper than the frozen dataclass __init__ (see spec.Layer)
        d["shape"], d["rf"] = shape, rf

    @property
    def spatial(self) -> tuple[int, ...]:
        return self.shape[1:]


@dataclass
class Step:
    """What a layer kind's analysis returns."""

    out: Act
    params: int = 0
    macs: int = 0
    children: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Context:
    """What a layer's analysis may know of the whole: the batch, the counting convention, and
    :meth:`run` to analyse a nested layer list (for containers)."""

    batch: int
    #: whose parameter counting: "pytorch" (tensors of the nn.Module) or "keras" (Keras' weights)
    convention: str = "pytorch"

    def run(self, layers: tuple[Layer, ...], x: Act) -> tuple[list[LayerReport], Act]:
        global _run_layers
        if _run_layers is None:
            _run_layers = _import_fold()
        return _run_layers(layers, x, self)


Fold = Callable[[tuple[Layer, ...], Act, Context], tuple[list["LayerReport"], Act]]
_run_layers: Fold | None = None  # imported once: an import statement in Context.run costs each call


def _import_fold() -> Fold:
    from ..analyze import run_layers  # the fold lives in analyze.py, which imports this module

    return run_layers


@dataclass(frozen=True)
class WeightSpec:
    """One tensor a layer expects, by its local PyTorch name (``weight``, ``weight_hh_l1_reverse``).

    ``init`` is how a missing tensor is drawn: ``uniform`` in [-bound, bound] (PyTorch's
    default scale), ``ones`` or ``zeros``.
    """

    shape: tuple[int, ...]
    init: str = "uniform"
    bound: float = 0.0


@dataclass(frozen=True)
class ForwardContext:
    """What a layer's NumPy forward may call back into: ``run(layers, x)`` computes a nested
    layer list (each nested layer finds its own weights by its path)."""

    run: Callable[[tuple[Layer, ...], np.ndarray], np.ndarray]


class LayerKind:
    """A registered layer type: its fields, documentation, analysis rule and NumPy forward."""

    family = "misc"

    def __init__(self, name: str, doc: str, fields: Sequence[Field] = (), ndim: int | None = None) -> None:
        self.name = name
        self.doc = doc
        self.fields = tuple(fields)
        self.field_map = {f.name: f for f in self.fields}
        self.required_names = frozenset(f.name for f in self.fields if f.required)
        #: (name, default) of the optional fields, in order
        self.defaults = tuple((f.name, f.default) for f in self.fields if not f.required)
        self.ndim = ndim

    def analyze(self, layer: Layer, x: Act, ctx: Context) -> Step:
        raise NotImplementedError  # pragma: no cover

    def weight_specs(self, layer: Layer, in_shape: tuple[int, ...]) -> dict[str, WeightSpec]:
        """The tensors this layer owns (not its nested layers'), by local name; none by default."""
        return {}

    def forward(
        self, layer: Layer, x: np.ndarray, w: dict[str, np.ndarray], fctx: ForwardContext
    ) -> np.ndarray:
        """The layer's computation on a batch ``x`` ([B, *shape]) with its local weights ``w``."""
        raise NotImplementedError(f"no NumPy forward for {self.name}")  # pragma: no cover

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


def axis_name(ndim: int, i: int) -> str:
    return AXIS_NAMES.get(ndim, tuple(str(j) for j in range(ndim)))[i]


def shape_str(shape: Sequence[int]) -> str:
    return "[" + ", ".join(str(s) for s in shape) + "]"


def per_axis(value: int | tuple[int, ...], ndim: int) -> tuple[int, ...]:
    return value if isinstance(value, tuple) else (value,) * ndim


def need_rank(layer: Layer, x: Act, ndim: int, form: str) -> None:
    if len(x.shape) != ndim + 1:
        raise layer.error(f"needs input {form}, got shape {shape_str(x.shape)}")


def resolve_padding(
    layer: Layer,
    padding: Padding,
    sizes: Sequence[int],
    k: Sequence[int],
    s: Sequence[int],
    d: Sequence[int],
) -> tuple[tuple[int, int], ...]:
    """Padding as explicit (left, right) per axis."""
    ndim = len(sizes)
    if isinstance(padding, int):
        return ((padding, padding),) * ndim
    if padding == "same":
        if ndim == 1:
            return (same_padding(sizes[0], k[0], s[0], d[0]),)
        return tuple([same_padding(sizes[i], k[i], s[i], d[i]) for i in range(ndim)])
    if padding == "valid":
        return ((0, 0),) * ndim
    if padding == "causal":
        if ndim != 1:
            raise layer.error(
                "padding 'causal' is defined for 1D layers only (it pads the time axis on the left)",
                "padding",
            )
        return (causal_padding(k[0], d[0]),)
    assert isinstance(padding, tuple)
    if len(padding) != ndim:
        raise layer.error(
            f"padding has {len(padding)} entries but the input has {ndim} spatial axes", "padding"
        )
    return padding


def check_groups(layer: Layer, x: Act, c_out: int, groups: int) -> None:
    """Input and output channels must both divide by ``groups``."""
    for what, c in (("input channels", x.shape[0]), ("out_channels", c_out)):
        if c % groups:
            raise layer.error(
                f"{what} ({c}) must be divisible by groups ({groups}); input shape {shape_str(x.shape)}",
                "groups",
                "CC107",
            )


def check_windows(
    layer: Layer,
    sizes: Sequence[int],
    k: Sequence[int],
    d: Sequence[int],
    pads: Sequence[tuple[int, int]],
) -> None:
    """A window must fit in the padded input on every axis."""
    for i, (lo, hi) in enumerate(pads):
        n, ki, di = sizes[i], k[i], d[i]
        span = effective_kernel(ki, di)
        if n + lo + hi < span:
            dil = f" (dilation {di} makes it span {span})" if di > 1 else ""
            raise layer.error(
                f"kernel_size {ki}{dil} is larger than the padded input on axis "
                f"{axis_name(len(sizes), i)}: {n} + {lo} + {hi} = {n + lo + hi} < {span}",
                "kernel_size",
            )


def volume(shape: Sequence[int]) -> int:
    return prod(shape)


def required(name: str, kind: str, doc: str, **kw: Any) -> Field:
    return Field(name, kind, REQUIRED, doc, **kw)
