"""The analysis report: what ``convcalc shape`` prints, as plain data."""

from __future__ import annotations

from dataclasses import dataclass, field
from math import prod
from typing import Any

from .rf import RF
from .spec import Layer, NetSpec


@dataclass(frozen=True)
class LayerReport:
    """One analysed layer: its output shape (no batch), field, parameters and MACs."""

    layer: Layer
    shape: tuple[int, ...]
    rf: RF
    params: int
    macs: int
    #: nested reports of containers: "layers" / "shortcut" -> [reports], "branches" -> [[reports]]
    children: dict[str, Any] = field(default_factory=dict)

    def __init__(
        self,
        layer: Layer,
        shape: tuple[int, ...],
        rf: RF,
        params: int,
        macs: int,
        children: dict[str, Any] | None = None,
    ) -> None:
        d = self.__dict__  # cheaper than the frozen dataclass __init__ (see spec.Layer)
        d["layer"], d["shape"], d["rf"], d["params"], d["macs"] = layer, shape, rf, params, macs
        d["children"] = {} if children is None else children

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": self.layer.type,
            "name": self.layer.name,
            "line": self.layer.loc.line,
            "output_shape": list(self.shape),
            "params": self.params,
            "macs": self.macs,
            "receptive_field": self.rf.to_dict(),
        }
        for key, value in self.children.items():
            if key == "branches":
                out[key] = [[r.to_dict() for r in branch] for branch in value]
            else:
                out[key] = [r.to_dict() for r in value]
        return out

    def walk(self, depth: int = 0) -> list[tuple[int, LayerReport]]:
        """(depth, report) of this layer and everything nested in it, in order."""
        rows = [(depth, self)]
        for key, value in self.children.items():
            for branch in value if key == "branches" else [value]:
                for child in branch:
                    rows.extend(child.walk(depth + 1))
        return rows


@dataclass(frozen=True)
class Report:
    spec: NetSpec
    output_shape: tuple[int, ...]
    rf: RF
    total_params: int
    total_macs: int
    layers: list[LayerReport]
    batch: int = 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.spec.name,
            "input_shape": list(self.spec.input_shape),
            "batch": self.batch,
            "convention": self.spec.convention,
            "output_shape": list(self.output_shape),
            "total_params": self.total_params,
            "total_macs": self.total_macs,
            "receptive_field": self.rf.to_dict(),
            "memory": self.memory(),
            "layers": [r.to_dict() for r in self.layers],
        }

    def memory(self, itemsize: int = 4) -> dict[str, int]:
        """Bytes (float32 by default, batch included) of the parameters and of the activations.

        ``activations_bytes`` adds up the output of every layer (a sequential or repeat container's output
        is its last layer's, so it is not counted twice): what a training step keeps for the
        backward pass, an upper bound for inference. ``largest_activation_bytes`` is the largest
        single output.
        """
        sizes = [prod(r.shape) for _, r in self.rows() if r.layer.type not in ("sequential", "repeat")]
        return {
            "params_bytes": self.total_params * itemsize,
            "activations_bytes": sum(sizes) * self.batch * itemsize,
            "largest_activation_bytes": max(sizes, default=prod(self.output_shape)) * self.batch * itemsize,
        }

    def rows(self) -> list[tuple[int, LayerReport]]:
        """Every layer, nested ones included, as (depth, report)."""
        out: list[tuple[int, LayerReport]] = []
        for r in self.layers:
            out.extend(r.walk())
        return out
