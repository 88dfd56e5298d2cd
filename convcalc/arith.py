"""Convolution arithmetic: the formulas, as pure functions with worked examples.

All sizes are Python ints, so huge sizes are exact.
"""

from __future__ import annotations


def conv_out(n: int, k: int, s: int = 1, d: int = 1, left: int = 0, right: int = 0) -> int:
    """Output length of a convolution (PyTorch's rule).

    n_out = floor((n + left + right - d*(k-1) - 1) / s) + 1

    >>> conv_out(32, 5)            # LeNet's first conv
    28
    >>> conv_out(224, 7, s=2, left=3, right=3)   # ResNet stem
    112
    >>> conv_out(512, 3, d=4, left=8)             # causal, dilation 4
    512

    The caller checks :func:`window_fits` first; a window that does not fit gives 0 or less.
    """
    return (n + left + right - d * (k - 1) - 1) // s + 1


def effective_kernel(k: int, d: int = 1) -> int:
    """Span of a dilated kernel, holes included.

    >>> effective_kernel(3, 4)
    9
    """
    return d * (k - 1) + 1


def windows_span(n: int, k: int, s: int = 1, d: int = 1) -> int:
    """Positions that ``n`` windows (stride ``s``) read, first to last: the padded input a conv
    with ``n`` outputs needs, and a transposed convolution's output before cropping.

    >>> windows_span(3, 3, s=2, d=2)
    9
    """
    return (n - 1) * s + effective_kernel(k, d)


def window_fits(n: int, k: int, d: int = 1, left: int = 0, right: int = 0) -> bool:
    """Whether one (dilated) window fits in the padded input.

    >>> window_fits(8, 9)
    False
    >>> window_fits(8, 9, left=1)
    True
    """
    return n + left + right >= effective_kernel(k, d)


def same_padding(n: int, k: int, s: int = 1, d: int = 1) -> tuple[int, int]:
    """'same' padding by TensorFlow's rule: out = ceil(n / s), extra padding on the right.

    At stride 1 this equals PyTorch's ``padding='same'``.

    >>> same_padding(10, 3)
    (1, 1)
    >>> same_padding(10, 4)         # even kernel: asymmetric
    (1, 2)
    >>> same_padding(224, 7, s=2)
    (2, 3)
    """
    out = -(-n // s)
    total = max(windows_span(out, k, s, d) - n, 0)
    return total // 2, total - total // 2


def causal_padding(k: int, d: int = 1) -> tuple[int, int]:
    """Causal padding: everything on the left, so no output sees the future.

    >>> causal_padding(3, 2)
    (4, 0)
    """
    return d * (k - 1), 0


def pool_out(n: int, k: int, s: int, pad: int = 0, d: int = 1, ceil_mode: bool = False) -> int:
    """Output length of a pooling layer (PyTorch's rule, symmetric padding).

    With ``ceil_mode`` the division rounds up, but the last window may not start in the
    right padding:

    >>> pool_out(5, 2, 2)
    2
    >>> pool_out(5, 2, 2, ceil_mode=True)
    3
    >>> pool_out(5, 2, 2, pad=1, ceil_mode=True)   # a 4th window would start in the padding
    3
    >>> pool_out(1, 3, 3, ceil_mode=True)          # a window may overhang the end by up to s - 1
    1
    """
    out, dropped = pool_windows(n, k, s, pad, d, ceil_mode)
    return out - dropped


def pool_windows(
    n: int, k: int, s: int, pad: int = 0, d: int = 1, ceil_mode: bool = False
) -> tuple[int, bool]:
    """The two parts of :func:`pool_out`: the windows the rounding gives, and whether PyTorch
    drops the last one because it would start at or after ``n + pad`` (in the right padding).

    >>> pool_windows(5, 2, 2, pad=1, ceil_mode=True)   # ceil((5 + 2 - 2) / 2) + 1 = 4, start 6 >= 6
    (4, True)
    >>> pool_windows(5, 2, 2, ceil_mode=True)
    (3, False)
    """
    span = n + 2 * pad - effective_kernel(k, d)
    out = (span + (s - 1 if ceil_mode else 0)) // s + 1
    return out, ceil_mode and (out - 1) * s >= n + pad
