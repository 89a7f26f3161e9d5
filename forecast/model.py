"""The recurrent network: a plain nn.Module, no Lightning (so loading a model to predict stays light).

One `RecurrentNet` serves `rnn` (Keras' SimpleRNN: tanh), `lstm` and `gru`, picked by name from
`CELLS`. A direct multi-step head maps the last hidden state to every horizon step of every target
at once, so errors do not compound as in step-by-step recursion. With quantile levels the head
gives every step Q values, sorted so that quantiles never cross.
"""
from __future__ import annotations

import torch
from torch import nn

from forecast.config import DataConfig, ModelConfig
from forecast.errors import ForecastError

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


# Ridge penalties per window row tried for a solved linear skip (`fit_skip`); the one without validation
RIDGES = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)
DEFAULT_RIDGE = 1e-2
# The linear forecast's shares tried for `blend_linear`; the one without validation
BLENDS = (0.0, 0.25, 0.5, 0.75, 1.0)
DEFAULT_BLEND = 0.5


class RecurrentNet(nn.Module):
    """(B, seq_len, C) inputs -> (B, horizon, T) forecasts, or (B, horizon, T, Q) quantiles when
    `cfg.quantiles` is set; targets are the first T input columns.

    With `instance_norm`, each window is shifted by its own last value and the shift added back to
    the output: the network predicts changes from now, so a zero output is the naive forecast and a
    model trained at one level works at another. With `instance_scale` each window is also divided by
    its own spread (mean absolute one-step change) and the output multiplied back, so forecasts and
    quantile widths follow the window's volatility. When the targets are changes already
    (`level_targets=False`, log returns scaled without centring) their columns are not shifted and a
    zero output is a zero change: the naive forecast again. The shift comes from the inputs only,
    never the targets. The last `n_time` input columns (calendar phases, static values) are neither
    shifted nor scaled.

    With a `cycle` of P steps the very last input column is each step's phase in it (0 to P - 1,
    from the dates): the cycle's value at each phase (`profile`, the training targets' mean there,
    one cycle per series of a panel, set by `fit_cycle`) is taken from the target inputs before
    anything else and added back to the forecast at the phases it covers, so the network forecasts
    what the cycle leaves (CycleNet's residual cycle forecasting, Lin et al., NeurIPS 2024, with the
    cycle fixed instead of learned).
    """

    def __init__(self, cfg: ModelConfig, n_inputs: int, n_targets: int, seq_len: int, horizon: int,
                 level_targets: bool = True, n_series: int = 1, n_time: int = 0, cycle: int = 0):
        super().__init__()
        self.n_time = n_time  # the last input columns: calendar phases, never shifted or scaled
        self.period = cycle
        if cycle:  # the phase column is read, never fed to the network
            n_inputs -= 1
            self.register_buffer("profile", torch.zeros(n_series, cycle, n_targets))
        if cfg.cell not in CELLS:
            raise ForecastError(f"unknown cell {cfg.cell!r}; choose one of: {', '.join(CELLS)}")
        if seq_len % cfg.segment_len or (cfg.skip_period and seq_len % cfg.skip_period) \
                or (cfg.channel_independent and n_inputs != n_targets):
            raise ForecastError("seq_len must be a multiple of segment_len and skip_period, and "
                                "channel_independent needs no covariates (see forecast.config.check_compatible)")
        self.cfg, self.n_targets, self.horizon = cfg, n_targets, horizon
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
        per_step = (1 if cfg.channel_independent else n_targets) * max(self.n_quantiles, 1)
        self.embedding = nn.Embedding(n_series, cfg.series_embedding) if cfg.series_embedding else None
        if cfg.decoder == "pmf":  # SegRNN's parallel multi-step decoding, one segment per position
            if self.embed is None:
                raise ForecastError("decoder pmf decodes segments: give segment_len above 1")
            self.n_segments = -(-horizon // cfg.segment_len)
            half = cfg.hidden_size // 2
            self.position = nn.Parameter(torch.randn(self.n_segments, half) * 0.02)
            self.channel = nn.Parameter(torch.randn(n_inputs if cfg.channel_independent else 1,
                                                    cfg.hidden_size - half) * 0.02)
            self.head = nn.Linear(cfg.hidden_size + cfg.series_embedding, cfg.segment_len * per_step)
        else:
            self.head = nn.Linear(cfg.hidden_size + cfg.series_embedding, horizon * per_step)
        # RLinear's (or SparseTSF's) forecast, one map shared by every target, from its own window
        self.skip = None if not cfg.linear_skip else nn.Linear(seq_len, horizon) \
            if not cfg.skip_period else SparseSkip(seq_len, horizon, cfg.skip_period)
        if cfg.solves_skip:  # solved before training (`fit_skip`) and held fixed
            self.skip.requires_grad_(False)
        if cfg.fit_skip:  # the recurrent head starts silent and learns what the skip misses
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)
        if cfg.blend_linear:  # the skip's share of the forecast; 0 while training picks it later
            self.register_buffer("linear_weight", torch.tensor(float(cfg.linear_weight or 0.0)))
        self.median = list(cfg.quantiles).index(0.5) if cfg.quantiles else 0

    def forward(self, x: torch.Tensor, series: torch.Tensor | None = None) -> torch.Tensor:
        """`series` (B,): each window's series (a panel's), read through the series embedding."""
        phase = None
        if self.period:
            x, phase = self._decycle(x, series)
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
        if self.cfg.decoder == "pmf":
            y = self._decode_segments(final, vectors, out.shape[0], channels)
        else:
            state = self.dropout(out[:, -1])  # (B', hidden)
            if vectors is not None:
                state = torch.cat([state, vectors], dim=1)
            y = self.head(state)  # (B', horizon * T' * Q)
        q = max(self.n_quantiles, 1)
        if self.cfg.channel_independent:
            y = y.reshape(batch, channels, self.horizon, q).permute(0, 2, 1, 3)
        else:
            y = y.reshape(batch, self.horizon, self.n_targets, q)  # (B, H, T, Q)
        if self.n_quantiles:
            y = y.sort(dim=-1).values  # non-crossing quantiles
        # (B, L, T) -> (B, H, T, 1), the same shift for every quantile; a blended network trains alone
        if self.skip is not None and not (self.cfg.blend_linear and self.training):
            linear = self.skip(x_in[:, :, : self.n_targets].transpose(1, 2)).transpose(1, 2)[..., None]
            y = y + (linear if not self.cfg.blend_linear
                     else self.linear_weight * (linear - y[..., self.median: self.median + 1]))
        if not self.n_quantiles:
            y = y[..., 0]  # (B, H, T)
        else:
            if not self.level_targets:
                # Changes: the head gives quantiles of the change up to each step (a quantile of a
                # sum is not the sum of quantiles); differencing them lets the decoder's cumulative
                # sum return exactly those, still sorted.
                y = torch.diff(y, dim=1, prepend=torch.zeros_like(y[:, :1]))
        if spread is not None:
            factor = spread[:, :, : self.n_targets]
            y = y * (factor[..., None] if self.n_quantiles else factor)
        if last is not None:
            shift = last[:, :, : self.n_targets]
            y = y + (shift[..., None] if self.n_quantiles else shift)
        if phase is not None:
            cycle = self._cycle(phase, series, 1, self.horizon)
            y = y + (cycle[..., None] if self.n_quantiles else cycle)
        return y  # (B, horizon, T) or (B, horizon, T, Q)

    @staticmethod
    def _last_phase(x: torch.Tensor) -> torch.Tensor:
        """(B,) the phase of each window's last input step (its last column)."""
        return x[:, -1, -1].round().long()

    def _phases(self, phase: torch.Tensor, first: int, steps: int) -> torch.Tensor:
        """(B, steps) the phases `first` to `first + steps - 1` steps after `phase` (B,)."""
        return (phase[:, None] + torch.arange(first, first + steps, device=phase.device)) % self.period

    def _cycle(self, phase: torch.Tensor, series, first: int, steps: int) -> torch.Tensor:
        """(B, steps, T) the cycle of each window's series (`series` (B,), None: the first) at
        `steps` steps from `first` steps after `phase` (B,)."""
        ids = torch.zeros_like(phase) if series is None else series.to(phase.device)
        return self.profile[ids[:, None], self._phases(phase, first, steps)]

    def _decycle(self, x: torch.Tensor, series=None):
        """(x without its phase column and with the cycle taken from its targets, (B,) the phase of
        each window's last step)."""
        phase = self._last_phase(x)
        x, t = x[..., :-1], self.n_targets
        cycle = self._cycle(phase, series, 1 - x.shape[1], x.shape[1])
        return torch.cat([x[..., :t] - cycle, x[..., t:]], dim=2), phase

    @torch.no_grad()
    def fit_cycle(self, train) -> None:
        """Set each series' cycle to the mean of its targets in the `train` batches ((x, y[, series])
        in the data's scaled units) at each of its phases."""
        n_series = self.profile.shape[0]
        sums = torch.zeros(n_series * self.period, self.n_targets, dtype=torch.float64)
        counts = torch.zeros(n_series * self.period, dtype=torch.float64)
        for x, y, *series in train:
            phase = self._last_phase(x).cpu()
            ids = series[0].long().cpu() if series else torch.zeros_like(phase)
            at = ids[:, None] * self.period + self._phases(phase, 1, y.shape[1])
            sums.index_add_(0, at.reshape(-1), y.double().cpu().reshape(-1, y.shape[-1]))
            counts.index_add_(0, at.reshape(-1), torch.ones(at.numel(), dtype=torch.float64))
        if (counts == 0).any():
            missing = int((counts == 0).nonzero()[0])
            raise ForecastError(f"cycle {self.period}: no training target falls on phase {missing % self.period} "
                                f"of it{f' in series {missing // self.period + 1}' if n_series > 1 else ''}; "
                                "give more training data or a shorter --cycle")
        self.profile.copy_((sums / counts[:, None]).reshape(self.profile.shape).to(self.profile.dtype))

    def _normalise(self, x: torch.Tensor):
        """(x, last, spread): the window shifted by its last value (`instance_norm`) and divided by
        its spread (`instance_scale`); `last` and `spread` are (B, 1, C), None when not asked for."""
        last = spread = None
        if self.cfg.instance_norm:
            last = x[:, -1:, :]  # (B, 1, C)
            if not self.level_targets:  # changes are not shifted: zero is "no change"
                last = torch.cat([torch.zeros_like(last[:, :, : self.n_targets]),
                                  last[:, :, self.n_targets:]], dim=2)
            if self.n_time:
                last = torch.cat([last[:, :, : -self.n_time], torch.zeros_like(last[:, :, -self.n_time:])], dim=2)
            x = x - last
        if self.cfg.instance_scale:
            spread = self._spread(x)  # (B, 1, C)
            if self.n_time:
                spread = torch.cat([spread[:, :, : -self.n_time], torch.ones_like(spread[:, :, -self.n_time:])], dim=2)
            x = x / spread
        return x, last, spread

    def skip_rows(self, x: torch.Tensor, y: torch.Tensor, series=None):
        """The linear skip's regression for a batch (of the panel's `series`): (B * T, L) normalised
        input windows, one row per target; (B * T, H) their normalised targets; (B * T, 1) each row's
        spread (the factor back to the data's units)."""
        if self.period:
            x, phase = self._decycle(x, series)
            y = y - self._cycle(phase, series, 1, y.shape[1])
        x, last, spread = self._normalise(x)
        t = self.n_targets
        if last is not None:
            y = y - last[:, :, :t]
        if self.n_quantiles and not self.level_targets:  # that head gives the changes summed up (forward)
            y = y.cumsum(dim=1)
        scale = spread[:, :, :t] if spread is not None else torch.ones_like(y[:, :1])
        rows = lambda v: v.transpose(1, 2).reshape(-1, v.shape[1])  # noqa: E731  (B, *, T) -> (B * T, *)
        return rows(x[:, :, :t]), rows(y / scale), rows(scale)

    @torch.no_grad()
    def fit_skip(self, train, val=None, ridge: float | None = None) -> float:
        """Solve the dense linear skip by ridge least squares over the `train` batches ((x, y, ...)
        in the data's scaled units), with the penalty `ridge` per window row, or, when None, the one
        of `RIDGES` with the lowest MSE of the skip's forecast over the `val` batches (without
        them: `DEFAULT_RIDGE`). Returns the penalty used."""
        seq_len = self.skip.in_features
        gram = torch.zeros(seq_len + 1, seq_len + 1, dtype=torch.float64)
        cross = torch.zeros(seq_len + 1, self.horizon, dtype=torch.float64)
        n = 0
        for x, y, *series in train:
            a, b, _ = (v.double().cpu() for v in self.skip_rows(x, y, *series))
            a = torch.cat([a, torch.ones_like(a[:, :1])], dim=1)  # the bias, never penalised
            gram, cross, n = gram + a.T @ a, cross + a.T @ b, n + len(a)
        penalty = torch.ones(seq_len + 1, dtype=torch.float64)
        penalty[-1] = 0.0
        ridges = (ridge,) if ridge is not None else RIDGES if val is not None else (DEFAULT_RIDGE,)
        # gelsd: a least-squares solution even where the system is singular (a penalty of 0, few windows)
        solutions = [torch.linalg.lstsq(gram + torch.diag(penalty * r * max(n, 1)), cross,
                                        driver="gelsd").solution for r in ridges]
        if len(ridges) > 1:
            errors = torch.zeros(len(ridges), dtype=torch.float64)
            for x, y, *series in val:
                a, b, scale = (v.double().cpu() for v in self.skip_rows(x, y, *series))
                for i, w in enumerate(solutions):
                    errors[i] += (((a @ w[:-1] + w[-1] - b) * scale) ** 2).sum()
            best = int(errors.argmin())
            ridges, solutions = (ridges[best],), [solutions[best]]
        weights = solutions[0].to(self.skip.weight.dtype)
        self.skip.weight.copy_(weights[:-1].T)
        self.skip.bias.copy_(weights[-1])
        return float(ridges[0])

    def _decode_segments(self, final, vectors, rows: int, channels: int) -> torch.Tensor:
        """Every horizon segment at once: the encoder's final state, one recurrent step per segment
        whose input is that segment's position (and channel) embedding -> (B', horizon * T' * Q)."""
        m = self.n_segments
        channel = self.channel[torch.arange(rows, device=self.channel.device) % self.channel.shape[0]]
        steps = torch.cat([self.position.unsqueeze(0).expand(rows, -1, -1),
                           channel.unsqueeze(1).expand(-1, m, -1)], dim=2)  # (B', M, hidden)
        repeat = lambda h: h.repeat_interleave(m, dim=1)  # noqa: E731  (layers, B' * M, hidden)
        start = tuple(map(repeat, final)) if isinstance(final, tuple) else repeat(final)
        out, _ = self.rnn(steps.reshape(rows * m, 1, -1), start)  # (B' * M, 1, hidden)
        state = self.dropout(out[:, 0])
        if vectors is not None:
            state = torch.cat([state, vectors.repeat_interleave(m, dim=0)], dim=1)
        y = self.head(state).reshape(rows, m * self.cfg.segment_len, -1)[:, : self.horizon]
        return y.reshape(rows, -1)

    def _spread(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, C) scale of each window from its inputs: the mean absolute one-step change of a
        level, the mean absolute value of a change (log-return targets); floored above zero."""
        spread = (x[:, 1:] - x[:, :-1]).abs().mean(dim=1, keepdim=True) if x.shape[1] > 1 \
            else torch.ones_like(x[:, :1])
        if not self.level_targets:
            spread = torch.cat([x[:, :, : self.n_targets].abs().mean(dim=1, keepdim=True),
                                spread[:, :, self.n_targets:]], dim=2)
        return spread.clamp_min(1e-3)


class SparseSkip(nn.Module):
    """SparseTSF's linear forecast (Lin et al., ICML 2024), (..., seq_len) -> (..., horizon): the
    window less its mean, plus a learned smoothing over about one period; then every phase of the
    period (every `period`-th value) is mapped by the same small linear map from its seq_len / period
    past values to its horizon / period future ones, and the mean is added back (ETTh1 at input and
    horizon 720, period 24: 955 weights against the dense map's 519,120)."""

    def __init__(self, seq_len: int, horizon: int, period: int):
        super().__init__()
        self.period, self.horizon = period, horizon
        self.smooth = nn.Conv1d(1, 1, 1 + 2 * (period // 2), padding=period // 2, bias=False)
        self.map = nn.Linear(seq_len // period, -(-horizon // period))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape, seq_len = x.shape[:-1], x.shape[-1]
        x = x.reshape(-1, seq_len)
        mean = x.mean(dim=1, keepdim=True)
        x = x - mean
        x = x + self.smooth(x[:, None]).squeeze(1)
        phases = x.reshape(x.shape[0], -1, self.period).transpose(1, 2)  # (N, P, L / P), phase p: p, p+P...
        y = self.map(phases).transpose(1, 2).reshape(x.shape[0], -1)[:, : self.horizon]  # same phases
        return (y + mean).reshape(*shape, self.horizon)


class Ensemble(nn.Module):
    """`cfg.ensemble` networks of the same shape, each from its own initial weights (a deep
    ensemble). In training mode it returns every member's output stacked, (K, B, ...), so that each
    member learns from its own loss; in evaluation mode their mean, shaped like one network's (a mean
    of sorted quantiles is still sorted)."""

    def __init__(self, nets: list[RecurrentNet]):
        super().__init__()
        self.members = nn.ModuleList(nets)
        self.cfg, self.level_targets = nets[0].cfg, nets[0].level_targets

    def forward(self, x: torch.Tensor, series: torch.Tensor | None = None) -> torch.Tensor:
        out = torch.stack([net(x, series) for net in self.members])
        return out if self.training else out.mean(dim=0)

    def fit_cycle(self, train) -> None:
        """Every member's cycle set (the same: it depends on the data only)."""
        self.members[0].fit_cycle(train)
        for net in self.members[1:]:
            net.profile.copy_(self.members[0].profile)

    def fit_skip(self, train, val=None, ridge: float | None = None) -> float:
        """Every member's skip solved (the same solution: it depends on the data only)."""
        ridge = self.members[0].fit_skip(train, val, ridge)
        for net in self.members[1:]:
            net.skip.load_state_dict(self.members[0].skip.state_dict())
        return ridge


@torch.no_grad()
def blend_linear(net: RecurrentNet | Ensemble, val=None, weight: float | None = None) -> float:
    """Set the linear forecast's share in the forecast of a `blend_linear` network (or ensemble):
    `weight`, or, when None, the one of `BLENDS` whose blend has the lowest MSE of the point forecast
    (the median of a quantile head) over the `val` batches ((x, y[, series]) in the data's scaled
    units; without them `DEFAULT_BLEND`). Returns the share set."""
    members = [m for m in net.modules() if isinstance(m, RecurrentNet)]  # one, or an ensemble's

    def use(share: float) -> None:
        for member in members:
            member.linear_weight.fill_(share)

    if weight is None and val is None:
        weight = DEFAULT_BLEND
    if weight is None:
        errors = torch.zeros(len(BLENDS), dtype=torch.float64)
        net.eval()
        for x, y, *series in val:
            ends = []  # the forecast is linear in the share: its two ends give every blend
            for share in (0.0, 1.0):
                use(share)
                out = net(x, series[0] if series else None)
                ends.append((out[..., members[0].median] if members[0].n_quantiles else out).double())
            for i, share in enumerate(BLENDS):
                errors[i] += ((ends[0] + share * (ends[1] - ends[0]) - y.double()) ** 2).sum()
        weight = BLENDS[int(errors.argmin())]
    use(weight)
    return float(weight)


def build_net(data: DataConfig, model: ModelConfig, n_series: int = 1, n_static: int = 0) -> RecurrentNet | Ensemble:
    """The network for these data and model settings (as training and loading both build it);
    `n_static`: a panel's encoded static columns (see `forecast.static`), read unshifted like the
    calendar's."""
    nets = [RecurrentNet(model, data.n_inputs + n_static, len(data.targets), data.seq_len, data.horizon,
                         level_targets=data.transform != "log_return", n_series=n_series,
                         n_time=2 * len(data.time_features) + n_static, cycle=data.cycle)
            for _ in range(model.ensemble)]
    return nets[0] if model.ensemble == 1 else Ensemble(nets)
