"""Splits and windows, the leak-free middle of the pipeline: from one validated frame to encoded
values and split boundaries (`prepare`), then sliding windows as views over them and batch loaders.

Rows are split chronologically into train `[0, train_end)`, validation `[train_end, val_end)` and
test `[val_end, N)`. A window is named by the row its targets start at; its inputs are the `seq_len`
rows before. Validation and test windows start their targets at their span's first row, so for every
`seq_len` they cover the same dates; their inputs may reach back into the previous span. No target
crosses a split boundary. The preprocessor is fitted on the rows training sees, never on later ones.

`WindowDataset` never copies the series: `Tensor.unfold` gives every window as a strided view, and a
batch is one gather of the rows it needs. Its `__getitem__` takes a whole batch of indices, so a
DataLoader with `batch_size=None` over a `BatchSampler` skips per-sample calls and collation. Trained
on several devices, `ShardedBatches` deals each epoch's batches out to the processes. (The
LightningDataModule, which prepares a panel, lives in `forecast.panel`.)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, Sampler, SequentialSampler

from forecast.config import DataConfig
from forecast.dates import moment, stamp
from forecast.errors import ForecastError
from forecast.intervals import local_scale
from forecast.preprocess import Preprocessor

STAGES = ("train", "val", "test")
# Which rows a fit trains on: the training span (then validation selects the epoch and test scores
# it), train + validation (a final model scored on test), or every row (the model that is saved).
FIT_SPANS = ("train", "train+val", "all")


def split_steps(cfg: DataConfig, typical_rows: int | None = None, shortest_rows: int | None = None) -> tuple[int, int]:
    """(validation, test) steps when the split counts from the end: as given, else for a panel
    of series whose median length is `typical_rows` and shortest `shortest_rows`: as many steps
    as the shortest series can give beside one input window and horizon of training, at most 15%
    of a typical series, but at least four horizons and 20 windows when that 15% allows (so that
    90% intervals can be calibrated on every series; a series too young for that is named rather
    than every span shrunk); never less than one horizon."""
    floor = max(4 * cfg.horizon, cfg.horizon + 19)
    default = floor
    if typical_rows is not None:
        cap = int(round(0.15 * typical_rows))
        room = (shortest_rows - cfg.seq_len - cfg.horizon) // 2 if shortest_rows else cap
        default = max(min(cap, room), min(floor, cap), cfg.horizon)
    return cfg.val_steps or default, cfg.test_steps or default


def span_ends(cfg: DataConfig, n: int, steps: bool, typical_rows: int | None = None,
              shortest_rows: int | None = None) -> tuple[int, int]:
    """(train_end, val_end) of `n` rows cut in steps from the end (see `split_steps`) or by fractions."""
    if steps:
        val_steps, test_steps = split_steps(cfg, typical_rows, shortest_rows)
        return n - test_steps - val_steps, n - test_steps
    val_fraction, test_fraction = cfg.fractions
    val_end = n - int(round(n * test_fraction))
    return val_end - int(round(n * val_fraction)), val_end


def by_steps(cfg: DataConfig, panel: bool) -> bool:
    """Whether the split counts steps from the end: when steps are given, or, for a panel whose
    series end together and whose fractions are not given, by default (its series may start
    anywhere; fractions of all their dates would give the young ones nothing to train on)."""
    if cfg.val_steps is not None or cfg.test_steps is not None:
        return True
    return panel and cfg.val_fraction is None and cfg.test_fraction is None


def dated_ends(index: pd.DatetimeIndex, cfg: DataConfig, train_end: int, val_end: int,
               unit: str = "rows") -> tuple[int, int]:
    """`(train_end, val_end)` with the rows of the `val_start` / `test_start` dates given in place of
    the defaults; an error when the split leaves a span of `index` empty."""
    n = len(index)
    if cfg.test_start is not None:
        val_end = int(index.searchsorted(moment(cfg.test_start, index)))
    if cfg.val_start is not None:
        train_end = int(index.searchsorted(moment(cfg.val_start, index)))
    if not 0 < train_end < val_end < n:
        given = " and ".join(f"{name} is {getattr(cfg, name)}"
                             for name in ("val_start", "test_start")
                             if getattr(cfg, name) is not None) or \
            (f"the last {sum(split_steps(cfg, n))} steps are validation and test" if by_steps(cfg, False)
             else "the fractions leave no row")
        raise ForecastError(f"the split leaves a span empty: the data run from {stamp(index[0])} to "
                            f"{stamp(index[-1])} ({n} {unit}) and {given}; put each date inside the "
                            "data, validation before test")
    return train_end, val_end


def split_rows(index: pd.DatetimeIndex, cfg: DataConfig) -> tuple[int, int]:
    """Return `(train_end, val_end)` row positions: by dates when given, else by steps from the end
    when asked (`DataConfig.by_steps`), else by fractions."""
    n = len(index)
    train_end, val_end = dated_ends(index, cfg, *span_ends(cfg, n, by_steps(cfg, panel=False), n))
    need_train, need_eval = cfg.seq_len + cfg.horizon, cfg.horizon
    if train_end < need_train or val_end - train_end < need_eval or n - val_end < need_eval:
        fits = train_end - cfg.horizon  # the longest input that fits, when the horizon alone does
        spans_fit = min(val_end - train_end, n - val_end) >= need_eval
        hint = f" (at most {fits})" if fits >= 1 and spans_fit else ""
        raise ForecastError(
            f"series too short: {n} rows split into train {train_end} / validation "
            f"{val_end - train_end} / test {n - val_end}, but seq_len {cfg.seq_len} + horizon "
            f"{cfg.horizon} needs train >= {need_train} and validation, test >= {need_eval} rows; "
            f"use more data or a shorter seq_len{hint} or horizon")
    return train_end, val_end


@dataclass
class PreparedSeries:
    """A series ready for windowing.

    values : (N, C) float32 tensor, encoded; targets are the first T columns.
    raw_targets : (N, T) float64 targets in original units, aligned with `index`.
    fit_end : rows `[0, fit_end)` are what training sees (and what the preprocessor was fitted on).
    """

    cfg: DataConfig
    index: pd.DatetimeIndex
    values: torch.Tensor
    raw_targets: np.ndarray
    train_end: int
    val_end: int
    fit_end: int
    preprocessor: Preprocessor
    series: int | None = None  # this series' place in a panel (what a series embedding reads)

    def row_series(self) -> torch.Tensor | None:
        """(N,) the series of every row, for a panel's series; None for a series on its own."""
        return None if self.series is None else torch.full((len(self.values),), self.series)

    @property
    def n_targets(self) -> int:
        return len(self.cfg.targets)

    def target_starts(self, stage: str) -> tuple[int, int]:
        """First and one-past-last row at which a `stage` window's targets may start."""
        lo, hi = {"train": (self.cfg.seq_len, self.fit_end),
                  "val": (self.train_end, self.val_end),
                  "test": (self.val_end, len(self.index))}[stage]
        return lo, hi - self.cfg.horizon + 1

    def stage_starts(self, stage: str) -> torch.Tensor:
        """Rows at which `stage` windows' targets start."""
        lo, hi = self.target_starts(stage)
        return torch.arange(lo, max(lo, hi))

    def to_original(self, scaled: np.ndarray, starts: np.ndarray) -> np.ndarray:
        """(B, H, T) network outputs for windows whose targets start at `starts` -> original units."""
        phases = self.preprocessor.phases(self.index)
        rows = np.asarray(starts)[:, None] + np.arange(self.cfg.horizon)
        return self.preprocessor.decode(scaled, self.anchors(starts), None if phases is None else phases[rows])

    def anchors(self, starts: np.ndarray) -> np.ndarray:
        """(B, T) last observed target value before each window's targets: the naive forecast."""
        return self.raw_targets[np.asarray(starts) - 1]

    def scales(self, starts: np.ndarray) -> np.ndarray:
        """(B, T) local scale of each window from its input rows (what its intervals are sized by)."""
        return local_scale(self.raw_targets, starts, self.cfg.seq_len)

    def actuals(self, starts: np.ndarray) -> np.ndarray:
        """(B, H, T) true target values in original units."""
        rows = np.asarray(starts)[:, None] + np.arange(self.cfg.horizon)
        return self.raw_targets[rows]

    def mase_scale(self) -> np.ndarray:
        """(T,) mean absolute one-step change over the rows training saw: MASE's denominator."""
        scale = np.mean(np.abs(np.diff(self.raw_targets[: self.fit_end], axis=0)), axis=0)
        return np.where(scale > 0, scale, np.nan)

    def levels(self) -> dict[str, np.ndarray]:
        """(T,) each target's mean over the validation and the test rows, less its mean over the
        training rows, in the training rows' standard deviations: how far each span's level lies
        from what training saw (and what a forecast that reverts to it drifts towards)."""
        train = self.raw_targets[: self.train_end]
        spread = train.std(axis=0)
        spread = np.where(spread > 0, spread, np.nan)
        spans = {"val": (self.train_end, self.val_end), "test": (self.val_end, len(self.index))}
        return {stage: (self.raw_targets[lo:hi].mean(axis=0) - train.mean(axis=0)) / spread
                for stage, (lo, hi) in spans.items()}

    def split_sizes(self) -> dict[str, int]:
        return {s: max(0, self.target_starts(s)[1] - self.target_starts(s)[0]) for s in STAGES}


def span_levels(prepared) -> dict[str, tuple[float, float]]:
    """(validation, test) level of every target of a series or of each series of a panel (see
    `PreparedSeries.levels`), keyed by target, series name, or `series:target` when a panel has several."""
    parts = getattr(prepared, "parts", [prepared])
    named = zip(prepared.names, parts) if len(parts) > 1 else [(None, parts[0])]
    out = {}
    for name, part in named:
        levels, targets = part.levels(), part.cfg.targets
        for i, target in enumerate(targets):
            key = target if name is None else name if len(targets) == 1 else f"{name}:{target}"
            out[key] = (float(levels["val"][i]), float(levels["test"][i]))
    return out


def widest_level(levels: dict[str, tuple[float, float]]) -> tuple[str, tuple[float, float]]:
    """The entry of `span_levels` whose validation and test levels lie furthest apart."""
    return max(levels.items(), key=lambda kv: abs(kv[1][1] - kv[1][0]))


def prepare(frame: pd.DataFrame, cfg: DataConfig, fit_on: str = "train",
            preprocessor: Preprocessor | None = None, static=None) -> PreparedSeries:
    """Split and encode a validated frame (columns `cfg.inputs`).

    `fit_on` names the rows training uses (see `FIT_SPANS`); the preprocessor is fitted on exactly
    those, unless a fitted one is given (prediction, fine-tuning). `static`: a panel's series'
    (encoded names, vector) of its static columns (see `forecast.panel.prepare_panel`).
    """
    if fit_on not in FIT_SPANS:
        raise ForecastError(f"unknown fit span {fit_on!r}; choose one of: {', '.join(FIT_SPANS)}")
    if cfg.static and static is None and preprocessor is None:
        raise ForecastError("static columns describe each series of a panel (a long file with --series-col, "
                            "or a dict of frames); one series has no use for them: drop --static")
    if list(frame.columns) != list(cfg.inputs):  # selecting columns costs; a panel's series often need none
        frame = frame[list(cfg.inputs)]
    lost = cfg.lost_rows  # a log return needs the previous value
    index = frame.index[lost:]
    if fit_on == "all":
        if len(index) < cfg.seq_len + cfg.horizon:
            raise ForecastError(f"series too short: {len(index)} rows, but seq_len {cfg.seq_len} + "
                                f"horizon {cfg.horizon} need more")
        train_end = val_end = fit_end = len(index)
    else:
        train_end, val_end = split_rows(index, cfg)
        fit_end = train_end if fit_on == "train" else val_end
    raw = frame.to_numpy(dtype=np.float64)[lost:, :len(cfg.targets)]  # targets come first
    target = raw[:fit_end]
    if np.all(target == target[0], axis=0).any():
        col = cfg.targets[int(np.all(target == target[0], axis=0).argmax())]
        raise ForecastError(f"target {col!r} is constant over the training span; "
                            "there is nothing to learn")
    if preprocessor is None:
        preprocessor = Preprocessor.fit(frame, cfg.targets, cfg.transform, cfg.scaler, fit_end,
                                        cfg.time_features, cfg.cycle, len(cfg.known), cfg.horizon, static,
                                        cfg.holidays or "", cycle_from=cfg.seq_len)
    _, values = preprocessor.encode(frame)
    return PreparedSeries(cfg, index, torch.from_numpy(values.astype(np.float32)), raw, train_end, val_end,
                    fit_end, preprocessor)


# Windows as views, and their loaders

class WindowDataset(Dataset):
    """Windows whose targets start at rows `starts[i]`.

    Item `i` is `(inputs, targets)`: inputs `values[s - seq_len : s]` of shape (seq_len, C) and
    targets `values[s : s + horizon, :n_targets]` of shape (horizon, T), for `s = starts[i]`.
    Indexing with a 1-D index tensor returns a batch: (B, seq_len, C) and (B, horizon, T).
    """

    def __init__(self, values: torch.Tensor, n_targets: int, seq_len: int, horizon: int,
                 starts: torch.Tensor, series: torch.Tensor | None = None):
        self.seq_len = seq_len
        self.starts = starts
        self.series = series  # (N,) each row's series in a panel: items then carry it third
        self.inputs = values.unfold(0, seq_len, 1).transpose(1, 2)  # (N - L + 1, L, C) view
        self.targets = values[:, :n_targets].unfold(0, horizon, 1).transpose(1, 2)  # (N-H+1, H, T)

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, idx):
        s = self.starts[idx]
        if self.series is not None:
            return self.inputs[s - self.seq_len], self.targets[s], self.series[s]
        return self.inputs[s - self.seq_len], self.targets[s]


def stage_dataset(prepared, stage: str) -> WindowDataset:
    """The `stage` windows of one `PreparedSeries` or of a `Prepared` panel."""
    cfg = prepared.cfg
    return WindowDataset(prepared.values, prepared.n_targets, cfg.seq_len, cfg.horizon,
                         prepared.stage_starts(stage), prepared.row_series())


class ShardedBatches(Sampler):
    """Whole batches of window indices for one of `world` processes (data-parallel training).

    Every epoch all processes draw the same permutation of the `n` windows (from `seed` and the
    epoch), cut it into a multiple of `world` batches of near-equal size and take every `world`-th
    batch from their `rank` on: each window is seen exactly once per epoch across the processes, and
    every process runs the same number of steps (DDP synchronises gradients at each one).
    """

    def __init__(self, n: int, batch_size: int, seed: int, rank: int = 0, world: int = 1,
                 weights: torch.Tensor | None = None):
        self.n, self.seed, self.rank, self.world, self.epoch = n, seed, rank, world, 0
        self.weights = weights  # (n,): draw n windows with these odds instead of a permutation
        self.batches = world * max(1, -(-n // (batch_size * world)))  # ceil, a multiple of world

    def set_epoch(self, epoch: int) -> None:  # Lightning calls this before every epoch
        self.epoch = epoch

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(self.n, generator=generator) if self.weights is None else \
            torch.multinomial(self.weights, self.n, replacement=True, generator=generator)
        yield from order.tensor_split(self.batches)[self.rank::self.world]

    def __len__(self) -> int:
        return self.batches // self.world


def batch_loader(dataset: WindowDataset, batch_size: int, shuffle: bool = False,
                 seed: int | None = None, rank: int = 0, world: int = 1,
                 weights: torch.Tensor | None = None) -> DataLoader:
    """Whole-batch loader; with `shuffle`, the order is fixed by `seed` (new each epoch); with
    `world` > 1 processes, this one's share of every epoch (see `ShardedBatches`); with `weights`
    (n,), as many windows as there are, drawn with those odds (with replacement)."""
    if shuffle and (world > 1 or weights is not None):
        return DataLoader(dataset, sampler=ShardedBatches(len(dataset), batch_size, seed or 0, rank, world,
                                                          weights), batch_size=None)
    if shuffle:
        generator = torch.Generator().manual_seed(seed if seed is not None else 0)
        sampler: Sampler[int] = RandomSampler(dataset, generator=generator)
    else:
        sampler = SequentialSampler(dataset)
    return DataLoader(dataset, sampler=BatchSampler(sampler, batch_size, drop_last=False),
                      batch_size=None)
