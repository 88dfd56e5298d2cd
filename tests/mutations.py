"""Random edits of valid spec text, for the fuzz and hardening tests: the same strategy for both."""

from __future__ import annotations

import re

from hypothesis import strategies as st

#: characters that mean something to YAML, and some that fill a spec
YAML_ALPHABET = " \n\t-:[]{},'\"#&*!|>?%@`0123456789.eE+_abcdefghijklmnopqrstuvwxyz"

#: what a number may become: zero, negative, huge, float, string, other YAML nodes, tags, anchors
VALUES = [
    "0", "-1", "1", "7", "100", "10" * 12, "-" + "9" * 30, "9" * 5000, "9223372036854775808", "1.5",
    "3.0", "1e400", "-0.0", ".nan", ".inf", "'7'", "abc", "true", "null", "~", "[1, 2]", "{a: 1}", "[]",
    "0x7fffffffffffffff", "1:30", "*x", "&y 3", "!!int", "!!float ''", "3 #", "[[1, 2], [3]]",
]  # fmt: skip

OPS = ["delete", "duplicate", "swap", "flip", "number", "number", "crlf", "tab", "indent"]


@st.composite
def mutation(draw: st.DrawFn, text: str) -> str:
    """``text`` with 1 to 5 edits: lines deleted, duplicated or swapped, characters flipped,
    numbers replaced by one of :data:`VALUES`, line endings changed, lines re-indented."""
    lines = text.splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 5))):
        i = draw(st.integers(0, len(lines) - 1))
        j = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(OPS))
        if op == "delete" and len(lines) > 1:
            del lines[i]
        elif op == "duplicate":
            lines.insert(j, lines[i])
        elif op == "swap":
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "flip" and lines[i]:
            k = draw(st.integers(0, len(lines[i]) - 1))
            c = draw(st.one_of(st.sampled_from(YAML_ALPHABET), st.characters()))
            lines[i] = lines[i][:k] + c + lines[i][k + 1 :]
        elif op == "number":
            numbers = list(re.finditer(r"\d+(\.\d+)?", lines[i]))
            if numbers:
                m = draw(st.sampled_from(numbers))
                lines[i] = lines[i][: m.start()] + draw(st.sampled_from(VALUES)) + lines[i][m.end() :]
        elif op == "crlf":
            lines[i] = lines[i].replace("\n", draw(st.sampled_from(["\r\n", "\r", "\n\n", "\x85"])))
        elif op == "tab":
            lines[i] = "\t" + lines[i]
        elif op == "indent":
            lines[i] = draw(st.sampled_from(["", " ", "  ", "\t", "    "])) + lines[i].lstrip(" ")
    return "".join(lines)
