"""What ``convcalc check`` reports: a :class:`Diagnostic` per problem, each with a stable code.

The code table is the contract: tools filter on codes, ``--ignore`` and ``check: {ignore: [...]}``
take them, and specs/format.md documents every one (a test keeps the two in step).

* ``CC1xx`` errors: the spec cannot be analysed (the ``code`` of a :class:`SpecError`);
* ``CC2xx`` warnings: the spec is valid but probably not what was meant;
* ``CC3xx`` errors: an ``expect:`` entry does not hold;
* ``CC4xx`` errors: the NumPy forward pass (``--forward``) disagrees with the analysis.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import SpecError

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class Code:
    code: str
    severity: str
    title: str


CODES: dict[str, Code] = {
    c.code: c
    for c in [
        Code("CC100", ERROR, "a spec error of no more specific category"),
        Code("CC101", ERROR, "the file: unreadable, not UTF-8, binary, empty, invalid YAML"),
        Code("CC102", ERROR, "an unknown key, layer type or code"),
        Code("CC103", ERROR, "a value of the wrong type or out of its range"),
        Code("CC104", ERROR, "a missing required key"),
        Code(
            "CC105", ERROR, "a shape problem: input rank, window larger than the padded input, empty output"
        ),
        Code("CC106", ERROR, "residual or parallel outputs that cannot be added or concatenated"),
        Code("CC107", ERROR, "channels not divisible by groups"),
        Code("CC108", ERROR, "a recurrent layer on something that is not a sequence"),
        Code("CC109", ERROR, "a limit: file too large, too many layers, nesting too deep, number too large"),
        Code("CC201", WARNING, "a receptive field larger than the input: the excess covers padding only"),
        Code("CC202", WARNING, "residual or parallel branches whose receptive-field centres differ"),
        Code("CC203", WARNING, "a stride that leaves the last input positions uncovered by any window"),
        Code("CC204", WARNING, "'same' padding that is asymmetric (an even kernel, or a stride)"),
        Code("CC205", WARNING, "a layer with no effect"),
        Code("CC301", ERROR, "expect output_shape does not hold"),
        Code("CC302", ERROR, "expect params does not hold"),
        Code("CC303", ERROR, "expect receptive_field does not hold, or the field has no size to compare"),
        Code("CC304", ERROR, "expect macs does not hold"),
        Code("CC401", ERROR, "--forward: a layer's computed output shape differs from the predicted one"),
        Code("CC402", ERROR, "--forward: the forward pass failed"),
    ]
}

WARNING_CODES = frozenset(c.code for c in CODES.values() if c.severity == WARNING)


@dataclass(frozen=True)
class Diagnostic:
    """One problem at a place in a file."""

    file: str
    line: int
    column: int
    severity: str
    code: str
    message: str

    @staticmethod
    def of(error: SpecError, file: str) -> Diagnostic:
        code = error.code if error.code in CODES else "CC100"
        return Diagnostic(file, error.line, error.column, ERROR, code, error.message)

    def render(self) -> str:
        """``FILE:LINE:COL: error: MESSAGE [CODE]``."""
        return f"{self.file}:{self.line}:{self.column}: {self.severity}: {self.message} [{self.code}]"

    def github(self) -> str:
        """A GitHub Actions workflow command: ``::error file=F,line=L,col=C::MESSAGE [CODE]``."""
        where = f"file={_prop(self.file)},line={self.line},col={self.column}"
        return f"::{self.severity} {where}::{_data(f'{self.message} [{self.code}]')}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
        }


def _data(text: str) -> str:
    """A workflow command's message, escaped as the Actions runner expects.

    >>> _data("50% of\\nit")
    '50%25 of%0Ait'
    """
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _prop(text: str) -> str:
    """A workflow command's property value (``:`` and ``,`` are separators there).

    >>> _prop("a,b:c.yaml")
    'a%2Cb%3Ac.yaml'
    """
    return _data(text).replace(":", "%3A").replace(",", "%2C")
