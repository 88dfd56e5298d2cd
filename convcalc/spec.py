"""YAML text -> nodes with line/column -> validated, frozen spec.

The loader composes the YAML into nodes (the C loader when available), walks them, and
checks every value against the fields that the layer registry declares. Nothing here
computes shapes: that is :mod:`convcalc.analyze`.
"""

from __future__ import annotations

import difflib
import gc
import math
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Union

import yaml

from .errors import Loc, SpecError

try:  # the C loader is several times faster on big files
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

MAX_FILE_BYTES = 16 * 1024 * 1024
MAX_DEPTH = 64
MAX_LAYERS = 200_000
MAX_RANK = 4  # [C, D, H, W]

Node = yaml.Node
_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_BOOL_TAG = "tag:yaml.org,2002:bool"
_STR_TAG = "tag:yaml.org,2002:str"
_NULL_TAG = "tag:yaml.org,2002:null"
_NUMBER_LIKE = re.compile(r"^\s*[-+]?(\d[\d_]*(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*$")
_constructor = yaml.constructor.SafeConstructor()

REQUIRED: Any = object()

# Padding as validated: a keyword, one int for every axis, or (left, right) per axis.
Padding = Union[str, int, tuple[tuple[int, int], ...]]


@dataclass(frozen=True)
class Field:
    """One key of a layer mapping, as the registry declares it."""

    name: str
    kind: str  # int | ints | padding | bool | float | choice | str | layers | branches
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

    @property
    def dotted(self) -> str:
        """The path as PyTorch's ``state_dict`` would prefix it: ``0.layers.1``."""
        return ".".join(str(p) for p in self.path)

    @property
    def label(self) -> str:
        named = f" '{self.name}'" if self.name else ""
        return f"layer {self.dotted}{named} ({self.type})"

    def error(self, message: str, key: str | None = None) -> SpecError:
        """An error about this layer, at the line of ``key`` when given."""
        loc = self.locs.get(key, self.loc) if key else self.loc
        return SpecError(f"{self.label}: {message}", loc, self.file, self.path)

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


class _Walker:
    """Walks composed YAML nodes into a :class:`NetSpec`, raising :class:`SpecError`."""

    def __init__(self, file: str) -> None:
        from .layers import REGISTRY

        self.file = file
        self.registry = REGISTRY
        self.count = 0

    # -- errors -------------------------------------------------------------------------
    def err(self, node: Node, message: str, path: tuple[str | int, ...] = ()) -> SpecError:
        return SpecError(message, loc_of(node), self.file, path)

    # -- generic node checks ------------------------------------------------------------
    def mapping(self, node: Node, what: str) -> list[tuple[str, Node, Node]]:
        """(key, key node, value node) of a mapping, rejecting duplicate and non-string keys."""
        if not isinstance(node, yaml.MappingNode):
            raise self.err(node, f"{what} must be a mapping, got {describe(node)}")
        seen: dict[str, Node] = {}
        items: list[tuple[str, Node, Node]] = []
        for knode, vnode in node.value:
            if not isinstance(knode, yaml.ScalarNode) or knode.tag != _STR_TAG:
                raise self.err(knode, f"{what}: keys must be strings, got {describe(knode)}")
            key = knode.value
            if key in seen:
                first = loc_of(seen[key])
                raise self.err(
                    knode, f"{what}: duplicate key '{key}' (first given at line {first.line})"
                )
            seen[key] = knode
            items.append((key, knode, vnode))
        return items

    def unknown_key(self, knode: Node, key: str, known: list[str], what: str) -> SpecError:
        return self.err(knode, f"{what}: unknown key '{key}'{did_you_mean(key, known)}")

    # -- scalars ------------------------------------------------------------------------
    def integer(self, node: Node, what: str, minimum: float = 1) -> int:
        if isinstance(node, yaml.ScalarNode):
            if node.tag == _INT_TAG:
                value = int(_constructor.construct_yaml_int(node))
                if value < minimum:
                    need = "positive" if minimum == 1 else f">= {int(minimum)}"
                    raise self.err(node, f"{what} must be {need}, got {value}")
                return value
            if node.tag == _BOOL_TAG:
                raise self.err(node, f"{what} must be an integer, got the boolean {node.value}")
            if node.tag == _FLOAT_TAG:
                raise self.err(node, f"{what} must be an integer, got the float {node.value}")
            if node.tag == _STR_TAG and _NUMBER_LIKE.match(node.value):
                raise self.err(
                    node,
                    f"{what} must be an integer, got the string '{node.value}' (remove the quotes)",
                )
        raise self.err(node, f"{what} must be an integer, got {describe(node)}")

    def boolean(self, node: Node, what: str) -> bool:
        if isinstance(node, yaml.ScalarNode) and node.tag == _BOOL_TAG:
            return bool(_constructor.construct_yaml_bool(node))
        raise self.err(node, f"{what} must be true or false, got {describe(node)}")

    def number(self, node: Node, what: str, lo: float, hi: float | None) -> float:
        if isinstance(node, yaml.ScalarNode) and node.tag in (_INT_TAG, _FLOAT_TAG):
            if node.tag == _INT_TAG:
                value = float(_constructor.construct_yaml_int(node))
            else:
                value = float(_constructor.construct_yaml_float(node))
            if not math.isfinite(value) or value < lo or (hi is not None and value > hi):
                rng = f"in [{lo:g}, {hi:g}]" if hi is not None else f">= {lo:g}"
                raise self.err(node, f"{what} must be a number {rng}, got {node.value}")
            return value
        if isinstance(node, yaml.ScalarNode) and node.tag == _STR_TAG:
            if _NUMBER_LIKE.match(node.value):
                raise self.err(
                    node, f"{what} must be a number, got the string '{node.value}' (remove the quotes)"
                )
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
                node, f"{what} must be one of {options}, got '{value}'{did_you_mean(value, choices)}"
            )
        return value

    def sequence(self, node: Node, what: str) -> list[Node]:
        if not isinstance(node, yaml.SequenceNode):
            raise self.err(node, f"{what} must be a list, got {describe(node)}")
        return list(node.value)

    def ints(self, node: Node, what: str, ndim: int | None, minimum: float) -> int | tuple[int, ...]:
        """An int, or one int per spatial axis."""
        if isinstance(node, yaml.SequenceNode):
            items = node.value
            if ndim is not None and len(items) != ndim:
                raise self.err(node, f"{what} needs {ndim} values (one per spatial axis), got {len(items)}")
            if not items or len(items) > MAX_RANK:
                raise self.err(node, f"{what}: a per-axis list needs 1 to {MAX_RANK - 1} values")
            return tuple(self.integer(n, f"{what}[{i}]", minimum) for i, n in enumerate(items))
        return self.integer(node, what, minimum)

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
                    f"{what} must be an integer, a per-axis list{hint}; got '{value}'"
                    f"{did_you_mean(value, f.choices)}",
                )
        if isinstance(node, yaml.SequenceNode) and any(
            isinstance(n, yaml.SequenceNode) for n in node.value
        ):
            if not f.pairs:
                raise self.err(node, f"{what}: this layer takes symmetric padding only (no [left, right] pairs)")
            items = node.value
            if ndim is not None and len(items) != ndim:
                raise self.err(node, f"{what} needs {ndim} entries (one per spatial axis), got {len(items)}")
            if len(items) > MAX_RANK:
                raise self.err(node, f"{what}: too many axes ({len(items)})")
            pairs = []
            for i, item in enumerate(items):
                if isinstance(item, yaml.SequenceNode):
                    if len(item.value) != 2:
                        raise self.err(item, f"{what}[{i}] must be [left, right], got {len(item.value)} values")
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
    def layers(self, node: Node, path: tuple[str | int, ...], depth: int, what: str = "layers") -> tuple[Layer, ...]:
        if depth > MAX_DEPTH:
            raise self.err(node, f"nesting deeper than {MAX_DEPTH} levels (a recursive alias?)")
        items = self.sequence(node, what)
        return tuple(self.layer(n, path + (i,), depth) for i, n in enumerate(items))

    def layer(self, node: Node, path: tuple[str | int, ...], depth: int) -> Layer:
        self.count += 1
        if self.count > MAX_LAYERS:
            raise self.err(node, f"too many layers (more than {MAX_LAYERS:,})")
        dotted = ".".join(str(p) for p in path)
        where = f"layer {dotted}"
        if not isinstance(node, yaml.MappingNode):
            raise self.err(node, f"{where} must be a mapping with a 'type', got {describe(node)}", path)
        items = self.mapping(node, where)
        by_key = {k: (kn, vn) for k, kn, vn in items}
        name: str | None = None
        if "name" in by_key:
            name = self.string(by_key["name"][1], f"{where}: name")
            where = f"{where} '{name}'"
        if "type" not in by_key:
            raise self.err(node, f"{where}: missing required key 'type'", path)
        tnode = by_key["type"][1]
        type_name = self.string(tnode, f"{where}: type")
        kind = self.registry.get(type_name)
        if kind is None:
            raise self.err(
                tnode,
                f"{where}: unknown layer type '{type_name}'{did_you_mean(type_name, self.registry)}",
                path,
            )
        where = f"{where} ({type_name})"
        fields = {f.name: f for f in kind.fields}
        opts: dict[str, Any] = {}
        locs: dict[str, Loc] = {}
        for key, knode, vnode in items:
            if key in ("type", "name") or key.startswith("x-"):
                continue
            f = fields.get(key)
            if f is None:
                raise self.unknown_key(knode, key, ["type", "name", *fields], where)
            locs[key] = loc_of(vnode)
            opts[key] = self.value(vnode, f, f"{where}: {key}", kind.ndim, path + (key,), depth)
        for f in kind.fields:
            if f.name not in opts:
                if f.required:
                    raise self.err(node, f"{where}: missing required key '{f.name}'", path)
                opts[f.name] = f.default
        return Layer(type_name, name, path, loc_of(node), opts, locs, self.file)

    def value(self, node: Node, f: Field, what: str, ndim: int | None, path: tuple[str | int, ...], depth: int) -> Any:
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
            return tuple(self.layers(b, path + (i,), depth + 1, f"{what}[{i}]") for i, b in enumerate(items))
        raise AssertionError(f"unknown field kind {kind}")  # pragma: no cover

    # -- the document -------------------------------------------------------------------
    def document(self, node: Node | None) -> NetSpec:
        if node is None:
            raise SpecError("the file is empty: expected a mapping with 'input' and 'layers'", Loc(), self.file)
        items = self.mapping(node, "the document")
        known = ["name", "description", "input", "layers"]
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
                raise self.err(node, f"the document: missing required key '{key}'")
        name = self.string(values["name"], "name") if "name" in values else None
        desc = self.string(values["description"], "description") if "description" in values else None
        shape, batch = self.input(values["input"])
        layers = self.layers(values["layers"], (), 0)
        return NetSpec(shape, layers, name, desc, batch, self.file, locs)

    def input(self, node: Node) -> tuple[tuple[int, ...], int]:
        batch = 1
        if isinstance(node, yaml.MappingNode):
            pairs = self.mapping(node, "input")
            by_key = {k: (kn, vn) for k, kn, vn in pairs}
            for key, knode, _ in pairs:
                if key not in ("shape", "batch"):
                    raise self.unknown_key(knode, key, ["shape", "batch"], "input")
            if "shape" not in by_key:
                raise self.err(node, "input: missing required key 'shape'")
            if "batch" in by_key:
                batch = self.integer(by_key["batch"][1], "input: batch")
            node = by_key["shape"][1]
        if not isinstance(node, yaml.SequenceNode):
            raise self.err(
                node,
                f"input must be a shape list like [3, 32, 32] (channels first, no batch), got {describe(node)}",
            )
        items = self.sequence(node, "input shape")
        if not 1 <= len(items) <= MAX_RANK:
            raise self.err(
                node,
                f"input shape must have 1 to {MAX_RANK} entries ([C], [C, L], [C, H, W] or "
                f"[C, D, H, W]), got {len(items)}",
            )
        return tuple(self.integer(n, f"input[{i}]") for i, n in enumerate(items)), batch


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
    if len(value) > 40:
        value = value[:37] + "..."
    if tag == "str":
        return f"the string '{value}'"
    return f"the {tag} {value}"


def did_you_mean(word: str, options: Any) -> str:
    """A "did you mean" suffix, or ''.

    >>> did_you_mean('kernal_size', ['kernel_size', 'stride'])
    " (did you mean 'kernel_size'?)"
    >>> did_you_mean('Conv2D', ['conv2d'])
    " (did you mean 'conv2d'?)"
    """
    options = list(options)
    lowered = {o.lower(): o for o in options}
    if word.lower() in lowered:
        return f" (did you mean '{lowered[word.lower()]}'?)"
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _decode(data: bytes, file: str) -> str:
    if len(data) > MAX_FILE_BYTES:
        limit = f"{len(data):,} bytes; the limit is {MAX_FILE_BYTES:,}"
        raise SpecError(f"the file is too large ({limit})", Loc(), file)
    if b"\x00" in data:
        raise SpecError("this looks like a binary file, not YAML text (it contains NUL bytes)", Loc(), file)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        col = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        bad = f"byte 0x{data[e.start]:02x}"
        raise SpecError(f"the file is not valid UTF-8 ({bad})", Loc(line, col), file) from None


def compose(text: str, file: str = "<string>") -> Node | None:
    """Compose YAML text into nodes, turning YAML errors into :class:`SpecError`."""
    try:
        return yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        loc = Loc(mark.line + 1, mark.column + 1) if mark else Loc()
        problem = e.problem or e.context or "invalid YAML"
        raise SpecError(f"invalid YAML: {problem}", loc, file) from None
    except yaml.YAMLError as e:  # e.g. a reader error on control characters
        mark = getattr(e, "position", None)
        raise SpecError(f"invalid YAML: {e}", Loc(), file) from None
    except RecursionError:
        raise SpecError("invalid YAML: nested too deeply", Loc(), file) from None


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
    text = _decode(source, file) if isinstance(source, bytes) else source
    if isinstance(source, str) and "\x00" in source:
        raise SpecError("this looks like a binary file, not YAML text (it contains NUL bytes)", Loc(), file)
    with paused_gc():
        node = compose(text, file)
        try:
            return _Walker(file).document(node)
        except RecursionError:
            raise SpecError("the document is nested too deeply", Loc(), file) from None
