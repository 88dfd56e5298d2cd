"""Fuzzing the loader: any text either analyses or raises SpecError with a well-formed message.

Three sources of input: arbitrary text, random structures dumped as YAML, and mutations
(deleted, duplicated, swapped lines; changed characters and numbers) of valid specs.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import convcalc
from convcalc import SpecError
from convcalc.layers import REGISTRY

RENDERED = re.compile(r"^<string>:(\d+):(\d+): error: .+\Z")
LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")

VALID = [
    """\
name: tcn
input: {shape: [8, 64], batch: 2}
layers:
  - {type: conv1d, out_channels: 16, kernel_size: 3, dilation: 2, padding: causal}
  - {type: relu}
  - type: residual
    layers:
      - {type: conv1d, out_channels: 16, kernel_size: 3, padding: same, groups: 4}
      - {type: batchnorm}
  - {type: maxpool1d, kernel_size: 2, ceil_mode: true}
  - {type: gru, hidden_size: 12, num_layers: 2, bidirectional: true, return_sequences: false}
  - {type: linear, out_features: 3}
""",
    """\
input: [3, 32, 32]
x-notes: &stem {type: conv2d, out_channels: 8, kernel_size: [3, 5], stride: 2, padding: [[1, 1], [2, 2]]}
layers:
  - *stem
  - type: parallel
    merge: concat
    branches:
      - [{type: conv2d, out_channels: 4, kernel_size: 1}]
      - - {type: pad, padding: 1}
        - {type: avgpool2d, kernel_size: 3, stride: 1, count_include_pad: false}
      - []
  - {type: dropout, p: 0.25}
  - {type: global_maxpool}
  - {type: flatten}
""",
]


def check(text: str) -> None:
    """``text`` analyses, or raises SpecError whose place lies inside ``text``."""
    try:
        convcalc.load(text).analyze()
    except SpecError as e:
        rendered = e.render()
        m = RENDERED.match(rendered)
        assert m is not None, rendered
        assert (int(m[1]), int(m[2])) == (e.line, e.column)
        lines = LINE_BREAK.split(text)
        assert 1 <= e.line <= len(lines), (rendered, len(lines))
        assert 1 <= e.column <= len(lines[e.line - 1]) + 1, (rendered, lines[e.line - 1])


def as_text(text: str) -> str:
    """Text that ``convcalc.load`` reads as YAML, never as a file name."""
    return text if "\n" in text or not text.endswith((".yaml", ".yml")) else text + "\n"


@given(st.text(st.characters(codec=None, exclude_categories=()), max_size=300))
@example("input: [1, 8]\nlayers: [{type: conv1d, out_channels: 2, kernel_size: " + "9" * 5000 + "}]\n")
@example("input: [1, 8]\r\nx: \x07\r\nlayers: []\n")
@example("input: [1, 8]\nlayers: " + "[" * 5000)
@example("\ufeffinput: [1, 8]\nlayers: []\n")
def test_arbitrary_text(text: str) -> None:
    check(as_text(text))


YAML_ALPHABET = " \n\t-:[]{},'\"#&*!|>?%@`0123456789.eE+_abcdefghijklmnopqrstuvwxyz"


@given(st.text(st.sampled_from(YAML_ALPHABET), max_size=200))
def test_yaml_punctuation_soup(text: str) -> None:
    check(as_text("input: [2, 16]\nlayers:\n  - " + text))


KEYS = [
    "type", "name", "input", "layers", "shape", "batch", "out_channels", "kernel_size", "stride",
    "padding", "dilation", "groups", "bias", "hidden_size", "num_layers", "bidirectional",
    "return_sequences", "out_features", "branches", "merge", "shortcut", "p", "eps", "x-note",
]  # fmt: skip
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-3, max_value=40),
    st.integers(),
    st.sampled_from([0, 2**63, 10**12, -(10**30)]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([*REGISTRY, "same", "valid", "causal", "concat", "add", "Same", "3"]),
    st.text(max_size=8),
)
STRUCTURES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=5)), inner, max_size=6),
    ),
    max_leaves=30,
)


OPTION_VALUES = st.one_of(
    st.integers(min_value=0, max_value=6),
    st.lists(st.integers(min_value=0, max_value=6), min_size=1, max_size=3),
    st.sampled_from(["same", "valid", "causal", True, False, 0.5, None, [[1, 0]], [[0, 2], [1, 1]]]),
    SCALARS,
)
LEAF_TYPES = sorted(t for t in REGISTRY if t not in ("sequential", "residual", "parallel"))
NESTED = {"layers", "shortcut", "branches"}
OPTION_KEYS = sorted({f.name for kind in REGISTRY.values() for f in kind.fields} - NESTED)
LAYERS = st.recursive(
    st.fixed_dictionaries(
        {"type": st.sampled_from(LEAF_TYPES)}, optional=dict.fromkeys(OPTION_KEYS, OPTION_VALUES)
    ),
    lambda inner: st.one_of(
        st.fixed_dictionaries({"type": st.just("sequential"), "layers": st.lists(inner, max_size=3)}),
        st.fixed_dictionaries(
            {"type": st.just("residual"), "layers": st.lists(inner, max_size=3)},
            optional={"shortcut": st.lists(inner, max_size=2)},
        ),
        st.fixed_dictionaries(
            {"type": st.just("parallel"), "branches": st.lists(st.lists(inner, max_size=2), max_size=3)},
            optional={"merge": st.sampled_from(["concat", "add", "sum"])},
        ),
    ),
    max_leaves=6,
)


@given(STRUCTURES)
def test_random_structures(data: Any) -> None:
    check(as_text(yaml.safe_dump(data, allow_unicode=True)))


@given(
    st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=4),
    st.lists(st.one_of(LAYERS, STRUCTURES), max_size=5),
    st.booleans(),
)
def test_random_layer_stacks(shape: list[int], layers: list[Any], flow: bool) -> None:
    doc = {"input": shape, "layers": layers}
    check(yaml.safe_dump(doc, default_flow_style=flow, allow_unicode=True, sort_keys=False))


def test_the_valid_specs_are_valid() -> None:
    for text in VALID:
        assert convcalc.load(text).analyze().total_params > 0


@st.composite
def mutated(draw: st.DrawFn) -> str:
    lines = draw(st.sampled_from(VALID)).splitlines(keepends=True)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        i = draw(st.integers(min_value=0, max_value=len(lines) - 1))
        j = draw(st.integers(min_value=0, max_value=len(lines) - 1))
        op = draw(st.sampled_from(["delete", "duplicate", "swap", "char", "number", "indent"]))
        if op == "delete" and len(lines) > 1:
            del lines[i]
        elif op == "duplicate":
            lines.insert(j, lines[i])
        elif op == "swap":
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "char" and lines[i]:
            k = draw(st.integers(min_value=0, max_value=len(lines[i]) - 1))
            c = draw(st.one_of(st.sampled_from(YAML_ALPHABET), st.characters()))
            lines[i] = lines[i][:k] + c + lines[i][k + 1 :]
        elif op == "number":
            numbers = list(re.finditer(r"\d+", lines[i]))
            if numbers:
                m = numbers[draw(st.integers(min_value=0, max_value=len(numbers) - 1))]
                new = draw(st.sampled_from(["0", "-1", "1", "7", "100", "3.0", "'3'", "true", "10" * 12]))
                lines[i] = lines[i][: m.start()] + new + lines[i][m.end() :]
        elif op == "indent":
            lines[i] = draw(st.sampled_from(["", " ", "  ", "\t", "    "])) + lines[i].lstrip(" ")
    return "".join(lines)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_valid_specs(text: str) -> None:
    check(text)
