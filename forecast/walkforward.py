"""Walk-forward backtests: the model and the baselines any sceptic tries first, on the same origins.

An origin is the last observed step before a forecast; its targets are the next `horizon` steps. Each
fold trains on data before its first target only (scaler and transforms refitted on that fold's
training rows), then forecasts every origin of the fold. Baselines: naive (the random walk),
seasonal naive, drift and moving average, all in original units. The model's intervals are
calibrated on each fold's validation span (split conformal), or adapt to the misses observed as the
walk goes on (adaptive conformal inference); the naive interval comes from the fold's training rows.
"""
from __future__ import annotations

import time
import math
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from forecast.config import (BacktestConfig, DataConfig, ModelConfig, SourceConfig, TrainConfig,
                             check_compatible)
from forecast.baselines import baselines, naive_bounds, season_of
from forecast.comparison import Intervals, by_step, summarise
from forecast.errors import ForecastError
from forecast.evaluation import forecast_windows
from forecast.intervals import adaptive_margins, bounds, conformal_quantile, conformity, pick_pairs
from forecast.metrics import direction_of_majority
from forecast.sources import validate_frame
from forecast.threads import torch_threads
from forecast.train import Trained, train_network
from forecast.windows import stage_dataset

def origin_starts(index: pd.DatetimeIndex, horizon: int, bt: BacktestConfig) -> np.ndarray:
    """Rows where each origin's targets start, ascending; the last one's targets end at the data's end."""
    last = len(index) - horizon
    if bt.start is not None or bt.end is not None:
        ok = np.ones(len(index), bool)
        if bt.start is not None:
            ok &= index >= pd.Timestamp(bt.start)
        if bt.end is not None:
            ok &= index < pd.Timestamp(bt.end)
        rows = np.flatnonzero(ok)
        rows = rows[rows <= last][::bt.stride]
        if len(rows) == 0:
            raise ForecastError(f"no origin between {bt.start} and {bt.end} leaves room for the horizon")
        return rows
    return last - bt.stride * np.arange(bt.origins)[::-1]


def train_fold(frame: pd.DataFrame, first: int, stop: int, data: DataConfig, model: ModelConfig,
               train: TrainConfig, bt: BacktestConfig, val_fraction: float) -> Trained:
    """Train on rows before `first` (the fold's first target row); rows `[first, stop)` are the
    fold's test span, which no part of training sees."""
    lo = 0 if bt.window == "expanding" else max(0, first - (bt.train_size or first))
    rows_before = first - lo
    val_rows = max(data.horizon, int(round(rows_before * val_fraction)))
    need = data.seq_len + 2 * data.horizon + val_rows
    if rows_before < need:
        raise ForecastError(
            f"the fold starting {frame.index[first].date()} has {rows_before} rows to train on, but "
            f"seq_len {data.seq_len} + horizon {data.horizon} and {val_rows} validation rows need "
            f"{need}; use fewer --origins, a larger --stride or --train-size, or a shorter --seq-len")
    fold = frame.iloc[lo:stop]
    dates = fold.index
    fold_data = replace(data, val_start=str(dates[first - lo - val_rows]), test_start=str(dates[first - lo]))
    return train_network(fold, fold_data, model, train)


@dataclass
class BacktestResult:
    """Every forecast of the walk-forward run, in original units, with metrics per forecaster."""

    targets: tuple[str, ...]
    origins: pd.DatetimeIndex  # (B,) last observed date of each forecast
    target_dates: np.ndarray  # (B, H) dates forecast
    actual: np.ndarray  # (B, H, T)
    forecasts: dict  # name -> (B, H, T): "model" and every baseline
    anchor: np.ndarray  # (B, T)
    mase_scale: np.ndarray  # (B, 1, T) in-sample one-step naive MAE of the fold's training rows
    intervals: Intervals  # the model's (split or adaptive conformal) and the naive forecast's
    majority: np.ndarray  # (B, 1, T) majority direction of each origin's fold training rows
    lag: int  # origins until forecasts stop overlapping: ceil(horizon / stride)
    folds: int
    seconds: float

    def metrics(self) -> dict:
        """Every forecaster's metrics, interval scores, tests and the verdict (see
        `forecast.comparison.summarise`)."""
        return summarise(self.actual, self.forecasts, self.anchor, self.mase_scale, self.intervals,
                         self.majority, self.lag)

    def by_step(self) -> dict:
        """Point metrics of every forecaster and interval metrics, per horizon step."""
        return by_step(self.actual, self.forecasts, self.anchor, self.mase_scale, self.intervals)

    def plot(self, target: int = 0):
        """A matplotlib Figure: actual against every forecaster one step ahead, with the intervals."""
        from forecast.plot import plot_backtest

        return plot_backtest(self, target)

    def write(self, folder, settings: dict | None = None) -> dict:
        """backtest.csv, backtest.json (with `settings`) and three PNGs in `folder`."""
        from forecast.outputs import write_backtest

        return write_backtest(self, folder, settings)

    def skill(self) -> float:
        return self.metrics()["skill"]

    def table(self) -> pd.DataFrame:
        """One row per origin, step and target: actual, every forecast and every interval."""
        b, h, t = self.actual.shape
        cols = {"origin": np.repeat(self.origins, h * t),
                "target_date": np.repeat(self.target_dates.ravel(), t),
                "step": np.tile(np.repeat(np.arange(1, h + 1), t), b),
                "target": np.tile(self.targets, b * h), "actual": self.actual.ravel()}
        cols.update({name: fc.ravel() for name, fc in self.forecasts.items()})
        iv = self.intervals
        for k, c in enumerate(iv.coverage):
            pct = f"{100 * c:g}"
            cols.update({f"model_lower{pct}": iv.lower[k].ravel(), f"model_upper{pct}": iv.upper[k].ravel(),
                         f"naive_lower{pct}": iv.naive_lower[k].ravel(),
                         f"naive_upper{pct}": iv.naive_upper[k].ravel()})
        return pd.DataFrame(cols)


def backtest(frame: pd.DataFrame | pd.Series, data: DataConfig = DataConfig(),
             model: ModelConfig = ModelConfig(), train: TrainConfig = TrainConfig(),
             bt: BacktestConfig = BacktestConfig(), *, source: SourceConfig = SourceConfig(),
             progress=None) -> BacktestResult:
    """Walk forward over the origins of `bt`, retraining as it says; see the module docstring.

    `progress(done, total)` is called after each fold. The validation share of each fold's training
    rows (for early stopping and interval calibration) is `data.val_fraction`. Nothing is written
    to disk.
    """
    started = time.perf_counter()
    check_compatible(data, model)
    frame, _ = validate_frame(frame, list(data.inputs), max_gap=source.max_gap)
    starts = origin_starts(frame.index, data.horizon, bt)
    if starts[0] < 1:
        raise ForecastError(f"--origins {bt.origins} with stride {bt.stride} reaches before the first row "
                            f"of {len(frame)}; use fewer origins")
    chunk = bt.retrain_every or len(starts)
    folds = [starts[i:i + chunk] for i in range(0, len(starts), chunk)]
    raw = frame[list(data.targets)].to_numpy(dtype=np.float64)
    season = bt.season_length or season_of(frame.index)
    need = max(season, bt.ma_window) + 1
    if starts[0] < need:
        raise ForecastError(f"the baselines need {need} rows before the first origin, there are "
                            f"{starts[0]}; use fewer origins or a shorter --ma-window/--season-length")
    coverage = model.coverage
    pairs = pick_pairs(model.quantiles, coverage) if model.quantiles else (None,) * len(coverage)
    points, quantiles, scales, local, calibration, naive_lo, naive_hi, majority = ([] for _ in range(8))
    for i, fold in enumerate(folds):
        stop = int(fold[-1]) + data.horizon
        trained = train_fold(frame, int(fold[0]), stop, data, model, train, bt, data.val_fraction)
        prepared = trained.prepared
        rows = prepared.index.get_indexer(frame.index[fold])  # positions after any transform
        val = stage_dataset(prepared, "val").starts.numpy()
        with torch_threads(train.threads):
            point, q = forecast_windows(trained.net, prepared, rows)
            val_point, val_q = forecast_windows(trained.net, prepared, val)
        calibration.append(conformity(prepared.actuals(val), val_point, val_q, pairs,
                                      prepared.scales(val)))
        fold_train = prepared.raw_targets[: prepared.fit_end]
        lo, hi = naive_bounds(fold_train, prepared.anchors(rows), data.horizon, coverage)
        local.append(prepared.scales(rows))
        points.append(point)
        quantiles.append(q)
        naive_lo.append(lo)
        naive_hi.append(hi)
        scales.append(np.repeat(prepared.mase_scale()[None, None, :], len(fold), axis=0))
        majority.append(np.repeat(direction_of_majority(fold_train)[None, None, :], len(fold), axis=0))
        if progress is not None:
            progress(i + 1, len(folds))
    steps = starts[:, None] + np.arange(data.horizon)
    actual, point = raw[steps], np.concatenate(points)
    quantiles = np.concatenate(quantiles) if model.quantiles else None
    local = np.concatenate(local)
    fold_of = np.repeat(np.arange(len(folds)), [len(f) for f in folds])
    if bt.intervals == "adaptive":
        known_at = np.searchsorted(starts, steps + 1)  # first origin that has seen each target
        margin = adaptive_margins(calibration, fold_of, conformity(actual, point, quantiles, pairs, local),
                                  known_at, coverage, bt.gamma)
    else:
        margin = np.stack([np.stack([conformal_quantile(scores[k], c) for k, c in enumerate(coverage)])
                           for scores in calibration])[fold_of].swapaxes(0, 1)  # (K, B, H, T)
    lower, upper = bounds(point, quantiles, pairs, margin, local)
    intervals = Intervals(coverage, lower, upper, np.concatenate(naive_lo, axis=1),
                          np.concatenate(naive_hi, axis=1), quantiles, model.quantiles)
    return BacktestResult(
        targets=tuple(data.targets), origins=frame.index[starts - 1],
        target_dates=np.asarray(frame.index)[steps], actual=actual,
        forecasts={"model": point, **baselines(raw, starts, data.horizon, season, bt.ma_window)},
        anchor=raw[starts - 1], mase_scale=np.concatenate(scales), intervals=intervals,
        majority=np.concatenate(majority), lag=math.ceil(data.horizon / bt.stride), folds=len(folds),
        seconds=time.perf_counter() - started)
