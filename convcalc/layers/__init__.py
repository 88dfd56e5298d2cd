"""The layer registry: every layer type, by the name used in YAML.

Each family module keeps a layer's fields, shape rule, receptive-field rule and costs
together; this module lists them explicitly, in one place.
"""

from __future__ import annotations

from . import containers, conv, dense, pool, recurrent, transpose
from .base import LayerKind

REGISTRY: dict[str, LayerKind] = {}
for _kind in [*conv.KINDS, *transpose.KINDS, *pool.KINDS, *dense.KINDS, *recurrent.KINDS, *containers.KINDS]:
    assert _kind.name not in REGISTRY, _kind.name
    REGISTRY[_kind.name] = _kind

__all__ = ["REGISTRY", "LayerKind"]
