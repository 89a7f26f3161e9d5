"""The ETTh1 lab bench's networks, on `fit`'s extension point (`net=`), out of the product.

Each earned less than its cost on the benchmarks (docs/benchmarks/etth1-ablations.md): a linear
forecast from each target's own window beside the recurrent one (learned as in RLinear, sparse as in
SparseTSF, solved by ridge least squares and refined, or solved and blended), SegRNN's parallel
multi-step decoder, and deep ensembles. `benchmarks/ett.py` trains them through the public API:

    fit(frame, data, model, train, net="heads:LinearSkipNet", net_options={"skip": "blend"})

with this folder on `sys.path` (the model file saves "heads:LinearSkipNet" and the options; loading
it needs the same). `tests/test_heads.py` checks that they reproduce the forecasts the product gave
when they were its switches (`benchmarks/results/heads/reference.json`).
"""
from __future__ import annotations

import torch
from torch import nn

from forecast.errors import ForecastError
from forecast.model import Ensemble, RecurrentNet

# Ridge penalties per window row tried for a solved linear skip; the one without validation
RIDGES = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)
DEFAULT_RIDGE = 1e-2
# The linear forecast's shares tried for a blend; the one without validation
BLENDS = (0.0, 0.25, 0.5, 0.75, 1.0)
DEFAULT_BLEND = 0.5
SKIPS = ("learned", "sparse", "solved", "blend")


class SparseSkip(nn.Module):
    """SparseTSF's linear forecast (Lin et al., ICML 2024), (..., seq_len) -> (..., horizon): the
    window less its mean, plus a learned smoothing over about one period; then every phase of the
    period (every `period`-th value) is mapped by the same small linear map from its seq_len / period
    past values to its horizon / period future ones, and the mean is added back."""

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


class LinearSkipNet(RecurrentNet):
    """`RecurrentNet` plus a linear map from each target's normalised input window to its forecast.

    skip : "learned" (RLinear's forecast, trained with the network, which refines it), "sparse"
        (SparseTSF's map over the phases of `period`), "solved" (the dense map solved by ridge least
        squares on the training windows before training and held fixed; the head starts silent and
        learns what it misses), "blend" (solved the same way but kept apart: the network trains
        alone, and the forecast is `weight` times the linear forecast plus the rest times the
        network's; a quantile head's quantiles move by that share of the gap to its median).
    ridge : the penalty per window row of a solved map; None picks it on validation from `RIDGES`.
    weight : the blend's share; None picks it on validation from `BLENDS` after training.
    What was picked is in `picked`, which a refit without validation reuses.
    """

    def __init__(self, cfg, n_inputs, n_targets, seq_len, horizon, skip: str = "learned", period: int = 0,
                 ridge: float | None = None, weight: float | None = None, **kwargs):
        if skip not in SKIPS:
            raise ForecastError(f"unknown skip {skip!r}; choose one of: {', '.join(SKIPS)}")
        if (skip == "sparse") != (period >= 2) or (period and seq_len % period):
            raise ForecastError("a sparse skip needs a period of 2 or more that divides seq_len, and only it")
        super().__init__(cfg, n_inputs, n_targets, seq_len, horizon, **kwargs)
        self.kind, self.ridge, self.weight, self.picked = skip, ridge, weight, {}
        self.skip = SparseSkip(seq_len, horizon, period) if skip == "sparse" else nn.Linear(seq_len, horizon)
        if skip in ("solved", "blend"):
            self.skip.requires_grad_(False)
        if skip == "solved":  # the recurrent head starts silent
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)
        if skip == "blend":  # 0 while training; `finish` sets it
            self.register_buffer("linear_weight", torch.tensor(float(weight or 0.0)))

    def refine(self, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "blend" and self.training:  # a blended network trains alone
            return y
        linear = self.skip(x[:, :, : self.n_targets].transpose(1, 2)).transpose(1, 2)[..., None]
        if self.kind != "blend":
            return y + linear
        return y + self.linear_weight * (linear - y[..., self.median: self.median + 1])

    def prepare(self, train, val=None) -> None:
        if self.kind in ("solved", "blend"):
            self.picked["ridge"] = solve_skip(self, train, val, self.ridge)

    def finish(self, val=None) -> bool:
        if self.kind != "blend":
            return False
        self.picked["weight"] = pick_share(self, [self], val, self.weight)
        return True

    def skip_rows(self, x: torch.Tensor, y: torch.Tensor, series=None):
        """The linear skip's regression for a batch: (B * T, L) normalised input windows, one row
        per target; (B * T, H) their normalised targets; (B * T, 1) each row's spread."""
        x, last, spread = self._normalise(x)
        t = self.n_targets
        if last is not None:
            y = y - last[:, :, :t]
        if self.n_quantiles and not self.level_targets:  # that head gives the changes summed up (forward)
            y = y.cumsum(dim=1)
        scale = spread[:, :, :t] if spread is not None else torch.ones_like(y[:, :1])

        def rows(v):  # (B, *, T) -> (B * T, *)
            return v.transpose(1, 2).reshape(-1, v.shape[1])

        return rows(x[:, :, :t]), rows(y / scale), rows(scale)


@torch.no_grad()
def solve_skip(net: LinearSkipNet, train, val=None, ridge: float | None = None) -> float:
    """Solve the dense linear skip by ridge least squares over the `train` batches ((x, y, ...) in
    the data's scaled units), with the penalty `ridge` per window row, or, when None, the one of
    `RIDGES` with the lowest MSE of the skip's forecast over the `val` batches (without them:
    `DEFAULT_RIDGE`). Returns the penalty used."""
    seq_len = net.skip.in_features
    gram = torch.zeros(seq_len + 1, seq_len + 1, dtype=torch.float64)
    cross = torch.zeros(seq_len + 1, net.horizon, dtype=torch.float64)
    n = 0
    for x, y, *series in train:
        a, b, _ = (v.double().cpu() for v in net.skip_rows(x, y, *series))
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
            a, b, scale = (v.double().cpu() for v in net.skip_rows(x, y, *series))
            for i, w in enumerate(solutions):
                errors[i] += (((a @ w[:-1] + w[-1] - b) * scale) ** 2).sum()
        best = int(errors.argmin())
        ridges, solutions = (ridges[best],), [solutions[best]]
    weights = solutions[0].to(net.skip.weight.dtype)
    net.skip.weight.copy_(weights[:-1].T)
    net.skip.bias.copy_(weights[-1])
    return float(ridges[0])


@torch.no_grad()
def pick_share(net: nn.Module, blended: list[LinearSkipNet], val=None, weight: float | None = None) -> float:
    """Set the linear forecast's share in the `blended` networks that make up `net`: `weight`, or,
    when None, the one of `BLENDS` whose forecast (the median of a quantile head) has the lowest MSE
    over the `val` batches (without them `DEFAULT_BLEND`). Returns the share set."""

    def use(share: float) -> None:
        for member in blended:
            member.linear_weight.fill_(share)

    if weight is None and val is None:
        weight = DEFAULT_BLEND
    if weight is None:
        errors = torch.zeros(len(BLENDS), dtype=torch.float64)
        net.eval()
        first = blended[0]
        for x, y, *series in val:
            ends = []  # the forecast is linear in the share: its two ends give every blend
            for share in (0.0, 1.0):
                use(share)
                out = net(x, series[0] if series else None)
                ends.append((out[..., first.median] if first.n_quantiles else out).double())
            for i, share in enumerate(BLENDS):
                errors[i] += ((ends[0] + share * (ends[1] - ends[0]) - y.double()) ** 2).sum()
        weight = BLENDS[int(errors.argmin())]
    use(weight)
    return float(weight)


class SegmentDecoderNet(RecurrentNet):
    """SegRNN's parallel multi-step decoding: one recurrent step per horizon segment from the
    encoder's final state, its input a learned position (and channel) embedding, each step's output
    one segment (needs `segment_len` above 1)."""

    def __init__(self, cfg, *args, **kwargs):
        if cfg.segment_len < 2:
            raise ForecastError("the segment decoder decodes segments: give segment_len above 1")
        super().__init__(cfg, *args, **kwargs)

    def _make_head(self, per_step: int) -> nn.Module:
        cfg = self.cfg
        self.n_segments = -(-self.horizon // cfg.segment_len)
        half = cfg.hidden_size // 2
        self.position = nn.Parameter(torch.randn(self.n_segments, half) * 0.02)
        self.channel = nn.Parameter(torch.randn(self.n_inputs if cfg.channel_independent else 1,
                                                cfg.hidden_size - half) * 0.02)
        return nn.Linear(cfg.hidden_size + cfg.series_embedding, cfg.segment_len * per_step)

    def decode(self, out, final, vectors, channels: int) -> torch.Tensor:
        rows, m = out.shape[0], self.n_segments
        channel = self.channel[torch.arange(rows, device=self.channel.device) % self.channel.shape[0]]
        steps = torch.cat([self.position.unsqueeze(0).expand(rows, -1, -1),
                           channel.unsqueeze(1).expand(-1, m, -1)], dim=2)  # (B', M, hidden)

        def repeat(h):  # (layers, B' * M, hidden)
            return h.repeat_interleave(m, dim=1)

        start = tuple(map(repeat, final)) if isinstance(final, tuple) else repeat(final)
        out, _ = self.rnn(steps.reshape(rows * m, 1, -1), start)  # (B' * M, 1, hidden)
        state = self.dropout(out[:, 0])
        if vectors is not None:
            state = torch.cat([state, vectors.repeat_interleave(m, dim=0)], dim=1)
        y = self.head(state).reshape(rows, m * self.cfg.segment_len, -1)[:, : self.horizon]
        return y.reshape(rows, -1)


class EnsembleNet(Ensemble):
    """The product's `Ensemble` (`TrainConfig.ensemble`) as a network of its own, for the lab's
    `LinearSkipNet`s, whose skips are solved and blended on validation (`prepare`, `finish`): the
    product's ensemble refuses networks with such hooks. Without skip options its members are
    `RecurrentNet`s, built as `TrainConfig(ensemble=members)` builds them."""

    def __init__(self, cfg, *args, members: int = 3, **kwargs):
        if isinstance(members, bool) or not isinstance(members, int) or members < 2:
            raise ForecastError(f"an ensemble needs 2 or more members, got {members!r}")
        skip = {k: kwargs.pop(k) for k in ("skip", "period", "ridge", "weight") if k in kwargs}
        cls = LinearSkipNet if skip else RecurrentNet
        super().__init__([cls(cfg, *args, **kwargs, **skip) for _ in range(members)])
        self.picked: dict = {}

    def prepare(self, train, val=None) -> None:
        """Every member's skip solved (the same solution: it depends on the data only)."""
        first = self.members[0]
        if getattr(first, "kind", None) in ("solved", "blend"):
            first.prepare(train, val)
            self.picked.update(first.picked)
            for net in self.members[1:]:
                net.skip.load_state_dict(first.skip.state_dict())

    def finish(self, val=None) -> bool:
        """The blend's share picked for the ensemble's forecast as a whole."""
        if getattr(self.members[0], "kind", None) != "blend":
            return False
        self.picked["weight"] = pick_share(self, list(self.members), val, self.members[0].weight)
        return True
