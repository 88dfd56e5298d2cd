"""The README tells the truth: its test command is CI's, its example output is real."""

from __future__ import annotations

import re

from conftest import ROOT

from convcalc import load
from convcalc.render import render_table

README = (ROOT / "README.md").read_text()


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    command = "pip install -e '.[test]' && python -m pytest"
    assert command in README
    assert re.search(rf"^{re.escape(command)}$", ci, re.M), ".ci/run must run the README's test command"


def test_readme_has_exactly_two_setup_commands() -> None:
    setup = README.split("## Set-up", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", setup, re.S)
    assert len(blocks) == 2
    assert blocks[0].strip().startswith("pip install . && convcalc shape specs/examples/")
    example = blocks[0].split("convcalc shape ", 1)[1].strip()
    assert (ROOT / example).is_file()


def test_readme_example_output_is_real() -> None:
    shown = README.split("$ convcalc shape specs/examples/lenet5.yaml\n", 1)[1].split("```", 1)[0]
    actual = render_table(load(ROOT / "specs/examples/lenet5.yaml").analyze(), width=80)
    strip = [line.rstrip() for line in actual.splitlines()]
    assert [line.rstrip() for line in shown.splitlines()] == strip


def test_readme_python_example() -> None:
    report = load(str(ROOT / "specs/examples/tcn.yaml")).analyze()
    assert (report.output_shape, report.total_params) == ((10, 512), 56426)
    assert f"(({report.output_shape[0]}, {report.output_shape[1]}), {report.total_params})" in README
