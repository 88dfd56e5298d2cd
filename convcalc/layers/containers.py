"""sequential, residual and parallel: layers that hold layers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..spec import Field, Layer
from .base import Act, Context, ForwardContext, LayerKind, Step, required, shape_str

if TYPE_CHECKING:
    import numpy as np


def _totals(reports: list[object]) -> tuple[int, int]:
    params = sum(r.params for r in reports)  # type: ignore[attr-defined]
    macs = sum(r.macs for r in reports)  # type: ignore[attr-defined]
    return params, macs


class Sequential(LayerKind):
    family = "container"

    def __init__(self) -> None:
        super().__init__(
            "sequential",
            "runs its layers one after the other (torch.nn.Sequential)",
            [required("layers", "layers", "the layers, in order")],
        )

    def analyze(self, layer: Layer, x: Act, ctx: Context) -> Step:
        reports, out = ctx.run(layer.opts["layers"], x)
        params, macs = _totals(list(reports))
        return Step(out, params, macs, {"layers": reports})

    def forward(
        self, layer: Layer, x: np.ndarray, w: dict[str, np.ndarray], fctx: ForwardContext
    ) -> np.ndarray:
        return fctx.run(layer.opts["layers"], x)


class Residual(LayerKind):
    family = "container"

    def __init__(self) -> None:
        super().__init__(
            "residual",
            "adds the output of its layers to its shortcut's (identity by default): y = f(x) + g(x)",
            [
                required("layers", "layers", "the main path"),
                Field("shortcut", "layers", (), "the shortcut path (default: identity)"),
            ],
        )

    def analyze(self, layer: Layer, x: Act, ctx: Context) -> Step:
        main, y = ctx.run(layer.opts["layers"], x)
        short, z = ctx.run(layer.opts["shortcut"], x)
        if y.shape != z.shape:
            what = "the shortcut" if layer.opts["shortcut"] else "the identity shortcut"
            raise layer.error(
                f"outputs are added, so shapes must match: the layers give {shape_str(y.shape)} "
                f"but {what} gives {shape_str(z.shape)}",
                code="CC106",
            )
        params, macs = _totals([*main, *short])
        return Step(Act(y.shape, y.rf.union(z.rf)), params, macs, {"layers": main, "shortcut": short})

    def forward(
        self, layer: Layer, x: np.ndarray, w: dict[str, np.ndarray], fctx: ForwardContext
    ) -> np.ndarray:
        y: np.ndarray = fctx.run(layer.opts["layers"], x) + fctx.run(layer.opts["shortcut"], x)
        return y


class Parallel(LayerKind):
    family = "container"

    def __init__(self) -> None:
        super().__init__(
            "parallel",
            "runs branches on the same input and merges them: 'concat' on channels or 'add'",
            [
                required("branches", "branches", "a list of layer lists (an empty list is identity)"),
                Field(
                    "merge",
                    "choice",
                    "concat",
                    "how outputs merge: concat (channels) or add",
                    choices=("concat", "add"),
                ),
            ],
        )

    def analyze(self, layer: Layer, x: Act, ctx: Context) -> Step:
        results = [ctx.run(branch, x) for branch in layer.opts["branches"]]
        outs = [out for _, out in results]
        first = outs[0]
        merge = layer.opts["merge"]
        for i, out in enumerate(outs[1:], 1):
            if merge == "add" and out.shape != first.shape:
                raise layer.error(
                    f"merge 'add' needs equal shapes: branch 0 gives {shape_str(first.shape)}, "
                    f"branch {i} gives {shape_str(out.shape)}",
                    "branches",
                    "CC106",
                )
            if merge == "concat" and out.shape[1:] != first.shape[1:]:
                raise layer.error(
                    f"merge 'concat' joins channels, so the other axes must match: branch 0 gives "
                    f"{shape_str(first.shape)}, branch {i} gives {shape_str(out.shape)}",
                    "branches",
                    "CC106",
                )
        rf = first.rf
        for out in outs[1:]:
            rf = rf.union(out.rf)
        channels = sum(o.shape[0] for o in outs) if merge == "concat" else first.shape[0]
        reports = [r for r, _ in results]
        params, macs = _totals([r for rs in reports for r in rs])
        return Step(Act((channels, *first.shape[1:]), rf), params, macs, {"branches": reports})

    def forward(
        self, layer: Layer, x: np.ndarray, w: dict[str, np.ndarray], fctx: ForwardContext
    ) -> np.ndarray:
        import numpy as np

        outs = [fctx.run(branch, x) for branch in layer.opts["branches"]]
        if layer.opts["merge"] == "concat":
            return np.concatenate(outs, axis=1)
        if len(outs) == 1:
            return outs[0]
        total: np.ndarray = outs[0] + outs[1]
        for out in outs[2:]:
            total += out
        return total


class Repeat(Sequential):
    """What a layer with ``repeat: N`` / ``vary:`` expands to: its copies, run in order.

    The spec walker builds it (see ``_Walker.repeated``); written out as ``type: repeat`` it is a
    ``sequential`` by another name.
    """

    def __init__(self) -> None:
        LayerKind.__init__(
            self,
            "repeat",
            "the copies a 'repeat: N' or 'vary:' key makes of a layer, run in order",
            [required("layers", "layers", "the copies, in order (made by the walker from repeat/vary)")],
        )


KINDS = [Sequential(), Residual(), Parallel(), Repeat()]
