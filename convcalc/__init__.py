"""convcalc: output shapes, receptive fields, parameters and MACs of layer stacks.

>>> import convcalc
>>> net = convcalc.load("input: [1, 32]\\nlayers:\\n  - {type: conv1d, out_channels: 4, kernel_size: 5}\\n")
>>> net.analyze().output_shape
(4, 28)
"""

from __future__ import annotations

from .errors import ConvcalcError, SpecError
from .net import Net, load

__version__ = "0.1.0"

__all__ = ["ConvcalcError", "Net", "SpecError", "__version__", "load"]
