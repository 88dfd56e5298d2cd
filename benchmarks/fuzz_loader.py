"""Coverage-guided fuzzing of the loader with atheris (libFuzzer): ``parse`` then ``analyze``.

Every input is raw bytes, as ``convcalc shape`` reads a file. The only allowed failure is
:class:`convcalc.errors.SpecError` (with a line inside the input); any other exception is a
bug, and libFuzzer stops and saves the input as ``crash-*``. An input slower than ``-timeout``
seconds (a hang) or above ``-rss_limit_mb`` is reported the same way.

The corpus starts from ``specs/examples/*.yaml`` and the dictionary holds every layer type,
field name and padding keyword of the registry plus YAML punctuation, so mutations reach the
validator instead of stopping at YAML syntax.

    pip install atheris
    python benchmarks/fuzz_loader.py -max_total_time=180      # any libFuzzer options
    python benchmarks/fuzz_loader.py --workdir /tmp/fuzz -runs=100000

The corpus, dictionary and any crash files go to ``--workdir`` (default: TMPDIR/convcalc-fuzz).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import atheris  # type: ignore[import-untyped, import-not-found, unused-ignore]

with atheris.instrument_imports(include=["convcalc"]):
    from convcalc.analyze import analyze
    from convcalc.errors import SpecError
    from convcalc.layers import REGISTRY
    from convcalc.spec import parse

ROOT = Path(__file__).resolve().parent.parent
PUNCTUATION = [
    "[",
    "]",
    "{",
    "}",
    ": ",
    ", ",
    "- ",
    "\n  - ",
    "&a ",
    "*a",
    "'",
    '"',
    "#",
    "!!int ",
    "---",
    "? ",
]
VALUES = ["0", "-1", "1", "2", "3", "9223372036854775808", "1e-5", "0.5", "true", "null", "~", "1:30", "0x1f"]


def one_input(data: bytes) -> None:
    try:
        spec = parse(data, "fuzz.yaml")
        analyze(spec)
    except SpecError as e:
        breaks = (b"\n", b"\r", "\x85".encode(), "\u2028".encode(), "\u2029".encode())
        lines = sum(data.count(b) for b in breaks) + 1  # an upper bound: CRLF counts twice
        if not 1 <= e.line <= lines:  # an error must point inside the file
            raise AssertionError(f"line {e.line} outside the input ({lines} lines): {e}") from None


def dictionary() -> list[str]:
    words = set(PUNCTUATION + VALUES)
    for name, kind in REGISTRY.items():
        words.add(f"type: {name}")
        for f in kind.fields:
            words.add(f"{f.name}: ")
            words.update(f.choices)
    words.update(["input: ", "layers:", "name: ", "description: ", "x-", "shape: ", "batch: "])
    return sorted(words)


def dict_line(word: str) -> str:
    escaped = "".join(c if c.isprintable() and c not in '"\\' else f"\\x{ord(c):02x}" for c in word)
    return f'"{escaped}"'


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "convcalc-fuzz"))
    args, libfuzzer = ap.parse_known_args()
    work = Path(args.workdir)
    corpus = work / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    for example in sorted((ROOT / "specs" / "examples").glob("*.yaml")):
        shutil.copy(example, corpus / example.name)
    words = work / "yaml.dict"
    words.write_text("".join(dict_line(w) + "\n" for w in dictionary()))
    argv = [
        sys.argv[0],
        f"-dict={words}",
        "-timeout=10",
        "-rss_limit_mb=2048",
        "-max_len=8192",
        f"-artifact_prefix={work}/",
        *libfuzzer,
        str(corpus),
    ]
    print(f"corpus and artifacts in {work}", file=sys.stderr)
    atheris.Setup(argv, one_input)
    atheris.Fuzz()  # libFuzzer exits the process when done


if __name__ == "__main__":
    main()
