"""The M4 lab bench's networks, on `fit`'s extension point (`net=`), out of the product until they earn
a place in it (at least 2% better on validation and on test over 3 seeds).

`SmoothedLevelNet` is ES-RNN's level (Smyl, 2020): each window is shifted by an exponentially smoothed
level of its own values instead of its last value, with a smoothing coefficient learned for each
series (starting at 0.5). The seasonality is the `Preprocessor`'s cycle, taken out before, as
ES-RNN divides its seasonal indices out before smoothing. `benchmarks/m4.py` trains it through the
public API:

    python benchmarks/m4.py --net m4_nets:SmoothedLevelNet --cycle 24 --loss mae --transform log

with this folder on `sys.path` (the model file saves "m4_nets:SmoothedLevelNet").

`InputsEnsemble` is N-BEATS' ensemble of input lengths (Oreshkin et al., 2020): members of one design,
each reading its own last part of the window (`inputs`, e.g. 168, 240, 288 hours of a 288-hour
window), trained side by side as the product's `Ensemble` trains them, their forecasts averaged.

    python benchmarks/m4.py --seq-len 288 --net m4_nets:InputsEnsemble --net-options '{"inputs": [168, 240, 288]}'
"""
from __future__ import annotations

import torch
from torch import nn

from forecast.errors import ForecastError
from forecast.model import Ensemble, RecurrentNet


def smoothed_level(x: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """(B, 1, C) the last exponentially smoothed level of windows `x` (B, L, C), smoothing `alpha`
    (B, 1, 1) in (0, 1): level_0 = x_0, level_t = alpha x_t + (1 - alpha) level_(t-1), unrolled into
    one weighted sum (the weights add up to 1)."""
    length = x.shape[1]
    age = torch.arange(length - 1, -1, -1, device=x.device, dtype=x.dtype)  # L-1 ... 0
    weights = alpha * (1 - alpha) ** age[None, :, None]  # (B, L, 1)
    weights = torch.cat([(1 - alpha) ** (length - 1), weights[:, 1:]], dim=1)  # the first value's share
    return (weights * x).sum(dim=1, keepdim=True)


class SmoothedLevelNet(RecurrentNet):
    """`RecurrentNet` whose windows are shifted by their smoothed level (each series its own learned
    smoothing) rather than by their last value, the output shifted back by it; with `normalize`
    "last" or "last+scale" (the spread does not move with the shift)."""

    def __init__(self, *args, n_series: int = 1, **kwargs):
        super().__init__(*args, n_series=n_series, **kwargs)
        self.smoothing = nn.Embedding(n_series, 1)
        nn.init.zeros_(self.smoothing.weight)  # sigmoid(0): alpha 0.5 to start
        self._series: torch.Tensor | None = None

    def forward(self, x: torch.Tensor, series: torch.Tensor | None = None) -> torch.Tensor:
        self._series = series
        return super().forward(x, series)

    def _normalise(self, x: torch.Tensor):
        x, last, spread = super()._normalise(x)
        if last is None or not self.level_targets:
            return x, last, spread
        ids = self._series if self._series is not None else torch.zeros(len(x), dtype=torch.long, device=x.device)
        alpha = torch.sigmoid(self.smoothing(ids))[:, :, None]  # (B, 1, 1)
        t = self.n_targets
        unit = spread[:, :, :t] if spread is not None else 1.0  # "last+scale": the window's spread
        values = x[:, :, :t] * unit + last[:, :, :t]  # the targets as they came in
        level = smoothed_level(values, alpha)
        x = torch.cat([(values - level) / unit, x[:, :, t:]], dim=2)
        last = torch.cat([level, last[:, :, t:]], dim=2)
        return x, last, spread


class InputsEnsemble(Ensemble):
    """`Ensemble` whose member k reads only the last `inputs[k]` steps of each window (each at most
    the window's length and a multiple of `segment_len`)."""

    def __init__(self, cfg, n_inputs, n_targets, seq_len, horizon, inputs: tuple[int, ...] = (), **kwargs):
        if len(inputs) < 2 or any(not 0 < n <= seq_len or n % cfg.segment_len for n in inputs):
            raise ForecastError(f"inputs must be 2 or more lengths up to seq_len {seq_len}, each a multiple of "
                                f"segment_len {cfg.segment_len}; got {inputs!r}")
        super().__init__([RecurrentNet(cfg, n_inputs, n_targets, n, horizon, **kwargs) for n in inputs])
        self.inputs = list(inputs)

    def forward(self, x: torch.Tensor, series: torch.Tensor | None = None) -> torch.Tensor:
        out = torch.stack([net(x[:, -n:], series) for net, n in zip(self.members, self.inputs)])
        return out if self.training else out.mean(dim=0)
