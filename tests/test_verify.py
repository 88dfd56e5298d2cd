"""``convcalc verify``: the forward pass checked against the analysis, through the CLI."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch_mirror
from hypothesis import assume, given
from hypothesis import strategies as st
from typer.testing import CliRunner

import convcalc
import convcalc.analyze
from convcalc import cli
from convcalc.cli import app
from convcalc.errors import ConvcalcError
from convcalc.forward import weight_table
from convcalc.layers import REGISTRY
from convcalc.report import Report
from convcalc.rf import RF, AxisRF
from convcalc.verify import check_weight_file, estimate_memory, measure_rf, parse_size, random_input, verify

runner = CliRunner()

SMALL = """name: small
input: [2, 32]
layers:
  - {type: conv1d, out_channels: 4, kernel_size: 3, dilation: 2, padding: causal}
  - {type: relu}
  - type: residual
    layers:
      - {type: conv1d, out_channels: 4, kernel_size: 3, padding: same}
      - {type: batchnorm}
  - {type: maxpool1d, kernel_size: 2}
  - {type: sigmoid}
"""

IMAGE = """input: [3, 20, 30]
layers:
  - {type: conv2d, out_channels: 4, kernel_size: [3, 5], stride: 2, padding: 1}
  - {type: avgpool2d, kernel_size: 3, stride: 1, padding: 1, count_include_pad: false}
  - type: parallel
    branches:
      - [{type: conv2d, out_channels: 2, kernel_size: 1}]
      - [{type: conv2d, out_channels: 2, kernel_size: 3, padding: [1, 2], dilation: [1, 2]}]
"""


@pytest.fixture
def small(tmp_path: Path) -> Path:
    path = tmp_path / "small.yaml"
    path.write_text(SMALL)
    return path


def run(*args: str | Path) -> Any:
    return runner.invoke(app, ["verify", *map(str, args)])


def save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    np.savez(path, **arrays)  # type: ignore[arg-type]


def torch_state(path: Path) -> tuple[torch.nn.Module, dict[str, np.ndarray]]:
    torch.manual_seed(0)
    model = torch_mirror.build(convcalc.load(path).spec).double().eval()
    return model, {k: v.numpy() for k, v in model.state_dict().items()}


# -- the command --------------------------------------------------------------------------------


def test_table_output_agrees(small: Path) -> None:
    result = run(small)
    assert result.exit_code == 0, result.output
    assert "OK: all 7 layer shapes and the receptive field on 1 axis/axes agree" in result.output
    assert "2.layers.1 batchnorm" in result.output


def test_json_output_matches_the_analysis(small: Path) -> None:
    result = run(small, "--format", "json", "--batch", "3")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    report = convcalc.load(small).analyze()
    assert data["ok"] is True
    assert data["input_shape"] == [3, 2, 32]
    assert data["output_shape"] == [3, *report.output_shape]
    assert [row["path"] for row in data["layers"]] == ["0", "1", "2", "2.layers.0", "2.layers.1", "3", "4"]
    assert all(
        row["status"] == "ok" and row["computed_shape"] == row["predicted_shape"] for row in data["layers"]
    )
    (axis,) = data["receptive_field"]["axes"]
    ax = report.rf.axes[0]
    expected = {"size": ax.size, "jump": ax.jump, "start": ax.start}
    assert axis["status"] == "ok"
    assert axis["predicted"] == expected
    assert {k: axis["measured"][k] for k in expected} == expected
    assert data["memory"]["peak_bytes"] > 0 and data["memory"]["estimated_bytes"] > 0


def test_weights_input_and_output_files_reproduce_torch(small: Path, tmp_path: Path) -> None:
    model, sd = torch_state(small)
    save_npz(tmp_path / "w.npz", sd)
    x = np.random.default_rng(1).standard_normal((2, 2, 32))
    np.save(tmp_path / "x.npy", x)
    result = run(
        small, "--weights", tmp_path / "w.npz", "--input", tmp_path / "x.npy", "-o", tmp_path / "y.npy"
    )
    assert result.exit_code == 0, result.output
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    y = np.load(tmp_path / "y.npy")
    assert y.dtype == np.float64
    assert np.abs(y - expected).max() <= 1e-7 * np.abs(expected).max()
    assert "weights: " + str(tmp_path / "w.npz") in result.output


def test_weight_file_mismatches_are_all_listed(small: Path, tmp_path: Path) -> None:
    _, sd = torch_state(small)
    sd["0.weight"] = np.zeros((4, 2, 5))
    del sd["2.layers.0.bias"]
    sd["7.weight"] = np.zeros(3)
    sd["3.bias"] = np.zeros(3, dtype=np.int32)
    save_npz(tmp_path / "bad.npz", sd)
    result = run(small, "--weights", tmp_path / "bad.npz")
    assert result.exit_code == 1
    err = result.stderr
    assert "does not match" in err and "(4 problems)" in err
    assert "'0.weight' has shape [4, 2, 5], but layer 0 (conv1d) expects [4, 2, 3]" in err
    assert "missing '2.layers.0.bias': layer 2.layers.0 (conv1d) expects shape [4]" in err
    assert "unexpected '7.weight' (shape [3]): no layer has it" in err
    assert "unexpected '3.bias'" in err
    assert "OK" not in result.stdout


def test_memory_estimate_refuses_before_running(small: Path) -> None:
    result = run(small, "--max-memory", "1KiB")
    assert result.exit_code == 1
    assert "refusing to run: the forward pass needs about" in result.stderr
    assert "more than --max-memory 1.0 KiB" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--max-memory", "lots"], "not a size"),
        (["--batch", "0"], "--batch"),
        (["--seed", "-1"], "--seed"),
        (["--weights", "nope.npz"], "no such file: nope.npz"),
        (["--input", "nope.npy"], "no such file: nope.npy"),
    ],
)
def test_usage_errors_exit_2(small: Path, args: list[str], message: str) -> None:
    result = run(small, *args)
    assert result.exit_code == 2
    assert message in result.output


def test_missing_spec_exits_2(tmp_path: Path) -> None:
    result = run(tmp_path / "none.yaml")
    assert result.exit_code == 2
    assert "no such file" in result.output


def test_spec_error_is_located(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("input: [3, 8]\nlayers:\n  - {type: conv1d, out_channels: 4, kernel_size: 9}\n")
    result = run(path)
    assert result.exit_code == 1
    assert f"{path}:3:" in result.stderr and ": error: layer 0 (conv1d): kernel_size 9" in result.stderr


def test_bad_input_files(small: Path, tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.zeros((2, 3, 32)))
    result = run(small, "--input", tmp_path / "x.npy")
    assert result.exit_code == 1
    assert r"the input x must have shape [batch, 2, 32], got [2, 3, 32]" in result.stderr
    np.save(tmp_path / "ok.npy", np.zeros((2, 2, 32), dtype=np.float32))
    result = run(small, "--input", tmp_path / "ok.npy", "--batch", "3")
    assert result.exit_code == 2
    assert "has batch 2" in result.output
    (tmp_path / "junk.npz").write_bytes(b"not an archive")
    result = run(small, "--weights", tmp_path / "junk.npz")
    assert result.exit_code == 1
    assert "cannot read" in result.stderr
    result = run(small, "--weights", tmp_path / "ok.npy")
    assert result.exit_code == 1
    assert "is not a .npz archive" in result.stderr


def test_help_has_an_example() -> None:
    result = runner.invoke(app, ["verify", "--help"])
    assert result.exit_code == 0
    assert "Example: convcalc verify" in result.output


# -- what verify finds --------------------------------------------------------------------------


def test_a_wrong_layer_shape_is_reported_per_layer(small: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    relu = REGISTRY["relu"]
    real = relu.forward
    monkeypatch.setattr(relu, "forward", lambda layer, x, w, fctx: real(layer, x, w, fctx)[..., :-1])
    result = run(small)
    assert result.exit_code == 1
    assert "layer 1 (relu) (line 5): computed output shape [4, 31], predicted [4, 32]" in result.output
    assert "MISMATCH" in result.output


def test_a_layer_that_breaks_is_reported(small: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: Any) -> Any:
        raise ValueError("no luck")

    monkeypatch.setattr(REGISTRY["batchnorm"], "forward", boom)
    result = run(small, "--format", "json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    status = {row["path"]: row["status"] for row in data["layers"]}
    assert (
        status["2.layers.1"] == status["2"] == "failed" and status["3"] == "not run" and status["0"] == "ok"
    )
    assert "2 later layer(s) did not run" in data["diagnostics"]
    assert (
        "layer 2.layers.1 (batchnorm) (line 9): the forward pass failed: ValueError: no luck"
        in data["diagnostics"]
    )


def test_a_wrong_receptive_field_is_caught(small: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = convcalc.analyze.analyze

    def wrong(spec: Any, batch: int | None = None) -> Report:
        report = real(spec, batch)
        ax = report.rf.axes[0]
        assert ax.size is not None
        return dataclasses.replace(report, rf=RF((AxisRF(ax.size - 1, ax.jump, ax.start),)))

    monkeypatch.setattr(convcalc.analyze, "analyze", wrong)
    result = run(small)
    assert result.exit_code == 1
    true = real(convcalc.load(small).spec).rf.axes[0]
    assert (
        f"receptive field on axis L: measured size {true.size}, jump {true.jump}, start {true.start}"
        in result.output
    )


def report_of(text: str) -> Report:
    return convcalc.load(text).analyze()


@pytest.mark.parametrize(
    ("size", "jump", "start"),
    [(1, 0, 0), (0, 0, 1), (0, 1, 0), (2, 0, -1)],
)
def test_measure_rf_finds_the_true_field_when_the_prediction_is_off(size: int, jump: int, start: int) -> None:
    report = report_of(IMAGE)
    table = weight_table(report)
    true = report.rf.axes
    assert true[1].size is not None and true[1].jump is not None and true[1].start is not None
    bad = (true[0], AxisRF(true[1].size + size, true[1].jump + jump, true[1].start + start))
    checks, note = measure_rf(dataclasses.replace(report, rf=RF(bad)), table)
    assert note is None
    assert checks[0].status == "ok"
    assert checks[1].status == "mismatch"
    assert (checks[1].size, checks[1].start) == (true[1].size, true[1].start)
    if jump == 0:
        assert checks[1].jump == true[1].jump


def test_measure_rf_explains_what_it_skips() -> None:
    assert (
        measure_rf(
            report_of("input: [2, 8, 8]\nlayers:\n  - {type: global_avgpool}\n"),
            weight_table(report_of("input: [2, 8, 8]\nlayers:\n  - {type: global_avgpool}\n")),
        )[1]
        == "not measured: the output has no spatial axes (global)"
    )
    big = report_of(
        "input: [1, 5, 30]\nlayers:\n  - {type: conv2d, out_channels: 1, kernel_size: 7, padding: 3}\n"
    )
    checks, _ = measure_rf(big, weight_table(big))
    assert checks[0].status == "skipped" and "larger than the input (7 > 5)" in checks[0].note
    assert checks[1].status == "ok" and checks[1].size == 7
    rnn = report_of("input: [3, 10]\nlayers:\n  - {type: gru, hidden_size: 4}\n")
    checks, _ = measure_rf(rnn, weight_table(rnn))
    assert checks[0].status == "skipped" and "unbounded" in checks[0].note


@st.composite
def stacks(draw: st.DrawFn) -> str:
    """Random conv/pool/pad stacks, sometimes inside a residual or a parallel."""
    ndim = draw(st.integers(1, 2))
    lines = [f"input: [2, {', '.join(str(draw(st.integers(12, 40))) for _ in range(ndim))}]", "layers:"]
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["conv", "maxpool", "avgpool", "pad"]))
        k = draw(st.integers(1, 4))
        if kind == "conv":
            pad = draw(st.sampled_from(["0", "1", "same", "valid", f"[{', '.join(['[2, 0]'] * ndim)}]"]))
            layer = (
                f"{{type: conv{ndim}d, out_channels: 2, kernel_size: {k}, stride: {draw(st.integers(1, 2))}, "
                f"dilation: {draw(st.integers(1, 3))}, padding: {pad}}}"
            )
        elif kind == "pad":
            layer = f"{{type: pad, padding: {draw(st.integers(0, 2))}}}"
        else:
            extra = f", dilation: {draw(st.integers(1, 2))}" if kind == "maxpool" else ""
            ceil = str(draw(st.booleans())).lower()
            layer = (
                f"{{type: {kind}{ndim}d, kernel_size: {k}, stride: {draw(st.integers(1, 3))}, "
                f"padding: {draw(st.integers(0, k // 2))}, ceil_mode: {ceil}{extra}}}"
            )
        wrap = draw(st.sampled_from(["", "", "residual", "parallel"]))
        if wrap == "residual":
            layer = f"{{type: residual, layers: [{layer}], shortcut: [{layer}]}}"
        elif wrap == "parallel":
            layer = f"{{type: parallel, merge: add, branches: [[{layer}], [{layer}, {{type: relu}}]]}}"
        lines.append(f"  - {layer}")
    text = "\n".join(lines) + "\n"
    try:
        report_of(text)
    except ConvcalcError:
        assume(False)
    return text


@given(stacks())
def test_measured_field_equals_the_predicted_one(text: str) -> None:
    report = report_of(text)
    checks, note = measure_rf(report, weight_table(report))
    assert note is None
    assert all(c.status in ("ok", "skipped") for c in checks), [c.note for c in checks]


# -- memory, sizes, the progress bar ------------------------------------------------------------


def test_memory_estimate_is_close_to_the_measured_peak() -> None:
    report = report_of(SMALL.replace("[2, 32]", "[16, 20000]"))
    table = weight_table(report)
    x = random_input(report.spec.input_shape, 2, "float64", 0)
    result = verify(report, table, x)
    assert result.ok
    est = estimate_memory(report, table, 2, 8)
    assert est == result.estimate
    assert est.total >= result.peak_bytes
    assert est.total <= 3 * result.peak_bytes


def test_check_weight_file_accepts_num_batches_tracked_and_a_full_state_dict(small: Path) -> None:
    _, sd = torch_state(small)
    assert "2.layers.1.num_batches_tracked" in sd
    assert check_weight_file(weight_table(report_of(SMALL)), sd) == []


@pytest.mark.parametrize(
    ("text", "value"),
    [("2GiB", 2 * 1024**3), ("512MB", 512 * 10**6), ("1.5k", 1500), ("100", 100), ("3 mib", 3 * 1024**2)],
)
def test_parse_size(text: str, value: int) -> None:
    assert parse_size(text) == value


@pytest.mark.parametrize("text", ["", "2GiBs", "-1", "ib", "1e9"])
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="not a size"):
        parse_size(text)


def test_progress_bar_appears_only_after_a_second(monkeypatch: pytest.MonkeyPatch) -> None:
    bar = cli._Bar(enabled=True)
    bar(1, 10, "forward pass")
    assert bar.progress is None
    bar.t0 = time.perf_counter() - 2
    bar(2, 10, "forward pass")
    assert bar.progress is not None
    assert bar.progress.tasks[0].completed == 2
    bar.close()
    off = cli._Bar(enabled=False)
    off.t0 -= 5
    off(1, 2, "x")
    assert off.progress is None
