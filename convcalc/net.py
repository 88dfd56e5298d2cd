"""The Python API: ``convcalc.load`` and :class:`Net`."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import ConvcalcError
from .report import Report
from .spec import NetSpec, parse


class Net:
    """A loaded, validated network spec."""

    def __init__(self, spec: NetSpec) -> None:
        self.spec = spec

    def analyze(self, batch: int | None = None) -> Report:
        """The report behind ``convcalc shape``; ``report.to_dict()`` is its JSON."""
        from .analyze import analyze

        return analyze(self.spec, batch)

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
