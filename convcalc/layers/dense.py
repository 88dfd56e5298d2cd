"""linear, batchnorm, the element-wise activations, dropout, flatten and pad."""

from __future__ import annotations

from ..rf import FLATTENED, GLOBAL
from ..spec import Field, Layer
from .base import Act, Context, LayerKind, Step, required, resolve_padding, shape_str, volume


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


class BatchNorm(LayerKind):
    family = "dense"

    def __init__(self) -> None:
        super().__init__(
            "batchnorm",
            "batch normalisation over the channel axis (torch.nn.BatchNorm1d/2d/3d); C is inferred",
            [
                Field("eps", "float", 1e-5, "added to the variance", minimum=0),
                Field("momentum", "float", 0.1, "running-average momentum (training only)", minimum=0, maximum=1),
                Field("affine", "bool", True, "learn a scale and a shift per channel"),
            ],
        )

    def analyze(self, layer: Layer, x: Act, ctx: Context) -> Step:
        c = x.shape[0]
        return Step(x, 2 * c if layer.opts["affine"] else 0, ctx.batch * volume(x.shape))


class Elementwise(LayerKind):
    """A layer that keeps the shape and costs no MACs."""

    family = "elementwise"

    def analyze(self, layer: Layer, x: Act, ctx: Context) -> Step:
        return Step(x)


class Flatten(LayerKind):
    family = "reshape"

    def __init__(self) -> None:
        super().__init__("flatten", "folds every axis into one feature axis (torch.nn.Flatten): [C, H, W] -> [C*H*W]")

    def analyze(self, layer: Layer, x: Act, ctx: Context) -> Step:
        rf = x.rf.collapse(FLATTENED) if len(x.shape) > 1 else x.rf
        return Step(Act((volume(x.shape),), rf))


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
        ones = (1,) * ndim
        pads = resolve_padding(layer, layer.opts["padding"], x.spatial, ones, ones, ones)
        out = tuple(n + lo + hi for n, (lo, hi) in zip(x.spatial, pads, strict=True))
        rf = x.rf.map_axes([(1, 1, 1, lo) for lo, _ in pads])
        return Step(Act((x.shape[0], *out), rf))


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
