"""``convcalc check``: diagnostics and codes, warnings, ``expect:``, formats, exit codes, paths."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT
from typer.testing import CliRunner

from convcalc.analyze import analyze
from convcalc.check import check_source, forward_diagnostics
from convcalc.cli import app
from convcalc.diagnostics import CODES, WARNING_CODES
from convcalc.errors import SpecError
from convcalc.spec import parse

runner = CliRunner()
FORMAT_MD = ROOT / "specs" / "format.md"


def diags(text: str, **kw: object) -> list[tuple[int, str, str]]:
    """(line, code, message) of every diagnostic of a spec."""
    result = check_source(text, "net.yaml", **kw)  # type: ignore[arg-type]
    return [(d.line, d.code, d.message) for d in result.diagnostics]


def codes(text: str) -> list[str]:
    return [c for _, c, _ in diags(text)]


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["check", *args])
    return result.exit_code, result.stdout


# -- error codes by category ---------------------------------------------------------------------

ERRORS = [
    ("input: [1, 8\nlayers: []\n", "CC101", "invalid YAML"),
    ("", "CC101", "empty"),
    ("input: [1, 8]\nlayers: []\nlayers: []\n", "CC101", "duplicate key"),
    ("input: [1, 8]\nlayer: []\n", "CC102", "unknown key 'layer'"),
    ("input: [1, 8]\nlayers:\n  - {type: conv1D, out_channels: 2, kernel_size: 3}\n", "CC102", "conv1d"),
    ("input: [1, 8]\nlayers:\n  - {type: conv1d, out_channels: 2.0, kernel_size: 3}\n", "CC103", "float"),
    ("input: [1, 8]\nlayers:\n  - {type: conv1d, kernel_size: 3}\n", "CC104", "missing required key"),
    ("input: [1, 8]\nlayers:\n  - {type: conv1d, out_channels: 2, kernel_size: 9}\n", "CC105", "larger than"),
    (
        "input: [1, 8, 8]\nlayers:\n  - {type: conv1d, out_channels: 2, kernel_size: 3}\n",
        "CC105",
        "needs input",
    ),
    (
        "input: [1, 8]\nlayers:\n  - type: residual\n    layers:\n"
        "      - {type: conv1d, out_channels: 2, kernel_size: 3}\n",
        "CC106",
        "shapes must match",
    ),
    (
        "input: [3, 8]\nlayers:\n  - {type: conv1d, out_channels: 4, kernel_size: 3, groups: 2}\n",
        "CC107",
        "groups",
    ),
    ("input: [3, 8, 8]\nlayers:\n  - {type: lstm, hidden_size: 4}\n", "CC108", "sequence"),
    ("input: [1, 99999999999999999999]\nlayers: []\n", "CC109", "too large"),
]


@pytest.mark.parametrize(("text", "code", "words"), ERRORS)
def test_spec_errors_have_codes_by_category(text: str, code: str, words: str) -> None:
    (found,) = diags(text)
    assert found[1] == code, found
    assert words in found[2]
    with pytest.raises(SpecError, match=re.escape(words)) as info:
        analyze(parse(text))
    assert info.value.code == code


def test_every_code_is_documented_in_format_md() -> None:
    section = FORMAT_MD.read_text().split("## check / expect", 1)[1]
    rows = dict(re.findall(r"^\| `(CC\d{3})` \| (error|warning) \|", section, re.M))
    assert rows == {c: info.severity for c, info in CODES.items()}


def test_every_code_raised_in_the_source_is_in_the_table() -> None:
    used = set()
    for path in (ROOT / "convcalc").rglob("*.py"):
        used |= set(re.findall(r"\"(CC\d{3})\"", path.read_text()))
    assert used, "no codes found in the source"
    assert used <= set(CODES), used - set(CODES)


# -- warnings ------------------------------------------------------------------------------------

WARNINGS = {
    "CC201": (
        "input: [1, 8]\nlayers:\n  - {type: conv1d, out_channels: 2, kernel_size: 5, padding: 2}\n"
        "  - {type: conv1d, out_channels: 2, kernel_size: 5, padding: 2}\n",
        "input: [1, 8]\nlayers:\n  - {type: conv1d, out_channels: 2, kernel_size: 5, padding: 2}\n",
    ),
    "CC202": (
        "input: [1, 8]\nlayers:\n  - type: parallel\n    branches:\n"
        "      - [{type: conv1d, out_channels: 2, kernel_size: 3, padding: [[2, 0]]}]\n"
        "      - [{type: conv1d, out_channels: 2, kernel_size: 3, padding: 1}]\n",
        "input: [1, 8]\nlayers:\n  - type: parallel\n    branches:\n"
        "      - [{type: conv1d, out_channels: 2, kernel_size: 5, padding: 2}]\n"
        "      - [{type: conv1d, out_channels: 2, kernel_size: 3, padding: 1}]\n",
    ),
    "CC203": (
        "input: [1, 8]\nlayers:\n  - {type: conv1d, out_channels: 2, kernel_size: 3, stride: 2}\n",
        "input: [1, 9]\nlayers:\n  - {type: conv1d, out_channels: 2, kernel_size: 3, stride: 2}\n",
    ),
    "CC204": (
        "input: [1, 8]\nlayers:\n  - {type: conv1d, out_channels: 2, kernel_size: 4, padding: same}\n",
        "input: [1, 8]\nlayers:\n  - {type: conv1d, out_channels: 2, kernel_size: 3, padding: same}\n",
    ),
    "CC205": (
        "input: [1, 8]\nlayers:\n  - {type: dropout, p: 0}\n",
        "input: [1, 8]\nlayers:\n  - {type: dropout, p: 0.1}\n",
    ),
}


def test_every_warning_code_has_a_test() -> None:
    assert set(WARNINGS) == WARNING_CODES


@pytest.mark.parametrize("code", sorted(WARNINGS))
def test_warning_triggers_and_does_not(code: str) -> None:
    bad, good = WARNINGS[code]
    found = diags(bad)
    assert [c for _, c, _ in found] == [code], found
    assert found[0][0] >= 3  # at the layer, not at the top of the file
    assert codes(good) == []


def test_warning_messages() -> None:
    ((_, _, m201),) = diags(WARNINGS["CC201"][0])
    assert m201.startswith("layer 1 (conv1d): its receptive field on axis L (9) is larger than the input (8)")
    ((_, _, m202),) = diags(WARNINGS["CC202"][0])
    assert "branch 0 at -1, branch 1 at 0" in m202
    ((_, _, m203),) = diags(WARNINGS["CC203"][0])
    assert "leaves the last 1 input position(s) on axis L in no window: 8 + 0 + 0 - 3 = 5" in m203
    ((_, _, m204),) = diags(WARNINGS["CC204"][0])
    assert "1 left, 2 right (the kernel spans 4)" in m204


@pytest.mark.parametrize(
    "layer",
    [
        "{type: identity}",
        "{type: maxpool1d, kernel_size: 1}",
        "{type: avgpool1d, kernel_size: 1, stride: 1}",
        "{type: pad, padding: 0}",
        "{type: sequential, layers: []}",
        "{type: parallel, branches: [[]]}",
    ],
)
def test_layers_with_no_effect(layer: str) -> None:
    assert codes(f"input: [2, 8]\nlayers:\n  - {layer}\n") == ["CC205"]


def test_no_effect_cases_that_have_an_effect() -> None:
    assert codes(
        "input: [2, 8]\nlayers:\n  - {type: maxpool1d, kernel_size: 1, stride: 1, padding: 0}\n"
    ) == ["CC205"]
    assert codes("input: [2, 8]\nlayers:\n  - {type: pad, padding: [[0, 1]]}\n") == []
    assert codes("input: [8]\nlayers:\n  - {type: flatten}\n") == ["CC205"]
    assert codes("input: [2, 8]\nlayers:\n  - {type: flatten}\n") == []
    # an identity spelling out a parallel branch is not flagged
    assert codes("input: [2, 8]\nlayers:\n  - {type: parallel, branches: [[{type: identity}], []]}\n") == []


def test_causal_branches_are_aligned_on_their_ends() -> None:
    causal = (
        "input: [2, 64]\nlayers:\n  - type: residual\n    layers:\n"
        "      - {type: conv1d, out_channels: 2, kernel_size: 3, dilation: 4, padding: causal}\n"
    )
    assert codes(causal) == []


def test_pool_stride_and_same_padding_at_a_stride() -> None:
    # ceil_mode covers the tail: no warning; floor mode drops position 6
    assert codes("input: [1, 7]\nlayers:\n  - {type: maxpool1d, kernel_size: 2, ceil_mode: true}\n") == []
    assert codes("input: [1, 7]\nlayers:\n  - {type: maxpool1d, kernel_size: 2}\n") == ["CC203"]
    # uncovered right padding only: no input position is lost
    assert (
        codes(
            "input: [1, 8]\nlayers:\n"
            "  - {type: conv1d, out_channels: 1, kernel_size: 3, stride: 2, padding: 1}\n"
        )
        == []
    )
    # 'same' at stride 2 on an even input pads asymmetrically even with an odd kernel
    (found,) = diags(
        "input: [1, 8]\nlayers:\n"
        "  - {type: conv1d, out_channels: 1, kernel_size: 3, stride: 2, padding: same}\n"
    )
    assert found[1] == "CC204" and "0 left, 1 right (stride 2 on input 8)" in found[2]


# -- ignore: per file and per run ----------------------------------------------------------------


def test_ignore_per_file_and_per_run(tmp_path: Path) -> None:
    bad = WARNINGS["CC203"][0]
    assert codes(bad) == ["CC203"]
    assert diags(bad, ignore=frozenset({"CC203"})) == []
    assert codes("check: {ignore: [CC203]}\n" + bad) == []
    assert codes("check: {ignore: [CC201]}\n" + bad) == ["CC203"]
    f = tmp_path / "net.yaml"
    f.write_text(bad)
    assert run(str(f), "--strict")[0] == 1
    assert run(str(f), "--strict", "--ignore", "CC203")[0] == 0
    assert run(str(f), "--strict", "--ignore", "CC201", "--ignore", "CC203")[0] == 0


@pytest.mark.parametrize(
    ("check", "line", "words"),
    [
        ("check: {ignore: [CC2O3]}", 1, "check: ignore[0]: unknown code 'CC2O3' (did you mean 'CC203'?)"),
        ("check:\n  ignore:\n    - CC201\n    - CC105", 4, "CC105 is an error, not a warning"),
        ("check: {ignor: [CC201]}", 1, "check: unknown key 'ignor' (did you mean 'ignore'?)"),
        ("check: {ignore: CC201}", 1, "check: ignore must be a list"),
    ],
)
def test_bad_check_settings(check: str, line: int, words: str) -> None:
    with pytest.raises(SpecError, match=re.escape(words)) as info:
        parse(check + "\ninput: [1, 8]\nlayers: []\n")
    assert info.value.line == line


def test_bad_ignore_option_is_a_usage_error(tmp_path: Path) -> None:
    f = tmp_path / "net.yaml"
    f.write_text(WARNINGS["CC203"][1])
    result = runner.invoke(app, ["check", str(f), "--ignore", "CC2O3"])
    assert result.exit_code == 2
    assert "did you mean 'CC203'" in result.output
    assert runner.invoke(app, ["check", str(f), "--ignore", "CC101"]).exit_code == 2


# -- expect: -------------------------------------------------------------------------------------

NET = """\
name: small
input: [3, 32, 32]
expect:
{expect}
layers:
  - {{type: conv2d, out_channels: 8, kernel_size: 3, padding: 1}}
  - {{type: maxpool2d, kernel_size: 2}}
  - {{type: conv2d, out_channels: 8, kernel_size: 3}}
"""
# output [8, 14, 14]; params 3*8*9+8 + 8*8*9+8 = 224 + 584 = 808; field 3 -> 4 -> 8 on each axis


def expect(lines: str) -> list[tuple[int, str, str]]:
    text = NET.format(expect=lines)
    return diags(text)


def test_facts_of_the_expect_net() -> None:
    report = analyze(parse(NET.format(expect="  params: 808")))
    assert report.output_shape == (8, 14, 14)
    assert report.total_params == 808
    assert [a.size for a in report.rf.axes] == [8, 8]
    assert report.total_macs == 8 * 32 * 32 * 27 + 8 * 14 * 14 * 72


@pytest.mark.parametrize(
    ("good", "bad", "code", "message"),
    [
        (
            "output_shape: [8, 14, 14]",
            "output_shape: [8, 12, 12]",
            "CC301",
            "expected [8, 12, 12], got [8, 14, 14]",
        ),
        ("params: 808", "params: 809", "CC302", "expected 809, got 808"),
        ("params: {max: 1000}", "params: {max: 800}", "CC302", "expected at most 800, got 808"),
        (
            "params: {min: 800, max: 808}",
            "params: {min: 810, max: 900}",
            "CC302",
            "expected between 810 and 900, got 808",
        ),
        ("macs: {max: 1.0e6}", "macs: {max: 1.0e5}", "CC304", "expected at most 100,000, got 334,080"),
        (
            "receptive_field: 8",
            "receptive_field: 9",
            "CC303",
            "on axis H expected 9, got 8; on axis W expected 9, got 8",
        ),
        ("receptive_field: [8, 8]", "receptive_field: [8, 9]", "CC303", "on axis W expected 9, got 8"),
        (
            "receptive_field: {min: 8}",
            "receptive_field: {min: 1024}",
            "CC303",
            "on axis H expected at least 1,024, got 8; on axis W expected at least 1,024, got 8",
        ),
        (
            "receptive_field: {max: [8, 9]}",
            "receptive_field: {max: [7, 9]}",
            "CC303",
            "on axis H expected at most 7, got 8",
        ),
    ],
)
def test_expectation_pass_and_fail(good: str, bad: str, code: str, message: str) -> None:
    assert expect(f"  {good}") == []
    holding = "params: 808" if bad.startswith("output_shape") else "output_shape: [8, 14, 14]"
    found = expect(f"  {holding}\n  {bad}")  # a holding expectation on line 4, the failing one on 5
    assert found == [(5, code, f"expect {bad.split(':')[0]}: {message}")]


def test_failed_expectations_each_at_their_line(tmp_path: Path) -> None:
    f = tmp_path / "net.yaml"
    f.write_text(NET.format(expect="  output_shape: [10]\n  params: {max: 10}\n  macs: 1"))
    code, out = run(str(f))
    assert code == 1
    lines = out.splitlines()
    assert [line.split(": error: ")[0] for line in lines[:3]] == [f"{f}:4:3", f"{f}:5:3", f"{f}:6:3"]
    assert lines[-1] == "1 file checked, 1 failed"


@pytest.mark.parametrize(
    ("net", "why"),
    [
        ("input: [3, 8, 8]\nlayers:\n  - {type: global_avgpool}\n", "depends on the whole input"),
        ("input: [3, 8, 8]\nlayers:\n  - {type: flatten}\n", "flattened"),
        ("input: [3, 8]\nlayers:\n  - {type: gru, hidden_size: 4}\n", "unbounded"),
    ],
)
def test_receptive_field_expectation_on_a_field_without_size(net: str, why: str) -> None:
    ((line, code, message),) = diags("expect: {receptive_field: 5}\n" + net)
    assert (line, code) == (1, "CC303")
    assert why in message and message.startswith("expect receptive_field: ")


@pytest.mark.parametrize(
    ("lines", "where", "words"),
    [
        ("  param: 5", (4, 3), "expect: unknown key 'param' (did you mean 'params'?)"),
        ("  params: {min: 10, max: 5}", (4, 11), "expect: params: min 10 is larger than max 5"),
        ("  params: {mn: 5}", (4, 12), "unknown key 'mn' (did you mean 'min'?)"),
        ("  params: {}", (4, 11), "needs 'min', 'max' or both"),
        ("  params: true", (4, 11), "params must be an integer, got the boolean true"),
        ("  params: 1.5", (4, 11), "must be a whole number, got 1.5"),
        ("  macs: -1", (4, 9), "macs must be >= 0, got -1"),
        ("  output_shape: 10", (4, 17), "output_shape must be a list"),
        ("  output_shape: [10, 0]", (4, 22), "output_shape[1] must be positive"),
        ("  receptive_field: [5]", (4, 20), "needs 2 values (one per spatial axis of the input), got 1"),
        ("  receptive_field: {min: [5, 5], max: [4, 9]}", (4, 20), "min 5 is larger than max 4 on axis H"),
        ("  receptive_field: 0", (4, 20), "receptive_field must be positive, got 0"),
    ],
)
def test_expect_is_validated_at_load(lines: str, where: tuple[int, int], words: str) -> None:
    with pytest.raises(SpecError, match=re.escape(words)) as info:
        parse(NET.format(expect=lines))
    assert (info.value.line, info.value.column) == where


def test_expect_receptive_field_needs_spatial_input() -> None:
    with pytest.raises(SpecError, match="the input has no spatial axes"):
        parse("input: [4]\nexpect: {receptive_field: 1}\nlayers: []\n")


def test_shape_ignores_expect(tmp_path: Path) -> None:
    f = tmp_path / "net.yaml"
    f.write_text(NET.format(expect="  output_shape: [10]"))
    result = runner.invoke(app, ["shape", str(f), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["output_shape"] == [8, 14, 14]
    f.write_text(NET.format(expect="  output_shap: [10]"))
    result = runner.invoke(app, ["shape", str(f)])
    assert result.exit_code == 1
    assert "net.yaml:4:3: error: expect: unknown key 'output_shap'" in result.stderr


# -- formats and exit codes ----------------------------------------------------------------------


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "b").mkdir()
    (tmp_path / ".hidden").mkdir()
    (tmp_path / "a.yaml").write_text(WARNINGS["CC203"][1])  # clean
    (tmp_path / "b" / "warn.yml").write_text(WARNINGS["CC204"][0])  # a warning
    (tmp_path / "b" / "broken.yaml").write_text(
        "input: [1, 8]\nlayers:\n  - {type: conv1d, kernel_size: 3}\n"
    )
    (tmp_path / "b" / "notes.txt").write_text("not a spec")
    (tmp_path / ".hidden" / "x.yaml").write_text("not: [a spec")
    return tmp_path


def test_text_format_and_stable_order(tree: Path) -> None:
    code, out = run(str(tree))
    assert code == 1
    lines = out.splitlines()
    assert (
        lines[0]
        == f"{tree}/b/broken.yaml:3:5: error: layer 0 (conv1d): missing required key 'out_channels' [CC104]"
    )
    assert re.fullmatch(
        rf"{tree}/b/warn\.yml:3:\d+: warning: layer 0 \(conv1d\): padding 'same' .* \[CC204\]", lines[1]
    )
    assert lines[2] == "3 files checked, 1 failed, 1 warning"
    assert len(lines) == 3
    assert run(str(tree))[1] == out  # the same every time


def test_one_broken_file_does_not_hide_the_others(tree: Path) -> None:
    (tree / "b" / "zz.yaml").write_text(WARNINGS["CC203"][0].replace("[1, 8]", "[1, 8]\nexpect: {params: 1}"))
    code, out = run(str(tree / "b"), str(tree / "a.yaml"))
    assert code == 1
    files = [line.split(":")[0] for line in out.splitlines()[:-1]]
    assert files == [str(tree / "b" / n) for n in ("broken.yaml", "warn.yml", "zz.yaml", "zz.yaml")]
    assert out.splitlines()[-1] == "4 files checked, 2 failed, 2 warnings"


def test_globs_and_duplicates(tree: Path) -> None:
    code, out = run(str(tree / "**" / "*.y*ml"), str(tree / "a.yaml"))
    assert out.splitlines()[-1] == "3 files checked, 1 failed, 1 warning"
    assert code == 1
    code, out = run(str(tree / "a.yaml"), str(tree / "b" / "warn.yml"))
    assert (code, out.splitlines()[-1]) == (0, "2 files checked, 0 failed, 1 warning")


def test_exit_codes(tree: Path) -> None:
    assert run(str(tree / "a.yaml"))[0] == 0
    assert run(str(tree / "b" / "warn.yml"))[0] == 0
    assert run(str(tree / "b" / "warn.yml"), "--strict")[0] == 1
    assert run(str(tree / "b" / "broken.yaml"))[0] == 1
    assert run(str(tree / "missing.yaml"))[0] == 2
    assert run(str(tree / "nothing*.yaml"))[0] == 2
    assert run(str(tree / "a.yaml"), "--format", "xml")[0] == 2
    assert runner.invoke(app, ["check"]).exit_code == 2
    (tree / "empty").mkdir()
    result = runner.invoke(app, ["check", str(tree / "empty")])
    assert result.exit_code == 2 and "no .yaml or .yml files found" in result.output


def test_strict_summary_counts_warned_files_as_failed(tree: Path) -> None:
    code, out = run(str(tree / "b" / "warn.yml"), "--strict")
    assert (code, out.splitlines()[-1]) == (1, "1 file checked, 1 failed, 1 warning")


def test_github_format(tree: Path) -> None:
    code, out = run(str(tree / "b"), "--format", "github")
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == (
        f"::error file={tree}/b/broken.yaml,line=3,col=5::"
        "layer 0 (conv1d): missing required key 'out_channels' [CC104]"
    )
    assert lines[1].startswith(f"::warning file={tree}/b/warn.yml,line=3,col=")
    assert lines[2] == "2 files checked, 1 failed, 1 warning"


def test_json_format(tree: Path) -> None:
    code, out = run(str(tree), "--format", "json")
    assert code == 1
    doc = json.loads(out)
    assert doc["ok"] is False
    assert doc["summary"] == {"files": 3, "failed": 1, "errors": 1, "warnings": 1}
    assert [f["file"] for f in doc["files"]] == [
        str(tree / p) for p in ("a.yaml", "b/broken.yaml", "b/warn.yml")
    ]
    assert [f["ok"] for f in doc["files"]] == [True, False, True]
    (d,) = doc["files"][1]["diagnostics"]
    assert d == {
        "file": str(tree / "b" / "broken.yaml"),
        "line": 3,
        "column": 5,
        "severity": "error",
        "code": "CC104",
        "message": "layer 0 (conv1d): missing required key 'out_channels'",
    }
    assert doc["files"][2]["diagnostics"][0]["severity"] == "warning"


def test_stdin() -> None:
    result = runner.invoke(app, ["check", "-"], input=WARNINGS["CC205"][0])
    assert result.exit_code == 0
    assert result.stdout.startswith(
        "<stdin>:3:24: warning: layer 0 (dropout): has no effect: dropout with p = 0"
    )


def test_examples_have_no_errors() -> None:
    code, out = run(str(ROOT / "specs" / "examples"))
    assert code == 0, out


# -- the forward pass ----------------------------------------------------------------------------


def test_forward_agrees_on_examples_and_reports_a_mismatch(tmp_path: Path) -> None:
    f = tmp_path / "net.yaml"
    f.write_text(NET.format(expect="  params: 808"))
    assert run(str(f), "--forward")[0] == 0
    report = analyze(parse(NET.format(expect="  params: 808"), "net.yaml"))
    assert forward_diagnostics(report) == []
    wrong = dataclasses.replace(report.layers[1], shape=(8, 15, 15))
    tampered = dataclasses.replace(report, layers=[report.layers[0], wrong, report.layers[2]])
    ((d),) = forward_diagnostics(tampered)
    assert (d.line, d.code) == (7, "CC401")
    assert (
        d.message
        == "layer 1 (maxpool2d): the forward pass computes [8, 16, 16], the analysis predicts [8, 15, 15]"
    )


def test_check_does_not_import_numpy_without_forward() -> None:
    script = (
        "import sys\nfrom typer.testing import CliRunner\nfrom convcalc.cli import app\n"
        f"r = CliRunner().invoke(app, ['check', {str(ROOT / 'specs' / 'examples')!r}])\n"
        "assert r.exit_code == 0, r.output\nprint('numpy' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
