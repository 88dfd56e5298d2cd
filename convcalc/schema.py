"""The JSON Schema (draft 2020-12) of the spec format, built from the layer registry.

Every layer type becomes one ``$defs`` entry generated from its :class:`~convcalc.spec.Field`
declarations (types, minimums, per-axis lists, padding forms, choices, defaults and docs), and
``layer`` picks the entry by the ``type`` key with ``if``/``then``. Editors that read JSON Schema
(the YAML language server, for one) then complete keys and show their docs. The schema is pure
data; ``convcalc schema`` prints it and ``specs/convcalc.schema.json`` is that output, committed.

>>> s = build_schema()
>>> s["$defs"]["conv2d"]["properties"]["stride"]["default"]
1
>>> sorted(s["required"])
['input', 'layers']
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .diagnostics import CODES, WARNING_CODES
from .layers import REGISTRY, LayerKind
from .spec import CONVENTIONS, MAX_INT, MAX_LAYERS, MAX_RANK, Field

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_ID = "urn:convcalc:schema:net-spec"
EXTENSION = "^x-"  # keys starting with x- are ignored everywhere a layer or the document has keys

JSON = dict[str, Any]
_EXTENSIONS: JSON = {EXTENSION: {"description": "an extension key: ignored by convcalc"}}


_POW2_REF: JSON = {"$ref": "#/$defs/pow2"}
#: the stack-sugar keys every layer mapping takes (see "Stack sugar" in specs/format.md)
_SUGAR: JSON = {
    "repeat": {
        "description": "expand this layer into N copies, run in order (a 'repeat' container)",
        "type": "integer",
        "minimum": 1,
        "maximum": MAX_LAYERS,
    },
    "vary": {
        "type": "object",
        "description": "per-copy values: field (or dotted path like layers.0.dilation) -> a list with "
        "one value per copy, or {pow2: [first, last]}",
        "additionalProperties": {"anyOf": [{"type": "array", "minItems": 1}, _POW2_REF]},
    },
}


def _int(minimum: float, doc: str = "") -> JSON:
    out: JSON = {"type": "integer", "minimum": int(minimum), "maximum": MAX_INT}
    if doc:
        out["description"] = doc
    return out


def _per_axis(item: JSON, ndim: int | None) -> JSON:
    """A list with one ``item`` per spatial axis: exactly ``ndim``, or 1 to 3 when any rank fits."""
    lo, hi = (ndim, ndim) if ndim is not None else (1, MAX_RANK - 1)
    return {"type": "array", "items": item, "minItems": lo, "maxItems": hi}


def _ints(f: Field, ndim: int | None) -> JSON:
    one = _int(f.minimum)
    return {"anyOf": [one, {**_per_axis(one, ndim), "description": "one value per spatial axis"}]}


def _padding(f: Field, ndim: int | None) -> JSON:
    one = _int(f.minimum)
    forms: list[JSON] = []
    if f.choices:
        forms.append({"enum": list(f.choices)})
    forms.append(one)
    if f.pairs:
        pair = {"type": "array", "items": one, "minItems": 2, "maxItems": 2, "description": "[left, right]"}
        forms.append(
            {**_per_axis({"anyOf": [one, pair]}, ndim), "description": "per axis: an int or [left, right]"}
        )
    else:
        forms.append({**_per_axis(one, ndim), "description": "one value per spatial axis"})
    return {"anyOf": forms}


def _number(f: Field) -> JSON:
    out: JSON = {"type": "number", "minimum": f.minimum}
    if f.maximum is not None:
        out["maximum"] = f.maximum
    return out


def field_schema(f: Field, ndim: int | None) -> JSON:
    """The schema of one field's value, with its doc and default."""
    body: JSON
    if f.kind == "int":
        body = _int(f.minimum)
    elif f.kind == "ints":
        body = _ints(f, ndim)
    elif f.kind == "padding":
        body = _padding(f, ndim)
    elif f.kind == "bool":
        body = {"type": "boolean"}
    elif f.kind == "float":
        body = _number(f)
    elif f.kind == "floats":
        per_axis = {**_per_axis(_number(f), ndim), "description": "one value per spatial axis"}
        body = {"anyOf": [_number(f), per_axis]}
    elif f.kind == "choice":
        body = {"enum": list(f.choices)}
    elif f.kind == "str":
        body = {"type": "string"}
    elif f.kind == "layers":
        body = {"$ref": "#/$defs/layers"}
    elif f.kind == "branches":
        body = {"type": "array", "items": {"$ref": "#/$defs/layers"}, "minItems": 1}
    else:  # pragma: no cover - a new field kind must be taught to the schema
        raise AssertionError(f"unknown field kind {f.kind}")
    if f.kind in ("int", "ints", "padding"):  # stack sugar: {pow2: [a, b]} varies the field over copies
        body = {"anyOf": [*body["anyOf"], _POW2_REF]} if "anyOf" in body else {"anyOf": [body, _POW2_REF]}
    out: JSON = {"description": f.doc} if f.doc else {}
    out.update(body)
    if not f.required and f.default is not None:
        out["default"] = list(f.default) if isinstance(f.default, tuple) else f.default
    return out


def layer_schema(kind: LayerKind) -> JSON:
    """The schema of one layer type: its keys, which are required, nothing else but ``x-`` keys."""
    props: JSON = {
        "type": {"const": kind.name, "description": kind.doc},
        "name": {"type": "string", "description": "a label for this layer, shown in reports and errors"},
    }
    for f in kind.fields:
        props[f.name] = field_schema(f, kind.ndim)
    props.update(_SUGAR)
    return {
        "type": "object",
        "description": kind.doc,
        "properties": props,
        "required": ["type", *(f.name for f in kind.fields if f.required)],
        "patternProperties": _EXTENSIONS,
        "additionalProperties": False,
    }


def _count(minimum: int) -> JSON:
    """A whole number: 70000, or 7e4 / 1.0e9 (a float with no fraction, which JSON Schema's
    integer type accepts)."""
    return {"type": "integer", "minimum": minimum}


def _range(one: JSON, what: str) -> JSON:
    """An exact ``one`` or ``{min, max}`` bounds (either may be left out)."""
    bounds = {
        "type": "object",
        "description": f"bounds on the {what}: min, max or both (inclusive)",
        "properties": {"min": one, "max": one},
        "minProperties": 1,
        "additionalProperties": False,
    }
    return {"anyOf": [one, bounds]}


def expect_schema() -> JSON:
    """``expect:``, the contract ``convcalc check`` verifies (parsed in convcalc/check.py)."""
    per_axis = {**_per_axis(_count(1), None), "description": "one value per spatial axis of the input"}
    return {
        "type": "object",
        "description": "what convcalc check must find: exact values or {min, max} bounds",
        "properties": {
            "output_shape": {
                "description": "the final output shape, without batch",
                **_per_axis(_count(1), None),
                "maxItems": MAX_RANK,
            },
            "params": {"description": "the total number of parameters", **_range(_count(0), "parameters")},
            "receptive_field": {
                "description": "the final receptive field size: one value, or one per spatial axis",
                **_range({"anyOf": [_count(1), per_axis]}, "receptive field size"),
            },
            "macs": {"description": "the total multiply-accumulates", **_range(_count(0), "MACs")},
        },
        "additionalProperties": False,
    }


def check_schema() -> JSON:
    """``check:``, settings of ``convcalc check`` for this file."""
    warnings = sorted(WARNING_CODES)
    docs = "; ".join(f"{c}: {CODES[c].title}" for c in warnings)
    return {
        "type": "object",
        "description": "settings of convcalc check for this file",
        "properties": {
            "ignore": {
                "type": "array",
                "description": f"warning codes not to report ({docs})",
                "items": {"enum": warnings},
            },
        },
        "additionalProperties": False,
    }


def build_schema(registry: Mapping[str, LayerKind] | None = None) -> JSON:
    """The whole format's schema, for ``registry`` (default: every registered layer type)."""
    kinds = REGISTRY if registry is None else registry
    defs: JSON = {
        "layers": {
            "type": "array",
            "description": "layers, applied in order",
            "items": {"$ref": "#/$defs/layer"},
        },
        "layer": {
            "type": "object",
            "description": "one layer: a mapping with a 'type' and that type's keys",
            "required": ["type"],
            "properties": {
                "type": {"enum": list(kinds), "description": "the layer type"},
            },
            "allOf": [
                {
                    "if": {"properties": {"type": {"const": name}}, "required": ["type"]},
                    "then": {"$ref": f"#/$defs/{name}"},
                }
                for name in kinds
            ],
        },
        "pow2": {
            "type": "object",
            "description": "the powers of two 2**first .. 2**last, one per copy (stack sugar: see repeat)",
            "properties": {
                "pow2": {
                    "type": "array",
                    "description": "[first, last] exponents",
                    "items": {"type": "integer", "minimum": 0, "maximum": 62},
                    "minItems": 2,
                    "maxItems": 2,
                }
            },
            "required": ["pow2"],
            "additionalProperties": False,
        },
        "shape": {
            "type": "array",
            "description": "shape without batch, channels first: [C], [C, L], [C, H, W] or [C, D, H, W]",
            "items": _int(1),
            "minItems": 1,
            "maxItems": MAX_RANK,
        },
    }
    for name, kind in kinds.items():
        assert name not in defs, f"layer type '{name}' clashes with a schema definition"
        defs[name] = layer_schema(kind)
    return {
        "$schema": SCHEMA_DIALECT,
        "$id": SCHEMA_ID,
        "title": "convcalc net spec",
        "description": "A layer stack for convcalc: input shape and layers; convcalc reports per layer "
        "output shape, receptive field, parameters and MACs.",
        "type": "object",
        "properties": {
            "name": {"type": "string", "description": "the network's name, shown in reports"},
            "description": {"type": "string", "description": "one line about the network"},
            "input": {
                "description": "the input shape without batch, or {shape, batch}",
                "anyOf": [
                    {"$ref": "#/$defs/shape"},
                    {
                        "type": "object",
                        "properties": {
                            "shape": {"$ref": "#/$defs/shape"},
                            "batch": _int(1, "batch size: scales MACs and memory only"),
                        },
                        "required": ["shape"],
                        "additionalProperties": False,
                    },
                ],
            },
            "layers": {"$ref": "#/$defs/layers"},
            "convention": {
                "enum": list(CONVENTIONS),
                "description": "parameter counting: pytorch (default) or keras; shapes and MACs are the same",
            },
            "expect": expect_schema(),
            "check": check_schema(),
        },
        "required": ["input", "layers"],
        "patternProperties": _EXTENSIONS,
        "additionalProperties": False,
        "$defs": defs,
    }


def schema_json(registry: Mapping[str, LayerKind] | None = None) -> str:
    """The schema as the text of ``specs/convcalc.schema.json`` (ends with a newline)."""
    return json.dumps(build_schema(registry), indent=2, ensure_ascii=False) + "\n"
