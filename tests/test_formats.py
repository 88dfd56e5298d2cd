"""``convcalc shape --format markdown`` and ``--format csv``: goldens, structure and quoting.

Golden files: ``tests/golden/<example>.md`` and ``<example>.csv`` (CSV compared byte for
byte, CRLF line ends included). ``python -m pytest tests/test_formats.py --update-golden``
rewrites them.
"""

from __future__ import annotations

import csv
import difflib
import io
import re
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
from conftest import ROOT
from typer.testing import CliRunner

from convcalc.analyze import analyze
from convcalc.cli import app
from convcalc.render import CSV_COLUMNS, human, legend, md_escape, rf_text, to_csv, to_markdown
from convcalc.report import Report
from convcalc.spec import parse

EXAMPLES_DIR = ROOT / "specs" / "examples"
GOLDEN_DIR = ROOT / "tests" / "golden"
EXAMPLES = sorted(p.stem for p in EXAMPLES_DIR.glob("*.yaml"))
GOLDEN = ["tcn", "text_cnn"]


@cache
def report_of(name: str) -> Report:
    path = EXAMPLES_DIR / f"{name}.yaml"
    return analyze(parse(path.read_bytes(), str(path.relative_to(ROOT))))


def check_golden_bytes(path: Path, actual: str, update: bool) -> None:
    """Compare ``actual`` with the golden file byte for byte (or rewrite it); fail with a diff."""
    data = actual.encode("utf-8")
    if update:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return
    if not path.exists():
        pytest.fail(f"{path.relative_to(ROOT)} is missing: run pytest with --update-golden to create it")
    expected = path.read_bytes()
    if data != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.decode("utf-8").splitlines(keepends=True),
                actual.splitlines(keepends=True),
                f"{path.name} (golden)",
                f"{path.name} (current output)",
            )
        )
        pytest.fail(f"{path.name} differs from the current output:\n{diff}")


def run(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout_bytes.decode("utf-8")  # .stdout would turn CRLF into LF


# -- goldens -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", GOLDEN)
def test_markdown_golden(name: str, update_golden: bool) -> None:
    out = run("shape", str(EXAMPLES_DIR / f"{name}.yaml"), "--format", "markdown")
    assert out == to_markdown(report_of(name))
    check_golden_bytes(GOLDEN_DIR / f"{name}.md", out, update_golden)


@pytest.mark.parametrize("name", GOLDEN)
def test_csv_golden(name: str, update_golden: bool) -> None:
    out = run("shape", str(EXAMPLES_DIR / f"{name}.yaml"), "--format", "csv")
    assert out == to_csv(report_of(name))
    check_golden_bytes(GOLDEN_DIR / f"{name}.csv", out, update_golden)


# -- CSV -----------------------------------------------------------------------------------


def joined(values: object) -> str:
    if not isinstance(values, list) or all(v is None for v in values):
        return ""
    return "x".join("" if v is None else str(v) for v in values)


@pytest.mark.parametrize("name", EXAMPLES)
def test_csv_rows_are_the_report(name: str) -> None:
    report = report_of(name)
    text = to_csv(report)
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")  # RFC 4180 line ends
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert tuple(rows[0]) == CSV_COLUMNS
    layers = report.rows()
    assert len(rows) == 1 + len(layers)
    for row, (_, r) in zip(rows[1:], layers, strict=True):
        rf = r.rf.to_dict()
        assert dict(zip(CSV_COLUMNS, row, strict=True)) == {
            "path": r.layer.dotted,
            "name": r.layer.name or "",
            "type": r.layer.type,
            "output_shape": "x".join(map(str, r.shape)),
            "params": str(r.params),
            "macs": str(r.macs),
            "rf_size": joined(rf["size"]),
            "rf_jump": joined(rf["jump"]),
            "rf_start": joined(rf["start"]),
        }


def test_csv_nested_paths_and_nulls() -> None:
    rows = {row["path"]: row for row in csv.DictReader(io.StringIO(to_csv(report_of("crnn")), newline=""))}
    assert rows["8"]["name"] == "blstm"
    assert (rows["8"]["rf_size"], rows["8"]["rf_jump"], rows["8"]["rf_start"]) == ("", "4", "")  # unbounded
    assert (rows["0"]["rf_size"], rows["0"]["rf_jump"], rows["0"]["rf_start"]) == ("5", "1", "-2")
    rows = {row["path"]: row for row in csv.DictReader(io.StringIO(to_csv(report_of("tcn")), newline=""))}
    assert {"0.layers.3", "0.shortcut.0", "8"} <= set(rows)
    assert rows["0.shortcut.0"]["params"] == "288"
    rows = {
        row["path"]: row
        for row in csv.DictReader(io.StringIO(to_csv(report_of("rnn_classifier")), newline=""))
    }
    assert (rows["1"]["output_shape"], rows["1"]["rf_size"], rows["1"]["rf_jump"]) == ("12", "", "")  # global
    rows = {
        row["path"]: row for row in csv.DictReader(io.StringIO(to_csv(report_of("resnet_stem")), newline=""))
    }
    assert (rows["0"]["rf_size"], rows["0"]["rf_jump"], rows["0"]["rf_start"]) == ("7x7", "2x2", "-3x-3")


def test_csv_quotes_names() -> None:
    name = 'conv, "big"\nnew line'
    spec = (
        f"input: [3, 8, 8]\nlayers:\n  - {{type: conv2d, out_channels: 4, kernel_size: 3, name: {name!r}}}\n"
    )
    spec = spec.replace("'conv", '"conv').replace("line'", 'line"').replace('"big"', '\\"big\\"')
    spec = spec.replace("\nnew", "\\nnew")
    report = analyze(parse(spec))
    assert report.layers[0].layer.name == name
    text = to_csv(report)
    assert '"conv, ""big""\nnew line"' in text  # RFC 4180: quoted, quotes doubled
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[1][1] == name and len(rows) == 2


# -- markdown ------------------------------------------------------------------------------


def cells(line: str) -> list[str]:
    """The cells of a markdown table row, splitting on unescaped pipes only."""
    assert line.startswith("| ") and line.endswith(" |"), line
    return [c.strip() for c in re.split(r"(?<!\\)\|", line[1:-1])]


@pytest.mark.parametrize("name", EXAMPLES)
def test_markdown_table_is_the_report(name: str) -> None:
    report = report_of(name)
    lines = to_markdown(report).splitlines()
    title = (
        f"### {md_escape(report.spec.name or 'net')}: `[{', '.join(map(str, report.spec.input_shape))}]` -> "
    )
    assert lines[0].startswith(title)
    assert cells(lines[2]) == ["layer", "type", "output", "params", "receptive field", "MACs"]
    assert re.fullmatch(r"\|(:--\||--:\|){6}", lines[3])
    body = lines[4 : 4 + len(report.rows())]
    for line, (depth, r) in zip(body, report.rows(), strict=True):
        row = cells(line)
        assert row[0].startswith("&nbsp;&nbsp;" * depth) and not row[0].startswith(
            "&nbsp;&nbsp;" * (depth + 1)
        )
        assert row[1:] == [
            r.layer.type,
            f"[{', '.join(map(str, r.shape))}]",
            f"{r.params:,}",
            rf_text(r.rf),
            human(r.macs),
        ]
    total = cells(lines[4 + len(report.rows())])
    assert total == [
        "**total**",
        "",
        "",
        f"**{report.total_params:,}**",
        rf_text(report.rf),
        f"**{human(report.total_macs)}**",
    ]
    assert lines[-1] == md_escape(legend()) and lines[-2] == ""


def test_markdown_escapes_names_and_shows_batch() -> None:
    spec = (
        "name: my_net\ninput: {shape: [3, 8], batch: 4}\nlayers:\n"
        "  - {type: conv1d, out_channels: 2, kernel_size: 3, name: 'a|b*c'}\n"
    )
    text = to_markdown(analyze(parse(spec)))
    assert text.startswith("### my\\_net: `[3, 8]` -> `[2, 6]` (batch 4)\n")
    row = cells(text.splitlines()[4])
    assert row[0] == "0 a\\|b\\*c" and len(row) == 6


# -- the command line ----------------------------------------------------------------------


def test_shape_formats_on_the_command_line() -> None:
    runner = CliRunner()
    bad = runner.invoke(app, ["shape", str(EXAMPLES_DIR / "tcn.yaml"), "--format", "xls"])
    assert bad.exit_code == 2
    assert "markdown" in bad.output and "csv" in bad.output  # the choices are listed
    out = run("shape", str(EXAMPLES_DIR / "seed_5x5.yaml"), "-f", "csv")
    assert (
        out == "path,name,type,output_shape,params,macs,rf_size,rf_jump,rf_start\r\n"
        "0,filter,conv2d,1x3x3,10,81,3x3,1x1,0x0\r\n"
    )


@pytest.mark.parametrize("fmt", ["markdown", "csv", "json"])
def test_machine_formats_do_not_import_rich(fmt: str) -> None:
    code = (
        "import sys\n"
        "from convcalc.cli import app\n"
        f"try:\n    app(['shape', {str(EXAMPLES_DIR / 'tcn.yaml')!r}, '--format', {fmt!r}])\n"
        "except SystemExit as e:\n    assert not e.code, e.code\n"
        "loaded = sorted(m for m in sys.modules if m == 'rich' or m.startswith('rich.'))\n"
        "assert not loaded, loaded\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout  # the document was printed
