"""The command line: exit codes, the error format on stderr, JSON on stdout, stdin, --batch, help.

Most cases run in-process with typer's CliRunner; a few run ``python -m convcalc`` in a
subprocess (slower) to check what a user really sees: no traceback, no numpy import.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from convcalc import __version__
from convcalc.cli import app

ERROR_LINE = re.compile(r"^(?P<file>.+):(?P<line>\d+):(?P<col>\d+): error: (?P<message>.+)\n\Z")

GOOD = """\
name: small
input: {shape: [3, 32, 32], batch: 2}
layers:
  - {type: conv2d, name: stem, out_channels: 8, kernel_size: 3, padding: same}
  - {type: relu}
  - {type: maxpool2d, kernel_size: 2}
  - type: residual
    layers:
      - {type: conv2d, out_channels: 8, kernel_size: 3, padding: 1}
  - {type: global_avgpool}
  - {type: linear, out_features: 10}
"""

BAD = """\
input: [3, 8, 8]
layers:
  - {type: relu}
  - {type: conv2d, name: big, out_channels: 4, kernel_size: 9}
"""

BAD_COL = BAD.splitlines()[3].index("9}") + 1  # kernel_size's value

runner = CliRunner()


def invoke(*args: str, stdin: str | bytes | None = None) -> Any:
    return runner.invoke(app, list(args), input=stdin)


@pytest.fixture
def good(tmp_path: Path) -> Path:
    path = tmp_path / "good.yaml"
    path.write_text(GOOD)
    return path


@pytest.fixture
def bad(tmp_path: Path) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD)
    return path


def assert_spec_error(result: Any, file: str, line: int, col: int, message: str) -> None:
    """Exit 1, nothing on stdout, one ``FILE:LINE:COL: error: MESSAGE`` line on stderr."""
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    m = ERROR_LINE.match(result.stderr)
    assert m is not None, result.stderr
    assert (m["file"], int(m["line"]), int(m["col"])) == (file, line, col)
    assert re.search(message, m["message"]), m["message"]


# -- success ---------------------------------------------------------------------------------


def test_table_on_success(good: Path) -> None:
    result = invoke("shape", str(good))
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    for word in ("stem", "conv2d", "residual", "linear"):
        assert word in result.stdout


def test_json_is_one_document_and_nothing_else(good: Path) -> None:
    result = invoke("shape", str(good), "--format", "json")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    data = json.loads(result.stdout)  # fails on anything before or after the document
    assert data["name"] == "small"
    assert data["input_shape"] == [3, 32, 32]
    assert data["output_shape"] == [10]
    assert [layer["type"] for layer in data["layers"]] == [
        "conv2d",
        "relu",
        "maxpool2d",
        "residual",
        "global_avgpool",
        "linear",
    ]
    assert data["total_params"] == sum(layer["params"] for layer in data["layers"])
    assert data["total_macs"] == sum(layer["macs"] for layer in data["layers"])


def test_short_format_option(good: Path) -> None:
    long, short = invoke("shape", str(good), "--format", "json"), invoke("shape", str(good), "-f", "json")
    assert long.exit_code == short.exit_code == 0
    assert long.stdout == short.stdout


def test_stdin_dash(good: Path) -> None:
    from_file = invoke("shape", str(good), "-f", "json")
    from_stdin = invoke("shape", "-", "-f", "json", stdin=GOOD)
    assert from_stdin.exit_code == 0, from_stdin.output
    assert json.loads(from_stdin.stdout) == json.loads(from_file.stdout)


def test_stdin_errors_are_attributed_to_stdin() -> None:
    result = invoke("shape", "-", stdin=BAD)
    assert_spec_error(result, "<stdin>", 4, BAD_COL, r"layer 1 'big' \(conv2d\): kernel_size 9 is larger")


def _walk(layers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for layer in layers:
        out.append(layer)
        for key in ("layers", "shortcut"):
            out.extend(_walk(layer.get(key, [])))
        for branch in layer.get("branches", []):
            out.extend(_walk(branch))
    return out


@pytest.mark.parametrize("batch", [1, 3, 1000, 10**12])
def test_batch_scales_macs_exactly_linearly(good: Path, batch: int) -> None:
    one = json.loads(invoke("shape", str(good), "-f", "json", "--batch", "1").stdout)
    many = json.loads(invoke("shape", str(good), "-f", "json", "--batch", str(batch)).stdout)
    assert many["batch"] == batch
    assert many["total_macs"] == batch * one["total_macs"]
    assert many["total_params"] == one["total_params"]
    assert many["output_shape"] == one["output_shape"]
    pairs = list(zip(_walk(one["layers"]), _walk(many["layers"]), strict=True))
    assert len(pairs) == 7
    for a, b in pairs:
        assert b["macs"] == batch * a["macs"]
        assert b["params"] == a["params"]


def test_batch_option_overrides_the_spec(good: Path) -> None:
    spec = json.loads(invoke("shape", str(good), "-f", "json").stdout)
    one = json.loads(invoke("shape", str(good), "-f", "json", "-b", "1").stdout)
    assert spec["batch"] == 2
    assert spec["total_macs"] == 2 * one["total_macs"]


def test_utf8_bom_file(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
    result = invoke("shape", str(path), "-f", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["output_shape"] == [10]


# -- spec errors: exit 1 ---------------------------------------------------------------------


def test_spec_error_format(bad: Path) -> None:
    result = invoke("shape", str(bad))
    assert_spec_error(
        result,
        str(bad),
        4,
        BAD_COL,
        r"^layer 1 'big' \(conv2d\): kernel_size 9 is larger than the padded input",
    )


def test_spec_error_with_json_format_prints_no_json(bad: Path) -> None:
    result = invoke("shape", str(bad), "--format", "json")
    assert_spec_error(result, str(bad), 4, BAD_COL, r"kernel_size 9 is larger")


@pytest.mark.parametrize(
    ("content", "line", "col", "message"),
    [
        (b"", 1, 1, r"the file is empty"),
        (b"input: [1, 8\nlayers: []\n", 2, 7, r"invalid YAML"),
        (b"- 1\n- 2\n", 1, 1, r"the document must be a mapping, got a list"),
        (b"\x7fELF\x02\x01\x01\x00\x00\x00", 1, 1, r"this looks like a binary file"),
        (b"input: [1, 8]\nname: \xff\nlayers: []\n", 2, 7, r"the file is not valid UTF-8 \(byte 0xff\)"),
        (
            b"input: [1, 8]\nlayers:\n  - {type: conv1D}\n",
            3,
            12,
            r"unknown layer type 'conv1D' \(did you mean",
        ),
        (
            b"input: [1, 8]\nlayers:\n  - {type: lstm, hidden_size: 4}\n  - {type: lstm, hidden_size: 4.0}\n",
            4,
            31,
            r"layer 1 \(lstm\): hidden_size must be an integer, got the float 4.0",
        ),
    ],
)
def test_spec_errors_exit_1(tmp_path: Path, content: bytes, line: int, col: int, message: str) -> None:
    path = tmp_path / "net.yaml"
    path.write_bytes(content)
    assert_spec_error(invoke("shape", str(path)), str(path), line, col, message)


def test_huge_integer_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_text("input: [1, " + "7" * 10_000 + "]\nlayers: []\n")
    assert_spec_error(invoke("shape", str(path)), str(path), 1, 12, r"input\[1\] is too large")


# -- usage errors: exit 2 --------------------------------------------------------------------


def test_missing_file_exits_2(tmp_path: Path) -> None:
    result = invoke("shape", str(tmp_path / "nope.yaml"))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "no such file" in result.stderr
    assert "Traceback" not in result.stderr


def test_directory_exits_2(tmp_path: Path) -> None:
    result = invoke("shape", str(tmp_path))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "is a directory" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["shape", "{good}", "--bogus"],
        ["shape", "{good}", "--format", "xml"],
        ["shape", "{good}", "--batch", "0"],
        ["shape", "{good}", "--batch", "two"],
        ["shape"],
        ["--bogus"],
        ["nosuchcommand"],
    ],
)
def test_usage_errors_exit_2(good: Path, args: list[str]) -> None:
    result = invoke(*(a.replace("{good}", str(good)) for a in args))
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert "Usage" in result.stderr
    assert "Traceback" not in result.stderr


# -- version and help ------------------------------------------------------------------------


def test_version() -> None:
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.stdout == f"convcalc {__version__}\n"


@pytest.mark.parametrize("flag", ["-h", "--help"])
@pytest.mark.parametrize("command", [[], ["shape"]])
def test_help_shows_an_example(command: list[str], flag: str) -> None:
    result = invoke(*command, flag)
    assert result.exit_code == 0
    assert "Usage" in result.stdout
    assert re.search(r"Example: convcalc shape \S+\.yaml", result.stdout)


def test_every_command_has_an_example_in_its_help() -> None:
    names = [c.name or c.callback.__name__ for c in app.registered_commands if c.callback]
    assert "shape" in names
    for name in names:
        result = invoke(name, "--help")
        assert result.exit_code == 0, name
        assert "Example" in result.stdout, name


def _command_paths() -> list[list[str]]:
    """The root, every command and every group's subcommand, as argument lists."""

    def walk(command: Any, path: list[str]) -> list[list[str]]:
        subcommands = getattr(command, "commands", {})
        return [path, *(p for name, sub in subcommands.items() for p in walk(sub, [*path, name]))]

    return walk(typer.main.get_command(app), [])


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _help(path: list[str]) -> str:
    result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "120"})  # one row per option
    assert result.exit_code == 0, (path, result.output)
    return ANSI.sub("", result.stdout)  # FORCE_COLOR (CI) makes rich colour the help


def test_command_paths_cover_every_command() -> None:
    assert {" ".join(p) for p in _command_paths()} >= {
        "",
        "shape",
        "verify",
        "check",
        "schema",
        "explain",
        "draw",
        "solve",
        "solve padding",
        "solve receptive-field",
        "solve input-sizes",
    }


@pytest.mark.parametrize("path", _command_paths(), ids=lambda p: " ".join(p) or "root")
def test_usage_line_names_arguments_in_upper_case(path: list[str]) -> None:
    usage = next(line for line in _help(path).splitlines() if "Usage:" in line)
    pieces = usage.split("[OPTIONS]", 1)[1].split()
    for piece in pieces:  # {NET}, {PATH}..., COMMAND [ARGS]...
        name = piece.strip("{}[].")
        assert name.isupper(), (path, usage)


@pytest.mark.parametrize(("command", "metavar"), [("shape", "{NET}"), ("check", "{PATH}...")])
def test_usage_line_metavar(command: str, metavar: str) -> None:
    usage = next(line for line in _help([command]).splitlines() if "Usage:" in line)
    assert usage.split() == ["Usage:", "convcalc", command, "[OPTIONS]", metavar]
    assert "{net}" not in usage


@pytest.mark.parametrize("path", _command_paths(), ids=lambda p: " ".join(p) or "root")
def test_flags_show_no_bool_type(path: list[str]) -> None:
    """On/off flags have no value to describe; only typer's own --help row still says <bool>.

    typer builds the help option itself and gives it no metavar, so its <bool> stays (see
    convcalc/cli.py, FLAG); every flag convcalc declares has an empty metavar.
    """
    text = _help(path)
    bool_rows = [line for line in text.splitlines() if "<bool>" in line]
    assert all("--help" in line for line in bool_rows), bool_rows
    assert "<str>" not in "\n".join(line for line in text.splitlines() if "--" in line)


def test_flag_rows_have_an_empty_type_column() -> None:
    last_option_on_row = {  # for --x/--no-x flags the negative option comes last
        "": ["--version"],
        "check": ["--strict", "--forward"],
        "draw": ["--log", "--pointwise"],
        "solve padding": ["--no-ceil-mode"],
        "solve receptive-field": ["--same"],
    }
    for command, flags in last_option_on_row.items():
        lines = _help(command.split()).splitlines()
        for flag in flags:
            row = next(line for line in lines if re.search(rf"\s{flag}\s", line))
            after = row.split(flag, 1)[1]
            assert re.match(r"\s{2,}[A-Z]", after), (command, row)  # straight on to the help text


# -- a real process --------------------------------------------------------------------------


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], input=stdin, capture_output=True, text=True, timeout=60, check=False
    )


def test_process_spec_error(bad: Path) -> None:
    proc = run("-m", "convcalc", "shape", str(bad))
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    assert ERROR_LINE.match(proc.stderr), proc.stderr
    assert proc.stderr.startswith(f"{bad}:4:{BAD_COL}: error: layer 1 'big' (conv2d): kernel_size 9")


def test_process_stdin_and_version() -> None:
    proc = run("-m", "convcalc", "shape", "-", "--format", "json", stdin=GOOD)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["output_shape"] == [10]
    proc = run("-m", "convcalc", "--version")
    assert (proc.returncode, proc.stdout) == (0, f"convcalc {__version__}\n")


def test_process_missing_file_exits_2(tmp_path: Path) -> None:
    proc = run("-m", "convcalc", "shape", str(tmp_path / "missing.yaml"))
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr


def test_shape_json_does_not_import_numpy(good: Path) -> None:
    proc = run("-X", "importtime", "-m", "convcalc", "shape", str(good), "--format", "json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if "|" in line}
    assert "convcalc.analyze" in imported  # the import log is really there
    assert not {m for m in imported if m == "numpy" or m.startswith("numpy.")}
    assert json.loads(proc.stdout)["output_shape"] == [10]
