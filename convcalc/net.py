"""The Python API: ``convcalc.load`` and :class:`Net`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ConvcalcError
from .report import Report
from .spec import NetSpec, parse

if TYPE_CHECKING:
    import numpy as np


class Net:
    """A loaded, validated network spec."""

    def __init__(self, spec: NetSpec) -> None:
        self.spec = spec
        self._report: Report | None = None

    def analyze(self, batch: int | None = None) -> Report:
        """The report behind ``convcalc shape``; ``report.to_dict()`` is its JSON."""
        from .analyze import analyze

        return analyze(self.spec, batch)

    def _analysis(self) -> Report:
        if self._report is None:
            self._report = self.analyze()
        return self._report

    def forward(self, x: Any, weights: Mapping[str, Any] | None = None, seed: int = 0) -> np.ndarray:
        """The output on ``x`` ([batch, *input shape], float32 or float64), computed with NumPy in
        x's dtype, in inference mode.

        ``weights`` maps PyTorch ``state_dict`` names (see :meth:`weight_shapes`) to arrays;
        tensors not given are drawn from ``numpy.random.default_rng`` seeded by ``seed`` (and
        the name) at PyTorch's default scale. Errors are :class:`convcalc.ConvcalcError`.
        """
        from .forward import forward

        return forward(self._analysis(), x, weights, seed)

    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        """Every tensor :meth:`forward` expects, by ``state_dict`` name, with its shape."""
        from .forward import weight_table

        return weight_table(self._analysis()).shapes()

    def __repr__(self) -> str:
        return f"<Net {self.spec.name or self.spec.file!r}: {len(self.spec.layers)} layers>"


def read_source(source: str | os.PathLike[str]) -> tuple[bytes | str, str]:
    """(content, file name) of a path, or of YAML text given directly."""
    if isinstance(source, os.PathLike) or ("\n" not in source and source.endswith((".yaml", ".yml"))):
        path = Path(source)
        try:
            return path.read_bytes(), str(source)
        except FileNotFoundError:
            raise ConvcalcError(f"no such file: {source}") from None
        except OSError as e:
            raise ConvcalcError(f"cannot read {source}: {e.strerror}") from None
    return source, "<string>"


def load(source: str | os.PathLike[str]) -> Net:
    """Load a spec from a path (``str`` ending in .yaml/.yml, or a ``Path``) or from YAML text.

    Errors are :class:`convcalc.ConvcalcError`.
    """
    content, file = read_source(source)
    return Net(parse(content, file))
