"""The error contract of the library: every bad spec raises SpecError at the right place.

Each test loads a spec with ``convcalc.load(text).analyze()`` and checks the message, the line
and column (they must point at the offending key or value) and, for layer errors, that the
message names the layer by its path, name and type.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

import convcalc
from convcalc import SpecError
from convcalc.spec import MAX_DEPTH, MAX_LAYERS, MAX_YAML_DEPTH, parse


def fails(text: str, match: str) -> SpecError:
    """The SpecError that loading and analysing ``text`` raises; its message must match."""
    with pytest.raises(SpecError, match=match) as info:
        convcalc.load(text).analyze()
    err = info.value
    assert err.render().startswith(f"<string>:{err.line}:{err.column}: error: ")
    return err


def at(text: str, needle: str, after: str = "") -> tuple[int, int]:
    """1-based (line, column) of the first ``needle`` in ``text`` that follows ``after``."""
    index = text.index(needle, text.index(after) + len(after) if after else 0)
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def where(err: SpecError) -> tuple[int, int]:
    return err.line, err.column


CONV = "{type: conv1d, out_channels: 4, kernel_size: 3}"


# -- YAML itself -----------------------------------------------------------------------------


def test_yaml_syntax_error_points_at_the_problem() -> None:
    text = "input: [1, 8\nlayers: []\n"
    err = fails(text, r"^<string>:2:\d+: error: invalid YAML: did not find expected ',' or ']'")
    assert err.line == 2


@pytest.mark.parametrize(
    ("text", "got"),
    [("- 1\n- 2\n", "a list"), ("hello\n", "the string 'hello'"), ("~\n", r"nothing \(null\)")],
)
def test_document_must_be_a_mapping(text: str, got: str) -> None:
    err = fails(text, f"the document must be a mapping, got {got}")
    assert where(err) == (1, 1)


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"])
def test_empty_file(text: str) -> None:
    err = fails(text, r"the file is empty: expected a mapping with 'input' and 'layers'")
    assert where(err) == (1, 1)


def test_multiple_documents() -> None:
    text = "input: [1, 8]\nlayers: []\n---\ninput: [1, 8]\nlayers: []\n"
    err = fails(text, r"more than one YAML document \(a second '---'\)")
    assert where(err) == at(text, "---")


def test_tab_indentation_is_explained() -> None:
    text = "input: [1, 8]\nlayers:\n\t- {type: relu}\n"
    err = fails(text, r"invalid YAML: found character that cannot start any token \(a tab: YAML indents")
    assert where(err) == at(text, "\t")


def test_control_character() -> None:
    text = "input: [1, 8]\nlayers:\n  - {type: relu, name: 'a\u00e9b\x07'}\n"
    err = fails(text, r"invalid YAML: control characters are not allowed \(character #x0007\)")
    assert where(err) == at(text, "\x07")


def test_lone_surrogate_in_text() -> None:
    text = "input: [1, 8]\nname: \ud800\nlayers: []\n"
    err = fails(text, r"invalid text: surrogates not allowed")
    assert where(err) == at(text, "\ud800")


def test_undefined_alias_and_duplicate_anchor() -> None:
    text = "input: [1, 8]\nlayers: *stack\n"
    err = fails(text, r"invalid YAML: alias '\*stack' has no anchor '&stack' before it")
    assert where(err) == at(text, "*stack")
    text = "input: &a [1, 8]\nx-b: &a 1\nlayers: []\n"
    err = fails(text, r"anchor '&a' is defined twice \(first at line 1\)")
    assert where(err) == at(text, "&a", after="x-b")


def test_merge_keys_are_refused_clearly() -> None:
    text = "input: [1, 8]\nx-base: &b {type: relu}\nlayers:\n  - {<<: *b, name: r}\n"
    err = fails(text, r"layer 0 'r': YAML merge keys \('<<'\) are not supported")
    assert where(err) == at(text, "<<")


def test_non_string_keys() -> None:
    text = "input: [1, 8]\nlayers:\n  - {type: relu, 1: 2}\n"
    err = fails(text, r"layer 0 \(relu\): keys must be strings, got the int 1")
    assert where(err) == at(text, "1: 2")


@pytest.mark.parametrize(
    ("value", "tag"),
    [
        ("!!python/object:os.system [1, 8]", "tag:yaml.org,2002:python/object:os.system"),
        ("!shape [1, 8]", "!shape"),
        ("!!set {1, 8}", "tag:yaml.org,2002:set"),
    ],
)
def test_unsupported_tags_on_collections(value: str, tag: str) -> None:
    text = f"input: {value}\nlayers: []\n"
    err = fails(text, "unsupported YAML tag '" + re.escape(tag) + "'")
    assert where(err) == at(text, "!")


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("kernel_size: !!int abc", r"kernel_size must be an integer, got the int abc"),
        ("bias: !!bool maybe", r"bias must be true or false, got the bool maybe"),
        ("kernel_size: 3, x-p: !!float abc, bias: !!str true", r"bias must be true or false, got the string"),
    ],
)
def test_explicit_scalar_tags_that_do_not_parse(option: str, message: str) -> None:
    text = f"input: [1, 8]\nlayers:\n  - {{type: conv1d, out_channels: 2, {option}}}\n"
    fails(text, r"layer 0 \(conv1d\): " + message)


def test_explicit_float_tag_on_text() -> None:
    text = "input: [1, 8]\nlayers:\n  - {type: dropout, p: !!float abc}\n"
    err = fails(text, r"layer 0 \(dropout\): p must be a number, got the float abc")
    assert where(err) == at(text, "!!float")


# -- keys ------------------------------------------------------------------------------------


def test_unknown_layer_type_with_suggestion() -> None:
    text = f"input: [1, 8]\nlayers:\n  - {CONV}\n  - {{type: Conv1D, name: c, out_channels: 2}}\n"
    err = fails(text, r"layer 1 'c': unknown layer type 'Conv1D' \(did you mean 'conv1d'\?\)")
    assert where(err) == at(text, "Conv1D")


def test_unknown_key_with_suggestion_points_at_the_key() -> None:
    text = "input: [1, 8]\nlayers:\n  - type: conv1d\n    out_channels: 2\n    kernal_size: 3\n"
    err = fails(text, r"layer 0 \(conv1d\): unknown key 'kernal_size' \(did you mean 'kernel_size'\?\)")
    assert where(err) == (5, 5)


def test_unknown_document_key_with_suggestion() -> None:
    text = "input: [1, 8]\nlayer: []\n"
    err = fails(text, r"the document: unknown key 'layer' \(did you mean 'layers'\?\)")
    assert where(err) == (2, 1)


def test_x_keys_are_ignored_everywhere() -> None:
    text = "x-note: {anything: [goes]}\ninput: [1, 8]\nlayers:\n  - {type: relu, x-why: [1, 2]}\n"
    assert convcalc.load(text).analyze().output_shape == (1, 8)


@pytest.mark.parametrize(
    ("text", "message", "node"),
    [
        (
            "input: [1, 8]\nlayers:\n  - {type: conv1d, out_channels: 2}\n",
            r"layer 0 \(conv1d\): missing required key 'kernel_size'",
            "{",
        ),
        (
            "input: [1, 8]\nlayers:\n  - {name: a, kernel_size: 2}\n",
            r"layer 0 'a': missing required key 'type'",
            "{",
        ),
        ("layers: []\n", r"the document: missing required key 'input'", "layers"),
        ("input: {batch: 2}\nlayers: []\n", r"input: missing required key 'shape'", "{"),
    ],
)
def test_missing_required_keys(text: str, message: str, node: str) -> None:
    err = fails(text, message)
    assert where(err) == at(text, node)


def test_duplicate_key_in_a_layer_names_the_layer() -> None:
    text = (
        "input: [1, 8]\nlayers:\n  - {type: relu}\n"
        "  - name: c\n    type: conv1d\n    out_channels: 2\n    kernel_size: 3\n    kernel_size: 5\n"
    )
    err = fails(text, r"layer 1 'c' \(conv1d\): duplicate key 'kernel_size' \(first given at line 7\)")
    assert where(err) == (8, 5)


def test_duplicate_key_in_the_document() -> None:
    text = "input: [1, 8]\nlayers: []\ninput: [2, 8]\n"
    err = fails(text, r"the document: duplicate key 'input' \(first given at line 1\)")
    assert where(err) == (3, 1)


# -- values ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "got"),
    [
        ("true", "the boolean true"),
        ("3.0", "the float 3.0"),
        ("'3'", r"the string '3' \(remove the quotes\)"),
        ('"3"', r'the string "3" \(remove the quotes\)'),
        ("1e3", "1e3$"),
        ("three", "the string 'three'"),
        ("[3]", None),
        ("null", r"nothing \(null\)"),
        ("{k: 3}", "a mapping"),
    ],
)
def test_wrong_type_where_an_int_belongs(value: str, got: str | None) -> None:
    text = f"input: [1, 8]\nlayers:\n  - {{type: conv1d, name: c, out_channels: 2, kernel_size: {value}}}\n"
    if got is None:  # a one-entry per-axis list is fine for a 1D layer
        assert convcalc.load(text).analyze().output_shape == (2, 6)
        return
    err = fails(text, r"layer 0 'c' \(conv1d\): kernel_size must be an integer, got " + got)
    assert where(err) == at(text, value)


def test_an_int_where_a_bool_belongs() -> None:
    text = "input: [1, 8]\nlayers:\n  - {type: conv1d, out_channels: 2, kernel_size: 3, bias: 1}\n"
    err = fails(text, r"layer 0 \(conv1d\): bias must be true or false, got the int 1")
    assert where(err) == at(text, "1}")


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("out_channels: 0, kernel_size: 3", "out_channels must be positive, got 0"),
        ("out_channels: 2, kernel_size: -3", "kernel_size must be positive, got -3"),
        ("out_channels: 2, kernel_size: 3, stride: 0", "stride must be positive, got 0"),
        ("out_channels: 2, kernel_size: 3, dilation: [0]", r"dilation\[0\] must be positive, got 0"),
        ("out_channels: 2, kernel_size: 3, padding: -1", "padding must be >= 0, got -1"),
        ("out_channels: 2, kernel_size: 3, groups: -2", "groups must be positive, got -2"),
    ],
)
def test_non_positive_sizes(option: str, message: str) -> None:
    text = f"input: [1, 8]\nlayers:\n  - {{type: conv1d, {option}}}\n"
    err = fails(text, r"layer 0 \(conv1d\): " + message)
    bad = re.search(r"-?\d+(?=\]?$)", message)
    assert bad is not None
    assert where(err) == at(text, bad.group(0), after=message.split(" ")[0].split("\\")[0] + ":")


@pytest.mark.parametrize(("shape", "bad"), [("[0, 8]", "0"), ("[1, -8]", "-8")])
def test_non_positive_input_sizes(shape: str, bad: str) -> None:
    text = f"input: {shape}\nlayers: []\n"
    err = fails(text, rf"input\[\d\] must be positive, got {bad}")
    assert where(err) == at(text, bad)


@pytest.mark.parametrize(
    ("shape", "message"),
    [("[]", "got 0"), ("[1, 2, 3, 4, 5]", "got 5"), ("8", "input must be a shape list like")],
)
def test_bad_input_shapes(shape: str, message: str) -> None:
    text = f"input: {shape}\nlayers: []\n"
    err = fails(text, message)
    assert where(err) == (1, 8)


def test_batch_must_be_positive() -> None:
    text = "input: {shape: [1, 8], batch: 0}\nlayers: []\n"
    err = fails(text, r"input: batch must be positive, got 0")
    assert where(err) == at(text, "0}")


def test_padding_keyword_is_case_sensitive_with_suggestion() -> None:
    text = "input: [1, 8]\nlayers:\n  - {type: conv1d, out_channels: 2, kernel_size: 3, padding: Same}\n"
    err = fails(text, r"layer 0 \(conv1d\): padding must be .*got 'Same' \(did you mean 'same'\?\)")
    assert where(err) == at(text, "Same")


def test_causal_padding_is_1d_only() -> None:
    text = "input: [1, 8, 8]\nlayers:\n  - {type: conv2d, out_channels: 2, kernel_size: 3, padding: causal}\n"
    err = fails(text, r"layer 0 \(conv2d\): padding 'causal' is defined for 1D layers only")
    assert where(err) == at(text, "causal")


def test_per_axis_list_of_the_wrong_length() -> None:
    text = "input: [1, 8, 8]\nlayers:\n  - {type: conv2d, out_channels: 2, kernel_size: [3, 3, 3]}\n"
    err = fails(text, r"layer 0 \(conv2d\): kernel_size needs 2 values \(one per spatial axis\), got 3")
    assert where(err) == at(text, "[3, 3, 3]")


@pytest.mark.parametrize(
    ("p", "shown"), [("1.5", "1.5"), ("-0.1", "-0.1"), (".nan", ".nan"), ("1.0e+999", "1.0e+999")]
)
def test_probability_out_of_range(p: str, shown: str) -> None:
    text = f"input: [1, 8]\nlayers:\n  - {{type: dropout, p: {p}}}\n"
    err = fails(text, r"layer 0 \(dropout\): p must be a number in \[0, 1\], got " + re.escape(shown))
    assert where(err) == at(text, p)


def test_plain_exponent_is_a_number_but_a_quoted_one_is_not() -> None:
    ok = "input: [2, 8]\nlayers:\n  - {type: batchnorm, eps: 1e-3}\n"
    assert convcalc.load(ok).spec.layers[0].opts["eps"] == pytest.approx(1e-3)
    text = "input: [2, 8]\nlayers:\n  - {type: batchnorm, eps: '1e-3'}\n"
    err = fails(
        text, r"layer 0 \(batchnorm\): eps must be a number, got the string '1e-3' \(remove the quotes\)"
    )
    assert where(err) == at(text, "'1e-3'")


def test_layer_must_be_a_mapping() -> None:
    text = f"input: [1, 8]\nlayers:\n  - {CONV}\n  - relu\n"
    err = fails(text, r"layer 1 must be a mapping with a 'type', got the string 'relu'")
    assert where(err) == at(text, "relu")


# -- huge numbers ----------------------------------------------------------------------------


def test_huge_sizes_are_exact() -> None:
    n = 10**12
    conv = f"{{type: conv1d, out_channels: {n}, kernel_size: 5}}"
    text = f"input: {{shape: [3, {n}], batch: {n}}}\nlayers:\n  - {conv}\n"
    report = convcalc.load(text).analyze()
    assert report.output_shape == (n, n - 4)
    assert report.total_params == n * 3 * 5 + n
    assert report.total_macs == n * n * (n - 4) * 3 * 5


@pytest.mark.parametrize("digits", [20, 5000, 100_000])
def test_integers_beyond_int64_are_refused(digits: int) -> None:
    text = f"input: [1, {'9' * digits}]\nlayers: []\n"
    start = time.perf_counter()
    err = fails(text, r"input\[1\] is too large: the limit is 2\*\*63 - 1")
    assert time.perf_counter() - start < 1
    assert where(err) == (1, 12)


def test_int64_limit_itself_is_fine() -> None:
    n = 2**63 - 1
    assert convcalc.load(f"input: [1, {n}]\nlayers: []\n").analyze().output_shape == (1, n)
    fails(f"input: [1, {n + 1}]\nlayers: []\n", "is too large")


def test_huge_int_in_a_float_field() -> None:
    text = f"input: [1, 8]\nlayers:\n  - {{type: dropout, p: {'9' * 5000}}}\n"
    err = fails(text, r"layer 0 \(dropout\): p is too large")
    assert where(err) == at(text, "999")


# -- shape rules -----------------------------------------------------------------------------


def test_kernel_larger_than_padded_input_points_at_kernel_size() -> None:
    text = (
        "input: [4, 8]\nlayers:\n  - {type: conv1d, out_channels: 4, kernel_size: 1}\n  - {type: relu}\n"
        "  - {type: conv1d, name: dil4, out_channels: 4, kernel_size: 3, dilation: 4}\n"
    )
    err = fails(
        text,
        r"layer 2 'dil4' \(conv1d\): kernel_size 3 \(dilation 4 makes it span 9\) is larger than the "
        r"padded input on axis L: 8 \+ 0 \+ 0 = 8 < 9",
    )
    assert where(err) == at(text, "3", after="dil4, out_channels: 4, kernel_size: ")


def test_kernel_larger_than_input_on_the_second_axis() -> None:
    text = "input: [3, 32, 4]\nlayers:\n  - type: conv2d\n    out_channels: 8\n    kernel_size: [3, 5]\n"
    err = fails(
        text, r"layer 0 \(conv2d\): kernel_size 5 is larger than the padded input on axis W: 4 \+ 0 \+ 0"
    )
    assert where(err) == (5, 18)


def test_pooling_window_too_large() -> None:
    text = "input: [3, 4]\nlayers:\n  - {type: maxpool1d, kernel_size: 6}\n"
    err = fails(text, r"layer 0 \(maxpool1d\): kernel_size 6 is larger than the padded input on axis L")
    assert where(err) == at(text, "6")


@pytest.mark.parametrize(
    ("shape", "out", "message"),
    [
        ("[3, 8]", 4, r"input channels \(3\) must be divisible by groups \(2\); input shape \[3, 8\]"),
        ("[4, 8]", 3, r"out_channels \(3\) must be divisible by groups \(2\)"),
    ],
)
def test_channels_not_divisible_by_groups(shape: str, out: int, message: str) -> None:
    text = f"input: {shape}\nlayers:\n  - {{type: conv1d, out_channels: {out}, kernel_size: 3, groups: 2}}\n"
    err = fails(text, r"layer 0 \(conv1d\): " + message)
    assert where(err) == at(text, "2}")


def test_residual_shapes_must_match() -> None:
    text = f"input: [4, 8]\nlayers:\n  - type: residual\n    name: block\n    layers:\n      - {CONV}\n"
    err = fails(
        text,
        r"layer 0 'block' \(residual\): outputs are added, so shapes must match: the layers give \[4, 6\] "
        r"but the identity shortcut gives \[4, 8\]",
    )
    assert where(err) == (3, 5)


def test_residual_with_a_mismatched_shortcut() -> None:
    text = (
        "input: [4, 8]\nlayers:\n  - type: residual\n    layers: [{type: relu}]\n"
        "    shortcut: [{type: conv1d, out_channels: 2, kernel_size: 1}]\n"
    )
    fails(text, r"layer 0 \(residual\): .* the layers give \[4, 8\] but the shortcut gives \[2, 8\]")


def test_parallel_concat_needs_equal_spatial_axes() -> None:
    text = f"input: [4, 8]\nlayers:\n  - type: parallel\n    branches:\n      - [{CONV}]\n      - []\n"
    err = fails(
        text,
        r"layer 0 \(parallel\): merge 'concat' joins channels, so the other axes must match: "
        r"branch 0 gives \[4, 6\], branch 1 gives \[4, 8\]",
    )
    assert where(err) == (5, 7)


def test_parallel_add_needs_equal_shapes() -> None:
    text = (
        "input: [4, 8]\nlayers:\n  - type: parallel\n    merge: add\n    branches:\n"
        "      - [{type: conv1d, out_channels: 3, kernel_size: 1}]\n      - []\n"
    )
    err = fails(text, r"merge 'add' needs equal shapes: branch 0 gives \[3, 8\], branch 1 gives \[4, 8\]")
    assert where(err) == (6, 7)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("shape", ["[4, 8, 8]", "[4]"])
def test_recurrent_layer_needs_a_sequence(cell: str, shape: str) -> None:
    text = f"input: {shape}\nlayers:\n  - {{type: {cell}, name: r, hidden_size: 4}}\n"
    err = fails(
        text, rf"layer 0 'r' \({cell}\): a recurrent layer needs a sequence \[features, time\], got shape"
    )
    assert where(err) == at(text, "{type")


def test_global_pool_needs_spatial_axes() -> None:
    text = "input: [4, 8]\nlayers:\n  - {type: flatten}\n  - {type: global_avgpool}\n"
    err = fails(text, r"layer 1 \(global_avgpool\): needs spatial axes to pool over, got shape \[32\]")
    assert where(err) == at(text, "{type: global")


# -- errors inside containers ----------------------------------------------------------------


def test_nested_sequential_path() -> None:
    text = (
        "input: [2, 8]\nlayers:\n  - type: sequential\n    layers:\n      - {type: relu}\n"
        "      - {type: conv1d, name: deep, out_channels: 2, kernel_size: 30}\n"
    )
    err = fails(text, r"layer 0\.layers\.1 'deep' \(conv1d\): kernel_size 30 is larger")
    assert where(err) == at(text, "30")


def test_nested_branch_path() -> None:
    text = (
        "input: [2, 8]\nlayers:\n  - {type: relu}\n  - type: parallel\n    branches:\n      - []\n"
        "      - [{type: relu}, {type: maxpool1d, kernal_size: 2}]\n"
    )
    err = fails(text, r"layer 1\.branches\.1\.1 \(maxpool1d\): unknown key 'kernal_size' \(did you mean")
    assert where(err) == at(text, "kernal_size")


def test_nested_shortcut_path() -> None:
    text = (
        "input: [2, 8]\nlayers:\n  - type: residual\n    layers: [{type: relu}]\n"
        "    shortcut:\n      - {type: conv1d, out_channels: 2, kernel_size: 1, stride: 0}\n"
    )
    err = fails(text, r"layer 0\.shortcut\.0 \(conv1d\): stride must be positive, got 0")
    assert where(err) == at(text, "0}")


def test_branches_must_be_lists_of_layers() -> None:
    text = "input: [2, 8]\nlayers:\n  - {type: parallel, branches: [{type: relu}]}\n"
    err = fails(text, r"layer 0 \(parallel\): branches\[0\] must be a list, got a mapping")
    assert where(err) == at(text, "{type: relu}")


def test_nesting_deeper_than_the_limit() -> None:
    depth = MAX_DEPTH + 5
    text = "input: [1, 8]\nlayers:\n" + "".join(
        "  " * i + "- type: sequential\n" + "  " * i + "  layers:\n" for i in range(depth)
    )
    text += "  " * depth + "- {type: relu}\n"
    fails(text, rf"nesting deeper than {MAX_DEPTH} levels")


def test_nesting_within_the_limit_is_fine() -> None:
    depth = MAX_DEPTH - 1
    text = (
        "input: [1, 8]\nlayers: " + "[{type: sequential, layers: " * depth + "[{type: relu}]" + "}]" * depth
    )
    report = convcalc.load(text + "\n").analyze()
    assert report.output_shape == (1, 8)


def test_recursive_alias_in_layers() -> None:
    text = "input: [1, 8]\nlayers: &stack\n  - {type: sequential, layers: *stack}\n"
    err = fails(text, rf"nesting deeper than {MAX_DEPTH} levels \(a recursive alias\?\)")
    assert err.line == 2


def test_deep_yaml_brackets_do_not_crash() -> None:
    """libyaml's composer recurses in C: 100,000 brackets used to crash the interpreter."""
    code = (
        "import convcalc\n"
        "text = 'input: [1, 8]\\nx-deep: ' + '[' * 100000 + ']' * 100000 + '\\nlayers: []\\n'\n"
        "try:\n    convcalc.load(text)\nexcept convcalc.SpecError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert re.fullmatch(
        rf"<string>:2:\d+: error: YAML nested deeper than {MAX_YAML_DEPTH} levels\n", out.stdout
    )


def test_deep_yaml_blocks_are_refused_in_place() -> None:
    text = "input: [1, 8]\nx-deep:\n" + "".join(" " * i + "-\n" for i in range(MAX_YAML_DEPTH + 10))
    text += "layers: []\n"
    err = fails(text, rf"YAML nested deeper than {MAX_YAML_DEPTH} levels")
    assert err.line > MAX_YAML_DEPTH


# -- aliases -------------------------------------------------------------------------------


def _laughs(levels: int, item: str, key: str = "x-l") -> tuple[str, str]:
    """A billion-laughs table of anchors: each level lists the previous one ten times."""
    lines = [f"{key}0: &l0 [{', '.join([item] * 10)}]"]
    lines += [f"{key}{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n", f"*l{levels - 1}"


def test_alias_bomb_under_x_keys_is_not_walked() -> None:
    table, _ = _laughs(9, "lol")  # 10**9 strings once expanded
    text = "input: [1, 8]\n" + table + "layers: [{type: relu}]\n"
    start = time.perf_counter()
    report = convcalc.load(text).analyze()
    assert time.perf_counter() - start < 0.5
    assert report.output_shape == (1, 8)


def test_alias_bomb_inside_layers_fails_fast() -> None:
    lines = ["x-l0: &l0 [" + ", ".join(["{type: relu}"] * 10) + "]"]
    lines += [
        f"x-l{i}: &l{i} [" + ", ".join([f"{{type: sequential, layers: *l{i - 1}}}"] * 10) + "]"
        for i in range(1, 9)
    ]
    text = "input: [1, 8]\n" + "\n".join(lines) + "\nlayers: *l8\n"
    start = time.perf_counter()
    err = fails(text, rf"layers: more than {MAX_LAYERS:,} layers once YAML aliases are expanded")
    assert time.perf_counter() - start < 0.5
    assert where(err) == at(text, "layers: *l8")


def test_aliases_reuse_layers_under_their_own_paths() -> None:
    text = (
        "input: [2, 16]\nx-block: &block\n  - {type: conv1d, out_channels: 2, kernel_size: 3}\n"
        "layers:\n  - {type: sequential, layers: *block}\n  - {type: sequential, layers: *block}\n"
    )
    report = convcalc.load(text).analyze()
    assert report.output_shape == (2, 12)
    text += "  - {type: sequential, name: tail, layers: [{type: maxpool1d, kernel_size: 20}]}\n"
    fails(text, r"layer 2\.layers\.0 \(maxpool1d\): kernel_size 20 is larger")


# -- bytes and files -------------------------------------------------------------------------


def test_binary_bytes() -> None:
    with pytest.raises(
        SpecError,
        match=r"^x.bin:1:1: error: this looks like a binary file, not YAML text \(it contains NUL bytes\)",
    ):
        parse(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "x.bin")


@pytest.mark.parametrize(
    ("data", "loc"),
    [
        (b"input: [1, 8]\nname: caf\xe9\nlayers: []\n", "2:10"),
        ("input: [1, 8]\nname: \u00e9\u00e9".encode() + b"\xff\nlayers: []\n", "2:9"),
        (b"\xef\xbb\xbfname: \xc3\nlayers: []\n", "1:7"),
    ],
)
def test_non_utf8_bytes_point_at_the_character(data: bytes, loc: str) -> None:
    with pytest.raises(SpecError, match=rf"^n.yaml:{loc}: error: the file is not valid UTF-8 \(byte 0x"):
        parse(data, "n.yaml")


def test_utf8_bom_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(
        b"\xef\xbb\xbfinput: [1, 8]\nlayers:\n  - {type: conv1d, out_channels: 2, kernel_size: 9}\n"
    )
    with pytest.raises(
        SpecError, match=r"bom\.yaml:3:50: error: layer 0 \(conv1d\): kernel_size 9 is larger"
    ):
        convcalc.load(path).analyze()
    path.write_bytes(b"\xef\xbb\xbfinput: [1, 8]\nlayers: []\n")
    assert convcalc.load(path).analyze().output_shape == (1, 8)


def test_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "net.yaml"
    path.write_text("input: [1, 8]\nlayers:\n  - {type: relu, slope: 2}\n")
    line, col = at(path.read_text(), "slope")
    message = f"{path}:{line}:{col}: error: layer 0 (relu): unknown key 'slope'"
    with pytest.raises(SpecError, match=re.escape(message)):
        convcalc.load(path).analyze()
