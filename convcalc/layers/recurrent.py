"""rnn (tanh), lstm and gru, with PyTorch's parameter layout."""

from __future__ import annotations

from ..rf import GLOBAL
from ..spec import Field, Layer
from .base import Act, Context, LayerKind, Step, required, shape_str

GATES = {"rnn": 1, "lstm": 4, "gru": 3}
TORCH = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}


class Recurrent(LayerKind):
    family = "recurrent"

    def __init__(self, cell: str) -> None:
        self.gates = GATES[cell]
        super().__init__(
            cell,
            f"{cell.upper()} over the time axis (torch.nn.{TORCH[cell]}), input [F, L] (features, time)",
            [
                required("hidden_size", "int", "features of the hidden state"),
                Field("num_layers", "int", 1, "stacked recurrent layers"),
                Field("bidirectional", "bool", False, "also run backwards in time; doubles the output features"),
                Field("bias", "bool", True, "two bias vectors per layer and direction, as PyTorch has"),
                Field("dropout", "float", 0.0, "dropout between stacked layers (training only)", minimum=0, maximum=1),
                Field(
                    "return_sequences",
                    "bool",
                    True,
                    "output every step [H*dirs, L]; false: only the last (forward) / first (backward) step [H*dirs]",
                ),
            ],
        )

    def layer_inputs(self, layer: Layer, features: int) -> list[int]:
        """Input features of each stacked layer."""
        o = layer.opts
        dirs = 2 if o["bidirectional"] else 1
        return [features] + [o["hidden_size"] * dirs] * (o["num_layers"] - 1)

    def analyze(self, layer: Layer, x: Act, ctx: Context) -> Step:
        if len(x.shape) != 2:
            raise layer.error(
                f"a recurrent layer needs a sequence [features, time], got shape {shape_str(x.shape)}"
            )
        o = layer.opts
        h, dirs = o["hidden_size"], 2 if o["bidirectional"] else 1
        g = self.gates
        per_step = sum(g * h * (n + h) for n in self.layer_inputs(layer, x.shape[0])) * dirs
        biases = 2 * g * h * o["num_layers"] * dirs if o["bias"] else 0
        length = x.shape[1]
        if o["return_sequences"]:
            out = Act((h * dirs, length), type(x.rf)(tuple(a.unbounded() for a in x.rf.axes)))
        else:
            out = Act((h * dirs,), x.rf.collapse(GLOBAL))
        return Step(out, per_step + biases, ctx.batch * length * per_step)


KINDS = [Recurrent("rnn"), Recurrent("lstm"), Recurrent("gru")]
