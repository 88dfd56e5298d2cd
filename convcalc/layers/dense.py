"""linear, batchnorm, the element-wise activations, dropout, flatten and pad."""

from __future__ import annotations

from collections.abc import Sequence
from math import sqrt
from typing import TYPE_CHECKING

from ..rf import FLATTENED, GLOBAL
from ..spec import Field, Layer
from .base import (
    Act,
    Context,
    ForwardContext,
    LayerKind,
    Step,
    WeightSpec,
    required,
    resolve_padding,
    shape_str,
    volume,
)

if TYPE_CHECKING:
    import numpy as np


class Linear(LayerKind):
    family = "dense"

    def __init__(self) -> None:
        super().__init__(
            "linear",
            "fully connected layer on the channel axis (torch.nn.Linear): [F] -> [out], [C, L] -> [out, L]",
            [
                required("out_features", "int", "number of output features"),
                Field("bias", "bool", True, "add a learned bias"),
            ],
        )

    def analyze(self, layer: Layer, x: Act, ctx: Context) -> Step:
        n_in, n_out = x.shape[0], layer.opts["out_features"]
        params = n_in * n_out + (n_out if layer.opts["bias"] else 0)
        positions = volume(x.spatial)
        rf = x.rf.collapse(GLOBAL) if x.rf.scope == FLATTENED else x.rf
        return Step(Act((n_out, *x.spatial), rf), params, ctx.batch * positions * n_in * n_out)

    def weight_specs(self, layer: Layer, in_shape: tuple[int, ...]) -> dict[str, WeightSpec]:
        n_in, n_out = in_shape[0], layer.opts["out_features"]
        bound = 1 / sqrt(n_in)
        specs = {"weight": WeightSpec((n_out, n_in), "uniform", bound)}
        if layer.opts["bias"]:
            specs["bias"] = WeightSpec((n_out,), "uniform", bound)
        return specs

    def forward(
        self, layer: Layer, x: np.ndarray, w: dict[str, np.ndarray], fctx: ForwardContext
    ) -> np.ndarray:
        import numpy as np

        y = np.matmul(np.moveaxis(x, 1, -1), w["weight"].T)
        if "bias" in w:
            y += w["bias"]
        return np.ascontiguousarray(np.moveaxis(y, -1, 1))


class BatchNorm(LayerKind):
    family = "dense"
    #: in a PyTorch state_dict, but not used at inference
    ignored_weights = ("num_batches_tracked",)

    def __init__(self) -> None:
        super().__init__(
            "batchnorm",
            "batch normalisation over the channel axis (torch.nn.BatchNorm1d/2d/3d); C is inferred",
            [
                Field("eps", "float", 1e-5, "added to the variance", minimum=0),
                Field(
                    "momentum", "float", 0.1, "running-average momentum (training only)", minimum=0, maximum=1
                ),
                Field("affine", "bool", True, "learn a scale and a shift per channel"),
            ],
        )

    def analyze(self, layer: Layer, x: Act, ctx: Context) -> Step:
        c = x.shape[0]
        params = 2 * c if layer.opts["affine"] else 0
        if ctx.convention == "keras":  # Keras also counts the moving mean and variance (non-trainable)
            params += 2 * c
        return Step(x, params, ctx.batch * volume(x.shape))

    def weight_specs(self, layer: Layer, in_shape: tuple[int, ...]) -> dict[str, WeightSpec]:
        c = (in_shape[0],)
        specs = {}
        if layer.opts["affine"]:
            specs = {"weight": WeightSpec(c, "ones"), "bias": WeightSpec(c, "zeros")}
        specs["running_mean"] = WeightSpec(c, "zeros")
        specs["running_var"] = WeightSpec(c, "ones")
        return specs

    def forward(
        self, layer: Layer, x: np.ndarray, w: dict[str, np.ndarray], fctx: ForwardContext
    ) -> np.ndarray:
        """Inference mode: the running statistics, folded into one scale and shift."""
        import numpy as np

        scale = 1 / np.sqrt(w["running_var"] + layer.opts["eps"])
        if "weight" in w:
            scale = scale * w["weight"]
        shift = -w["running_mean"] * scale
        if "bias" in w:
            shift = shift + w["bias"]
        bcast = (-1,) + (1,) * (x.ndim - 2)
        y: np.ndarray = x * scale.reshape(bcast) + shift.reshape(bcast)
        return y


class Elementwise(LayerKind):
    """A layer that keeps the shape and costs no MACs."""

    family = "elementwise"

    def analyze(self, layer: Layer, x: Act, ctx: Context) -> Step:
        return Step(x)

    def forward(
        self, layer: Layer, x: np.ndarray, w: dict[str, np.ndarray], fctx: ForwardContext
    ) -> np.ndarray:
        import numpy as np

        y: np.ndarray = x  # identity; dropout at inference
        if self.name == "relu":
            y = np.maximum(x, 0)
        elif self.name == "tanh":
            y = np.tanh(x)
        elif self.name == "sigmoid":  # exp of a non-positive number only: no overflow
            e = np.exp(-np.abs(x))
            r = 1 / (1 + e)
            y = np.where(x >= 0, r, e * r)
        return y


class Flatten(LayerKind):
    family = "reshape"

    def __init__(self) -> None:
        super().__init__(
            "flatten", "folds every axis into one feature axis (torch.nn.Flatten): [C, H, W] -> [C*H*W]"
        )

    def analyze(self, layer: Layer, x: Act, ctx: Context) -> Step:
        rf = x.rf.collapse(FLATTENED) if len(x.shape) > 1 else x.rf
        return Step(Act((volume(x.shape),), rf))

    def forward(
        self, layer: Layer, x: np.ndarray, w: dict[str, np.ndarray], fctx: ForwardContext
    ) -> np.ndarray:
        return x.reshape(x.shape[0], -1)


class Pad(LayerKind):
    family = "reshape"

    def __init__(self) -> None:
        super().__init__(
            "pad",
            "zero padding of the spatial axes (torch.nn.functional.pad / ConstantPadNd)",
            [
                required(
                    "padding",
                    "padding",
                    "zeros added: int, per axis, or per-axis [left, right]",
                    minimum=0,
                ),
            ],
        )

    def analyze(self, layer: Layer, x: Act, ctx: Context) -> Step:
        ndim = len(x.spatial)
        if ndim == 0:
            raise layer.error(f"needs spatial axes to pad, got shape {shape_str(x.shape)}")
        pads = self.pads(layer, x.spatial)
        out = tuple(n + lo + hi for n, (lo, hi) in zip(x.spatial, pads, strict=True))
        ones = (1,) * ndim
        rf = x.rf.windows(ones, ones, ones, tuple(lo for lo, _ in pads))
        return Step(Act((x.shape[0], *out), rf))

    def forward(
        self, layer: Layer, x: np.ndarray, w: dict[str, np.ndarray], fctx: ForwardContext
    ) -> np.ndarray:
        from ..forward import pad_axes

        return pad_axes(x, self.pads(layer, x.shape[2:]))

    def pads(self, layer: Layer, sizes: Sequence[int]) -> tuple[tuple[int, int], ...]:
        """(left, right) per spatial axis."""
        ones = (1,) * len(sizes)
        return resolve_padding(layer, layer.opts["padding"], sizes, ones, ones, ones)


KINDS: list[LayerKind] = [
    Linear(),
    BatchNorm(),
    Elementwise("relu", "max(x, 0) (torch.nn.ReLU)"),
    Elementwise("tanh", "hyperbolic tangent (torch.nn.Tanh)"),
    Elementwise("sigmoid", "logistic sigmoid (torch.nn.Sigmoid)"),
    Elementwise("identity", "passes its input through (torch.nn.Identity)"),
    Elementwise(
        "dropout",
        "random zeroing in training, identity at inference (torch.nn.Dropout)",
        [Field("p", "float", 0.5, "probability of zeroing an element", minimum=0, maximum=1)],
    ),
    Flatten(),
    Pad(),
]
