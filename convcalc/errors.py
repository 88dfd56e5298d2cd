"""The one error family of convcalc.

Every problem with a user's input is a :class:`ConvcalcError`; problems that can be
pinned to a place in a file are :class:`SpecError`, which renders as
``FILE:LINE:COL: error: MESSAGE``.
"""

from __future__ import annotations

from typing import NamedTuple


class Loc(NamedTuple):
    """A 1-based line and column in a source file (a named tuple: cheap to make by the thousand)."""

    line: int = 1
    column: int = 1


class ConvcalcError(Exception):
    """Base class of every error convcalc raises on bad input."""

    def render(self) -> str:
        return f"error: {self}"


#: the code of a spec error raised without a more specific one
DEFAULT_CODE = "CC100"


class SpecError(ConvcalcError):
    """An error at a place in a spec file: file, line, column and key path."""

    def __init__(
        self,
        message: str,
        loc: Loc | None = None,
        file: str = "<string>",
        path: tuple[str | int, ...] = (),
        code: str = DEFAULT_CODE,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.loc = loc or Loc()
        self.file = file
        self.path = path
        #: the category, as ``convcalc check`` reports it (the table is in convcalc.diagnostics)
        self.code = code

    @property
    def line(self) -> int:
        return self.loc.line

    @property
    def column(self) -> int:
        return self.loc.column

    def with_file(self, file: str) -> SpecError:
        """The same error, attributed to ``file``."""
        return SpecError(self.message, self.loc, file, self.path, self.code)

    def render(self) -> str:
        return f"{self.file}:{self.loc.line}:{self.loc.column}: error: {self.message}"

    def __str__(self) -> str:
        return self.render()
