"""The analysis: a pure fold of the layer rules over a validated spec."""

from __future__ import annotations

import dataclasses

from .layers import REGISTRY
from .layers.base import Act, Context, shape_str
from .report import LayerReport, Report
from .rf import RF
from .spec import Layer, NetSpec, paused_gc


def analyze(spec: NetSpec, batch: int | None = None, convention: str | None = None) -> Report:
    """Shapes, receptive fields, parameters and MACs of every layer of ``spec``.

    ``batch`` overrides the spec's batch (it only scales MACs); ``convention`` ("pytorch" or
    "keras") overrides the spec's ``convention:`` (it only changes parameter counts).
    """
    if convention is not None and convention != spec.convention:
        spec = dataclasses.replace(spec, convention=convention)
    ctx = Context(batch or spec.batch, spec.convention)
    x = Act(spec.input_shape, RF.identity(len(spec.input_shape) - 1))
    with paused_gc():
        reports, out = run_layers(spec.layers, x, ctx)
    return Report(
        spec,
        out.shape,
        out.rf,
        sum(r.params for r in reports),
        sum(r.macs for r in reports),
        reports,
        ctx.batch,
    )


def run_layers(layers: tuple[Layer, ...], x: Act, ctx: Context) -> tuple[list[LayerReport], Act]:
    """The reports of a layer list whose input is ``x``, and its output (containers recurse here)."""
    reports = []
    for layer in layers:
        step = REGISTRY[layer.type].analyze(layer, x, ctx)
        if min(step.out.shape, default=1) < 1:
            raise layer.error(
                f"the output would be empty: shape {shape_str(step.out.shape)} "
                f"from input {shape_str(x.shape)}"
            )
        reports.append(LayerReport(layer, step.out.shape, step.out.rf, step.params, step.macs, step.children))
        x = step.out
    return reports, x
