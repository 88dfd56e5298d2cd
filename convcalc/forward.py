"""The NumPy forward pass: PyTorch's inference computation, layer by layer.

Each layer kind computes itself (``LayerKind.forward``); this module finds the tensors every
layer expects (``weight_table``), checks or draws them (``resolve_weights``) and runs the
layers (``Engine``). numpy is imported here and inside the layers' ``forward`` methods only,
so ``convcalc shape`` never loads it.

Weights are named as in a PyTorch ``state_dict`` of the spec's ``nn.Sequential``:
``3.weight``, ``0.layers.1.weight``, ``0.shortcut.0.weight``, ``2.branches.1.0.weight``.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .arith import effective_kernel
from .errors import ConvcalcError
from .layers import REGISTRY
from .layers.base import ForwardContext, WeightSpec, shape_str
from .report import LayerReport, Report
from .spec import Layer, did_you_mean

#: the dtypes the engine computes in
FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

#: layers the linearised (receptive-field probe) pass replaces by the identity
LINEAR_IDENTITY = frozenset({"relu", "tanh", "sigmoid", "dropout", "identity"})


@dataclass(frozen=True)
class Expected:
    """One tensor a layer expects: the layer, its local name and its shape and default."""

    layer: Layer
    local: str
    spec: WeightSpec

    @property
    def shape(self) -> tuple[int, ...]:
        return self.spec.shape


@dataclass(frozen=True)
class WeightTable:
    """Every tensor a net expects, by full name, in ``state_dict`` order, and the names that
    may be given but are not used (``4.num_batches_tracked``)."""

    expected: dict[str, Expected]
    ignored: frozenset[str]

    def shapes(self) -> dict[str, tuple[int, ...]]:
        return {name: e.shape for name, e in self.expected.items()}

    def nbytes(self, itemsize: int) -> int:
        return sum(int(np.prod(e.shape, dtype=np.int64)) for e in self.expected.values()) * itemsize


def weight_table(report: Report) -> WeightTable:
    """The tensors of every layer of an analysed net, nested layers included."""
    expected: dict[str, Expected] = {}
    ignored: set[str] = set()
    _collect(report.layers, report.spec.input_shape, expected, ignored)
    return WeightTable(expected, frozenset(ignored))


def _collect(
    reports: Sequence[LayerReport],
    in_shape: tuple[int, ...],
    expected: dict[str, Expected],
    ignored: set[str],
) -> None:
    for r in reports:
        kind = REGISTRY[r.layer.type]
        for local, ws in kind.weight_specs(r.layer, in_shape).items():
            expected[f"{r.layer.dotted}.{local}"] = Expected(r.layer, local, ws)
        for local in getattr(kind, "ignored_weights", ()):
            ignored.add(f"{r.layer.dotted}.{local}")
        for key, value in r.children.items():
            for branch in value if key == "branches" else [value]:
                _collect(branch, in_shape, expected, ignored)
        in_shape = r.shape


def draw(name: str, ws: WeightSpec, seed: int) -> np.ndarray:
    """A missing tensor, in float64: PyTorch's default scale, seeded by ``seed`` and the name
    (so a tensor does not change when other tensors are given)."""
    if ws.init == "ones":
        return np.ones(ws.shape)
    if ws.init == "zeros":
        return np.zeros(ws.shape)
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    return rng.uniform(-ws.bound, ws.bound, ws.shape)


def as_float_array(value: Any, what: str) -> np.ndarray:
    """``value`` as a float32/float64 array, or a clear error."""
    try:
        arr = np.asarray(value)
    except Exception as e:  # e.g. ragged nested lists
        raise ConvcalcError(f"{what} is not an array: {e}") from None
    if arr.dtype not in FLOAT_DTYPES:
        raise ConvcalcError(f"{what} has dtype {arr.dtype}; it must be float32 or float64")
    return arr


def check_seed(seed: int) -> None:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConvcalcError(f"seed must be a non-negative integer, got {seed!r}")


def resolve_weights(
    table: WeightTable, weights: Mapping[str, Any] | None, seed: int, dtype: np.dtype[Any]
) -> dict[str, np.ndarray]:
    """Every expected tensor in ``dtype``: the given one (checked) or a seeded draw."""
    check_seed(seed)
    given = dict(weights or {})
    unknown = [n for n in given if n not in table.expected and n not in table.ignored]
    if unknown:
        names = list(table.expected)
        hint = did_you_mean(unknown[0], names)
        listed = ", ".join(f"'{n}'" for n in names[:6]) + (", ..." if len(names) > 6 else "")
        what = f"unknown weight '{unknown[0]}'" if len(unknown) == 1 else f"unknown weights {unknown}"
        expects = f"this net expects {len(names)} tensors: {listed}" if names else "this net has no weights"
        raise ConvcalcError(f"{what}{hint}; {expects}")
    out: dict[str, np.ndarray] = {}
    for name, e in table.expected.items():
        if name not in given:
            out[name] = draw(name, e.spec, seed).astype(dtype, copy=False)
            continue
        try:
            arr = as_float_array(given[name], f"weight '{name}'")
        except ConvcalcError as err:
            raise e.layer.error(str(err)) from None
        if tuple(arr.shape) != e.shape:
            raise e.layer.error(
                f"weight '{name}' has shape {shape_str(arr.shape)}, expected {shape_str(e.shape)}"
            )
        out[name] = arr.astype(dtype, copy=False)
    return out


def check_input(input_shape: tuple[int, ...], x: Any) -> np.ndarray:
    """``x`` as a float32/float64 array of shape [batch, *input_shape], or a clear error."""
    arr = as_float_array(x, "the input x")
    if arr.ndim != len(input_shape) + 1 or tuple(arr.shape[1:]) != input_shape or arr.shape[0] < 1:
        want = shape_str(("batch", *input_shape))  # type: ignore[arg-type]
        raise ConvcalcError(f"the input x must have shape {want}, got {shape_str(arr.shape)}")
    return arr


class Observer(Protocol):
    """Called around every layer the engine runs, nested layers included."""

    def enter(self, layer: Layer, x: np.ndarray) -> None: ...

    def leave(self, layer: Layer, y: np.ndarray) -> None: ...


class Engine:
    """Runs layer lists on NumPy arrays with a fixed set of weights.

    ``linear=True`` is the receptive-field probe: activations become identities (with
    all-ones weights and non-negative inputs every value stays >= 0, and a value is > 0
    exactly when some input it depends on is).
    """

    def __init__(
        self,
        table: WeightTable,
        weights: Mapping[str, np.ndarray],
        observer: Observer | None = None,
        linear: bool = False,
    ) -> None:
        self.local: dict[str, dict[str, np.ndarray]] = {}
        for name, e in table.expected.items():
            self.local.setdefault(e.layer.dotted, {})[e.local] = weights[name]
        self.observer = observer
        self.linear = linear
        self.fctx = ForwardContext(self.run)

    def run(self, layers: tuple[Layer, ...], x: np.ndarray) -> np.ndarray:
        dtype = x.dtype
        for layer in layers:
            if self.observer is not None:
                self.observer.enter(layer, x)
            if self.linear and layer.type in LINEAR_IDENTITY:
                y = x
            else:
                try:
                    y = REGISTRY[layer.type].forward(layer, x, self.local.get(layer.dotted, {}), self.fctx)
                except NotImplementedError:
                    raise layer.error(f"the NumPy forward pass does not support '{layer.type}' yet") from None
                if y.dtype != dtype:
                    y = y.astype(dtype)
            if self.observer is not None:
                self.observer.leave(layer, y)
            x = y
        return x


def forward(
    report: Report,
    x: Any,
    weights: Mapping[str, Any] | None = None,
    seed: int = 0,
    observer: Observer | None = None,
) -> np.ndarray:
    """The output of the analysed net on ``x`` ([batch, *input shape]), in x's dtype."""
    arr = check_input(report.spec.input_shape, x)
    table = weight_table(report)
    w = resolve_weights(table, weights, seed, arr.dtype)
    return Engine(table, w, observer).run(report.spec.layers, arr)


# -- helpers the layers' forward methods share ------------------------------------------------


def pad_axes(x: np.ndarray, pads: Sequence[tuple[int, int]], value: float = 0.0) -> np.ndarray:
    """``x`` padded on its trailing ``len(pads)`` axes; negative amounts crop."""
    lead = x.ndim - len(pads)
    crop = tuple(slice(max(-lo, 0), x.shape[lead + i] - max(-hi, 0)) for i, (lo, hi) in enumerate(pads))
    x = x[(slice(None),) * lead + crop]
    widths = [(0, 0)] * lead + [(max(lo, 0), max(hi, 0)) for lo, hi in pads]
    if any(lo or hi for lo, hi in widths):
        x = np.pad(x, widths, constant_values=value)
    return x


def windows(
    x: np.ndarray,
    k: Sequence[int],
    s: Sequence[int],
    d: Sequence[int],
    out: Sequence[int],
    axes: Sequence[int],
) -> np.ndarray:
    """A strided view of every window: ``x``'s ``axes`` shrink to ``out`` and the ``len(k)``
    window axes (taps, dilation applied) are appended at the end. No copy.

    >>> windows(np.arange(7.0), [2], [3], [2], [2], [0]).tolist()
    [[0.0, 2.0], [3.0, 5.0]]
    """
    span = tuple(effective_kernel(ki, di) for ki, di in zip(k, d, strict=True))
    view = sliding_window_view(x, span, axis=tuple(axes))
    index: list[slice] = [slice(None)] * view.ndim
    for ax, oi, si in zip(axes, out, s, strict=True):
        index[ax] = slice(0, (oi - 1) * si + 1, si)
    for j, di in enumerate(d):
        index[x.ndim + j] = slice(None, None, di)
    return view[tuple(index)]
