"""The command line: the only place with I/O and exit codes."""

from __future__ import annotations

import sys
from enum import Enum
from typing import Annotated, NoReturn

import typer

from . import __version__
from .errors import ConvcalcError

app = typer.Typer(
    name="convcalc",
    help="Output shapes, receptive fields, parameters and MACs of layer stacks described in YAML.",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class Format(str, Enum):
    table = "table"
    json = "json"


def _version(value: bool) -> None:
    if value:
        print(f"convcalc {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Output shapes, receptive fields, parameters and MACs of layer stacks described in YAML.

    Example: convcalc shape specs/examples/tcn.yaml
    """


def _fail(err: ConvcalcError) -> NoReturn:
    print(err.render(), file=sys.stderr)
    raise typer.Exit(1)


def _read(path: str) -> tuple[bytes, str]:
    """The bytes of PATH (or of stdin for '-'); a missing file is a usage error (exit 2)."""
    if path == "-":
        return sys.stdin.buffer.read(), "<stdin>"
    try:
        with open(path, "rb") as f:
            return f.read(), path
    except FileNotFoundError:
        raise typer.BadParameter(f"no such file: {path}", param_hint="NET") from None
    except IsADirectoryError:
        raise typer.BadParameter(f"{path} is a directory, not a YAML file", param_hint="NET") from None
    except OSError as e:
        raise typer.BadParameter(f"cannot read {path}: {e.strerror}", param_hint="NET") from None


NetArg = Annotated[str, typer.Argument(metavar="NET", help="A YAML net spec, or - for stdin.", show_default=False)]


@app.command()
def shape(
    net: NetArg,
    format: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
    batch: Annotated[
        int | None, typer.Option("--batch", "-b", min=1, help="Batch size for MACs (overrides the spec's).")
    ] = None,
) -> None:
    """Output shape, receptive field, parameters and MACs of every layer.

    Example: convcalc shape specs/examples/wavenet.yaml --format json
    """
    from .analyze import analyze
    from .spec import parse

    data, file = _read(net)
    try:
        report = analyze(parse(data, file), batch)
    except ConvcalcError as e:
        _fail(e)
    if format is Format.json:
        from .render import to_json
        from .spec import paused_gc

        with paused_gc():
            text = to_json(report)
        sys.stdout.write(text + "\n")
        return
    from rich.console import Console

    from .render import legend, table

    console = Console()
    console.print(table(report))
    console.print(legend(), style="dim", highlight=False)


def main() -> None:
    app()
