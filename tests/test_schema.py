"""The JSON Schema of the format: committed, complete, valid, and in agreement with the loader."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from typer.testing import CliRunner

from convcalc.check import EXPECT_KEYS
from convcalc.cli import app
from convcalc.diagnostics import WARNING_CODES
from convcalc.errors import SpecError
from convcalc.layers import REGISTRY, LayerKind
from convcalc.schema import build_schema, schema_json
from convcalc.spec import CONVENTIONS, MAX_INT, Field, parse

SCHEMA_FILE = ROOT / "specs" / "convcalc.schema.json"
EXAMPLES = sorted((ROOT / "specs" / "examples").glob("*.yaml"))
SCHEMA = build_schema()
VALIDATOR = Draft202012Validator(SCHEMA)
LAYER_VALIDATORS = {
    n: Draft202012Validator({"$defs": SCHEMA["$defs"], "$ref": f"#/$defs/{n}"}) for n in REGISTRY
}


class Yaml12Loader(yaml.SafeLoader):
    """SafeLoader that also reads a plain ``1e-5`` as a number, as YAML 1.2 editors and convcalc do."""


Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+$"), list("-+0123456789")
)


def load(text: str) -> Any:
    return yaml.load(text, Loader=Yaml12Loader)


def schema_errors(doc: Any) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message}" for e in VALIDATOR.iter_errors(doc)]


# -- the committed file ------------------------------------------------------------------------


def test_committed_schema_is_the_generated_one() -> None:
    hint = "specs/convcalc.schema.json is stale: run `convcalc schema > specs/convcalc.schema.json`"
    assert SCHEMA_FILE.read_text() == schema_json(), hint


def test_schema_command_prints_it() -> None:
    result = CliRunner().invoke(app, ["schema"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == SCHEMA
    help_text = CliRunner().invoke(app, ["schema", "--help"]).output
    assert "convcalc schema > specs/convcalc.schema.json" in help_text


def test_schema_is_valid_draft_2020_12() -> None:
    Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert SCHEMA["$id"]


def walk(node: Any) -> Iterator[dict[str, Any]]:
    """Every schema object under ``node`` (not the names under properties/$defs themselves)."""
    if isinstance(node, list):
        for item in node:
            yield from walk(item)
    elif isinstance(node, dict):
        yield node
        for key, value in node.items():
            if key in ("properties", "patternProperties", "$defs"):
                for sub in value.values():
                    yield from walk(sub)
            elif key not in ("enum", "const", "default", "required"):
                yield from walk(value)


def test_schema_uses_only_keywords_that_draft_07_tools_understand() -> None:
    """The YAML language server validates with draft-07 semantics: no 2019+ keywords
    (``$defs`` is only a place that ``$ref`` JSON pointers reach, which draft-07 resolves)."""
    draft7 = {
        "$schema", "$id", "$ref", "$defs", "title", "description", "default", "type", "enum", "const",
        "properties", "patternProperties", "additionalProperties", "required", "items", "minItems",
        "maxItems", "minimum", "maximum", "anyOf", "allOf", "if", "then", "minProperties",
    }  # fmt: skip
    used = {key for obj in walk(SCHEMA) for key in obj}
    assert used <= draft7, used - draft7
    refs = {obj["$ref"] for obj in walk(SCHEMA) if "$ref" in obj}
    assert all(ref.removeprefix("#/$defs/") in SCHEMA["$defs"] for ref in refs), refs


# -- completeness ------------------------------------------------------------------------------


def test_every_layer_type_and_field_is_in_the_schema() -> None:
    defs = SCHEMA["$defs"]
    assert defs["layer"]["properties"]["type"]["enum"] == list(REGISTRY)
    dispatch = {
        rule["if"]["properties"]["type"]["const"]: rule["then"]["$ref"] for rule in defs["layer"]["allOf"]
    }
    assert dispatch == {name: f"#/$defs/{name}" for name in REGISTRY}
    for name, kind in REGISTRY.items():
        entry = defs[name]
        assert entry["properties"]["type"] == {"const": name, "description": kind.doc}
        assert entry["additionalProperties"] is False
        assert list(entry["patternProperties"]) == ["^x-"]
        assert set(entry["properties"]) == {"type", "name", "repeat", "vary", *(f.name for f in kind.fields)}
        assert entry["required"] == ["type", *(f.name for f in kind.fields if f.required)]
        for f in kind.fields:
            prop = entry["properties"][f.name]
            assert prop["description"] == f.doc, (name, f.name)
            if f.required:
                assert "default" not in prop
            elif f.default is not None:
                want = list(f.default) if isinstance(f.default, tuple) else f.default
                assert prop["default"] == want, (name, f.name)


def test_top_level_keys_follow_the_loader() -> None:
    props = SCHEMA["properties"]
    assert list(props["expect"]["properties"]) == list(EXPECT_KEYS)
    assert props["check"]["properties"]["ignore"]["items"]["enum"] == sorted(WARNING_CODES)
    assert props["convention"]["enum"] == list(CONVENTIONS)
    samples = {"name": "n", "description": "d", "convention": "keras", "expect": "{params: 0}", "check": "{}"}
    assert set(props) == {"input", "layers", *samples}
    for key, value in samples.items():  # each key the schema lists, the loader takes
        doc = f"input: [1]\nlayers: []\n{key}: {value}\n"
        parse(doc)
        assert schema_errors(load(doc)) == []


def test_field_forms() -> None:
    conv2d = SCHEMA["$defs"]["conv2d"]["properties"]
    one, per_axis, pow2 = conv2d["kernel_size"]["anyOf"]  # pow2: the stack sugar (test_repeat.py)
    assert pow2 == {"$ref": "#/$defs/pow2"}
    assert one == {"type": "integer", "minimum": 1, "maximum": MAX_INT}
    assert (per_axis["minItems"], per_axis["maxItems"]) == (2, 2)
    keywords, _, pairs, _ = conv2d["padding"]["anyOf"]
    assert keywords == {"enum": ["valid", "same", "causal"]}
    assert pairs["items"]["anyOf"][1]["minItems"] == pairs["items"]["anyOf"][1]["maxItems"] == 2
    dropout = SCHEMA["$defs"]["dropout"]["properties"]["p"]
    assert (dropout["type"], dropout["minimum"], dropout["maximum"]) == ("number", 0, 1)
    assert SCHEMA["$defs"]["parallel"]["properties"]["merge"]["enum"] == ["concat", "add"]
    assert SCHEMA["$defs"]["residual"]["properties"]["shortcut"] == {
        "description": "the shortcut path (default: identity)",
        "$ref": "#/$defs/layers",
        "default": [],
    }


# -- examples and broken specs -----------------------------------------------------------------


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_example_validates(path: Path) -> None:
    assert schema_errors(load(path.read_text())) == []


def conv(options: str = "kernel_size: 3") -> str:
    return f"input: [3, 16, 16]\nlayers:\n  - {{type: conv2d, out_channels: 4, {options}}}\n"


def one(layer: str, shape: str = "[3, 8]") -> str:
    return f"input: {shape}\nlayers: [{layer}]\n"


BROKEN = [
    # (spec text, convcalc's message, where the schema's error is: a path prefix)
    (conv() + "layer: []\n", r"the document: unknown key 'layer' \(did you mean 'layers'", ""),
    (conv("kernal_size: 3"), r"unknown key 'kernal_size'", "layers.0"),
    (conv().replace("out_channels: 4, ", ""), r"missing required key 'out_channels'", "layers.0"),
    ("layers: []\n", r"missing required key 'input'", ""),
    (one("{name: a}"), r"missing required key 'type'", "layers.0"),
    (conv("kernel_size: three"), r"kernel_size must be an integer", "layers.0.kernel_size"),
    (conv("kernel_size: [3, 3, 3]"), r"needs 2 values", "layers.0.kernel_size"),
    (conv("kernel_size: 3, stride: 0"), r"stride must be positive", "layers.0.stride"),
    (conv("kernel_size: 3, bias: 1"), r"bias must be true or false", "layers.0.bias"),
    (conv("kernel_size: 3, padding: [[1, 2, 3], 1]"), r"must be \[left, right\]", "layers.0.padding"),
    (conv("kernel_size: 3, padding: full"), r"padding must be an integer", "layers.0.padding"),
    (conv(f"kernel_size: {MAX_INT + 1}"), r"is too large", "layers.0.kernel_size"),
    (
        one("{type: maxpool2d, kernel_size: 2, padding: [[0, 1], 1]}"),
        r"symmetric padding only",
        "layers.0.padding",
    ),
    (one("{type: dropout, p: 1.5}"), r"p must be a number in \[0, 1\]", "layers.0.p"),
    (
        one("{type: parallel, merge: sum, branches: [[]]}"),
        r"merge must be one of concat, add",
        "layers.0.merge",
    ),
    (one("{type: parallel, branches: []}"), r"must list at least one branch", "layers.0.branches"),
    (
        one("{type: sequential, layers: [{type: relux}]}"),
        r"unknown layer type 'relux'",
        "layers.0.layers.0.type",
    ),
    (one("{type: relu, name: 3}"), r"name must be a string", "layers.0.name"),
    (one("{type: pad, padding: [1, 1, 1, 1]}"), r"a per-axis list needs 1 to 3 values", "layers.0.padding"),
    ("input: [3, 8, 8, 8, 8]\nlayers: []\n", r"input shape must have 1 to 4 entries", "input"),
    ("input: {shape: [3], batch: 0}\nlayers: []\n", r"batch must be positive", "input"),
    ("input: {shape: [3], batches: 2}\nlayers: []\n", r"input: unknown key 'batches'", "input"),
    (conv() + "expect: {parms: 3}\n", r"expect: unknown key 'parms' \(did you mean 'params'", "expect"),
    (conv() + "expect: {params: -1}\n", r"expect: params must be >= 0", "expect.params"),
    (conv() + "expect: {macs: {}}\n", r"expect: macs needs 'min', 'max' or both", "expect.macs"),
    (
        conv() + "expect: {output_shape: [4, 14, 14, 1, 1]}\n",
        r"must list 1 to 4 sizes",
        "expect.output_shape",
    ),
    (conv() + "check: {ignore: [CC105]}\n", r"CC105 is an error, not a warning", "check.ignore.0"),
    (conv() + "check: {skip: []}\n", r"check: unknown key 'skip'", "check"),
    (conv() + "convention: tf\n", r"convention must be one of pytorch, keras", "convention"),
]


@pytest.mark.parametrize(("text", "message", "where"), BROKEN)
def test_broken_specs_are_rejected_by_both(text: str, message: str, where: str) -> None:
    with pytest.raises(SpecError, match=message):
        parse(text)
    errors = list(VALIDATOR.iter_errors(load(text)))
    assert errors, "the schema accepts a spec convcalc rejects"
    path = [int(p) if p.isdigit() else p for p in where.split(".") if p]
    assert any(list(e.absolute_path)[: len(path)] == path for e in errors), [e.message for e in errors]


ODD_BUT_VALID = [
    "input: {shape: [3, 16, 16], batch: 4}\nx-note: {anything: [1, 2]}\nlayers:\n"
    "  - {type: conv2d, name: c, out_channels: 4, kernel_size: [3, 1], padding: [[1, 0], 0], x-why: keep}\n"
    "  - {type: residual, layers: [{type: batchnorm, eps: 1e-3}], shortcut: []}\n"
    "  - {type: parallel, merge: add, branches: [[], [{type: identity}]]}\n",
    "input: [2, 9]\nlayers:\n  - {type: conv1d, out_channels: 2, kernel_size: 3, padding: causal}\n"
    "  - {type: avgpool1d, kernel_size: 2, padding: [1], count_include_pad: false, ceil_mode: true}\n"
    "  - {type: gru, hidden_size: 3, return_sequences: false, dropout: 0}\n",
    "name: n\ndescription: d\ninput: [5]\nlayers: []\n",
    "input: [3, 16, 16]\nlayers: [{type: conv2d, out_channels: 4, kernel_size: 3}]\nconvention: keras\n"
    "expect: {output_shape: [4, 14, 14], params: {min: 100, max: 1e6}, macs: 7e4, receptive_field: [3, 3]}\n"
    "check: {ignore: [CC201, CC205]}\n",
]


@pytest.mark.parametrize("text", ODD_BUT_VALID)
def test_unusual_valid_specs_are_accepted_by_both(text: str) -> None:
    parse(text)
    assert schema_errors(load(text)) == []


# -- agreement on random layers ----------------------------------------------------------------

JUNK: list[Any] = [
    0, 1, 2, 3, -1, MAX_INT, MAX_INT + 1, 0.5, 1.5, -0.25, True, None, "same", "valid", "causal", "concat",
    "add", "3", "x", {"a": 1}, [], [1], [2, 3], [1, 2, 3], [1, 1, 1, 1], [[1, 2]], [[1, 2], 3],
    [[0, 1], [2, 3]], [[1, 2, 3], [1, 1]], [[1, 2], [1, 1], [1, 1], [1, 1]], [1.5, 2], ["a", 1], [True, 1],
]  # fmt: skip


def valid_value(f: Field, ndim: int | None, depth: int) -> st.SearchStrategy[Any]:
    """Values the loader accepts for ``f`` (shape rules aside)."""
    lo = int(f.minimum)
    one = st.integers(min_value=lo, max_value=lo + 5)
    axes = st.integers(min_value=1, max_value=3) if ndim is None else st.just(ndim)
    if f.kind == "int":
        return one
    if f.kind == "ints":
        return st.one_of(one, axes.flatmap(lambda n: st.lists(one, min_size=n, max_size=n)))
    if f.kind == "padding":
        item = st.one_of(one, st.lists(one, min_size=2, max_size=2)) if f.pairs else one
        per_axis = axes.flatmap(lambda n: st.lists(item, min_size=n, max_size=n))
        return st.one_of(one, per_axis, st.sampled_from(f.choices or (0,)))
    if f.kind == "bool":
        return st.booleans()
    if f.kind == "float":
        return st.floats(min_value=f.minimum, max_value=f.maximum if f.maximum is not None else 10.0)
    if f.kind == "choice":
        return st.sampled_from(f.choices)
    if f.kind == "str":
        return st.text(max_size=5)
    layers = st.lists(valid_layer(depth + 1), max_size=2 if depth < 2 else 0)
    return layers if f.kind == "layers" else st.lists(layers, min_size=1, max_size=2)


@st.composite
def valid_layer(draw: st.DrawFn, depth: int = 0) -> dict[str, Any]:
    name = draw(st.sampled_from(list(REGISTRY)))
    kind = REGISTRY[name]
    layer: dict[str, Any] = {"type": name}
    for f in kind.fields:
        if f.required or draw(st.booleans()):
            layer[f.name] = draw(valid_value(f, kind.ndim, depth))
    return layer


@st.composite
def near_valid_layers(draw: st.DrawFn) -> list[dict[str, Any]]:
    """A valid layer list with at most one change: a key dropped, added or given another value."""
    layers = draw(st.lists(valid_layer(), min_size=1, max_size=3))
    layer = draw(st.sampled_from(layers))
    keys = list(layer)
    change = draw(st.sampled_from(["none", "drop", "add", "replace"]))
    if change == "drop":
        del layer[draw(st.sampled_from(keys))]
    elif change == "add":
        layer[
            draw(st.sampled_from(["name", "x-note", "colour", "input", *[f.name for f in valid_fields()]]))
        ] = 3
    elif change == "replace":
        layer[draw(st.sampled_from([*keys, "name"]))] = draw(st.sampled_from(JUNK))
    return layers


def valid_fields() -> list[Field]:
    return [f for kind in REGISTRY.values() for f in kind.fields]


def agree(
    layers: list[dict[str, Any]], dump: Callable[[Any], str] = yaml.safe_dump, kind: LayerKind | None = None
) -> None:
    """The layers pass the schema exactly when convcalc's loader accepts them (shape rules aside).

    With ``kind``, the schema side checks the one layer against that type's definition alone (4x faster).
    """
    doc = {"input": [3, 16, 16], "layers": layers}
    valid = LAYER_VALIDATORS[kind.name].is_valid(layers[0]) if kind else VALIDATOR.is_valid(doc)
    text = dump(doc)
    try:
        parse(text)
        loader_error = None
    except SpecError as e:
        loader_error = e.message
    if (loader_error is None) != valid:  # the text loads back as doc
        raise AssertionError(f"{text}\nconvcalc: {loader_error}\nschema: {schema_errors(doc)}")


def minimal(kind: LayerKind) -> dict[str, Any]:
    """A valid layer of ``kind`` with its required keys only."""
    sample = {"int": 2, "ints": 2, "padding": 1, "bool": True, "str": "s", "layers": [], "branches": [[]]}
    layer: dict[str, Any] = {"type": kind.name}
    for f in kind.fields:
        if f.required:
            layer[f.name] = f.choices[0] if f.kind == "choice" else sample.get(f.kind, f.minimum)
    return layer


@pytest.mark.parametrize("name", list(REGISTRY))
def test_schema_and_loader_agree_on_every_key_and_value(name: str) -> None:
    """Every key of the layer type given every value of JUNK (written as JSON, for speed)."""
    kind = REGISTRY[name]
    agree([minimal(kind)], json.dumps, kind)
    for key in ["type", "name", *(f.name for f in kind.fields)]:
        for value in JUNK:
            agree([{**minimal(kind), key: value}], json.dumps, kind)
    agree([{**minimal(kind), "x-note": 1}])
    agree([{**minimal(kind), "colour": 1}])
    for f in kind.fields:
        if f.required:
            agree([{k: v for k, v in minimal(kind).items() if k != f.name}])


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(near_valid_layers())
def test_schema_and_loader_agree_on_random_layers(layers: list[dict[str, Any]]) -> None:
    agree(layers)
