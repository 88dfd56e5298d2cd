"""`convcalc solve`: every answer is checked against conv_out / PyTorch / convcalc's analysis, and
every "fewest" or "smallest" claim against a brute-force search."""

from __future__ import annotations

import dataclasses
import json
import re
from itertools import count
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from torch import nn
from torch_mirror import build
from typer.testing import CliRunner

from convcalc.analyze import analyze
from convcalc.arith import conv_out, effective_kernel
from convcalc.cli import app
from convcalc.errors import ConvcalcError
from convcalc.solve import (
    SolveUsageError,
    compact,
    compact_sizes,
    per_axis_values,
    solve_input_sizes,
    solve_padding,
    solve_receptive_field,
)
from convcalc.spec import parse

runner = CliRunner()


def spec_with(layer_yaml: str, input_shape: tuple[int, ...]) -> str:
    return f"input: [{', '.join(map(str, input_shape))}]\nlayers:\n  {layer_yaml}\n"


# -- padding ------------------------------------------------------------------------------------


@st.composite
def conv_question(draw: Any) -> tuple[int, int, int, int, int]:
    n = draw(st.integers(1, 40))
    k = draw(st.integers(1, 7))
    s = draw(st.integers(1, 4))
    d = draw(st.integers(1, 3))
    smallest = conv_out(n, k, s, d) if n >= effective_kernel(k, d) else 1
    out = draw(st.integers(smallest, smallest + 12))
    return n, k, s, d, out


@given(conv_question())
def test_conv_padding_is_exact_and_smallest(q: tuple[int, int, int, int, int]) -> None:
    n, k, s, d, out = q
    a = solve_padding([n], [k], [out], [s], [d]).axes[0]
    span = effective_kernel(k, d)
    assert n + a.left + a.right >= span
    assert conv_out(n, k, s, d, a.left, a.right) == out
    bound = out * s + span + 2  # no larger padding can give `out`
    # every symmetric padding that gives out, found by trying them all
    brute_sym = tuple(p for p in range(bound) if n + 2 * p >= span and conv_out(n, k, s, d, p, p) == out)
    assert a.symmetric == brute_sym
    brute_totals = [t for t in range(bound) if n + t >= span and conv_out(n, k, s, d, t, 0) == out]
    assert a.totals == (brute_totals[0], brute_totals[-1])
    if brute_sym:
        assert a.left == a.right == brute_sym[0]
    else:  # the smallest total, the odd zero on the right (TensorFlow's split)
        t = brute_totals[0]
        assert (a.left, a.right) == (t // 2, t - t // 2)


@given(st.integers(1, 40), st.integers(1, 7), st.integers(1, 4), st.integers(1, 3))
def test_conv_padding_below_reach_is_explained(n: int, k: int, s: int, d: int) -> None:
    if n < effective_kernel(k, d):
        return
    base = conv_out(n, k, s, d)
    if base == 1:
        return
    bound = base * s + effective_kernel(k, d) + n
    assert all(conv_out(n, k, s, d, t, 0) >= base for t in range(bound))  # padding only adds
    with pytest.raises(ConvcalcError, match=rf"output {base - 1} is unreachable: .* already {base}"):
        solve_padding([n], [k], [base - 1], [s], [d])


@pytest.mark.parametrize(
    ("n", "k", "s", "d", "out"),
    [
        (32, 3, 2, 1, 16),
        (10, 4, 1, 1, 10),
        (224, 7, 2, 1, 112),
        (9, 3, 3, 2, 5),
        (5, 2, 1, 1, 9),
        (17, 5, 2, 3, 8),
    ],
)
def test_conv_padding_in_torch(n: int, k: int, s: int, d: int, out: int) -> None:
    a = solve_padding([n], [k], [out], [s], [d]).axes[0]
    conv = nn.Conv1d(1, 1, k, stride=s, dilation=d)
    y = conv(F.pad(torch.zeros(1, 1, n), (a.left, a.right)))
    assert y.shape[-1] == out
    if a.symmetric:
        for p in a.symmetric:
            assert nn.Conv1d(1, 1, k, stride=s, dilation=d, padding=p)(torch.zeros(1, 1, n)).shape[-1] == out


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
def test_pytorch_same_claim_is_true() -> None:
    """Where the answer says PyTorch's padding='same' gives it, it gives the same values as F.pad."""
    sol = solve_padding([10], [4], [10], dilation=[1])
    assert not sol.symmetric and any("padding='same'" in line for line in sol.pytorch())
    a = sol.axes[0]
    torch.manual_seed(0)
    same = nn.Conv1d(2, 3, 4, padding="same")
    x = torch.randn(1, 2, 10)
    explicit = F.conv1d(F.pad(x, (a.left, a.right)), same.weight, same.bias)
    torch.testing.assert_close(same(x), explicit)


def test_conv_padding_2d_yaml_and_spellings() -> None:
    square = solve_padding([224, 224], [3], [112], [2])
    assert "padding: 1" in square.yaml()
    assert square.tensorflow()[0].startswith("tf.keras.layers.Conv2D(filters, 3, strides=2, padding='same')")
    sol = solve_padding([224, 225], [3], [112, 112], [2])
    assert [(a.left, a.right) for a in sol.axes] == [(1, 1), (0, 0)]
    assert "padding: [1, 0]" in sol.yaml()
    assert sol.tensorflow()[0].startswith("tf.keras.layers.ZeroPadding2D(((1, 1), (0, 0))), then")
    report = analyze(parse(spec_with(sol.yaml(), (3, 224, 225))))
    assert report.output_shape == (16, 112, 112)
    asym = solve_padding([8, 8], [2, 4], [8, 8])
    assert [(a.left, a.right) for a in asym.axes] == [(0, 1), (1, 2)]
    assert "padding: [[0, 1], [1, 2]]" in asym.yaml()
    assert "F.pad(x, (1, 2, 0, 1))" in asym.pytorch()[0]  # last axis first
    mod = nn.Conv2d(1, 1, (2, 4))
    assert mod(F.pad(torch.zeros(1, 1, 8, 8), (1, 2, 0, 1))).shape[-2:] == (8, 8)
    assert analyze(parse(spec_with(asym.yaml(), (1, 8, 8)))).output_shape == (16, 8, 8)


@st.composite
def pool_question(draw: Any) -> tuple[int, int, int, int, int, str]:
    op = draw(st.sampled_from(["max", "avg"]))
    n = draw(st.integers(1, 30))
    k = draw(st.integers(1, 6))
    s = draw(st.integers(1, 4))
    d = draw(st.integers(1, 3)) if op == "max" else 1
    out = draw(st.integers(1, n + 3))
    return n, k, s, d, out, op


def _torch_pool_out(op: str, n: int, k: int, s: int, d: int, p: int, ceil: bool) -> int | None:
    x = torch.zeros(1, 1, n)
    try:
        if op == "max":
            y = F.max_pool1d(x, k, s, p, d, ceil_mode=ceil)
        else:
            y = F.avg_pool1d(x, k, s, p, ceil_mode=ceil)
    except RuntimeError:
        return None
    return int(y.shape[-1]) if y.shape[-1] > 0 else None


@given(pool_question())
def test_pool_padding_against_torch_brute_force(q: tuple[int, int, int, int, int, str]) -> None:
    n, k, s, d, out, op = q
    options = [
        (ceil, p)
        for ceil in (False, True)
        for p in range(k // 2 + 1)
        if _torch_pool_out(op, n, k, s, d, p, ceil) == out
    ]
    if not options:
        with pytest.raises(ConvcalcError, match=rf"output {out} is unreachable with PyTorch's pooling"):
            solve_padding([n], [k], [out], [s], [d], pool=op)
        return
    sol = solve_padding([n], [k], [out], [s], [d], pool=op)
    a = sol.axes[0]
    assert (sol.ceil_mode, a.left) == min(options)  # ceil_mode false first, then the smallest p
    assert list(a.symmetric) == [p for c, p in options if c == sol.ceil_mode]
    assert a.left == a.right


def test_pool_options() -> None:
    sol = solve_padding([7], [2], [4], pool="max")
    assert (sol.ceil_mode, sol.axes[0].left) == (False, 1)
    assert "nn.MaxPool1d(kernel_size=2, stride=2, padding=1)" in sol.pytorch()[0]
    forced = solve_padding([7], [2], [4], pool="max", ceil_mode=True)
    assert (forced.ceil_mode, forced.axes[0].left) == (True, 0)
    assert "ceil_mode: true" in forced.yaml()
    assert analyze(parse(spec_with(forced.yaml(), (1, 7)))).output_shape == (1, 4)
    # n=4, kernel 3, stride 2: output 1 needs ceil_mode false, output 3 needs ceil_mode true
    with pytest.raises(
        ConvcalcError, match="no single ceil_mode works on every axis: axis H needs ceil_mode false"
    ):
        solve_padding([4, 4], [3], [1, 3], [2], pool="max")
    with pytest.raises(SolveUsageError, match="average pooling has no dilation"):
        solve_padding([7], [2], [4], dilation=[2], pool="avg")
    with pytest.raises(SolveUsageError, match="applies to pooling only"):
        solve_padding([7], [2], [4], ceil_mode=True)


def test_per_axis_values_and_broadcast_errors() -> None:
    assert per_axis_values("224,224", "--n") == (224, 224)
    with pytest.raises(SolveUsageError, match="'x' is not an integer"):
        per_axis_values("3,x", "--kernel")
    with pytest.raises(SolveUsageError, match="must be positive, got 0"):
        per_axis_values("0", "--out")
    with pytest.raises(SolveUsageError, match="1 to 3 comma-separated values"):
        per_axis_values("1,2,3,4", "--n")
    with pytest.raises(SolveUsageError, match="has 2 values but --kernel has 3"):
        solve_padding([8, 8], [3, 3, 3], [8])


# -- receptive field ----------------------------------------------------------------------------


def schedule(growth: int | None, max_dilation: int | None, dilations: list[int] | None) -> Any:
    """The dilation sequence, written out independently of the solver."""
    if dilations is not None:
        while True:
            yield from dilations
    g = growth or 2
    d = 1
    while True:
        yield d
        d *= g
        if g == 1 or (max_dilation is not None and d > max_dilation):
            d = 1


def brute_force_layers(target: int, k: int, stacks: int, growth: Any, max_d: Any, dil: Any) -> int:
    """The first stack length whose `stacks` copies reach the target, by trying 1, 2, 3, ..."""
    for length in count(1):
        gen = schedule(growth, max_d, dil)
        total = sum(next(gen) for _ in range(length))
        if 1 + (k - 1) * stacks * total >= target:
            return length
    raise AssertionError  # pragma: no cover


SCHEDULES = [
    {"growth": None, "max_dilation": None, "dilations": None},
    {"growth": 2, "max_dilation": 8, "dilations": None},
    {"growth": 3, "max_dilation": 30, "dilations": None},
    {"growth": 1, "max_dilation": None, "dilations": None},
    {"growth": None, "max_dilation": None, "dilations": [1, 3, 2]},
]


@pytest.mark.parametrize("sched", SCHEDULES, ids=lambda s: str(list(s.values())))
def test_receptive_field_minimal_by_brute_force(sched: dict[str, Any]) -> None:
    for target in range(2, 90):
        for k in (2, 3, 5):
            for stacks in (1, 2, 3):
                sol = solve_receptive_field(target, k, stacks=stacks, **sched)
                want = brute_force_layers(target, k, stacks, *sched.values())
                assert len(sol.dilations) == want, (target, k, stacks)
                gen = schedule(*sched.values())
                assert list(sol.dilations) == [next(gen) for _ in range(want)]


@pytest.mark.parametrize(
    ("target", "k", "kw"),
    [
        (1024, 2, {"max_dilation": 512}),
        (1024, 2, {}),
        (3000, 2, {"max_dilation": 512, "causal": True}),
        (61, 3, {"dilations": [1, 2, 4, 8], "stacks": 2}),
        (100, 4, {"growth": 3, "channels": 8}),
        (40, 2, {"growth": 1}),
    ],
)
def test_receptive_field_matches_analysis(target: int, k: int, kw: dict[str, Any]) -> None:
    sol = solve_receptive_field(target, k, **kw)
    report = analyze(parse(sol.yaml()))
    assert report.rf.axes[0].size == sol.field >= target
    assert report.total_params == sol.params
    assert len(report.layers) == sol.layers
    assert report.output_shape == (sol.channels, target)  # causal / same keep the length
    if kw.get("causal"):
        assert report.rf.axes[0].start == -(sol.field - 1)  # all in the past
    # one layer fewer per stack, analysed, falls short: the answer is the fewest
    if len(sol.dilations) > 1:
        shorter = dataclasses.replace(sol, dilations=sol.dilations[:-1])
        size = analyze(parse(shorter.yaml())).rf.axes[0].size
        assert size is not None and size < target


def test_wavenet() -> None:
    sol = solve_receptive_field(1024, 2, max_dilation=512)
    assert sol.dilations == tuple(2**i for i in range(10))
    assert (sol.layers, sol.field, sol.params_per_layer) == (10, 1024, 32 * 32 * 2 + 32)
    twice = solve_receptive_field(2048, 2, max_dilation=512)  # two full periods reach only 2047
    assert twice.dilations == (*sol.dilations, *sol.dilations, 1) and twice.field == 2048
    assert twice.describe_dilations() == "(1, 2, 4, ..., 512) x2, then 1"


def test_receptive_field_errors() -> None:
    with pytest.raises(SolveUsageError, match="either --dilations or --growth/--max-dilation"):
        solve_receptive_field(100, 2, growth=2, dilations=[1, 2])
    with pytest.raises(SolveUsageError, match="must be at least 2"):
        solve_receptive_field(1, 2)
    with pytest.raises(SolveUsageError, match="never widens the field"):
        solve_receptive_field(100, 1)
    with pytest.raises(SolveUsageError, match="dilations must be positive"):
        solve_receptive_field(100, 2, dilations=[1, 0])
    with pytest.raises(ConvcalcError, match="more than convcalc's 200,000-layer limit"):
        solve_receptive_field(10**7, 2, growth=1)
    huge = solve_receptive_field(2**62, 2)  # exact with huge targets: 62 doublings
    assert huge.layers == 62 and huge.field == 2**62


# -- input sizes --------------------------------------------------------------------------------

# A U-Net-like encoder: four halvings, and a residual whose shortcut (avgpool) must match its
# strided conv, so the shapes line up only when each stage's input is even.
UNET = """
input: [3, 64, 64]
layers:
  - {type: conv2d, out_channels: 8, kernel_size: 3, padding: 1}
  - {type: maxpool2d, kernel_size: 2}
  - {type: conv2d, out_channels: 8, kernel_size: 3, stride: 2, padding: 1}
  - type: residual
    layers:
      - {type: conv2d, out_channels: 8, kernel_size: 3, stride: 2, padding: 1}
    shortcut:
      - {type: avgpool2d, kernel_size: 2}
  - {type: conv2d, out_channels: 8, kernel_size: 2, stride: 2}
"""


def _first(value: Any) -> int:
    """A torch module's per-axis setting, on the first spatial axis."""
    out = value[0] if isinstance(value, tuple) else value
    assert isinstance(out, int)
    return out


def torch_truth(spec_text: str, size: int, rule: str) -> bool:
    """Whether PyTorch runs the net at size x size, and every strided module obeys ``rule``."""
    spec = parse(spec_text)
    spec = dataclasses.replace(spec, input_shape=(spec.input_shape[0], size, size))
    seen: list[tuple[nn.Module, int, int]] = []

    def hook(mod: nn.Module, inp: Any, out: Any) -> None:
        seen.append((mod, inp[0].shape[-2], out.shape[-2]))

    try:
        model = build(spec, probe=True)
        for mod in model.modules():
            if isinstance(mod, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
                mod.register_forward_hook(hook)
        with torch.no_grad():
            model(torch.zeros(1, *spec.input_shape))
    except RuntimeError:
        return False
    for mod, n, o in seen:
        s = _first(mod.stride)
        if s == 1:
            continue
        if rule == "divisible" and o * s != n:
            return False
        if rule == "no-drop":
            k, p = _first(mod.kernel_size), _first(mod.padding)
            if (o - 1) * s + k - p < n:  # the last window ends before the last input row
                return False
    return True


@pytest.mark.parametrize("rule", ["divisible", "no-drop"])
def test_input_sizes_against_torch(rule: str) -> None:
    res = solve_input_sizes(parse(UNET), 1, 48, rule=rule)
    truth = [n for n in range(1, 49) if torch_truth(UNET, n, rule)]
    assert list(res.valid) == truth
    if rule == "divisible":
        assert truth == [16, 32, 48]
    assert {e.size for e in res.excluded} == set(range(1, 49)) - set(truth)


def test_input_sizes_reasons() -> None:
    res = solve_input_sizes(parse(UNET, "unet.yaml"), 56, 64, rule="divisible")
    why = {e.size: e for e in res.excluded}
    assert res.valid == (64,)
    assert why[56].layer == "4" and why[56].kind == "remainder"  # 56 -> 28 -> 14 -> 7 -> 3
    assert why[62].kind == "remainder" and why[62].layer == "2"
    assert "maps 31 input rows to 16, and 16 x stride 2 = 32 != 31" in why[62].reason
    assert why[61].layer == "1" and "maps 61 input rows to 30" in why[61].reason
    # 60 -> 30 -> 15: the residual's conv gives 8, its avgpool shortcut 7
    assert (
        why[60].layer == "3"
        and why[60].kind == "error"
        and "the layers give [8, 8, 8] but the shortcut gives [8, 7, 7]" in why[60].reason
    )
    assert res.yaml() == "input: [3, 64, 64]"
    odd = solve_input_sizes(parse(UNET), 60, 64, rule="no-drop")
    errors = [e for e in odd.excluded if e.kind == "error"]
    assert errors and all("outputs are added, so shapes must match" in e.reason for e in errors)
    assert all(e.layer == "3" for e in errors)


def test_input_sizes_one_axis_and_pad_layers() -> None:
    text = """
input: [3, 32, 40]
layers:
  - {type: pad, padding: [[0, 1], [0, 1]]}
  - {type: conv2d, out_channels: 4, kernel_size: 3, stride: 2}
"""
    res = solve_input_sizes(parse(text), 30, 36, axis="H", rule="divisible")
    assert res.axes == ("H",) and res.valid == (30, 32, 34, 36)  # the pad layer's zeros are not rows
    assert res.shape_for(34) == (3, 34, 40)
    with pytest.raises(SolveUsageError, match="the input has axes H, W"):
        solve_input_sizes(parse(text), 1, 4, axis="L")
    with pytest.raises(SolveUsageError, match="needs 1 <= low <= high"):
        solve_input_sizes(parse(text), 5, 4)
    with pytest.raises(ConvcalcError, match="no spatial axis to vary"):
        solve_input_sizes(parse("input: [4]\nlayers:\n  - {type: relu}\n"), 1, 4)


# Strided layers nested in containers, and layers after them that fail for small sizes: the
# blame goes to the first layer, at any depth and in execution order, that breaks the rule.
NESTED = """
input: [2, 40, 40]
layers:
  - {type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}
  - type: sequential
    layers:
      - {type: conv2d, out_channels: 4, kernel_size: 3, stride: 2, padding: 1}
      - type: residual
        layers:
          - {type: maxpool2d, kernel_size: 2}
          - {type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}
        shortcut:
          - {type: avgpool2d, kernel_size: 3, stride: 2, padding: 1}
      - {type: conv2d, out_channels: 4, kernel_size: 3}
  - type: parallel
    branches:
      - [{type: conv2d, out_channels: 2, kernel_size: 3, stride: 2, padding: 1}]
      - [{type: maxpool2d, kernel_size: 2}, {type: conv2d, out_channels: 2, kernel_size: 3, padding: 1}]
  - {type: conv2d, out_channels: 4, kernel_size: 2, stride: 2, repeat: 2}
"""

# A residual whose shortcut fails for small sizes after its main path already ran.
SHORTCUT = """
input: [1, 16, 16]
layers:
  - type: residual
    layers:
      - {type: maxpool2d, kernel_size: 2}
      - {type: conv2d, out_channels: 1, kernel_size: 3, padding: 1}
    shortcut:
      - {type: conv2d, out_channels: 1, kernel_size: 1, stride: 2}
      - {type: conv2d, out_channels: 1, kernel_size: 3}
      - {type: conv2d, out_channels: 1, kernel_size: 3, padding: 2}
"""


def torch_blame(spec_text: str, sizes: range, rule: str) -> dict[int, tuple[str, str]]:
    """PyTorch's answer to "why is size x size excluded": size -> (module path, kind), for the
    excluded sizes.

    The model runs with hooks that record the modules as they start and finish: the module
    still running when torch raises is the failing one ("error"), unless a strided module that
    finished before it (not one inside it) breaks ``rule`` ("remainder"). The module paths are
    convcalc's dotted paths (the specs use symmetric padding: no wrapper modules).
    """
    spec = parse(spec_text)
    model = build(spec)
    running: list[str] = []
    finished: list[tuple[str, nn.Module, int, int]] = []

    def enter(name: str) -> Any:
        def hook(mod: nn.Module, inp: Any) -> None:
            running.append(name)

        return hook

    def leave(name: str) -> Any:
        def hook(mod: nn.Module, inp: Any, out: Any) -> None:
            running.pop()
            finished.append((name, mod, inp[0].shape[-2], out.shape[-2]))

        return hook

    for name, mod in model.named_modules():
        mod.register_forward_pre_hook(enter(name))
        mod.register_forward_hook(leave(name))
    blame: dict[int, tuple[str, str]] = {}
    for size in sizes:
        running.clear()
        finished.clear()
        failed: str | None = None
        try:
            with torch.no_grad():
                model(torch.zeros(1, spec.input_shape[0], size, size))
        except RuntimeError:
            failed = running[-1]
        if failed is not None:
            blame[size] = (failed, "error")
        for name, mod, n, o in finished:
            if not isinstance(mod, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
                continue
            if failed is not None and name.startswith(failed + "."):
                continue  # ran inside the failing container: its failure is its own
            s, k, p = _first(mod.stride), _first(mod.kernel_size), _first(mod.padding)
            if s > 1 and (o * s != n if rule == "divisible" else (o - 1) * s + k - p < n):
                blame[size] = (name, "remainder")
                break
    return blame


@pytest.mark.parametrize("rule", ["divisible", "no-drop"])
@pytest.mark.parametrize("text", [NESTED, SHORTCUT, UNET], ids=["nested", "shortcut", "unet"])
def test_input_sizes_blame_against_torch(text: str, rule: str) -> None:
    res = solve_input_sizes(parse(text), 1, 80, rule=rule)
    assert {e.size: (e.layer, e.kind) for e in res.excluded} == torch_blame(text, range(1, 81), rule)


def test_input_sizes_blame_nested_strided_layer() -> None:
    res = solve_input_sizes(parse(NESTED), 1, 40, rule="divisible")
    why = {e.size: e for e in res.excluded}
    # 3 -> 2 in the sequential's strided conv, then its last conv gets 1 row: the conv is blamed
    assert why[3].layer == "1.layers.0" and why[3].kind == "remainder"
    assert why[3].reason == (
        "layer 1.layers.0 (conv2d): on axis H it maps 3 input rows to 2, and 2 x stride 2 = 4 != 3"
    )
    # 8 -> 4 -> 2 -> 2 divides everywhere: the failing conv itself is blamed
    assert why[8].layer == "1.layers.2" and why[8].kind == "error"
    assert "kernel_size 3 is larger than the padded input on axis H" in why[8].reason
    # a parallel's earlier branch runs first: its strided conv (1 -> 1) before branch 1's pool fails
    assert why[12].layer == "2.branches.0.0" and why[12].kind == "remainder"
    assert "maps 1 input rows to 1, and 1 x stride 2 = 2 != 1" in why[12].reason
    # the first copy of a repeat (3 -> 1) before the second copy fails on 1 row
    assert why[32].layer == "3.layers.0" and why[32].kind == "remainder"
    # a container that fails itself keeps the blame, whatever its own children do (6 -> 3 -> 1, 2)
    assert why[6].layer == "1.layers.1" and why[6].kind == "error"
    assert "outputs are added, so shapes must match" in why[6].reason


def test_input_sizes_blame_main_path_before_shortcut() -> None:
    divisible = {e.size: e for e in solve_input_sizes(parse(SHORTCUT), 1, 8, rule="divisible").excluded}
    # 3: the main path's pool (3 -> 1) ran before the shortcut's second conv fails on 2 rows
    assert divisible[3].layer == "0.layers.0" and divisible[3].kind == "remainder"
    assert "layer 0.layers.0 (maxpool2d): on axis H it maps 3 input rows to 1" in divisible[3].reason
    assert divisible[4].layer == "0.shortcut.1" and divisible[4].kind == "error"
    assert "kernel_size 3 is larger than the padded input" in divisible[4].reason
    no_drop = {e.size: e for e in solve_input_sizes(parse(SHORTCUT), 1, 8, rule="no-drop").excluded}
    # 4: the shortcut's own strided conv (4 -> 2) leaves a row unread before its next conv fails
    assert no_drop[4].layer == "0.shortcut.0" and no_drop[4].kind == "remainder"
    assert "leaving the last 1 input row(s) unread" in no_drop[4].reason


def test_compact() -> None:
    assert compact([1, 2, 3, 4, 9, 11]) == "1..4, 9, 11"
    assert compact_sizes(sorted([*range(3, 40, 4), *range(4, 41, 4)])) == "3..40 with n % 4 in {0, 3}"
    assert compact_sizes([*range(3, 40, 4), 41]) == "3, 7, ..., 39 (every 4), 41"


# -- the command line ---------------------------------------------------------------------------


def test_cli_padding_text_and_json() -> None:
    r = runner.invoke(app, ["solve", "padding", "--n", "32", "--kernel", "3", "--stride", "2", "--out", "16"])
    assert r.exit_code == 0, r.output
    assert "symmetric padding 1" in r.output and "- {type: conv1d" in r.output
    r = runner.invoke(
        app, ["solve", "padding", "--n", "224,224", "-k", "7", "-s", "2", "-o", "112", "-f", "json"]
    )
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["padding"] == [[3, 3], [3, 3]] and doc["layer"] == "conv2d"
    assert analyze(parse(spec_with(doc["yaml"], (3, 224, 224)))).output_shape == (16, 112, 112)


def test_cli_receptive_field_json() -> None:
    args = ["solve", "receptive-field", "--target", "1024", "--kernel", "2", "--max-dilation", "512"]
    r = runner.invoke(app, [*args, "--causal", "--format", "json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["layers"] == 10 and doc["receptive_field"] == 1024 and doc["padding"] == "causal"
    assert analyze(parse(doc["yaml"])).rf.axes[0].size == 1024
    r = runner.invoke(app, ["solve", "receptive-field", "-t", "62", "-k", "3", "--dilations", "1,2,4,8"])
    assert r.exit_code == 0 and "9 layers" in r.output and "dilations: (1, 2, 4, 8) x2, then 1" in r.output


def test_cli_input_sizes(tmp_path: Any) -> None:
    net = tmp_path / "unet.yaml"
    net.write_text(UNET)
    r = runner.invoke(app, ["solve", "input-sizes", str(net), "--range", "1:128", "--require", "divisible"])
    assert r.exit_code == 0, r.output
    assert "valid (8): 16, 32, ..., 128 (every 16)" in r.output
    r = runner.invoke(
        app, ["solve", "input-sizes", str(net), "-r", "60:64", "--require", "divisible", "-f", "json"]
    )
    doc = json.loads(r.output)
    assert doc["valid"] == [64] and [e["size"] for e in doc["excluded"]] == [60, 61, 62, 63]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (
            ["padding", "--n", "32", "--kernel", "3", "--stride", "2", "--out", "10"],
            1,
            "output 10 is unreachable",
        ),
        (["padding", "--n", "32", "--kernel", "3", "--out", "0"], 2, "must be positive, got 0"),
        (["padding", "--n", "32", "--kernel", "3"], 2, "Missing option"),
        (["padding", "--n", "8,8", "--kernel", "3,3,3", "--out", "8"], 2, "has 2 values but --kernel has 3"),
        (["padding", "--n", "8", "--kernel", "3", "--out", "8", "--pool", "min"], 2, "'min' is not one of"),
        (["receptive-field", "--target", "99", "--kernel", "2", "--dilations", "1,a"], 2, "comma-separated"),
        (["receptive-field", "-t", "99", "-k", "2", "--growth", "2", "--dilations", "1"], 2, "not both"),
        (["receptive-field", "-t", "10000000", "-k", "2", "--growth", "1"], 1, "layer limit"),
        (["input-sizes", "/nonexistent.yaml"], 2, "no such file"),
    ],
)
def test_cli_errors(args: list[str], code: int, message: str) -> None:
    r = runner.invoke(app, ["solve", *args])
    assert r.exit_code == code, r.output
    assert message in r.output.replace("\n", " ") or message in (r.stderr or "")
    assert r.exception is None or isinstance(r.exception, SystemExit)


def test_cli_input_sizes_bad_spec_and_range(tmp_path: Any) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("input: [3, 8, 8]\nlayers:\n  - {type: conv2d, out_channel: 4, kernel_size: 3}\n")
    r = runner.invoke(app, ["solve", "input-sizes", str(bad)])
    assert r.exit_code == 1
    assert f"{bad}:3:" in r.stderr and "unknown key 'out_channel'" in r.stderr
    good = tmp_path / "good.yaml"
    good.write_text(UNET)
    r = runner.invoke(app, ["solve", "input-sizes", str(good), "--range", "1-9"])
    assert r.exit_code == 2 and "LOW:HIGH" in r.output
    r = runner.invoke(app, ["solve", "input-sizes", str(good), "--axis", "Q"])
    assert r.exit_code == 2 and "the input has axes H, W" in r.output


def test_every_solve_command_has_help_and_example() -> None:
    for cmd in ("padding", "receptive-field", "input-sizes"):
        r = runner.invoke(app, ["solve", cmd, "--help"])
        assert r.exit_code == 0 and "Example: convcalc solve " + cmd in r.output.replace("\n", " ")


def test_solve_md_examples_are_real() -> None:
    """specs/solve.md's console examples are what the commands print (up to a '...' line)."""
    from conftest import ROOT

    text = (ROOT / "specs" / "solve.md").read_text()
    blocks = re.findall(
        r"```console\n\$ convcalc (solve (?:padding|receptive-field) .*?)\n(.*?)```", text, re.S
    )
    assert len(blocks) == 2
    for command, shown in blocks:
        r = runner.invoke(app, command.split())
        assert r.exit_code == 0, r.output
        lines = shown.splitlines()
        if "  ..." in lines:
            lines = lines[: lines.index("  ...")]
        assert r.output.splitlines()[: len(lines)] == lines
