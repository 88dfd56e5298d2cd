"""YAML text -> nodes with line/column -> validated, frozen spec.

The loader composes the YAML into nodes (the C loader when available), walks them, and
checks every value against the fields that the layer registry declares. Nothing here
computes shapes: that is :mod:`convcalc.analyze`.
"""

from __future__ import annotations

import difflib
import functools
import gc
import math
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml

from .errors import DEFAULT_CODE, Loc, SpecError

if TYPE_CHECKING:
    from .check import Expectation

try:  # the C loader is several times faster on big files
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

MAX_FILE_BYTES = 16 * 1024 * 1024
MAX_DEPTH = 64
MAX_YAML_DEPTH = 1000  # nested YAML collections, anywhere in the file
MAX_LAYERS = 200_000
MAX_RANK = 4  # [C, D, H, W]

Node = yaml.Node
_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_BOOL_TAG = "tag:yaml.org,2002:bool"
_STR_TAG = "tag:yaml.org,2002:str"
_NULL_TAG = "tag:yaml.org,2002:null"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MAP_TAG = "tag:yaml.org,2002:map"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_BOOLS = {"yes": True, "true": True, "on": True, "no": False, "false": False, "off": False}
MAX_INT = 2**63 - 1
TOO_LARGE = "the limit is 2**63 - 1 (PyTorch sizes are int64)"
_DIGITS = re.compile(r"^[-+]?_*\d[\d_]*$")
_BASE60 = re.compile(r"^[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+$")  # YAML 1.1's 1:30 (= 90)
_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")
_NUMBER_LIKE = re.compile(r"^\s*[-+]?(\d[\d_]*(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*$")
_constructor = yaml.constructor.SafeConstructor()

REQUIRED: Any = object()

#: the parameter-counting conventions of the top-level ``convention:`` key (and ``--convention``)
CONVENTIONS = ("pytorch", "keras")

# Padding as validated: a keyword, one int for every axis, or (left, right) per axis.
Padding = str | int | tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class Field:
    """One key of a layer mapping, as the registry declares it."""

    name: str
    kind: str  # int | ints | padding | bool | float | floats | choice | str | layers | branches
    default: Any = REQUIRED
    doc: str = ""
    minimum: float = 1
    maximum: float | None = None
    choices: tuple[str, ...] = ()  # for choice, and the keywords a padding accepts
    pairs: bool = True  # padding: accept per-axis [left, right] pairs

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


def loc_of(node: Node) -> Loc:
    mark = node.start_mark
    return Loc(mark.line + 1, mark.column + 1)


@dataclass(frozen=True, eq=False)
class Layer:
    """A validated layer: its type, name, options (defaults filled) and where it came from."""

    type: str
    name: str | None
    path: tuple[str | int, ...]
    loc: Loc
    opts: Mapping[str, Any]
    locs: Mapping[str, Loc]
    file: str = "<string>"

    def __init__(
        self,
        type: str,
        name: str | None,
        path: tuple[str | int, ...],
        loc: Loc,
        opts: Mapping[str, Any],
        locs: Mapping[str, Loc],
        file: str = "<string>",
    ) -> None:
        # a file makes thousands of these: filling __dict__ directly costs a third of the frozen
        # dataclass __init__ (one object.__setattr__ per field); setting a field still raises
        d = self.__dict__
        d["type"], d["name"], d["path"], d["loc"] = type, name, path, loc
        d["opts"], d["locs"], d["file"] = opts, locs, file

    @property
    def dotted(self) -> str:
        """The path as PyTorch's ``state_dict`` would prefix it: ``0.layers.1``."""
        return ".".join(str(p) for p in self.path)

    @property
    def label(self) -> str:
        named = f" '{clip(self.name)}'" if self.name else ""
        return f"layer {self.dotted}{named} ({self.type})"

    def error(self, message: str, key: str | None = None, code: str = "CC105") -> SpecError:
        """An error about this layer, at the line of ``key`` when given (``code``: see diagnostics.py)."""
        loc = self.locs.get(key, self.loc) if key else self.loc
        return SpecError(f"{self.label}: {message}", loc, self.file, self.path, code)

    def children(self) -> list[tuple[str, tuple[Layer, ...]]]:
        """Nested layer lists as (dotted prefix, layers): ``layers``, ``shortcut``, ``branches.N``."""
        out: list[tuple[str, tuple[Layer, ...]]] = []
        for key, value in self.opts.items():
            if key == "branches":
                out.extend((f"branches.{i}", b) for i, b in enumerate(value))
            elif isinstance(value, tuple) and value and isinstance(value[0], Layer):
                out.append((key, value))
        return out


@dataclass(frozen=True)
class NetSpec:
    """A validated network spec."""

    input_shape: tuple[int, ...]
    layers: tuple[Layer, ...]
    name: str | None = None
    description: str | None = None
    batch: int = 1
    file: str = "<string>"
    locs: Mapping[str, Loc] = field(default_factory=dict)
    #: the ``expect:`` contract (checked by ``convcalc check``, ignored by ``convcalc shape``)
    expect: tuple[Expectation, ...] = ()
    #: warning codes that ``check: {ignore: [...]}`` switches off for this file
    check_ignore: frozenset[str] = frozenset()
    #: whose parameter counting: "pytorch" (default) or "keras" (see CONVENTIONS)
    convention: str = "pytorch"


class _Walker:
    """Walks composed YAML nodes into a :class:`NetSpec`, raising :class:`SpecError`."""

    def __init__(self, file: str, aliases: bool = True) -> None:
        from .layers import REGISTRY

        self.file = file
        self.registry = REGISTRY
        self.count = 0
        self.aliases = aliases  # whether the text may hold YAML aliases (an alias bomb)

    # -- errors -------------------------------------------------------------------------
    def err(
        self, node: Node, message: str, path: tuple[str | int, ...] = (), code: str = "CC103"
    ) -> SpecError:
        return SpecError(message, loc_of(node), self.file, path, code)

    # -- generic node checks ------------------------------------------------------------
    def mapping(self, node: Node, what: str) -> list[tuple[str, Node, Node]]:
        """(key, key node, value node) of a mapping, rejecting duplicate and non-string keys."""
        if not isinstance(node, yaml.MappingNode):
            raise self.err(node, f"{what} must be a mapping, got {describe(node)}")
        self.plain_tag(node, what, _MAP_TAG)
        seen: dict[str, Node] = {}
        items: list[tuple[str, Node, Node]] = []
        for knode, vnode in node.value:
            if knode.tag == _MERGE_TAG:
                raise self.err(
                    knode,
                    f"{what}: YAML merge keys ('<<') are not supported; write the keys out",
                    code="CC101",
                )
            if not isinstance(knode, yaml.ScalarNode) or knode.tag != _STR_TAG:
                raise self.err(knode, f"{what}: keys must be strings, got {describe(knode)}")
            key = knode.value
            if key in seen:
                first = loc_of(seen[key])
                message = f"{what}: duplicate key '{clip(key)}' (first given at line {first.line})"
                raise self.err(knode, message, code="CC101")
            seen[key] = knode
            items.append((key, knode, vnode))
        return items

    def plain_tag(self, node: Node, what: str, tag: str) -> None:
        if node.tag != tag:
            raise self.err(node, f"{what}: unsupported YAML tag '{clip(node.tag)}'", code="CC101")

    def unknown_key(self, knode: Node, key: str, known: list[str], what: str) -> SpecError:
        return self.err(knode, f"{what}: unknown key '{clip(key)}'{did_you_mean(key, known)}", code="CC102")

    # -- scalars ------------------------------------------------------------------------
    def integer(self, node: Node, what: str, minimum: float = 1) -> int:
        if isinstance(node, yaml.ScalarNode):
            text = node.value
            if node.tag == _INT_TAG and 0 < len(text) < 19 and text.isdecimal() and text[0] != "0":
                value = int(text)  # the usual case, plain decimal digits (0-prefixed ones are octal)
                if value >= minimum:
                    return value
            if node.tag == _INT_TAG:
                need = "positive" if minimum == 1 else f">= {int(minimum)}"
                try:
                    value = yaml_int(node)
                except (ValueError, IndexError):  # too many digits, or !!int on text ('' is an IndexError)
                    if _DIGITS.match(node.value) or _BASE60.match(node.value):
                        if node.value.startswith("-"):
                            raise self.err(node, f"{what} must be {need}, got {clip(node.value)}") from None
                        raise self.err(node, f"{what} is too large: {TOO_LARGE}", code="CC109") from None
                    raise self.err(node, f"{what} must be an integer, got {describe(node)}") from None
                if value > MAX_INT:
                    raise self.err(node, f"{what} is too large: {TOO_LARGE}", code="CC109")
                if value < minimum:
                    raise self.err(node, f"{what} must be {need}, got {clip(str(value))}")
                return value
            if node.tag == _BOOL_TAG:
                raise self.err(node, f"{what} must be an integer, got the boolean {clip(node.value)}")
            if node.tag == _FLOAT_TAG:
                raise self.err(node, f"{what} must be an integer, got the float {clip(node.value)}")
            if node.tag == _STR_TAG and _NUMBER_LIKE.match(node.value):
                raise self.err(node, f"{what} must be an integer, got {number_text(node)}")
        raise self.err(node, f"{what} must be an integer, got {describe(node)}")

    def boolean(self, node: Node, what: str) -> bool:
        if isinstance(node, yaml.ScalarNode) and node.tag == _BOOL_TAG and node.value.lower() in _BOOLS:
            return _BOOLS[node.value.lower()]
        raise self.err(node, f"{what} must be true or false, got {describe(node)}")

    def number(self, node: Node, what: str, lo: float, hi: float | None) -> float:
        if not isinstance(node, yaml.ScalarNode):
            raise self.err(node, f"{what} must be a number, got {describe(node)}")
        text_number = node.tag == _STR_TAG and bool(_NUMBER_LIKE.match(node.value))
        if node.tag in (_INT_TAG, _FLOAT_TAG) or (text_number and not node.style):
            try:  # a plain 1e-5 is a number to YAML 1.2 (PyYAML's YAML 1.1 reads it as text)
                if node.tag == _INT_TAG:
                    value = float(yaml_int(node))
                elif node.tag == _FLOAT_TAG:
                    value = float(_constructor.construct_yaml_float(node))
                else:
                    value = float(node.value)
            except OverflowError:  # a base-60 float (1:30.5) beyond the float range
                raise self.err(node, f"{what} is too large", code="CC109") from None
            except (ValueError, IndexError):  # IndexError: an explicit !!float ''
                if (_DIGITS.match(node.value) or _BASE60.match(node.value)) and node.value.startswith("-"):
                    rng = f"in [{lo:g}, {hi:g}]" if hi is not None else f">= {lo:g}"
                    raise self.err(node, f"{what} must be a number {rng}, got {clip(node.value)}") from None
                if _DIGITS.match(node.value) or _BASE60.match(node.value):
                    raise self.err(node, f"{what} is too large", code="CC109") from None
                raise self.err(node, f"{what} must be a number, got {describe(node)}") from None
            if not math.isfinite(value) or value < lo or (hi is not None and value > hi):
                rng = f"in [{lo:g}, {hi:g}]" if hi is not None else f">= {lo:g}"
                raise self.err(node, f"{what} must be a number {rng}, got {clip(node.value)}")
            return value
        if text_number:
            raise self.err(node, f"{what} must be a number, got {number_text(node)}")
        raise self.err(node, f"{what} must be a number, got {describe(node)}")

    def string(self, node: Node, what: str) -> str:
        if isinstance(node, yaml.ScalarNode) and node.tag == _STR_TAG:
            return str(node.value)
        raise self.err(node, f"{what} must be a string, got {describe(node)}")

    def choice(self, node: Node, what: str, choices: tuple[str, ...]) -> str:
        value = self.string(node, what)
        if value not in choices:
            options = ", ".join(choices)
            raise self.err(
                node, f"{what} must be one of {options}, got '{clip(value)}'{did_you_mean(value, choices)}"
            )
        return value

    def sequence(self, node: Node, what: str) -> list[Node]:
        if not isinstance(node, yaml.SequenceNode):
            raise self.err(node, f"{what} must be a list, got {describe(node)}")
        self.plain_tag(node, what, _SEQ_TAG)
        return list(node.value)

    def ints(self, node: Node, what: str, ndim: int | None, minimum: float) -> int | tuple[int, ...]:
        """An int, or one int per spatial axis."""
        if isinstance(node, yaml.SequenceNode):
            items = node.value
            if ndim is not None and len(items) != ndim:
                raise self.err(node, f"{what} needs {ndim} values (one per spatial axis), got {len(items)}")
            if not items or len(items) >= MAX_RANK:
                raise self.err(node, f"{what}: a per-axis list needs 1 to {MAX_RANK - 1} values")
            return tuple(self.integer(n, f"{what}[{i}]", minimum) for i, n in enumerate(items))
        return self.integer(node, what, minimum)

    def floats(self, node: Node, what: str, ndim: int | None, f: Field) -> float | tuple[float, ...]:
        """A number, or one number per spatial axis."""
        if isinstance(node, yaml.SequenceNode):
            items = node.value
            if ndim is not None and len(items) != ndim:
                raise self.err(node, f"{what} needs {ndim} values (one per spatial axis), got {len(items)}")
            if not items or len(items) > MAX_RANK - 1:
                raise self.err(node, f"{what}: a per-axis list needs 1 to {MAX_RANK - 1} values")
            return tuple(self.number(n, f"{what}[{i}]", f.minimum, f.maximum) for i, n in enumerate(items))
        return self.number(node, what, f.minimum, f.maximum)

    def padding(self, node: Node, what: str, ndim: int | None, f: Field) -> Padding:
        if isinstance(node, yaml.ScalarNode) and node.tag == _STR_TAG:
            value = node.value
            if value in f.choices:
                return str(value)
            if not _NUMBER_LIKE.match(value):
                allowed = ", ".join(f"'{c}'" for c in f.choices)
                hint = f" or one of {allowed}" if allowed else ""
                raise self.err(
                    node,
                    f"{what} must be an integer, a per-axis list{hint}; got '{clip(value)}'"
                    f"{did_you_mean(value, f.choices)}",
                )
        if isinstance(node, yaml.SequenceNode) and any(isinstance(n, yaml.SequenceNode) for n in node.value):
            if not f.pairs:
                raise self.err(
                    node, f"{what}: this layer takes symmetric padding only (no [left, right] pairs)"
                )
            items = node.value
            if ndim is not None and len(items) != ndim:
                raise self.err(node, f"{what} needs {ndim} entries (one per spatial axis), got {len(items)}")
            if len(items) >= MAX_RANK:
                raise self.err(node, f"{what}: too many axes ({len(items)})")
            pairs = []
            for i, item in enumerate(items):
                if isinstance(item, yaml.SequenceNode):
                    if len(item.value) != 2:
                        raise self.err(
                            item, f"{what}[{i}] must be [left, right], got {len(item.value)} values"
                        )
                    lo, hi = (self.integer(n, f"{what}[{i}]", 0) for n in item.value)
                else:
                    lo = hi = self.integer(item, f"{what}[{i}]", 0)
                pairs.append((lo, hi))
            return tuple(pairs)
        value = self.ints(node, what, ndim, 0)
        if isinstance(value, tuple):
            return tuple((v, v) for v in value)
        return value

    # -- layers -------------------------------------------------------------------------
    def layers(
        self, node: Node, path: tuple[str | int, ...], depth: int, what: str = "layers"
    ) -> tuple[Layer, ...]:
        if depth > MAX_DEPTH:
            raise self.err(node, f"nesting deeper than {MAX_DEPTH} levels (a recursive alias?)", code="CC109")
        items = self.sequence(node, what)
        return tuple(self.layer(n, (*path, i), depth) for i, n in enumerate(items))

    def layer(self, node: Node, path: tuple[str | int, ...], depth: int) -> Layer:
        if type(node) is yaml.MappingNode:
            quick = self.quick_layer(node, path, depth)
            if quick is not None:
                return quick
        return self.checked_layer(node, path, depth)

    def quick_layer(self, node: yaml.MappingNode, path: tuple[str | int, ...], depth: int) -> Layer | None:
        """The usual layer mapping in one pass, or None when it needs :meth:`checked_layer`.

        Taken here: plain string keys, each once; a registered ``type``; a string ``name``; only
        the type's own fields, scalars in their usual spelling (decimal ints, keywords, booleans)
        read directly, anything else (lists, floats, nested layers) through :meth:`value` as
        :meth:`checked_layer` reads it. Anything unusual (a duplicate, an unknown or ``x-`` key,
        stack sugar, a value to reject, a missing required key) returns None before any value is
        walked, and :meth:`checked_layer` then says what is wrong: the same result, or the same
        error, either way.
        """
        if node.tag != _MAP_TAG:
            return None
        given: dict[str, Node] = {}
        for knode, vnode in node.value:
            if type(knode) is not yaml.ScalarNode or knode.tag != _STR_TAG:
                return None
            given[knode.value] = vnode
        tnode = given.get("type")
        if len(given) != len(node.value) or type(tnode) is not yaml.ScalarNode or tnode.tag != _STR_TAG:
            return None
        kind = self.registry.get(tnode.value)
        if kind is None:
            return None
        name: str | None = None
        if "name" in given:
            nnode = given["name"]
            if type(nnode) is not yaml.ScalarNode or nnode.tag != _STR_TAG:
                return None
            name = nnode.value
        fields = kind.field_map
        opts: dict[str, Any] = {}
        locs: dict[str, Loc] = {}
        walk: list[tuple[str, Field, Node]] = []  # values read by value(), in document order
        for key, vnode in given.items():
            if key == "type" or key == "name":
                continue
            f = fields.get(key)
            if f is None or type(vnode) is yaml.MappingNode:  # unknown, x-, sugar; or {pow2: ...}
                return None
            mark = vnode.start_mark
            locs[key] = _new_loc(Loc, (mark.line + 1, mark.column + 1))
            value = _quick_scalar(vnode, f) if type(vnode) is yaml.ScalarNode else _SLOW
            if value is _SLOW:
                walk.append((key, f, vnode))
            opts[key] = value
        if not kind.required_names <= opts.keys():
            return None
        for key, default in kind.defaults:
            if key not in opts:
                opts[key] = default
        if walk:
            if self.count >= MAX_LAYERS:
                return None
            where = f"layer {'.'.join(str(p) for p in path)}"
            if name is not None:
                where = f"{where} '{clip(name)}'"
            where = f"{where} ({tnode.value})"
            self.count += 1
            for key, f, vnode in walk:
                opts[key] = self.value(vnode, f, f"{where}: {key}", kind.ndim, (*path, key), depth)
        elif self.count < MAX_LAYERS:
            self.count += 1
        else:
            return None
        mark = node.start_mark
        return Layer(
            tnode.value, name, path, _new_loc(Loc, (mark.line + 1, mark.column + 1)), opts, locs, self.file
        )

    def checked_layer(self, node: Node, path: tuple[str | int, ...], depth: int) -> Layer:
        """A layer mapping with every check, saying what is wrong (see :meth:`quick_layer`)."""
        if type(node) is yaml.MappingNode and _has_sugar(node):
            return self.repeated(node, path, depth)
        self.count += 1
        if self.count > MAX_LAYERS:
            raise self.err(node, f"too many layers: more than {MAX_LAYERS:,} layers", code="CC109")
        dotted = ".".join(str(p) for p in path)
        where = f"layer {dotted}"
        if not isinstance(node, yaml.MappingNode):
            raise self.err(node, f"{where} must be a mapping with a 'type', got {describe(node)}", path)
        items = self.mapping(node, self.peek_label(node, where))
        by_key = {k: (kn, vn) for k, kn, vn in items}
        name: str | None = None
        if "name" in by_key:
            name = self.string(by_key["name"][1], f"{where}: name")
            where = f"{where} '{clip(name)}'"
        if "type" not in by_key:
            raise self.err(node, f"{where}: missing required key 'type'", path, "CC104")
        tnode = by_key["type"][1]
        type_name = self.string(tnode, f"{where}: type")
        kind = self.registry.get(type_name)
        if kind is None:
            raise self.err(
                tnode,
                f"{where}: unknown layer type '{clip(type_name)}'{did_you_mean(type_name, self.registry)}",
                path,
                "CC102",
            )
        where = f"{where} ({type_name})"
        fields = kind.field_map
        opts: dict[str, Any] = {}
        locs: dict[str, Loc] = {}
        for key, knode, vnode in items:
            if key in ("type", "name") or key.startswith("x-"):
                continue
            f = fields.get(key)
            if f is None:
                raise self.unknown_key(knode, key, ["type", "name", *fields, *_SUGAR_KEYS], where)
            locs[key] = loc_of(vnode)
            opts[key] = self.value(vnode, f, f"{where}: {key}", kind.ndim, (*path, key), depth)
        for f in kind.fields:
            if f.name not in opts:
                if f.required:
                    raise self.err(node, f"{where}: missing required key '{f.name}'", path, "CC104")
                opts[f.name] = f.default
        return Layer(type_name, name, path, loc_of(node), opts, locs, self.file)

    # -- stack sugar: repeat / vary / pow2 (see "Stack sugar" in specs/format.md) ----------------
    def repeated(self, node: yaml.MappingNode, path: tuple[str | int, ...], depth: int) -> Layer:
        """A layer mapping with ``repeat``, ``vary`` or a ``{pow2: ...}`` value: a ``repeat`` container
        holding the expanded copies (``path + ('layers', k)``), each built from the mapping's nodes."""
        self.count += 1
        where = self.peek_label(node, "layer " + ".".join(str(p) for p in path))
        if self.count > MAX_LAYERS:
            raise self.err(node, f"too many layers: more than {MAX_LAYERS:,} layers", path, "CC109")
        items = self.mapping(node, where)
        by_key = {k: (kn, vn) for k, kn, vn in items}
        if "type" not in by_key:  # said of the entry, not of its first copy
            raise self.err(node, f"{where}: missing required key 'type'", path, "CC104")
        type_name = self.string(by_key["type"][1], f"{where}: type")
        if type_name not in self.registry:
            hint = did_you_mean(type_name, self.registry)
            unknown = f"{where}: unknown layer type '{clip(type_name)}'{hint}"
            raise self.err(by_key["type"][1], unknown, path, "CC102")
        count: int | None = None
        if "repeat" in by_key:
            count = self.integer(by_key["repeat"][1], f"{where}: repeat")
        varied: dict[str, tuple[Node, list[Node]]] = {}  # dotted target -> (its key node, one value a copy)
        powers: set[str] = set()  # the targets given as {pow2: [a, b]}: integer fields only
        if "vary" in by_key:
            vnode = by_key["vary"][1]
            pairs = self.mapping(vnode, f"{where}: vary")
            if not pairs:
                raise self.err(vnode, f"{where}: vary must name at least one field", path)
            for key, knode, given in pairs:
                varied[key] = (knode, self.vary_values(given, f"{where}: vary: {key}", path))
                if _is_pow2(given):
                    powers.add(key)
        inline = set()
        for key, knode, vnode in items:
            if key not in _SUGAR_KEYS and not key.startswith("x-") and _is_pow2(vnode):
                if key in varied:
                    line = loc_of(varied[key][0]).line
                    raise self.err(knode, f"{where}: '{clip(key)}' is also varied at line {line}", path)
                varied[key] = (knode, self.pow2(vnode, f"{where}: {key}", path))
                inline.add(key)
                powers.add(key)
        if count is None:  # the lists give the count
            if not varied:
                raise self.err(node, f"{where}: vary must name at least one field", path)
            first, (_, fvalues) = next(iter(varied.items()))
            count, what = len(fvalues), f"'{clip(first)}' has {len(fvalues)}"
        else:
            what = f"repeat is {count}"
        for key, (knode, values) in varied.items():
            if len(values) != count:
                n = len(values)
                raise self.err(
                    knode, f"{where}: vary: '{clip(key)}' has {n} value{'s' * (n != 1)} but {what}", path
                )
        template = yaml.MappingNode(
            node.tag,
            [(k, v) for k, v in node.value if k.value not in _SUGAR_KEYS and k.value not in inline],
            node.start_mark,
            node.end_mark,
            flow_style=node.flow_style,
        )
        each = expanded_mappings(template, {})
        if self.count + count * each > MAX_LAYERS:
            at = by_key["repeat"][1] if "repeat" in by_key else node
            raise self.err(
                at,
                f"{where}: {count:,} copies of {each:,} layer{'s' * (each != 1)} would make more than "
                f"{MAX_LAYERS:,} layers",
                path,
                "CC109",
            )
        targets = [
            (*self.vary_target(template, key, knode, where, path, key in powers), values)
            for key, (knode, values) in varied.items()
        ]
        name: str | None = None
        if "name" in by_key:
            name = self.string(by_key["name"][1], f"{where}: name")
        children = []
        for k in range(count):
            copy: Node = template
            if name is not None:
                nnode = by_key["name"][1]
                renamed = yaml.ScalarNode(_STR_TAG, f"{name}[{k}]", nnode.start_mark, nnode.end_mark)
                copy = _substituted(copy, (), "name", renamed)
            for steps, key, knode, values in targets:
                copy = _substituted(copy, steps, key, values[k], knode)
            children.append(self.layer(copy, (*path, "layers", k), depth + 1))
        locs: dict[str, Loc] = {key: loc_of(by_key[key][1]) for key in _SUGAR_KEYS if key in by_key}
        return Layer("repeat", name, path, loc_of(node), {"layers": tuple(children)}, locs, self.file)

    def vary_values(self, node: Node, what: str, path: tuple[str | int, ...]) -> list[Node]:
        """The values of one ``vary`` entry: a list (one value a copy) or ``{pow2: [first, last]}``."""
        if _is_pow2(node):
            return self.pow2(node, what, path)
        if not isinstance(node, yaml.SequenceNode):
            raise self.err(
                node,
                f"{what} must be a list (one value per copy) or {{pow2: [first, last]}}, "
                f"got {describe(node)}",
                path,
            )
        values = self.sequence(node, what)
        if not values:
            raise self.err(node, f"{what} must list at least one value", path)
        return values

    def pow2(self, node: Node, what: str, path: tuple[str | int, ...]) -> list[Node]:
        """``{pow2: [a, b]}``: the values 2**a, 2**b inclusive, as int nodes at the mapping's place."""
        pairs = self.mapping(node, what)
        for key, knode, _ in pairs:
            if key != "pow2":
                raise self.unknown_key(knode, key, ["pow2"], what)
        bounds = pairs[0][2]
        items = self.sequence(bounds, f"{what}: pow2")
        if len(items) != 2:
            raise self.err(
                bounds,
                f"{what}: pow2 needs two exponents [first, last], "
                f"got {len(items)} value{'s' * (len(items) != 1)}",
                path,
            )
        lo, hi = (self.integer(n, f"{what}: pow2[{i}]", 0) for i, n in enumerate(items))
        if hi > _MAX_POW2:
            raise self.err(
                items[1], f"{what}: pow2[1] is too large: 2**{clip(str(hi))} > 2**63 - 1", path, "CC109"
            )
        if lo > hi:
            raise self.err(
                bounds, f"{what}: pow2 [{lo}, {hi}]: the first exponent is larger than the last", path
            )
        return [
            yaml.ScalarNode(_INT_TAG, str(2**e), node.start_mark, node.end_mark) for e in range(lo, hi + 1)
        ]

    def vary_target(
        self,
        template: yaml.MappingNode,
        dotted: str,
        knode: Node,
        where: str,
        path: tuple[str | int, ...],
        powers: bool,
    ) -> tuple[tuple[str | int, ...], str, Node]:
        """Where a ``vary`` key points: (steps from the entry to a layer mapping, the field, the key node).

        ``dilation`` is a field of the entry itself; ``layers.0.dilation`` one of a layer nested in it.
        """
        parts = dotted.split(".")
        at: Node = template
        steps: list[str | int] = []
        for seg in parts[:-1]:
            shown = ".".join([*map(str, steps), seg])
            if isinstance(at, yaml.MappingNode):
                keys = {k.value: v for k, v in at.value if isinstance(k, yaml.ScalarNode)}
                if seg not in keys:
                    listed = [k for k, v in keys.items() if isinstance(v, yaml.SequenceNode)]
                    raise self.err(
                        knode,
                        f"{where}: vary: '{clip(dotted)}': no key '{clip(seg)}' here"
                        f"{did_you_mean(seg, listed)}",
                        path,
                        "CC102",
                    )
                at = keys[seg]
                steps.append(seg)
            elif isinstance(at, yaml.SequenceNode):
                n = len(at.value)
                if not (seg.isdigit() and int(seg) < n):
                    last = ".".join(map(str, steps))
                    raise self.err(
                        knode,
                        f"{where}: vary: '{clip(dotted)}': '{clip(shown)}' is not an entry of '{last}', "
                        f"which has {n} (0 to {n - 1})",
                        path,
                    )
                at = at.value[int(seg)]
                steps.append(int(seg))
            else:
                break
        if not isinstance(at, yaml.MappingNode) or len(steps) != len(parts) - 1:
            raise self.err(knode, f"{where}: vary: '{clip(dotted)}' does not name a field of a layer", path)
        key = parts[-1]
        if key in ("type", "name", *_SUGAR_KEYS):
            raise self.err(
                knode, f"{where}: vary: '{clip(key)}' cannot be varied (only a layer's fields can)", path
            )
        given = {k.value: k for k, _ in at.value if isinstance(k, yaml.ScalarNode)}
        tnode = next((v for k, v in at.value if isinstance(k, yaml.ScalarNode) and k.value == "type"), None)
        kind = (
            self.registry.get(tnode.value)
            if isinstance(tnode, yaml.ScalarNode) and tnode.tag == _STR_TAG
            else None
        )
        if kind is not None:
            fields = kind.field_map
            if key not in fields:
                raise self.err(
                    knode,
                    f"{where}: vary: unknown field '{clip(key)}' of {kind.name}{did_you_mean(key, fields)}",
                    path,
                    "CC102",
                )
            if fields[key].kind in ("layers", "branches"):
                raise self.err(
                    knode,
                    f"{where}: vary: '{clip(dotted)}' holds layers, which cannot be varied; vary a field "
                    f"inside them, like '{clip(dotted)}.0.dilation'",
                    path,
                )
            if powers and fields[key].kind not in _INT_KINDS:
                raise self.err(
                    knode,
                    f"{where}: '{clip(dotted)}': {{pow2: [first, last]}} is for integer fields and "
                    f"{key} is a {fields[key].kind} field; list the values instead",
                    path,
                )
        if key in given:
            line = loc_of(given[key]).line
            raise self.err(
                knode, f"{where}: vary: '{clip(dotted)}' is also given at line {line}: give it once", path
            )
        return tuple(steps), key, knode

    def peek_label(self, node: yaml.MappingNode, where: str) -> str:
        """``layer 2 'dil4' (conv1d)`` from the raw mapping, for errors found before its keys are checked."""
        raw = {
            k.value: v.value
            for k, v in node.value
            if isinstance(k, yaml.ScalarNode) and isinstance(v, yaml.ScalarNode)
            if k.tag == v.tag == _STR_TAG and k.value in ("name", "type")
        }
        named = f" '{clip(raw['name'])}'" if "name" in raw else ""
        typed = f" ({raw['type']})" if raw.get("type") in self.registry else ""
        return f"{where}{named}{typed}"

    def value(
        self, node: Node, f: Field, what: str, ndim: int | None, path: tuple[str | int, ...], depth: int
    ) -> Any:
        kind = f.kind
        if kind == "int":
            return self.integer(node, what, f.minimum)
        if kind == "ints":
            return self.ints(node, what, ndim, f.minimum)
        if kind == "padding":
            return self.padding(node, what, ndim, f)
        if kind == "bool":
            return self.boolean(node, what)
        if kind == "float":
            return self.number(node, what, f.minimum, f.maximum)
        if kind == "floats":
            return self.floats(node, what, ndim, f)
        if kind == "choice":
            return self.choice(node, what, f.choices)
        if kind == "str":
            return self.string(node, what)
        if kind == "layers":
            return self.layers(node, path, depth + 1, what)
        if kind == "branches":
            items = self.sequence(node, what)
            if not items:
                raise self.err(node, f"{what} must list at least one branch")
            return tuple(self.layers(b, (*path, i), depth + 1, f"{what}[{i}]") for i, b in enumerate(items))
        raise AssertionError(f"unknown field kind {kind}")  # pragma: no cover

    # -- the document -------------------------------------------------------------------
    def document(self, node: Node | None) -> NetSpec:
        if node is None or (node.tag == _NULL_TAG and node.value == ""):  # nothing, or a bare '---'
            raise SpecError(
                "the file is empty: expected a mapping with 'input' and 'layers'",
                Loc(),
                self.file,
                code="CC101",
            )
        items = self.mapping(node, "the document")
        known = ["name", "description", "input", "layers", "expect", "check", "convention"]
        values: dict[str, Node] = {}
        locs: dict[str, Loc] = {}
        for key, knode, vnode in items:
            if key.startswith("x-"):
                continue
            if key not in known:
                raise self.unknown_key(knode, key, known, "the document")
            values[key] = vnode
            locs[key] = loc_of(vnode)
        for key in ("input", "layers"):
            if key not in values:
                raise self.err(node, f"the document: missing required key '{key}'", code="CC104")
        name = self.string(values["name"], "name") if "name" in values else None
        desc = self.string(values["description"], "description") if "description" in values else None
        convention = "pytorch"
        if "convention" in values:
            convention = self.choice(values["convention"], "convention", CONVENTIONS)
        shape, batch = self.input(values["input"])
        # an alias bomb: say so before walking it (a repeat is checked at its entry, before its copies)
        if self.aliases and expanded_mappings(values["layers"], {}, repeats=False) > MAX_LAYERS:
            key_node = next(kn for k, kn, _ in items if k == "layers")
            raise self.err(
                key_node,
                f"layers: more than {MAX_LAYERS:,} layers once YAML aliases are expanded",
                code="CC109",
            )
        layers = self.layers(values["layers"], (), 0)
        expect: tuple[Expectation, ...] = ()
        ignore: frozenset[str] = frozenset()
        if "expect" in values or "check" in values:  # the contract and settings of `convcalc check`
            from .check import parse_check_settings, parse_expect

            if "expect" in values:
                expect = parse_expect(self, values["expect"], len(shape) - 1)
            if "check" in values:
                ignore = parse_check_settings(self, values["check"])
        return NetSpec(shape, layers, name, desc, batch, self.file, locs, expect, ignore, convention)

    def input(self, node: Node) -> tuple[tuple[int, ...], int]:
        batch = 1
        if isinstance(node, yaml.MappingNode):
            pairs = self.mapping(node, "input")
            by_key = {k: (kn, vn) for k, kn, vn in pairs}
            for key, knode, _ in pairs:
                if key not in ("shape", "batch"):
                    raise self.unknown_key(knode, key, ["shape", "batch"], "input")
            if "shape" not in by_key:
                raise self.err(node, "input: missing required key 'shape'", code="CC104")
            if "batch" in by_key:
                batch = self.integer(by_key["batch"][1], "input: batch")
            node = by_key["shape"][1]
        if not isinstance(node, yaml.SequenceNode):
            raise self.err(
                node,
                f"input must be a shape list like [3, 32, 32] (channels first, no batch), "
                f"got {describe(node)}",
            )
        items = self.sequence(node, "input shape")
        if not 1 <= len(items) <= MAX_RANK:
            raise self.err(
                node,
                f"input shape must have 1 to {MAX_RANK} entries ([C], [C, L], [C, H, W] or "
                f"[C, D, H, W]), got {len(items)}",
            )
        return tuple(self.integer(n, f"input[{i}]") for i, n in enumerate(items)), batch


def expanded_mappings(node: Node, memo: dict[int, int], depth: int = 0, repeats: bool = True) -> int:
    """How many mappings (layers) lie under ``node``, a node reached through N aliases counting N times.

    Linear in the composed nodes, so an alias bomb is caught before it is walked; the count stops
    just past MAX_LAYERS, and a recursive alias counts once (the walker reports it). With
    ``repeats``, an entry with ``repeat: N`` (or ``vary``/``pow2`` lists of N) counts as its N
    copies and their container; the walker checks that before it makes the copies.
    """
    if depth > 3 * MAX_DEPTH + 3:
        return 0
    key = id(node)
    if key in memo:
        return memo[key]
    memo[key] = 0
    if isinstance(node, yaml.MappingNode):
        total, copies = 1, 0
        for k, v in node.value:
            text = k.value if isinstance(k.value, str) else ""
            if not repeats:
                if type(v) is not yaml.ScalarNode and not text.startswith("x-"):
                    total += expanded_mappings(v, memo, depth + 1, repeats)
            elif text == "repeat" and type(v) is yaml.ScalarNode and v.tag == _INT_TAG and v.value.isdigit():
                copies = int(v.value) if len(v.value) < 20 else MAX_LAYERS + 1
            elif type(v) is yaml.ScalarNode or text.startswith("x-"):
                continue
            elif text == "vary" or _is_pow2(v):  # stack sugar: the copies it asks for, not the mappings
                copies = copies or _sugar_count(v)
            else:
                total += expanded_mappings(v, memo, depth + 1, repeats)
        if copies:  # a repeat container holding the copies
            total = 1 + min(copies, MAX_LAYERS + 1) * total
    elif isinstance(node, yaml.SequenceNode):
        items = (v for v in node.value if type(v) is not yaml.ScalarNode)
        total = sum(expanded_mappings(v, memo, depth + 1, repeats) for v in items)
    else:
        return 0
    memo[key] = min(total, MAX_LAYERS + 1)
    return memo[key]


_SUGAR_KEYS = ("repeat", "vary")
_INT_KINDS = ("int", "ints", "padding")  # the field kinds that take {pow2: [a, b]}
_MAX_POW2 = 62  # 2**62 is the largest power of two that PyTorch's int64 sizes hold


def _is_pow2(node: Node) -> bool:
    """``{pow2: ...}``: the only mapping a layer field's value can be."""
    return type(node) is yaml.MappingNode and any(
        isinstance(k, yaml.ScalarNode) and k.value == "pow2" for k, _ in node.value
    )


#: what :func:`_quick_scalar` returns for a value it leaves to :meth:`_Walker.value`
_SLOW: Any = object()
_new_loc = tuple.__new__  # Loc(line, column) without the named tuple's Python-level __new__


def _quick_scalar(node: yaml.ScalarNode, f: Field) -> Any:
    """A scalar field value in its usual spelling, or ``_SLOW``: a decimal int of the field's
    range (for int, ints and padding fields), a keyword of a choice or padding field, a boolean.
    Everything else, including every value to reject, is left to :meth:`_Walker.value`."""
    kind, tag, text = f.kind, node.tag, node.value
    if tag == _INT_TAG and kind in _INT_KINDS:
        if 0 < len(text) < 19 and text.isdecimal() and (text[0] != "0" or text == "0"):
            value = int(text)
            if value >= f.minimum:
                return value
    elif tag == _STR_TAG and (kind == "choice" or kind == "padding"):
        if text in f.choices:
            return text
    elif tag == _BOOL_TAG and kind == "bool":
        flag = _BOOLS.get(text.lower())
        if flag is not None:
            return flag
    return _SLOW


def _has_sugar(node: yaml.MappingNode) -> bool:
    """Whether a layer mapping repeats: it has ``repeat``/``vary`` or a ``{pow2: ...}`` value."""
    for k, v in node.value:
        key = k.value if type(k) is yaml.ScalarNode else None
        if key in _SUGAR_KEYS or (
            type(v) is yaml.MappingNode and key is not None and not key.startswith("x-") and _is_pow2(v)
        ):
            return True
    return False


def _substituted(
    node: Node, steps: tuple[str | int, ...], key: str, value: Node, knode: Node | None = None
) -> Node:
    """A copy of ``node`` whose layer mapping at ``steps`` has ``key: value`` (the other nodes shared)."""
    if not steps:
        assert isinstance(node, yaml.MappingNode)
        pairs = [(k, v) for k, v in node.value if not (isinstance(k, yaml.ScalarNode) and k.value == key)]
        if len(pairs) == len(node.value):  # a new key: named where the value comes from
            mark = knode or value
            pairs.append((yaml.ScalarNode(_STR_TAG, key, mark.start_mark, mark.end_mark), value))
        else:
            pairs = [
                (k, value if isinstance(k, yaml.ScalarNode) and k.value == key else v) for k, v in node.value
            ]
        return yaml.MappingNode(node.tag, pairs, node.start_mark, node.end_mark, flow_style=node.flow_style)
    head, rest = steps[0], steps[1:]
    if isinstance(node, yaml.SequenceNode):
        assert isinstance(head, int)
        items = list(node.value)
        items[head] = _substituted(items[head], rest, key, value, knode)
        return yaml.SequenceNode(node.tag, items, node.start_mark, node.end_mark, flow_style=node.flow_style)
    assert isinstance(node, yaml.MappingNode)
    pairs = [
        (
            k,
            _substituted(v, rest, key, value, knode)
            if isinstance(k, yaml.ScalarNode) and k.value == head
            else v,
        )
        for k, v in node.value
    ]
    return yaml.MappingNode(node.tag, pairs, node.start_mark, node.end_mark, flow_style=node.flow_style)


def _sugar_count(node: Node) -> int:
    """How many copies a ``vary`` mapping or a ``{pow2: [a, b]}`` value asks for (0: cannot tell)."""
    if not isinstance(node, yaml.MappingNode):
        return 0
    if _is_pow2(node):
        bounds = node.value[0][1]
        if isinstance(bounds, yaml.SequenceNode) and len(bounds.value) == 2:
            texts = [n.value for n in bounds.value if isinstance(n, yaml.ScalarNode) and n.tag == _INT_TAG]
            if len(texts) == 2 and all(re.fullmatch(r"\d{1,4}", t) for t in texts):
                return max(int(texts[1]) - int(texts[0]) + 1, 0)
        return 0
    return max(
        (len(v.value) if isinstance(v, yaml.SequenceNode) else _sugar_count(v) for _, v in node.value),
        default=0,
    )


def describe(node: Node) -> str:
    """A short description of what a node holds, for error messages."""
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    tag = node.tag.rsplit(":", 1)[-1]
    if tag == "null":
        return "nothing (null)"
    value = str(node.value)
    value = clip(value, 40)
    if tag == "str":
        return f"the string '{value}'"
    return f"the {tag} {value}"


def yaml_int(node: yaml.ScalarNode) -> int:
    """The value of an int-tagged scalar, as PyYAML reads it; ValueError if it is not one.

    A base-60 int (``1:30``) with more than 11 colons is at least 60**11 > 2**63 (its first
    part is not 0): it is refused unread, as PyYAML's conversion costs the square of its length.
    """
    if node.value.count(":") > 11:
        raise ValueError("base-60 int beyond int64")
    return int(_constructor.construct_yaml_int(node))


def number_text(node: yaml.ScalarNode) -> str:
    """How a string that looks like a number is described: quoted ones get a hint."""
    if node.style in ("'", '"'):
        return f"the string {node.style}{clip(node.value)}{node.style} (remove the quotes)"
    return describe(node) if node.style else clip(str(node.value))


def clip(text: str, limit: int = 60) -> str:
    """``text`` shortened for an error message (a value from the file may be megabytes long),
    with line breaks and other unprintable characters escaped: a message stays on one line.

    >>> clip("conv2d")
    'conv2d'
    >>> clip("x" * 100, 10)
    'xxxxxxx...'
    >>> print(clip("a\\nb\\t"))
    a\\nb\\t
    """
    if not text[: limit + 1].isprintable():
        text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text[: limit + 1])
    return text if len(text) <= limit else text[: limit - 3] + "..."


def did_you_mean(word: str, options: Any) -> str:
    """A "did you mean" suffix, or ''.

    >>> did_you_mean('kernal_size', ['kernel_size', 'stride'])
    " (did you mean 'kernel_size'?)"
    >>> did_you_mean('Conv2D', ['conv2d'])
    " (did you mean 'conv2d'?)"
    """
    if len(word) > 100:  # nothing is that long; and difflib's cost grows with it
        return ""
    options = list(options)
    lowered = {o.lower(): o for o in options}
    if word.lower() in lowered:
        return f" (did you mean '{lowered[word.lower()]}'?)"
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _decode(data: bytes, file: str) -> str:
    if len(data) > MAX_FILE_BYTES:
        limit = f"{len(data):,} bytes; the limit is {MAX_FILE_BYTES:,}"
        raise SpecError(f"the file is too large ({limit})", Loc(), file, code="CC109")
    if b"\x00" in data:
        raise SpecError("this looks like a binary file, not YAML text (it contains NUL bytes)", Loc(), file)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        start = e.start + (3 if data.startswith(b"\xef\xbb\xbf") else 0)  # utf-8-sig counts after the BOM
        before = data[:start].decode("utf-8-sig")  # valid up to the bad byte; lines end as YAML's do
        bad = f"byte 0x{data[start]:02x}"
        raise SpecError(f"the file is not valid UTF-8 ({bad})", _loc_at(before, len(before)), file) from None


def compose(text: str, file: str = "<string>") -> Node | None:
    """Compose YAML text into nodes, turning YAML errors into :class:`SpecError`.

    The nodes are built here from the parser's events, in a loop: libyaml's own composer
    recurses in C and crashes the interpreter on some ten thousand nested brackets.
    """
    try:
        loader = _CachedLoader(text)
    except UnicodeEncodeError as e:  # a lone surrogate in a str
        raise SpecError(f"invalid text: {e.reason}", _loc_at(text, e.start), file) from None
    try:
        return loader.get_single_node() if _plain(text) else _compose_events(loader, file)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        loc = _within(text, Loc(mark.line + 1, mark.column + 1)) if mark else Loc()
        problem = e.problem or e.context or "invalid YAML"
        if "maximum nesting depth" in problem:  # libyaml >= 0.2.5 stops at the same depth itself
            too_deep = f"YAML nested deeper than {MAX_YAML_DEPTH} levels"
            raise SpecError(too_deep, loc, file, code="CC109") from None
        if "cannot start any token" in problem and _char_at(text, loc) == "\t":
            problem += " (a tab: YAML indents with spaces only)"
        raise SpecError(f"invalid YAML: {problem}", loc, file) from None
    except yaml.reader.ReaderError as e:  # a control character; its position may count bytes
        bad = chr(e.character) if isinstance(e.character, int) else str(e.character)
        loc = _loc_at(text, text.find(bad)) if bad in text else Loc()
        code = f"#x{ord(bad[:1] or ' '):04x}"
        raise SpecError(f"invalid YAML: {e.reason} (character {code})", loc, file) from None
    except yaml.YAMLError as e:
        raise SpecError(f"invalid YAML: {str(e).splitlines()[0]}", Loc(), file) from None
    finally:
        loader.dispose()
        if len(text) > _CACHE_TEXT_LIMIT:
            _resolve_tag.cache_clear()


_RESOLVER = yaml.resolver.Resolver()  # the loader's own (implicit tags only, no path resolvers)
assert not _Loader.yaml_path_resolvers, "the resolver hooks below assume no path resolvers"
#: texts longer than this empty the tag cache after composing (see _CachedLoader)
_CACHE_TEXT_LIMIT = 4096


@functools.lru_cache(maxsize=1024)
def _resolve_tag(kind: Any, value: Any, implicit: Any) -> Any:
    """The resolver's tag for a node (the same for the same arguments: only regexes decide)."""
    return _RESOLVER.resolve(kind, value, implicit)  # type: ignore[no-untyped-call]


class _CachedLoader(_Loader):
    """The loader with its per-node resolver hooks made cheap, for the composer calls three
    of them on every node, in Python, and they cost a fifth of composing.

    ``resolve`` goes through :func:`_resolve_tag`, an ``lru_cache`` whose hits never enter
    Python (a spec repeats its keys and numbers). ``descend_resolver`` and ``ascend_resolver``
    track the node path for path resolvers, which this loader has none of (their own first
    line returns then): they become C-level no-ops of the same arity. The cache holds at most
    1024 values, each from a text of at most ``_CACHE_TEXT_LIMIT`` characters (a longer text
    empties it when composed), so it keeps little memory whatever the input.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        # instance attributes, looked up before the class's methods; the C composer ignores results
        hooks = vars(self)
        hooks["resolve"] = _resolve_tag
        hooks["descend_resolver"] = _NO_PATHS.get  # (parent, index) -> index, no side effect
        hooks["ascend_resolver"] = ().__len__  # () -> 0


_NO_PATHS: dict[Any, Any] = {}


def _plain(text: str) -> bool:
    """Whether PyYAML's own (C) composer may build this text's nodes: a file of ordinary size
    with no anchors, aliases, tags, directives or second document, whose nesting cannot reach
    the depth where that composer's recursion becomes a danger (a block nesting d deep needs
    d*(d-1)/2 indenting spaces, so under 100,000 characters it stays below 450; flow nesting
    is at most the number of brackets). Everything else goes through :func:`_compose_events`,
    which builds the same nodes in a loop and says more about what is wrong.
    """
    return (
        len(text) <= 100_000
        and text.count("[") + text.count("{") <= 500
        and not any(c in text for c in "&*!%")
        and "\n---" not in text
        and "..." not in text
    )


def _compose_events(loader: Any, file: str) -> Node | None:
    events = yaml.events
    get, resolve = loader.get_event, loader.resolve
    anchors: dict[str, Node] = {}
    stack: list[list[Any]] = []  # [open collection node, its pending mapping key or None]
    root: Node | None = None
    documents = 0
    while True:
        ev = get()
        cls = type(ev)
        node: Node
        if cls is events.ScalarEvent:
            tag = ev.tag if ev.tag not in (None, "!") else resolve(yaml.ScalarNode, ev.value, ev.implicit)
            node = yaml.ScalarNode(tag, ev.value, ev.start_mark, ev.end_mark, style=ev.style)
        elif cls is events.SequenceStartEvent or cls is events.MappingStartEvent:
            kind = yaml.SequenceNode if cls is events.SequenceStartEvent else yaml.MappingNode
            tag = ev.tag if ev.tag not in (None, "!") else resolve(kind, None, ev.implicit)
            node = kind(tag, [], ev.start_mark, ev.end_mark, flow_style=ev.flow_style)
            _anchor(anchors, ev, node, file)
            stack.append([node, None])
            if len(stack) > MAX_YAML_DEPTH:
                too_deep = f"YAML nested deeper than {MAX_YAML_DEPTH} levels"
                raise SpecError(too_deep, _mark(ev), file, code="CC109")
            continue
        elif cls is events.SequenceEndEvent or cls is events.MappingEndEvent:
            node = stack.pop()[0]
            node.end_mark = ev.end_mark
        elif cls is events.AliasEvent:
            if ev.anchor not in anchors:
                problem = f"alias '*{ev.anchor}' has no anchor '&{ev.anchor}' before it"
                raise SpecError(f"invalid YAML: {problem}", _mark(ev), file)
            node = anchors[ev.anchor]
        elif cls is events.DocumentStartEvent:
            documents += 1
            if documents > 1:
                raise SpecError(
                    "the file holds more than one YAML document (a second '---'); a spec is one document",
                    _mark(ev),
                    file,
                )
            continue
        elif cls is events.StreamEndEvent:
            return root
        else:  # stream start, document end
            continue
        if cls is events.ScalarEvent:
            _anchor(anchors, ev, node, file)
        if not stack:
            root = node
            continue
        top = stack[-1]
        if type(top[0]) is yaml.SequenceNode:
            top[0].value.append(node)
        elif top[1] is None:
            top[1] = node
        else:
            top[0].value.append((top[1], node))
            top[1] = None


def _anchor(anchors: dict[str, Node], ev: Any, node: Node, file: str) -> None:
    if ev.anchor is not None:
        if ev.anchor in anchors:
            first = loc_of(anchors[ev.anchor]).line
            problem = f"anchor '&{ev.anchor}' is defined twice (first at line {first})"
            raise SpecError(f"invalid YAML: {problem}", _mark(ev), file)
        anchors[ev.anchor] = node


def _mark(ev: Any) -> Loc:
    return Loc(ev.start_mark.line + 1, ev.start_mark.column + 1)


def _loc_at(text: str, index: int) -> Loc:
    """The line and column of a character index, counting line breaks as YAML does."""
    breaks = list(_LINE_BREAK.finditer(text, 0, index))
    line_start = breaks[-1].end() if breaks else 0
    return Loc(len(breaks) + 1, index - line_start + 1)


def _within(text: str, loc: Loc) -> Loc:
    """``loc``, or the end of the text for libyaml's end-of-stream mark on the line after the last."""
    lines = _LINE_BREAK.split(text)
    return loc if loc.line <= len(lines) else Loc(len(lines), len(lines[-1]) + 1)


def _char_at(text: str, loc: Loc) -> str:
    lines = text.split("\n", loc.line)
    line = lines[loc.line - 1] if loc.line <= len(lines) else ""
    return line[loc.column - 1 : loc.column]


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many small acyclic objects.

    Composing and walking a 10,000-layer file allocates millions of nodes; the collector's
    repeated full passes over them made the cost grow faster than the file. Nothing built here
    forms cycles, so pausing it changes no result, only the time.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def parse(source: str | bytes, file: str = "<string>") -> NetSpec:
    """Validate YAML text (or bytes) into a :class:`NetSpec`."""
    with paused_gc():
        try:
            text = _decode(source, file) if isinstance(source, bytes) else source
            if isinstance(source, str) and len(source) > MAX_FILE_BYTES:  # text given directly
                limit = f"{len(source):,} characters; the limit is {MAX_FILE_BYTES:,}"
                raise SpecError(f"the text is too large ({limit})", Loc(), file, code="CC109")
            if isinstance(source, str) and "\x00" in source:
                binary = "this looks like a binary file, not YAML text (it contains NUL bytes)"
                raise SpecError(binary, Loc(), file)
            node = compose(text, file)
        except SpecError as e:
            if e.code == DEFAULT_CODE:  # the text itself: encoding, YAML syntax, anchors, documents
                e.code = "CC101"
            raise
        try:
            return _Walker(file, aliases="*" in text).document(node)
        except RecursionError:
            raise SpecError("the document is nested too deeply", Loc(), file, code="CC109") from None
