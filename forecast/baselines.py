"""The forecasts any sceptic tries first, in original units, from the past only.

Point baselines: naive (the random walk: the last value), seasonal naive, drift (the line from the
first to the last value) and moving average. Interval baseline: the naive forecast with empirical
quantiles of h-step changes over the training rows (the random walk's own interval).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from forecast.dates import season_of_unit, step_unit
from forecast.errors import ForecastError
from forecast.metrics import naive_forecast

BASELINES = ("naive", "seasonal_naive", "drift", "moving_average")


def season_of(index: pd.DatetimeIndex) -> int:
    """The seasonal naive's season, from the data's step: a week of trading days (5) or of days (7),
    a day of hours (24) or of any sub-daily step, a year of weeks (52), months (12) or quarters (4)."""
    return season_of_unit(step_unit(index)) if len(index) >= 3 else 1


def baselines(raw: np.ndarray, starts: np.ndarray, horizon: int, season_length: int = 5,
              ma_window: int = 20) -> dict[str, np.ndarray]:
    """(B, H, T) forecasts of each baseline for windows whose targets start at rows `starts`, from
    the original-unit targets `raw` (N, T); each reads only rows before its window's targets (the
    seasonal lag and the moving average are shortened where fewer rows exist)."""
    starts = np.asarray(starts)
    anchor = raw[starts - 1]  # (B, T)
    steps = np.arange(1, horizon + 1)
    m = season_length
    seasonal_rows = starts[:, None] - 1 + steps - m * np.ceil(steps / m).astype(int)  # (B, H)
    slope = (anchor - raw[0]) / np.maximum(starts - 1, 1)[:, None]  # drift over all history
    ma = np.stack([raw[max(0, s - ma_window):s].mean(axis=0) for s in starts])  # (B, T)
    return {"naive": naive_forecast(anchor, horizon),
            "seasonal_naive": raw[np.maximum(seasonal_rows, 0)],
            "drift": anchor[:, None, :] + steps[None, :, None] * slope[:, None, :],
            "moving_average": naive_forecast(ma, horizon)}


def naive_bounds(train: np.ndarray, anchor: np.ndarray, horizon: int, coverage):
    """The random walk's own interval: the last value plus empirical quantiles of h-step changes
    over the training rows `train` (N, T), for each step h; relative changes (in logs) for a
    positive series, so that the interval follows the price level. Returns (K, B, H, T) lower and
    upper bounds."""
    log = bool((train > 0).all() and (anchor > 0).all())
    level = np.log(train) if log else train
    if len(level) <= horizon:
        raise ForecastError(f"{len(level)} training rows are too few for {horizon}-step changes")
    changes = [level[h:] - level[:-h] for h in range(1, horizon + 1)]  # H x (N - h, T)
    start = (np.log(anchor) if log else anchor)[:, None, :]  # (B, 1, T)
    back = np.exp if log else (lambda v: v)
    k = len(coverage)
    levels = [(1 - c) / 2 for c in coverage] + [(1 + c) / 2 for c in coverage]
    q = np.stack([np.quantile(ch, levels, axis=0) for ch in changes], axis=1)[:, None]  # (2K, 1, H, T)
    return back(start[None] + q[:k]), back(start[None] + q[k:])
