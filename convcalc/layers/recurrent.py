"""rnn (tanh), lstm and gru, with PyTorch's parameter layout."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..rf import GLOBAL
from ..spec import Field, Layer
from .base import Act, Context, ForwardContext, LayerKind, Step, WeightSpec, required, shape_str

if TYPE_CHECKING:
    import numpy as np

GATES = {"rnn": 1, "lstm": 4, "gru": 3}
TORCH = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}


class Recurrent(LayerKind):
    family = "recurrent"

    def __init__(self, cell: str) -> None:
        self.gates = GATES[cell]
        extra: list[Field] = []
        if cell == "lstm":
            extra.append(
                Field(
                    "proj_size",
                    "int",
                    0,
                    "project h_t to this many features (PyTorch's proj_size): 0 for none, else < hidden_size",
                    minimum=0,
                )
            )
        if cell == "gru":
            extra.append(
                Field(
                    "reset_after",
                    "bool",
                    True,
                    "Keras' reset_after; false (one bias vector) only under convention keras: PyTorch's GRU "
                    "always applies the reset gate after the recurrent product",
                )
            )
        super().__init__(
            cell,
            f"{cell.upper()} over the time axis (torch.nn.{TORCH[cell]}), input [F, L] (features, time)",
            [
                required("hidden_size", "int", "features of the hidden state"),
                Field("num_layers", "int", 1, "stacked recurrent layers"),
                Field(
                    "bidirectional", "bool", False, "also run backwards in time; doubles the output features"
                ),
                Field(
                    "bias",
                    "bool",
                    True,
                    "biases: b_ih and b_hh per layer and direction, as PyTorch has (Keras: see conventions)",
                ),
                Field(
                    "dropout",
                    "float",
                    0.0,
                    "dropout between stacked layers (training only)",
                    minimum=0,
                    maximum=1,
                ),
                Field(
                    "return_sequences",
                    "bool",
                    True,
                    "output every step [H*dirs, L]; false: only the last (forward) / first (backward) step "
                    "[H*dirs]",
                ),
                *extra,
            ],
        )

    def out_features(self, layer: Layer) -> int:
        """Features of one direction's h_t: ``proj_size`` when set (lstm), else ``hidden_size``."""
        return int(layer.opts.get("proj_size", 0)) or int(layer.opts["hidden_size"])

    def bias_vectors(self, layer: Layer, convention: str) -> int:
        """Bias vectors of gates*H each, per stacked layer and direction.

        PyTorch keeps two (``b_ih``, ``b_hh``); Keras one, except a GRU with ``reset_after``
        (its default), whose recurrent bias sits inside ``r * (...)`` and so is separate.
        """
        if not layer.opts["bias"]:
            return 0
        if convention == "keras":
            return 2 if self.name == "gru" and layer.opts["reset_after"] else 1
        return 2

    def check_options(self, layer: Layer, convention: str) -> None:
        """Options valid for the fields alone but not for this convention or together."""
        o = layer.opts
        proj = o.get("proj_size", 0)
        if proj:
            if convention == "keras":
                raise layer.error(
                    "proj_size is PyTorch's LSTM projection; Keras' LSTM has none (convention: keras)",
                    "proj_size",
                )
            if proj >= o["hidden_size"]:
                raise layer.error(
                    f"proj_size must be smaller than hidden_size, got {proj} >= {o['hidden_size']} "
                    "(as torch.nn.LSTM requires; 0 disables the projection)",
                    "proj_size",
                )
        if not o.get("reset_after", True) and convention != "keras":
            raise layer.error(
                "reset_after: false is Keras' other GRU (reset gate applied before the recurrent product, "
                "one bias vector); PyTorch's nn.GRU always applies it after, so it needs convention: keras",
                "reset_after",
            )

    def layer_inputs(self, layer: Layer, features: int) -> list[int]:
        """Input features of each stacked layer."""
        o = layer.opts
        dirs = 2 if o["bidirectional"] else 1
        return [features] + [self.out_features(layer) * dirs] * (o["num_layers"] - 1)

    def analyze(self, layer: Layer, x: Act, ctx: Context) -> Step:
        if len(x.shape) != 2:
            raise layer.error(
                f"a recurrent layer needs a sequence [features, time], got shape {shape_str(x.shape)}",
                code="CC108",
            )
        self.check_options(layer, ctx.convention)
        o = layer.opts
        h, dirs, r = o["hidden_size"], 2 if o["bidirectional"] else 1, self.out_features(layer)
        g, proj = self.gates, o.get("proj_size", 0)
        # per step and direction: W_ih x, W_hh h (h has r features) and the projection W_hr
        # layer 0 reads the input's features, the num_layers - 1 above it r * dirs: in closed form, as
        # num_layers may be up to 2**63 - 1 (a list of them, as layer_inputs builds, would not fit in memory)
        first, above = g * h * (x.shape[0] + r) + proj * h, g * h * (r * dirs + r) + proj * h
        per_step = (first + (o["num_layers"] - 1) * above) * dirs
        biases = self.bias_vectors(layer, ctx.convention) * g * h * o["num_layers"] * dirs
        length = x.shape[1]
        if o["return_sequences"]:
            out = Act((r * dirs, length), type(x.rf)(tuple(a.unbounded() for a in x.rf.axes)))
        else:
            out = Act((r * dirs,), x.rf.collapse(GLOBAL))
        return Step(out, per_step + biases, ctx.batch * length * per_step)

    def weight_specs(self, layer: Layer, in_shape: tuple[int, ...]) -> dict[str, WeightSpec]:
        """PyTorch's tensors: ``weight_ih_l{k}[_reverse]`` [gates*H, in], ``weight_hh_l{k}`` [gates*H, R]
        (R = proj_size or H), with bias ``bias_ih_l{k}`` / ``bias_hh_l{k}`` [gates*H] and with
        proj_size ``weight_hr_l{k}`` [proj_size, H], all uniform in ±1/sqrt(H)."""
        o = layer.opts
        h, gh, r = o["hidden_size"], self.gates * o["hidden_size"], self.out_features(layer)
        proj = o.get("proj_size", 0)
        bound = 1.0 / h**0.5
        specs: dict[str, WeightSpec] = {}
        for k, n_in in enumerate(self.layer_inputs(layer, in_shape[0])):
            for sfx in _suffixes(k, o["bidirectional"]):
                specs[f"weight_ih{sfx}"] = WeightSpec((gh, n_in), "uniform", bound)
                specs[f"weight_hh{sfx}"] = WeightSpec((gh, r), "uniform", bound)
                if o["bias"]:
                    specs[f"bias_ih{sfx}"] = WeightSpec((gh,), "uniform", bound)
                    specs[f"bias_hh{sfx}"] = WeightSpec((gh,), "uniform", bound)
                if proj:
                    specs[f"weight_hr{sfx}"] = WeightSpec((proj, h), "uniform", bound)
        return specs

    def forward(
        self, layer: Layer, x: np.ndarray, w: dict[str, np.ndarray], fctx: ForwardContext
    ) -> np.ndarray:
        """[B, F, L] -> [B, H*dirs, L] (or [B, H*dirs]), PyTorch's equations and gate order.

        Time-major inside: per stacked layer, one batched matmul projects every time step of
        both directions; the time loop then runs both directions together (the backward one
        on the time-reversed input), doing only ``h @ W_hh^T`` and in-place element-wise work
        (with proj_size, also ``h_t = (o * tanh(c_t)) @ W_hr^T``).
        """
        import numpy as np

        if not layer.opts.get("reset_after", True):
            raise layer.error(
                "the NumPy forward computes PyTorch's GRU, which applies the reset gate after the "
                "recurrent product (reset_after: true); reset_after: false has no PyTorch equivalent",
                "reset_after",
            )
        o = layer.opts
        dt = x.dtype if x.dtype in (np.float32, np.float64) else np.dtype(np.float64)
        hid, n_layers, bi = o["hidden_size"], o["num_layers"], o["bidirectional"]
        r = self.out_features(layer)  # features of h_t
        dirs = 2 if bi else 1
        batch, _, length = x.shape
        seq = np.ascontiguousarray(x.transpose(2, 0, 1), dtype=dt)  # [L, B, F]
        hist = np.empty((0,), dt)
        for k in range(n_layers):
            # inputs in each direction's processing order: [dirs, L*B, F]
            xin = np.stack([seq, seq[::-1]]) if bi else seq[None]
            xin = xin.reshape(dirs, length * batch, -1)
            wih, whh, bx, bhn, whr = self._prepare(k, bi, hid, w, dt)
            xp = np.matmul(xin, wih)  # [dirs, L*B, gates*H]
            if bx is not None:
                xp += bx
            xp = xp.reshape(dirs, length, batch, -1)
            hist = np.empty((dirs, length, batch, r), dt)
            with np.errstate(over="ignore", under="ignore"):  # exp(-a) -> inf / 0: sigmoid 0 / 1
                self._loop(xp, whh, bhn, hist, whr)
            if k + 1 < n_layers:
                seq = np.empty((length, batch, dirs * r), dt)
                seq[:, :, :r] = hist[0]
                if bi:
                    seq[:, :, r:] = hist[1, ::-1]
        if not o["return_sequences"]:
            # forward: its last step; backward: its last processed step, which is time 0
            return np.ascontiguousarray(np.concatenate(list(hist[:, -1]), axis=1))
        out = np.empty((batch, dirs * r, length), dt)
        out[:, :r, :] = hist[0].transpose(1, 2, 0)
        if bi:
            out[:, r:, :] = hist[1, ::-1].transpose(1, 2, 0)
        return out

    def _prepare(
        self, k: int, bi: bool, hid: int, w: dict[str, np.ndarray], dt: np.dtype
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None, np.ndarray | None]:
        """Stacked, transposed weights of layer ``k``: W_ih^T [dirs, in, G], W_hh^T [dirs, R, G],
        the input-side bias [dirs, G], GRU's b_hn [dirs, 1, H] (or None without bias) and
        LSTM's W_hr^T [dirs, H, R] (or None without proj_size; R is proj_size, else H).

        The internal gate order puts the sigmoid gates first (LSTM i,f,o,g; GRU r,z,n). Their
        rows are negated, so ``sigmoid(a) = 1 / (1 + exp(-a))`` is one exp, one add and one
        divide on the pre-activation as computed; LSTM's g rows are scaled by -2 for
        ``tanh(a) = 2 sigmoid(2a) - 1`` (scaling by -1 or -2 is exact in floating point).
        Overflow of exp gives inf and then exactly 0, never NaN. LSTM/RNN fold both biases
        into the input side; GRU folds b_hr and b_hz only, since b_hn sits inside ``r * (...)``.
        """
        import numpy as np

        g = self.gates
        order = np.r_[0 : 2 * hid, 3 * hid : 4 * hid, 2 * hid : 3 * hid] if g == 4 else np.arange(g * hid)
        n_sig = {1: 0, 3: 2, 4: 3}[g] * hid
        scale = np.ones(g * hid, dt)
        scale[:n_sig] = -1.0
        if g == 4:
            scale[n_sig:] = -2.0
        wih, whh, bx, bhn, whr = [], [], [], [], []
        for sfx in _suffixes(k, bi):
            if f"weight_hr{sfx}" in w:
                whr.append(w[f"weight_hr{sfx}"].astype(dt, copy=False).T)
            wih.append((w[f"weight_ih{sfx}"].astype(dt, copy=False)[order] * scale[:, None]).T)
            whh.append((w[f"weight_hh{sfx}"].astype(dt, copy=False)[order] * scale[:, None]).T)
            if f"bias_ih{sfx}" in w:
                b_ih = w[f"bias_ih{sfx}"].astype(dt, copy=False)[order]
                b_hh = w[f"bias_hh{sfx}"].astype(dt, copy=False)[order]
                if g == 3:
                    bhn.append(b_hh[2 * hid :].copy())
                    b_hh = np.concatenate([b_hh[: 2 * hid], np.zeros(hid, dt)])
                bx.append((b_ih + b_hh) * scale)
        return (
            np.ascontiguousarray(np.stack(wih)),
            np.ascontiguousarray(np.stack(whh)),
            np.stack(bx)[:, None, :] if bx else None,
            np.stack(bhn)[:, None, :] if bhn else None,
            np.ascontiguousarray(np.stack(whr)) if whr else None,
        )

    def _loop(
        self,
        xp: np.ndarray,
        whh: np.ndarray,
        bhn: np.ndarray | None,
        hist: np.ndarray,
        whr: np.ndarray | None = None,
    ) -> None:
        """The recurrence, writing each step's h ([dirs, B, R]) into ``hist[:, t]``; R is H, or
        LSTM's proj_size, when ``whr`` (W_hr^T [dirs, H, R]) projects ``o * tanh(c)``."""
        import numpy as np

        dirs, length, batch, gh = xp.shape
        hid = gh // self.gates
        dt = hist.dtype
        h = np.zeros((dirs, batch, hist.shape[-1]), dt)
        gates = np.empty((dirs, batch, gh), dt)
        mm, add, mul, sub, div = np.matmul, np.add, np.multiply, np.subtract, np.divide
        tanh, exp = np.tanh, np.exp
        if self.gates == 1:  # h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)
            for t in range(length):
                ht = hist[:, t]
                mm(h, whh, out=ht)
                add(ht, xp[:, t], out=ht)
                tanh(ht, out=ht)
                h = ht
        elif self.gates == 4:  # internal order i, f, o, g; c' = f c + i g, h' = o tanh(c')
            c = np.zeros((dirs, batch, hid), dt)
            tmp = np.empty((dirs, batch, hid), dt)
            i, f, o, g = (gates[..., j * hid : (j + 1) * hid] for j in range(4))
            for t in range(length):
                mm(h, whh, out=gates)
                add(gates, xp[:, t], out=gates)
                exp(gates, out=gates)  # rows hold -a (i, f, o) and -2a (g)
                add(gates, 1.0, out=gates)
                div(1.0, gates, out=gates)  # sigmoid(a); g rows sigmoid(2a)
                mul(g, 2.0, out=g)
                sub(g, 1.0, out=g)  # tanh(a)
                mul(c, f, out=c)
                mul(i, g, out=tmp)
                add(c, tmp, out=c)
                tanh(c, out=tmp)
                h = hist[:, t]
                if whr is None:
                    mul(o, tmp, out=h)
                else:  # h' = W_hr (o tanh(c'))
                    mul(o, tmp, out=tmp)
                    mm(tmp, whr, out=h)
        else:  # GRU r, z, n = tanh(x_n + r (h W_hn^T + b_hn)); h' = n + z (h - n)
            rz = np.empty((dirs, batch, 2 * hid), dt)
            tmp = np.empty((dirs, batch, hid), dt)
            hn = gates[..., 2 * hid :]
            r, z = rz[..., :hid], rz[..., hid:]
            for t in range(length):
                xt = xp[:, t]
                mm(h, whh, out=gates)
                add(gates[..., : 2 * hid], xt[..., : 2 * hid], out=rz)
                exp(rz, out=rz)  # rows hold -a
                add(rz, 1.0, out=rz)
                div(1.0, rz, out=rz)  # sigmoid(a)
                if bhn is not None:
                    add(hn, bhn, out=hn)
                mul(hn, r, out=hn)
                add(hn, xt[..., 2 * hid :], out=hn)
                tanh(hn, out=hn)
                sub(h, hn, out=tmp)
                mul(tmp, z, out=tmp)
                ht = hist[:, t]
                add(hn, tmp, out=ht)
                h = ht


def _suffixes(k: int, bi: bool) -> list[str]:
    return [f"_l{k}", f"_l{k}_reverse"] if bi else [f"_l{k}"]


KINDS = [Recurrent("rnn"), Recurrent("lstm"), Recurrent("gru")]
