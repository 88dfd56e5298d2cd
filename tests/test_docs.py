"""specs/format.md documents every layer type and field, and its examples are what convcalc prints."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

import pytest
from conftest import ROOT
from typer.testing import CliRunner

from convcalc.analyze import analyze
from convcalc.cli import app
from convcalc.errors import SpecError
from convcalc.layers import REGISTRY
from convcalc.render import render_table, table, to_json
from convcalc.spec import Field, Layer, parse

FORMAT_MD = ROOT / "specs" / "format.md"
EXAMPLES_DIR = ROOT / "specs" / "examples"


@dataclass
class Section:
    level: int
    heading: str
    body: list[str]

    def code_blocks(self, lang: str) -> list[str]:
        return [code for block_lang, code in code_blocks("\n".join(self.body)) if block_lang == lang]


def code_blocks(text: str) -> list[tuple[str, str]]:
    """(language, content) of every fenced block, in order."""
    return [(m[1], m[2]) for m in re.finditer(r"^```(\w*)\n(.*?)^```$", text, re.M | re.S)]


@cache
def sections() -> list[Section]:
    out: list[Section] = []
    in_code = False
    for line in FORMAT_MD.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_code = not in_code
        m = re.match(r"(#+) (.*)", line)
        if m and not in_code:
            out.append(Section(len(m[1]), m[2], []))
        elif out:
            out[-1].body.append(line)
    return out


def section(title: str) -> Section:
    found = [s for s in sections() if s.heading == title]
    assert len(found) == 1, f"format.md should have one section '{title}', found {len(found)}"
    return found[0]


def type_section(type_name: str) -> Section:
    found = [s for s in sections() if f"`{type_name}`" in s.heading]
    assert len(found) == 1, f"format.md needs exactly one heading naming `{type_name}`, found {len(found)}"
    return found[0]


def table_rows(body: list[str]) -> dict[str, list[str]]:
    """Rows of the markdown tables in ``body`` whose first cell is a code span, by that name."""
    rows: dict[str, list[str]] = {}
    for line in body:
        if line.startswith("| `"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            rows[cells[0].strip("`")] = cells
    return rows


def expected_default(f: Field) -> str | None:
    """How the default is written in the table's default column (None: compare numerically)."""
    if f.required:
        return "required"
    if f.default is None:
        return "kernel_size"  # pools: the stride defaults to the kernel size
    if f.default == ():
        return "[]"
    if isinstance(f.default, bool):
        return "true" if f.default else "false"
    if isinstance(f.default, (int, float)):
        return None
    return str(f.default)


def check_default(f: Field, cell: str) -> None:
    token = cell.split()[0].strip("`")
    want = expected_default(f)
    if want is None:
        assert float(token) == f.default, f"field {f.name}: documented default {cell!r}, actual {f.default!r}"
    else:
        assert token == want, f"field {f.name}: documented default {cell!r}, actual {want!r}"


# -- the layer reference -----------------------------------------------------------------


@pytest.mark.parametrize("type_name", sorted(REGISTRY))
def test_layer_documented(type_name: str) -> None:
    sec = type_section(type_name)
    assert sec.level == 3, f"`{type_name}` should be a ### heading under 'Layer reference'"
    kind = REGISTRY[type_name]
    rows = table_rows(sec.body)
    fields = {f.name: f for f in kind.fields}
    # a section shared by several types (rnn, lstm, gru) may list a field of one of them only
    shared = {f.name for name in re.findall(r"`([^`]+)`", sec.heading) for f in REGISTRY[name].fields}
    assert set(fields) <= set(rows) <= shared, (
        f"{type_name}: fields documented {sorted(rows)} but the layer has {sorted(fields)}"
    )
    for name, f in fields.items():
        cells = rows[name]
        assert len(cells) == 4 and all(cells), (
            f"{type_name}.{name}: a row needs field, type, default, meaning"
        )
        check_default(f, cells[2])
    text = "\n".join(sec.body)
    for rule in (r"\*\*Shape:\*\*", r"\*\*Receptive field:\*\*", r"\*\*Parameters[:,]", r"MACs:\*\*"):
        assert re.search(rule, text), f"{type_name}: the section lacks {rule.replace(chr(92), '')}"


@pytest.mark.parametrize("type_name", sorted(REGISTRY))
def test_layer_fields_mentioned_in_section(type_name: str) -> None:
    text = "\n".join(type_section(type_name).body)
    for f in REGISTRY[type_name].fields:
        assert f"`{f.name}`" in text, f"{type_name}: field {f.name} is not mentioned in its section"
    if not REGISTRY[type_name].fields:
        assert "No fields" in text, f"{type_name}: say 'No fields' in its section"


def _all_layers(layers: tuple[Layer, ...]) -> list[Layer]:
    out: list[Layer] = []
    for lay in layers:
        out.append(lay)
        for _, children in lay.children():
            out.extend(_all_layers(children))
    return out


@cache
def example_types() -> set[str]:
    types: set[str] = set()
    for path in EXAMPLES_DIR.glob("*.yaml"):
        types |= {lay.type for lay in _all_layers(parse(path.read_bytes(), str(path)).layers)}
    return types


@pytest.mark.parametrize("type_name", sorted(REGISTRY))
def test_layer_used_in_an_example(type_name: str) -> None:
    assert type_name in example_types(), f"no example in specs/examples/ uses `{type_name}`"


def test_every_type_heading_is_a_layer() -> None:
    """No stale sections: every code span in a layer-reference heading is a registered type."""
    reference = sections().index(section("Layer reference"))
    for sec in sections()[reference + 1 :]:
        if sec.level < 3:
            break
        for name in re.findall(r"`([^`]+)`", sec.heading):
            assert name in REGISTRY, f"format.md documents `{name}`, which is not a layer type"


# -- the output ----------------------------------------------------------------------------


def json_keys(data: Any) -> set[str]:
    if isinstance(data, dict):
        return set(data) | {k for v in data.values() for k in json_keys(v)}
    if isinstance(data, list):
        return {k for v in data for k in json_keys(v)}
    return set()


def test_json_keys_documented() -> None:
    keys: set[str] = set()
    for path in EXAMPLES_DIR.glob("*.yaml"):
        keys |= json_keys(analyze(parse(path.read_bytes(), str(path))).to_dict())
    rf_keys = {"size", "jump", "start", "spatial", "scope"}
    documented = set(table_rows(section("JSON (`convcalc shape NET --format json`)").body))
    assert keys - rf_keys <= documented, f"JSON keys without a row: {sorted(keys - rf_keys - documented)}"
    rf_text = "\n".join(section("Receptive fields").body)
    assert all(f'"{k}"' in rf_text for k in rf_keys), "the receptive-field keys are explained there"
    assert {"layers", "shortcut", "branches", "receptive_field"} <= keys  # the examples show nesting


def test_json_example_is_current() -> None:
    sec = section("JSON (`convcalc shape NET --format json`)")
    spec_text, printed = sec.code_blocks("yaml")[0], sec.code_blocks("json")[0]
    assert to_json(analyze(parse(spec_text))) + "\n" == printed


def test_table_example_is_current() -> None:
    spec_text = section("JSON (`convcalc shape NET --format json`)").code_blocks("yaml")[0]
    printed = section("Table (`convcalc shape NET`)").code_blocks("text")[0]
    rendered = render_table(analyze(parse(spec_text)), width=80)
    assert [line.rstrip() for line in rendered.strip("\n").splitlines()] == printed.strip("\n").splitlines()


def test_table_columns_documented() -> None:
    rows = table_rows(section("Table (`convcalc shape NET`)").body)
    report = analyze(parse((EXAMPLES_DIR / "seed_5x5.yaml").read_bytes()))
    headers = [str(col.header) for col in table(report).columns]
    assert headers == list(rows), f"table columns {headers}, documented {list(rows)}"


def test_error_examples_are_current() -> None:
    sec = section("Errors and exit codes")
    specs = sec.code_blocks("yaml")
    messages = [t for t in sec.code_blocks("text") if t.startswith("net.yaml:")]
    assert specs and len(specs) == len(messages)
    for spec_text, message in zip(specs, messages, strict=True):
        with pytest.raises(SpecError, match=r"^net\.yaml:\d+:\d+: error: ") as info:
            analyze(parse(spec_text, "net.yaml"))
        assert info.value.render() + "\n" == message


def test_documented_exit_codes(tmp_path: Any) -> None:
    body = section("Errors and exit codes").body
    codes = [m[1] for line in body if (m := re.match(r"\| (\d) \|", line))]
    assert codes == ["0", "1", "2"]
    runner = CliRunner()
    good = runner.invoke(app, ["shape", str(EXAMPLES_DIR / "seed_5x5.yaml")])
    assert good.exit_code == 0, good.output
    bad = tmp_path / "net.yaml"
    bad.write_text("input: [3, 8, 8]\nlayers:\n  - {type: conv2d, out_channels: 4, kernel_size: 9}\n")
    result = runner.invoke(app, ["shape", str(bad)])
    assert result.exit_code == 1
    assert re.fullmatch(r".*net\.yaml:3:\d+: error: .*\n", result.stderr), result.stderr
    assert "Traceback" not in result.output
    assert runner.invoke(app, ["shape", str(tmp_path / "missing.yaml")]).exit_code == 2
    assert runner.invoke(app, ["shape", str(bad), "--batch", "0"]).exit_code == 2
    assert runner.invoke(app, ["shape", str(bad), "--format", "xml"]).exit_code == 2


def test_top_level_keys_documented() -> None:
    rows = table_rows(section("The document").body)
    assert {"name", "description", "input", "layers", "x-..."} == set(rows)
    assert set(table_rows(section("Input").body)) == {"shape", "batch"}
    # what the table calls required is required
    for key in ("input", "layers"):
        assert rows[key][2] == "required"
        other = "layers: []" if key == "input" else "input: [1, 4]"
        with pytest.raises(SpecError, match=f"missing required key '{key}'"):
            parse(other + "\n")
