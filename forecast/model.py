"""The recurrent network: a plain nn.Module, no Lightning (so loading a model to predict stays light).

One `RecurrentNet` serves `rnn` (Keras' SimpleRNN: tanh), `lstm` and `gru`, picked by name from
`CELLS`. A direct multi-step head maps the last hidden state to every horizon step of every target
at once, so errors do not compound as in step-by-step recursion. With quantile levels the head
gives every step Q values, sorted so that quantiles never cross.

Extension point: `fit(..., net=MyNet)` (or `net="package.module:MyNet"`) trains another network in
its place, built with the same arguments as `RecurrentNet` plus the JSON-able `net_options`. The
model file saves its importable name and options, never pickled code; see `resolve_net`.
"""
from __future__ import annotations

from importlib import import_module

import numpy as np
import torch
from torch import nn

from forecast.config import DataConfig, ModelConfig
from forecast.errors import ForecastError

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class RecurrentNet(nn.Module):
    """(B, seq_len, C) inputs -> (B, horizon, T) forecasts, or (B, horizon, T, Q) quantiles when
    `cfg.quantiles` is set; targets are the first T input columns.

    `cfg.normalize` "last" shifts each window by its own last value and adds the shift back to the
    output: the network predicts changes from now, so a zero output is the naive forecast and a
    model trained at one level works at another. "last+scale" also divides each window by its own
    spread (mean absolute one-step change) and multiplies the output back, so forecasts and quantile
    widths follow the window's volatility. When the targets are changes already
    (`level_targets=False`, log returns scaled without centring) their columns are not shifted and a
    zero output is a zero change: the naive forecast again. The shift comes from the inputs only,
    never the targets. The last `n_time` input columns (calendar phases, static values) are neither
    shifted nor scaled.

    With a `cycle` the network sees and forecasts what the cycle leaves: the `Preprocessor` takes
    each series' cycle out of the targets and puts it back into the decoded forecast.

    A subclass (see `benchmarks/heads.py`) may replace `_make_head` and `decode` (how the last
    states become forecasts) and `refine` (a change to the normalised forecast), and define
    `prepare(train, val)` (called before training), `finish(val) -> bool` (after it; True when the
    forecast changed) and `picked` (options chosen on validation, which a refit reuses).
    """

    def __init__(self, cfg: ModelConfig, n_inputs: int, n_targets: int, seq_len: int, horizon: int,
                 level_targets: bool = True, n_series: int = 1, n_time: int = 0):
        super().__init__()
        self.n_time = n_time  # the last input columns: calendar phases, never shifted or scaled
        if cfg.cell not in CELLS:
            raise ForecastError(f"unknown cell {cfg.cell!r}; choose one of: {', '.join(CELLS)}")
        if seq_len % cfg.segment_len or (cfg.channel_independent and n_inputs != n_targets):
            raise ForecastError("seq_len must be a multiple of segment_len, and channel_independent needs "
                                "no covariates (see forecast.config.check_compatible)")
        self.cfg, self.n_inputs, self.n_targets, self.horizon = cfg, n_inputs, n_targets, horizon
        self.level_targets = level_targets
        channels = 1 if cfg.channel_independent else n_inputs
        step = channels * cfg.segment_len  # features per RNN step
        self.embed = nn.Linear(step, cfg.hidden_size) if cfg.segment_len > 1 else None
        self.rnn = CELLS[cfg.cell](
            input_size=cfg.hidden_size if self.embed is not None else step,
            hidden_size=cfg.hidden_size, num_layers=cfg.num_layers, batch_first=True,
            dropout=cfg.dropout if cfg.num_layers > 1 else 0.0)
        self.dropout = nn.Dropout(cfg.dropout)
        self.n_quantiles = len(cfg.quantiles)
        self.embedding = nn.Embedding(n_series, cfg.series_embedding) if cfg.series_embedding else None
        self.head = self._make_head((1 if cfg.channel_independent else n_targets) * max(self.n_quantiles, 1))
        self.median = list(cfg.quantiles).index(0.5) if cfg.quantiles else 0

    def _make_head(self, per_step: int) -> nn.Module:
        """The map from the last hidden state (and series vector) to `per_step` values per horizon step."""
        return nn.Linear(self.cfg.hidden_size + self.cfg.series_embedding, self.horizon * per_step)

    def forward(self, x: torch.Tensor, series: torch.Tensor | None = None) -> torch.Tensor:
        """`series` (B,): each window's series (a panel's), read through the series embedding."""
        batch, seq_len, channels = x.shape
        x, last, spread = self._normalise(x)
        x_in = x  # (B, L, C), normalised
        if self.cfg.channel_independent:  # every column is its own series: (B * C, L, 1)
            x = x.permute(0, 2, 1).reshape(batch * channels, seq_len, 1)
        if self.embed is not None:  # (B', L / S, S * C') segments, embedded
            x = torch.relu(self.embed(x.reshape(x.shape[0], seq_len // self.cfg.segment_len, -1)))
        # The LSTM returns (out, (h, c)), the others (out, h); the top layer's outputs serve all three.
        out, final = self.rnn(x)  # (B', steps, hidden)
        vectors = None
        if self.embedding is not None:
            ids = series if series is not None else torch.zeros(batch, dtype=torch.long, device=x.device)
            vectors = self.embedding(ids)  # (B, E)
            if self.cfg.channel_independent:
                vectors = vectors.repeat_interleave(channels, dim=0)  # (B * C, E)
        y = self.decode(out, final, vectors, channels)  # (B', horizon * T' * Q)
        q = max(self.n_quantiles, 1)
        if self.cfg.channel_independent:
            y = y.reshape(batch, channels, self.horizon, q).permute(0, 2, 1, 3)
        else:
            y = y.reshape(batch, self.horizon, self.n_targets, q)  # (B, H, T, Q)
        if self.n_quantiles:
            y = y.sort(dim=-1).values  # non-crossing quantiles
        y = self.refine(y, x_in)
        if not self.n_quantiles:
            y = y[..., 0]  # (B, H, T)
        elif not self.level_targets:
            # Changes: the head gives quantiles of the change up to each step (a quantile of a sum
            # is not the sum of quantiles); differencing them lets the decoder's cumulative sum
            # return exactly those, still sorted.
            y = torch.diff(y, dim=1, prepend=torch.zeros_like(y[:, :1]))
        if spread is not None:
            factor = spread[:, :, : self.n_targets]
            y = y * (factor[..., None] if self.n_quantiles else factor)
        if last is not None:
            shift = last[:, :, : self.n_targets]
            y = y + (shift[..., None] if self.n_quantiles else shift)
        return y  # (B, horizon, T) or (B, horizon, T, Q)

    def decode(self, out: torch.Tensor, final, vectors: torch.Tensor | None, channels: int) -> torch.Tensor:
        """(B', horizon * T' * Q) from the top layer's outputs `out` (B', steps, hidden), the final
        state and each row's series vector (or None)."""
        state = self.dropout(out[:, -1])  # (B', hidden)
        if vectors is not None:
            state = torch.cat([state, vectors], dim=1)
        return self.head(state)

    def refine(self, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The normalised forecast (B, H, T, Q), changed or not, given the normalised inputs (B, L, C)."""
        return y

    def _normalise(self, x: torch.Tensor):
        """(x, last, spread): the window shifted by its last value (`normalize` "last") and divided by
        its spread ("last+scale"); `last` and `spread` are (B, 1, C), None when not asked for."""
        last = spread = None
        if self.cfg.normalize != "none":
            last = x[:, -1:, :]  # (B, 1, C)
            if not self.level_targets:  # changes are not shifted: zero is "no change"
                last = torch.cat([torch.zeros_like(last[:, :, : self.n_targets]),
                                  last[:, :, self.n_targets:]], dim=2)
            if self.n_time:
                last = torch.cat([last[:, :, : -self.n_time], torch.zeros_like(last[:, :, -self.n_time:])], dim=2)
            x = x - last
        if self.cfg.normalize == "last+scale":
            spread = self._spread(x)  # (B, 1, C)
            if self.n_time:
                spread = torch.cat([spread[:, :, : -self.n_time], torch.ones_like(spread[:, :, -self.n_time:])], dim=2)
            x = x / spread
        return x, last, spread

    def _spread(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, C) scale of each window from its inputs: the mean absolute one-step change of a
        level, the mean absolute value of a change (log-return targets); floored above zero."""
        spread = (x[:, 1:] - x[:, :-1]).abs().mean(dim=1, keepdim=True) if x.shape[1] > 1 \
            else torch.ones_like(x[:, :1])
        if not self.level_targets:
            spread = torch.cat([x[:, :, : self.n_targets].abs().mean(dim=1, keepdim=True),
                                spread[:, :, self.n_targets:]], dim=2)
        return spread.clamp_min(1e-3)




class Ensemble(nn.Module):
    """Networks of one design, each from its own initial weights, trained side by side on the same
    batches (a deep ensemble; ES-RNN and N-BEATS averaged many): in training every member's forecast
    stacked, (K, B, ...), so that each learns from its own loss; in evaluation their mean (a mean of
    sorted quantiles is still sorted). `TrainConfig.ensemble` sets how many."""

    def __init__(self, nets: list[nn.Module]):
        super().__init__()
        self.members = nn.ModuleList(nets)
        self.cfg, self.level_targets = nets[0].cfg, nets[0].level_targets

    def forward(self, x: torch.Tensor, series: torch.Tensor | None = None) -> torch.Tensor:
        out = torch.stack([net(x, series) for net in self.members])
        return out if self.training else out.mean(dim=0)


def resolve_net(name: str) -> type[nn.Module]:
    """The network class saved as "package.module:QualName" (imported, never unpickled)."""
    module, _, qualname = name.partition(":")
    try:
        found = import_module(module)
        for part in qualname.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError, ValueError) as e:
        raise ForecastError(f"network {name!r} cannot be imported ({e}); install or put on PYTHONPATH "
                            "the module that defines it") from None
    if not (isinstance(found, type) and issubclass(found, nn.Module)):
        raise ForecastError(f"network {name!r} is not a torch.nn.Module class")
    return found


def net_spec(net: type | str | None, options: dict | None = None) -> dict | None:
    """{"class": "package.module:QualName", "options": {...}} for a network class (or its name) and
    its options, as the model file saves it; None for the built-in `RecurrentNet`."""
    if net is None or net is RecurrentNet:
        if options:
            raise ForecastError("net_options are for a custom network (net=...); RecurrentNet takes none")
        return None
    if isinstance(net, str):
        resolve_net(net)
        return {"class": net, "options": dict(options or {})}
    name = f"{net.__module__}:{net.__qualname__}"
    try:
        found = resolve_net(name)
    except ForecastError:
        found = None
    if found is not net:  # defined in a function or replaced since: a model file could not name it
        raise ForecastError(f"network {net.__qualname__} must be importable as {name} to be saved and loaded; "
                            "define it at the top level of a module")
    return {"class": name, "options": dict(options or {})}


def build_net(data: DataConfig, model: ModelConfig, n_series: int = 1, n_static: int = 0,
              net: dict | None = None, ensemble: int = 1) -> nn.Module:
    """The network for these data and model settings (as training and loading both build it);
    `n_static`: a panel's encoded static columns (see `forecast.preprocess`), read unshifted like the
    calendar's; `net`: a custom network's `net_spec` (None: `RecurrentNet`); `ensemble` > 1: that
    many of them, averaged (`Ensemble`)."""
    cls = RecurrentNet if net is None else resolve_net(net["class"])
    if ensemble > 1 and any(hasattr(cls, hook) for hook in ("prepare", "finish", "picked")):
        raise ForecastError(f"network {cls.__name__} fits on validation itself (prepare, finish or picked), "
                            "which an ensemble of it would not pass on; keep train.ensemble at 1")
    try:
        nets = [cls(model, data.n_inputs + n_static, len(data.targets), data.seq_len, data.horizon,
                    level_targets=data.transform != "log_return", n_series=n_series,
                    n_time=2 * len(data.time_features) + (1 if data.holidays else 0) + n_static,
                    **(net or {}).get("options", {})) for _ in range(ensemble)]
    except TypeError as e:
        raise ForecastError(f"network {cls.__name__} cannot be built with these options ({e})") from None
    return nets[0] if ensemble == 1 else Ensemble(nets)


def predict_scaled(net: torch.nn.Module, inputs, batch_size: int = 1024,
                   series: int | torch.Tensor | None = None) -> np.ndarray:
    """Run `net` over windows -> (B, H, T[, Q]) outputs in encoded units.

    `inputs` is a (B, L, C) tensor (of the series numbered `series` in a panel's model, or (B,) the
    series of each window) or a `WindowDataset` (batches gathered straight from its views, with
    their series).
    """
    device = next(net.parameters()).device
    net.eval()
    outputs = []
    with torch.inference_mode():
        for idx in torch.arange(len(inputs)).split(batch_size):
            item = inputs[idx]
            if isinstance(item, tuple):  # a dataset gives (inputs, targets[, series])
                x, ids = item[0], (item[2] if len(item) == 3 else None)
            else:
                x, ids = item, (None if series is None else series[idx] if torch.is_tensor(series)
                                else torch.full((len(idx),), series))
            outputs.append(net(x.to(device), None if ids is None else ids.to(device)).float())
    return torch.cat(outputs).cpu().numpy()
