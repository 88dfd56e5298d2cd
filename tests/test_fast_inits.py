"""The hot frozen dataclasses fill ``__dict__`` in a hand-written ``__init__`` (for speed): it
must take exactly the dataclass's fields, in order, with their defaults, and stay frozen."""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import pytest

from convcalc.errors import Loc
from convcalc.layers.base import Act
from convcalc.report import LayerReport
from convcalc.rf import RF, AxisRF
from convcalc.spec import Layer

LAYER = Layer("relu", None, (0,), Loc(), {}, {})
SAMPLES: dict[type, dict[str, Any]] = {
    Layer: {"type": "relu", "name": "r", "path": (1,), "loc": Loc(2, 3), "opts": {}, "locs": {}, "file": "f"},
    AxisRF: {"size": 3, "jump": 2, "start": -1, "envelope": True},
    RF: {"axes": (AxisRF(),), "scope": None},
    Act: {"shape": (4, 8), "rf": RF()},
    LayerReport: {"layer": LAYER, "shape": (4,), "rf": RF(), "params": 5, "macs": 6, "children": {"a": []}},
}


@pytest.mark.parametrize("cls", list(SAMPLES), ids=lambda c: c.__name__)
def test_init_takes_the_fields_in_order_with_their_defaults(cls: type) -> None:
    params = list(inspect.signature(cls).parameters.values())
    fields = dataclasses.fields(cls)
    assert [p.name for p in params] == [f.name for f in fields]
    for p, f in zip(params, fields, strict=True):
        if f.default is not dataclasses.MISSING:
            assert p.default == f.default, f.name
        elif f.default_factory is not dataclasses.MISSING:
            assert p.default is None, f.name  # None stands for a fresh default
        else:
            assert p.default is inspect.Parameter.empty, f.name


@pytest.mark.parametrize("cls", list(SAMPLES), ids=lambda c: c.__name__)
def test_fields_are_set_and_frozen(cls: type) -> None:
    values = SAMPLES[cls]
    obj = cls(**values)
    assert {f.name: getattr(obj, f.name) for f in dataclasses.fields(cls)} == values
    assert dataclasses.replace(obj) == obj or cls is Layer  # Layer compares by identity
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(obj, dataclasses.fields(cls)[0].name, None)


def test_defaults() -> None:
    assert AxisRF() == AxisRF(1, 1, 0, False)
    assert RF() == RF((), None)
    report = LayerReport(LAYER, (4,), RF(), 0, 0)
    assert report.children == {} and report.children is not LayerReport(LAYER, (4,), RF(), 0, 0).children
    assert Layer("relu", None, (), Loc(), {}, {}).file == "<string>"
