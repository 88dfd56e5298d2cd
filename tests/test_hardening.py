"""Hostile input: size and nesting limits, alias bombs, odd bytes, huge values, mutated examples.

Every case must end in a SpecError whose line lies inside the file (or a report), quickly and in
bounded memory: never another exception, a hang or a crash. The basic error messages are
tests/test_errors.py's; these tests are about limits and input built to hurt.
"""

from __future__ import annotations

import re
import time
import traceback
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import ROOT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mutations import mutation
from typer.testing import CliRunner

import convcalc.spec
from convcalc.analyze import analyze
from convcalc.cli import app
from convcalc.errors import SpecError
from convcalc.report import Report
from convcalc.spec import MAX_DEPTH, MAX_FILE_BYTES, MAX_LAYERS, MAX_YAML_DEPTH, parse

EXAMPLES = sorted((ROOT / "specs" / "examples").glob("*.yaml"))
LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")  # what YAML counts as a line break
RELU = "{type: relu}"


def run(source: str | bytes, file: str = "h.yaml") -> Report:
    """The report of ``source``; any error's traceback starts here.

    pytest prints the arguments of every frame of a failure, and the repr of an alias bomb's
    YAML nodes expands it (gigabytes): the loader's frames are cut off, a bug's kept as text.
    """
    try:
        return analyze(parse(source, file))
    except SpecError as e:
        raise e.with_traceback(None) from None
    except Exception as e:
        where = "".join(traceback.format_tb(e.__traceback__)[-4:])
        raise AssertionError(f"not a SpecError: {type(e).__name__}: {e}\n{where}") from None


def fails(source: str | bytes, match: str) -> SpecError:
    """The SpecError of ``source``; it must match and point at a line and column inside the text."""
    with pytest.raises(SpecError, match=match) as info:
        run(source)
    inside(info.value, source)
    return info.value


def inside(err: SpecError, source: str | bytes) -> None:
    text = source.decode("utf-8", "replace") if isinstance(source, bytes) else source
    lines = LINE_BREAK.split(text.removeprefix("\ufeff"))
    assert 1 <= err.line <= len(lines), (err.render()[:200], len(lines))
    assert 1 <= err.column <= len(lines[err.line - 1]) + 1, err.render()[:200]
    assert len(err.message) < 500, err.message[:200]  # values from the file are clipped


@contextmanager
def budget(seconds: float) -> Iterator[None]:
    start = time.perf_counter()
    yield
    assert time.perf_counter() - start < seconds, f"took more than {seconds} s"


def line_of(text: str, needle: str) -> int:
    return text.count("\n", 0, text.index(needle)) + 1


# -- limits ------------------------------------------------------------------------------------


def test_file_size_limit_on_bytes_and_text() -> None:
    head = b"input: [1, 8]\nlayers: []\n"
    at_limit = head + b"#" * (MAX_FILE_BYTES - len(head) - 1) + b"\n"
    with budget(5):
        assert run(at_limit).output_shape == (1, 8)
    over = at_limit + b"\n"
    err = fails(over, rf"^h\.yaml:1:1: error: the file is too large \({len(over):,} bytes; the limit is")
    assert err.line == 1
    fails(over.decode(), r"the text is too large \(.* characters; the limit is")


def test_file_size_limit_through_the_cli(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(b"input: [1]\nlayers: []\n" + b" " * MAX_FILE_BYTES)
    result = CliRunner().invoke(app, ["shape", str(path)])
    assert result.exit_code == 1
    assert re.fullmatch(rf"{re.escape(str(path))}:1:1: error: the file is too large \(.*\)\n", result.output)


def test_layer_limit_counts_nested_layers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(convcalc.spec, "MAX_LAYERS", 20)
    flat = "input: [1, 8]\nlayers:\n" + f"  - {RELU}\n" * 20
    assert len(run(flat).layers) == 20
    # without aliases the walk itself stops at the first layer past the limit
    err = fails(flat + f"  - {RELU}\n", r"too many layers: more than 20 layers")
    assert err.line == 23
    nested = "input: [1, 8]\nlayers:\n  - type: sequential\n    layers:\n" + f"      - {RELU}\n" * 20
    fails(nested, r"more than 20 layers")  # 21 with the container


def test_layer_limit_at_its_real_size_via_aliases() -> None:
    """MAX_LAYERS itself, reached by a spec that lists a 1,000-layer block again and again."""
    block = "x-b: &b\n" + f"  - {RELU}\n" * 1000
    uses = MAX_LAYERS // 1001
    seq = "{type: sequential, layers: *b}"
    ok = f"input: [1, 8]\n{block}layers:\n" + f"  - {seq}\n" * uses
    with budget(60):
        assert run(ok).output_shape == (1, 8)
    text = ok + f"  - {seq}\n"
    with budget(2):
        err = fails(text, rf"layers: more than {MAX_LAYERS:,} layers")
    assert err.line == line_of(text, "layers:\n")


@pytest.mark.parametrize(
    ("key", "wrap"),
    [
        ("layers", lambda inner: f"[{{type: sequential, layers: {inner}}}]"),
        ("branches", lambda inner: f"[{{type: parallel, branches: [{inner}]}}]"),
        ("shortcut", lambda inner: f"[{{type: residual, layers: [], shortcut: {inner}}}]"),
    ],
)
def test_depth_limit_through_every_container_key(key: str, wrap: Callable[[str], str]) -> None:
    def nest(depth: int) -> str:
        inner = f"[{RELU}]"
        for _ in range(depth):
            inner = wrap(inner)
        return f"input: [1, 8]\nlayers:\n  {inner}\n"

    assert run(nest(MAX_DEPTH)).output_shape == (1, 8)
    text = nest(MAX_DEPTH + 1)
    err = fails(text, rf"nesting deeper than {MAX_DEPTH} levels")
    assert err.line == 3
    line = text.splitlines()[2]  # the error is at a layer list inside MAX_DEPTH + 1 containers
    assert line[err.column - 1] == "["
    assert line[: err.column].count("type:") == MAX_DEPTH + 1


@pytest.mark.parametrize(
    "deep",
    [
        "[" * 100_000 + "]" * 100_000,
        "[" * 100_000,  # never closed
        "{a: " * 100_000 + "1" + "}" * 100_000,
        "[{a: " * 50_000,
        "[{type: sequential, layers: " * 20_000,
    ],
    ids=["brackets", "unclosed", "braces", "mixed", "containers"],
)
def test_deep_flow_collections_inside_layers(deep: str) -> None:
    """100,000 nested brackets where layers belong: a SpecError at the limit, not a RecursionError."""
    text = f"input: [1, 8]\nlayers: {deep}\n"
    with budget(2):
        err = fails(text, rf"YAML nested deeper than {MAX_YAML_DEPTH} levels")
    assert err.line == 2


def test_nesting_just_under_the_yaml_limit_is_walked_without_recursion_error() -> None:
    text = (
        "input: [1, 8]\nx-deep: " + "[" * (MAX_YAML_DEPTH - 1) + "]" * (MAX_YAML_DEPTH - 1) + "\nlayers: []\n"
    )
    assert run(text).output_shape == (1, 8)
    text = "input: [1, 8]\nlayers: " + "[" * (MAX_YAML_DEPTH - 1) + "]" * (MAX_YAML_DEPTH - 1) + "\n"
    fails(text, r"layer 0 must be a mapping with a 'type', got a list")


# -- alias bombs -------------------------------------------------------------------------------


def laughs(levels: int, leaf: str, a: str = "l") -> tuple[str, str]:
    """Anchors {a}0..{a}{levels-1} under x- keys, each a list of ten of the previous: 10**levels
    leaves once expanded; and the alias of the last."""
    lines = [f"x-{a}0: &{a}0 [{', '.join([leaf] * 10)}]"]
    lines += [f"x-{a}{i}: &{a}{i} [{', '.join([f'*{a}{i - 1}'] * 10)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n", f"*{a}{levels - 1}"


@contextmanager
def peak_memory(limit_mb: float) -> Iterator[None]:
    tracemalloc.start()
    try:
        yield
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < limit_mb * 2**20, f"peak {peak / 2**20:.1f} MiB"


@pytest.mark.parametrize(
    ("use", "message"),
    [
        ("x-bomb: {bomb}\nlayers: [{relu}]", None),
        ("input: {bomb}\nlayers: []", r"input shape must have 1 to 4 entries"),
        ("layers: {bomb}", rf"more than {MAX_LAYERS:,} layers"),
        ("layers: [{{type: sequential, layers: {bomb}}}]", rf"more than {MAX_LAYERS:,} layers"),
        ("layers: [{{type: parallel, branches: [{bomb}, {bomb}]}}]", rf"more than {MAX_LAYERS:,} layers"),
        ("layers: [{{type: residual, layers: [], shortcut: {bomb}}}]", rf"more than {MAX_LAYERS:,} layers"),
        ("layers: [{{type: relu, x-notes: {bomb}}}]", None),
        ("name: {bomb}\nlayers: []", r"name must be a string, got a list"),
        (
            "layers: [{{type: conv1d, out_channels: 1, kernel_size: {bomb}}}]",
            rf"more than {MAX_LAYERS:,} layers",
        ),
        ("layers: [{{type: conv1d, out_channels: 1, kernel_size: {ints}}}]", r"needs 1 values .*got 10"),
        ("layers: [{{type: pad, padding: {ints}}}]", r"padding: too many axes \(10\)"),
    ],
)
def test_billion_laughs(use: str, message: str | None) -> None:
    layers, bomb = laughs(9, RELU)  # 10**9 relu layers once expanded
    numbers, ints = laughs(9, "1", "n")  # 10**9 ones
    text = ("" if use.startswith("input:") else "input: [1, 8]\n") + layers + numbers
    text += use.format(bomb=bomb, relu=RELU, ints=ints) + "\n"
    with budget(1), peak_memory(16):
        if message is None:
            assert run(text).output_shape == (1, 8)
        else:
            fails(text, message)


def test_alias_bomb_of_mappings_inside_a_layer_list() -> None:
    """Each level a layer holding ten of the previous level: the count is caught before walking."""
    lines = ["x-s0: &s0 {type: relu}"]
    lines += [
        f"x-s{i}: &s{i} {{type: sequential, layers: [{', '.join([f'*s{i - 1}'] * 10)}]}}"
        for i in range(1, 12)
    ]
    text = "input: [1, 8]\n" + "\n".join(lines) + "\nlayers: [*s11]\n"
    with budget(1), peak_memory(16):
        err = fails(text, rf"more than {MAX_LAYERS:,} layers")
    assert err.line == line_of(text, "layers: [*s11]")


def test_a_layer_used_through_many_aliases_below_the_limit() -> None:
    lines = ["x-s0: &s0 {type: conv1d, out_channels: 1, kernel_size: 1}"]
    lines += [
        f"x-s{i}: &s{i} {{type: sequential, layers: [{', '.join([f'*s{i - 1}'] * 10)}]}}" for i in range(1, 5)
    ]
    text = "input: [1, 8]\n" + "\n".join(lines) + "\nlayers: [*s4]\n"  # 10,000 convs, 1,111 containers
    with budget(10):
        report = run(text)
    assert report.total_params == 10_000 * 2


# -- bytes, characters and line endings --------------------------------------------------------

SPEC = "name: n\ninput: [1, 8]\nx-note: a\nlayers:\n  - {type: conv1d, out_channels: 2, kernel_size: 3}\n"
SPEC += "  - {type: relux}\n"


@pytest.mark.parametrize(
    "encode",
    [
        lambda t: t.encode(),
        lambda t: t.replace("\n", "\r\n").encode(),
        lambda t: t.replace("\n", "\r").encode(),
        lambda t: b"\xef\xbb\xbf" + t.replace("\n", "\r\n").encode(),
        lambda t: "\ufeff" + t,
        lambda t: t.replace("\n", "\r\n"),
        lambda t: t.replace("\n", " \t\n"),  # trailing whitespace with tabs
    ],
    ids=["lf", "crlf", "cr", "bom-crlf", "bom-str", "crlf-str", "trailing-tabs"],
)
def test_line_numbers_survive_line_endings_and_bom(encode: Callable[[str], str | bytes]) -> None:
    err = fails(encode(SPEC), r"unknown layer type 'relux'")
    assert (err.line, err.column) == (6, 12)


def test_mixed_line_endings() -> None:
    text = "input: [1, 8]\r\nx-a: 1\rx-b: 2\nlayers:\r\n  - {type: relux}\n"
    err = fails(text.encode(), r"unknown layer type 'relux'")
    assert (err.line, err.column) == (5, 12)


@pytest.mark.parametrize(
    ("data", "message", "where"),
    [
        (b"input: [1, 8]\nlayers: []\n\x00\x00", r"binary file.*NUL bytes", (1, 1)),
        ("input: [1, 8]\nlayers: []\n".encode("utf-16"), r"binary file", (1, 1)),
        ("input: [1, 8]\nlayers: []\n".encode("utf-32"), r"binary file", (1, 1)),
        (b"\xff\xfe\xfd", r"not valid UTF-8 \(byte 0xff\)", (1, 1)),
        (b"input: [1, 8]\nname: \xc0\xaf\nlayers: []\n", r"not valid UTF-8 \(byte 0xc0\)", (2, 7)),
        (b"input: [1, 8]\nname: \xed\xa0\x80\nlayers: []\n", r"not valid UTF-8 \(byte 0xed\)", (2, 7)),
        (b"input: [1, 8]\r\nx: 1\r\nname: ok\xe9\r\n", r"not valid UTF-8 \(byte 0xe9\)", (3, 9)),
        (bytes(range(1, 256)), r"not valid UTF-8|invalid YAML", None),
        (b"\x1b[31minput\x1b[0m: [1]\nlayers: []\n", r"invalid YAML: .*character #x001b", (1, 1)),
        (b"input: [1]\nlayers: []\n\x7f\x7f", r"invalid YAML", None),
    ],
    ids=["nul", "utf16", "utf32", "ff", "overlong", "surrogate", "crlf-latin1", "all-bytes", "ansi", "del"],
)
def test_binary_and_bad_encodings(data: bytes, message: str, where: tuple[int, int] | None) -> None:
    with budget(1):
        err = fails(data, message)
    if where:
        assert (err.line, err.column) == where


def test_nul_in_text() -> None:
    fails("input: [1, 8]\nlayers: []\nx: \x00\n", r"binary file.*NUL bytes")


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("input:\t[1, 8]\nlayers:\t[{type:\trelu}]\t# tabs between tokens\n", True),
        ("input: [1, 8]\nlayers:\n  - {type: relu,\n\tname: a}\n", True),  # a tab inside flow
        ("input: [1, 8]\nlayers:\n\t- {type: relu}\n", False),
        ("input: [1, 8]\nlayers:\n  -\t{type: relu}\n", False),  # libyaml: no tab after "-" either
    ],
)
def test_tabs(text: str, ok: bool) -> None:
    if ok:
        assert run(text).output_shape == (1, 8)
    else:
        err = fails(text, r"a tab: YAML indents with spaces only")
        assert err.line == 3


# -- huge values -------------------------------------------------------------------------------

HUGE = "9" * 100_000  # 10**100000 - 1: beyond Python's 4,300-digit int-string limit


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (f"input: {{shape: [1, 8], batch: {HUGE}}}\nlayers: []", r"input: batch is too large"),
        (
            f"input: [1, 8]\nlayers: [{{type: conv1d, out_channels: {HUGE}, kernel_size: 1}}]",
            r"out_channels is too",
        ),
        (
            f"input: [1, 8, 8]\nlayers: [{{type: maxpool2d, kernel_size: [2, {HUGE}]}}]",
            r"kernel_size\[1\] is too",
        ),
        (f"input: [1, 8]\nlayers: [{{type: pad, padding: [[1, {HUGE}]]}}]", r"padding\[0\] is too large"),
        (
            f"input: [1, 8]\nlayers: [{{type: pad, padding: -{HUGE}}}]",
            r"padding must be >= 0, got -9999.*\.\.\.",
        ),
        (
            f"input: [1, 8]\nlayers: [{{type: dropout, p: -{HUGE}}}]",
            r"p must be a number in \[0, 1\], got -99",
        ),
        (
            f"input: [1, 8]\nlayers: [{{type: dropout, p: {HUGE}.5}}]",
            r"p must be a number in \[0, 1\], got 99",
        ),
        (f"input: [1, 8]\nlayers: [{{type: dropout, p: 1e{HUGE}}}]", r"p must be a number in \[0, 1\]"),
        (f"input: [1, 8]\nlayers: [{{type: batchnorm, eps: 0.{HUGE}}}]", None),
        (f"input: [1, 0x{'f' * 100_000}]\nlayers: []", r"input\[1\] is too large"),
        (f"input: [1, 0b{'1' * 100_000}]\nlayers: []", r"input\[1\] is too large"),
        (f"input: [1, 1{':1' * 100_000}]\nlayers: []", r"input\[1\] is too large"),  # YAML 1.1 base 60
        (f"input: [1, 8]\nlayers: [{{type: dropout, p: 1{':1' * 100_000}}}]", r"p is too large"),
        (f"input: [1, 8]\nlayers: [{{type: dropout, p: 1{':1' * 100_000}.5}}]", r"p is too large"),
        (f"input: [1, {'1_' * 100_000}1]\nlayers: []", r"input\[1\] is too large"),
        (f"input: [1, 0{'7' * 100_000}]\nlayers: []", r"input\[1\] is too large"),  # octal
        (f"input: [1, 0{'0' * 100_000}8]\nlayers: []", r"input\[1\] must be an integer, got 0000.*\.\.\.$"),
    ],
)
def test_huge_numbers_everywhere(spec: str, message: str | None) -> None:
    with budget(1):
        if message is None:
            run(spec + "\n")
        else:
            fails(spec + "\n", message)


@pytest.mark.parametrize(
    "layer",
    [
        "{type: conv1d, out_channels: 1, kernel_size: [LIST]}",
        "{type: pad, padding: [LIST]}",
        "{type: pad, padding: [[LIST]]}",
        "{type: conv1d, out_channels: 1, kernel_size: 1, padding: [[1, 1], LIST]}",
    ],
)
def test_huge_per_axis_lists(layer: str) -> None:
    items = ", ".join(["1"] * 100_000)
    text = "input: [1, 8]\nlayers: [" + layer.replace("LIST", items) + "]\n"
    with budget(2):
        fails(text, r"needs 1 values|needs 1 entries|1 to 3 values|must be \[left, right\]|too many axes")


def test_huge_input_shape() -> None:
    text = "input: [" + ", ".join(["1"] * 100_000) + "]\nlayers: []\n"
    fails(text, r"input shape must have 1 to 4 entries .*got 100000")


def test_very_long_lines() -> None:
    long = "a" * 10_000_000
    with budget(3):
        assert run(f"input: [1, 8]\nname: {long}\nlayers: []\n").output_shape == (1, 8)
        assert run(f"input: [1, 8]\n# {long}\nlayers: []\n").output_shape == (1, 8)
        fails(f"input: [1, 8]\nlayers: [{{type: {long}}}]\n", r"unknown layer type 'aaaa.*\.\.\.'$")
        fails(f"input: [1, 8]\nlayers: [{{type: relu, name: {long}}}, 3]\n", r"layer 1 must be a mapping")
        fails(
            f"input: [1, 8]\nlayers: [{{type: parallel, branches: [[]], merge: {long}}}]\n", r"merge must be"
        )
        fails(f"input: [1, 8]\n? {long}\n: 1\nlayers: []\n", r"the document: unknown key 'aaaa.*\.\.\.'$")


def test_long_layer_name_is_clipped_in_every_message() -> None:
    long = "n" * 1_000_000
    err = fails(
        f"input: [1, 8]\nlayers: [{{type: conv1d, name: {long}, out_channels: 0}}]\n", r"must be positive"
    )
    assert "nnn..." in err.message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('"a\\nb": 1\ninput: [1]\nlayers: []\n', r"the document: unknown key 'a\\nb'"),
        ('input: [1]\nlayers: [{type: "re\\u2028lu"}]\n', r"unknown layer type 're\\u2028lu'"),
        (
            'input: [1]\nlayers: [{type: relu, name: "x\\ry", p: 1}]\n',
            r"layer 0 'x\\ry' \(relu\): unknown key 'p'",
        ),
        ("input: !a%0Ab [1]\nlayers: []\n", r"unsupported YAML tag '!a\\nb'"),
        (
            'input: [1]\nlayers: [{type: dropout, p: "\\t1"}]\n',
            r'p must be a number, got the string "\\t1" \(remove the quotes\)',
        ),
    ],
)
def test_messages_stay_on_one_line(text: str, message: str) -> None:
    err = fails(text, message)
    assert err.message.isprintable(), err.message


@pytest.mark.parametrize("text", ["---", "--- ", "---\n", "--- # nothing\n", "\ufeff---"])
def test_a_bare_document_marker_is_an_empty_file(text: str) -> None:
    """Found by benchmarks/fuzz_loader.py: the null after '---' sat on a line past the file's end."""
    err = fails(text, r"the file is empty")
    assert (err.line, err.column) == (1, 1)


def test_explicit_tags_on_empty_and_sign_only_scalars() -> None:
    """PyYAML's own constructors fail with IndexError on these; convcalc must not."""
    for value in ['!!int ""', '!!int "-"', '!!int "+"', '!!int "_"']:
        fails(f"input: [1, {value}]\nlayers: []\n", r"input\[1\] must be an integer")
        fails(f"input: [1]\nlayers: [{{type: dropout, p: {value}}}]\n", r"p must be a number")
    fails("input: [1]\nlayers: [{type: dropout, p: !!float ''}]\n", r"p must be a number, got the float")


def test_a_big_realistic_file_is_fine() -> None:
    """15 MiB, as a big generated spec might be: long comments and descriptions, some layers."""
    layers = "".join(
        f"  - {{type: conv1d, name: c{i}, out_channels: 4, kernel_size: 3, padding: same}}  # {'c' * 80}\n"
        for i in range(2000)
    )
    text = "description: " + "d" * 1_000_000 + "\ninput: [4, 64]\nlayers:\n" + layers
    text += ("# " + "x" * 1000 + "\n") * ((15 * 2**20 - len(text)) // 1003)
    assert 15 * 2**20 - 1003 < len(text.encode()) <= 15 * 2**20
    with budget(10):
        report = run(text.encode())
    assert len(report.layers) == 2000


# -- hostile files through the CLI -------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n\x00\x00",
        b"name: caf\xe9\n",
        b"layers: " + b"[" * 100_000,
        b"input: [1, " + b"9" * 100_000 + b"]\nlayers: []\n",
        b"x-a: &a [*a]\ninput: [1]\nlayers: &l [{type: sequential, layers: *l}]\n",
    ],
    ids=["png", "latin1", "brackets", "digits", "recursive-alias"],
)
def test_cli_reports_hostile_files_in_one_line(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(data)
    result = CliRunner().invoke(app, ["shape", str(path)])
    assert result.exit_code == 1, result.output
    assert re.fullmatch(rf"{re.escape(str(path))}:\d+:\d+: error: [^\n]{{1,300}}\n", result.output), (
        result.output
    )


# -- mutated examples --------------------------------------------------------------------------


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_mutated_examples(path: Path) -> None:
    original = path.read_text()

    @settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large], deadline=None)
    @given(mutation(original), st.booleans())
    def check(text: str, as_bytes: bool) -> None:
        start = time.perf_counter()
        try:
            run(text.encode("utf-8", "surrogatepass") if as_bytes else text)
        except SpecError as e:
            inside(e, text)
        assert time.perf_counter() - start < 2, "slower than 2 s"

    check()
