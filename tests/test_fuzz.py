"""Fuzzing the loader: any text either analyses or raises SpecError with a well-formed message.

Three sources of input: arbitrary text, random structures dumped as YAML, and mutations
(deleted, duplicated, swapped lines; changed characters and numbers) of valid specs.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from mutations import YAML_ALPHABET, mutation

import convcalc
from convcalc import SpecError
from convcalc import spec as spec_module
from convcalc.layers import REGISTRY
from convcalc.spec import Layer, _Walker

EXAMPLES = Path(__file__).parent.parent / "specs" / "examples"

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


@st.composite
def layer_stacks(draw: st.DrawFn) -> str:
    """A document with a random input shape and random layers (valid or not), block or flow style."""
    doc = {
        "input": draw(st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=4)),
        "layers": draw(st.lists(st.one_of(LAYERS, STRUCTURES), max_size=5)),
    }
    flow = draw(st.booleans())
    return yaml.safe_dump(doc, default_flow_style=flow, allow_unicode=True, sort_keys=False)


@given(layer_stacks())
def test_random_layer_stacks(text: str) -> None:
    check(text)


def test_the_valid_specs_are_valid() -> None:
    for text in VALID:
        assert convcalc.load(text).analyze().total_params > 0


def mutated() -> st.SearchStrategy[str]:
    """One of the valid specs above, edited (see tests/mutations.py)."""
    return st.sampled_from(VALID).flatmap(mutation)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_valid_specs(text: str) -> None:
    check(text)


# -- the walker's quick path (spec._Walker.quick_layer) agrees with the checked one ---------------


def outcome(text: str) -> Any:
    """Everything the loader makes of ``text``: each layer's fields (nested layers included, opts
    in order) and the spec's, or the error's message, place, path and code."""

    def dump(value: Any) -> Any:
        if isinstance(value, Layer):
            opts = [(k, dump(v)) for k, v in value.opts.items()]
            return (value.type, value.name, value.path, value.loc, opts, list(value.locs.items()), value.file)
        if isinstance(value, tuple):
            return tuple(dump(v) for v in value)
        return value

    try:
        spec = convcalc.load(text).spec
    except SpecError as e:
        return ("error", e.message, e.loc, e.path, e.code)
    return ("spec", dump(spec.layers), spec.input_shape, spec.locs, spec.expect)


def agree(text: str) -> None:
    quick = outcome(text)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_Walker, "quick_layer", lambda self, node, path, depth: None)
        checked = outcome(text)
    assert quick == checked


@given(layer_stacks())
def test_quick_walk_agrees_on_random_stacks(text: str) -> None:
    agree(text)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_quick_walk_agrees_on_mutated_specs(text: str) -> None:
    agree(text)


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.stem)
def test_quick_walk_agrees_on_the_examples(path: Path) -> None:
    text = path.read_text()
    assert outcome(text)[0] == "spec"
    agree(text)


def test_quick_walk_agrees_at_the_layer_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spec_module, "MAX_LAYERS", 3)
    for n in (3, 4):
        flat = "input: [1, 8]\nlayers:\n" + "  - {type: relu}\n" * n
        nested = "input: [1, 8]\nlayers:\n  - type: sequential\n    layers:\n" + "      - {type: relu}\n" * n
        for text in (flat, nested):
            agree(text)
    assert outcome(flat)[:2] == ("error", "too many layers: more than 3 layers")


QUICK_CASES = [
    "{type: conv1d, out_channels: 4, kernel_size: 3}",
    "{type: conv1d, out_channels: 0, kernel_size: 3}",
    "{type: conv1d, out_channels: -4, kernel_size: 3}",
    "{type: conv1d, out_channels: 010, kernel_size: 3}",
    "{type: conv1d, out_channels: 0x10, kernel_size: 3}",
    "{type: conv1d, out_channels: 1_000, kernel_size: 3}",
    "{type: conv1d, out_channels: 99999999999999999999, kernel_size: 3}",
    "{type: conv1d, out_channels: '4', kernel_size: 3}",
    "{type: conv1d, out_channels: 4.0, kernel_size: 3}",
    "{type: conv1d, out_channels: true, kernel_size: 3}",
    "{type: conv1d, out_channels: 4, kernel_size: [3]}",
    "{type: conv1d, out_channels: 4, kernel_size: 3, padding: 0}",
    "{type: conv1d, out_channels: 4, kernel_size: 3, padding: 00}",
    "{type: conv1d, out_channels: 4, kernel_size: 3, padding: -1}",
    "{type: conv1d, out_channels: 4, kernel_size: 3, padding: Same}",
    "{type: conv1d, out_channels: 4, kernel_size: 3, padding: '1'}",
    "{type: conv1d, out_channels: 4, kernel_size: 3, padding: [[1, 0]]}",
    "{type: conv1d, out_channels: 4, kernel_size: 3, bias: no}",
    "{type: conv1d, out_channels: 4, kernel_size: 3, bias: 'no'}",
    "{type: conv1d, out_channels: 4, kernel_size: 3, bias: 1}",
    "{type: conv1d, out_channels: 4, kernel_size: 3, stride: {pow2: [0, 2]}}",
    "{type: conv1d, out_channels: 4, kernel_size: 3, stride: {twice: 2}}",
    "{type: conv1d, out_channels: 4, kernel_size: 3, repeat: 2}",
    "{type: conv1d, out_channels: 4, kernel_size: 3, x-note: hi}",
    "{type: conv1d, out_channels: 4, kernel_size: 3, kernal_size: 3}",
    "{type: conv1d, out_channels: 4, kernel_size: 3, kernel_size: 5}",
    "{type: conv1d, kernel_size: 3}",
    "{type: conv1d, out_channels: 4, kernel_size: 3, name: first}",
    "{type: conv1d, out_channels: 4, kernel_size: 3, name: 7}",
    "{type: conv1d, out_channels: 4, kernel_size: 3, name: [a]}",
    "{type: Conv1d, out_channels: 4, kernel_size: 3}",
    "{type: [conv1d], out_channels: 4, kernel_size: 3}",
    "{type: !!str conv1d, out_channels: !!int 4, kernel_size: 3}",
    "{type: conv1d, out_channels: 4, kernel_size: 3, 7: 3}",
    "{type: dropout, p: 0.5}",
    "{type: dropout, p: 2}",
    "{type: parallel, branches: [[{type: relu}], []], merge: add}",
    "{type: parallel, branches: [[{type: relu}], []], merge: sum}",
    "{type: residual, layers: [{type: conv1d, out_channels: 0, kernel_size: 1}]}",
    "{type: residual, layers: [{type: relu}], shortcut: [{type: relu}], layers: []}",
    "{type: sequential, layers: [{type: relu}, {type: maxpool1d, kernel_size: 2, ceil_mode: yes}]}",
]


@pytest.mark.parametrize("layer", QUICK_CASES)
def test_quick_walk_agrees_on_each_kind_of_value(layer: str) -> None:
    agree(f"input: [4, 16]\nlayers:\n  - {layer}\n  - {{type: relu}}\n")
    agree(f"input: [4, 16]\nlayers:\n  - name: second\n    type: relu\n  - {layer}\n")


def test_the_quick_path_is_taken_for_usual_layers() -> None:
    taken = []
    quick = _Walker.quick_layer

    def spy(self: _Walker, node: yaml.MappingNode, path: tuple[str | int, ...], depth: int) -> Layer | None:
        layer = quick(self, node, path, depth)
        taken.append(layer is not None)
        return layer

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_Walker, "quick_layer", spy)
        convcalc.load(VALID[0])
    assert taken and all(taken)


# -- the composer: the same nodes as PyYAML's own safe loader ------------------------------------


def node_tree(node: yaml.Node | None) -> Any:
    """A node's tag, value (children recursively) and start position (where errors point;
    PyYAML's C and Python composers end some collections at different marks)."""
    if node is None:
        return None
    marks = (node.start_mark.line, node.start_mark.column)
    if isinstance(node, yaml.ScalarNode):
        return (node.tag, node.value, marks)
    if isinstance(node, yaml.SequenceNode):
        return (node.tag, [node_tree(n) for n in node.value], marks)
    return (node.tag, [(node_tree(k), node_tree(v)) for k, v in node.value], marks)


def same_nodes(text: str) -> None:
    try:
        want = node_tree(yaml.compose(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError:
        with pytest.raises(SpecError):
            spec_module.compose(text)
        return
    assert node_tree(spec_module.compose(text)) == want


@given(STRUCTURES, st.booleans())
def test_composer_makes_the_safe_loaders_nodes(data: Any, flow: bool) -> None:
    text = yaml.safe_dump(data, default_flow_style=flow, allow_unicode=True)
    same_nodes(text)
    same_nodes(text)  # again, from the tag cache


@pytest.mark.parametrize(
    "text",
    [
        "a: [1, 1.5, 1e3, 1.0e+3, .inf, -.Inf, .nan, 0x1f, 0o17, 017, 1_000, 1:30, true, Yes, off, ~, null]",
        "a: ['1', \"true\", 2001-12-14, !!str 3, !!int '4', &x 5, *x]",
        "- {type: conv1d, out_channels: 16}\n- ? complex\n  : key\n",
        "%YAML 1.1\n---\na: 1\n...\n",
    ],
)
def test_composer_tags_every_scalar_as_the_safe_loader_does(text: str) -> None:
    same_nodes(text)
    same_nodes(text)


def test_long_texts_empty_the_tag_cache() -> None:
    spec_module.compose("a: " + "x" * 5000)
    assert spec_module._resolve_tag.cache_info().currsize == 0
    spec_module.compose("a: b")
    assert spec_module._resolve_tag.cache_info().currsize > 0
