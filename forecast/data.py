"""From a validated frame to scaled values and split boundaries: the leak-free middle of the pipeline.

Rows are split chronologically into train `[0, train_end)`, validation `[train_end, val_end)` and
test `[val_end, N)`. A window is named by the row its targets start at; its inputs are the `seq_len`
rows before. Validation and test windows start their targets at their span's first row, so for every
`seq_len` they cover the same dates; their inputs may reach back into the previous span. No target
crosses a split boundary. The scaler sees the training rows only.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from forecast.config import DataConfig
from forecast.errors import ForecastError
from forecast.scaling import Scaler, apply_transform, invert_transform

STAGES = ("train", "val", "test")


def split_rows(index: pd.DatetimeIndex, cfg: DataConfig) -> tuple[int, int]:
    """Return `(train_end, val_end)` row positions, by dates when given, else by fractions."""
    n = len(index)
    val_end = n - int(round(n * cfg.test_fraction))
    train_end = val_end - int(round(n * cfg.val_fraction))
    if cfg.test_start is not None:
        val_end = int(index.searchsorted(pd.Timestamp(cfg.test_start)))
    if cfg.val_start is not None:
        train_end = int(index.searchsorted(pd.Timestamp(cfg.val_start)))
    if not 0 < train_end < val_end < n:
        raise ForecastError(f"split dates give train {train_end} / validation {val_end - train_end} "
                            f"/ test {n - val_end} rows of {n}; each span needs rows")
    need_train, need_eval = cfg.seq_len + cfg.horizon, cfg.horizon
    if train_end < need_train or val_end - train_end < need_eval or n - val_end < need_eval:
        raise ForecastError(
            f"series too short: {n} rows split into train {train_end} / validation "
            f"{val_end - train_end} / test {n - val_end}, but seq_len {cfg.seq_len} + horizon "
            f"{cfg.horizon} needs train >= {need_train} and validation, test >= {need_eval} rows; "
            "use more data or a shorter seq_len/horizon")
    return train_end, val_end


@dataclass
class Prepared:
    """A series ready for windowing.

    values : (N, C) float32 tensor, transformed and scaled; targets are the first T columns.
    raw_targets : (N, T) float64 targets in original units, aligned with `index`.
    """

    cfg: DataConfig
    index: pd.DatetimeIndex
    values: torch.Tensor
    raw_targets: np.ndarray
    train_end: int
    val_end: int
    scaler: Scaler

    @property
    def n_targets(self) -> int:
        return len(self.cfg.targets)

    def target_starts(self, stage: str) -> tuple[int, int]:
        """First and one-past-last row at which a `stage` window's targets may start."""
        train_end = self.val_end if self.cfg.train_through_val else self.train_end
        lo, hi = {"train": (self.cfg.seq_len, train_end),
                  "val": (self.train_end, self.val_end),
                  "test": (self.val_end, len(self.index))}[stage]
        return lo, hi - self.cfg.horizon + 1

    def to_original(self, scaled: np.ndarray, starts: np.ndarray) -> np.ndarray:
        """(B, H, T) scaled forecasts for windows whose targets start at `starts` -> original units."""
        unscaled = self.scaler.inverse(np.asarray(scaled, dtype=np.float64), self.n_targets)
        return invert_transform(self.cfg.transform, unscaled, self.anchors(starts))

    def anchors(self, starts: np.ndarray) -> np.ndarray:
        """(B, T) last observed target value before each window's targets: the naive forecast."""
        return self.raw_targets[np.asarray(starts) - 1]

    def actuals(self, starts: np.ndarray) -> np.ndarray:
        """(B, H, T) true target values in original units."""
        rows = np.asarray(starts)[:, None] + np.arange(self.cfg.horizon)
        return self.raw_targets[rows]

    def split_sizes(self) -> dict[str, int]:
        return {s: max(0, self.target_starts(s)[1] - self.target_starts(s)[0]) for s in STAGES}


def prepare(frame: pd.DataFrame, cfg: DataConfig, scaler: Scaler | None = None) -> Prepared:
    """Transform, split and scale a validated frame (columns `cfg.inputs`).

    Pass a saved `scaler` to reuse training statistics (prediction, fine-tuning); otherwise one is
    fitted on the training rows only.
    """
    frame = frame[list(cfg.inputs)]
    raw = frame[list(cfg.targets)].to_numpy(dtype=np.float64)
    transformed = apply_transform(cfg.transform, frame, cfg.targets)
    raw = raw[len(raw) - len(transformed):]  # log returns drop the first row
    values = transformed.to_numpy(dtype=np.float64)
    train_end, val_end = split_rows(transformed.index, cfg)
    if scaler is None:
        scaler = Scaler.fit(values[:val_end if cfg.train_through_val else train_end], cfg.scaler)
    scaled = torch.from_numpy(scaler.transform(values).astype(np.float32))
    prepared = Prepared(cfg, transformed.index, scaled, raw, train_end, val_end, scaler)
    target = prepared.raw_targets[:train_end]
    if np.all(target == target[0], axis=0).any():
        col = cfg.targets[int(np.all(target == target[0], axis=0).argmax())]
        raise ForecastError(f"target {col!r} is constant over the training span; "
                            "there is nothing to learn")
    return prepared
