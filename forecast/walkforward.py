"""Walk-forward backtests: the model and the baselines any sceptic tries first, on the same origins.

An origin is the last observed step before a forecast; its targets are the next `horizon` steps. Each
fold trains on data before its first target only (scaler and transforms refitted on that fold's
training rows), then forecasts every origin of the fold. Baselines: naive (the random walk),
seasonal naive, drift and moving average, all in original units.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import torch

from forecast.config import (BacktestConfig, DataConfig, ModelConfig, SourceConfig, TrainConfig,
                             check_compatible)
from forecast.errors import ForecastError
from forecast.metrics import metrics, naive_forecast, skill
from forecast.sources import validate_frame
from forecast.threads import torch_threads
from forecast.train import Trained, train_network
from forecast.trained import predict_scaled
from forecast.windows import WindowDataset

BASELINES = ("naive", "seasonal_naive", "drift", "moving_average")


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


def baselines(raw: np.ndarray, starts: np.ndarray, horizon: int, bt: BacktestConfig) -> dict:
    """(B, H, T) forecasts of each baseline from the original-unit targets `raw` (N, T)."""
    anchor = raw[starts - 1]  # (B, T)
    steps = np.arange(1, horizon + 1)
    m = bt.season_length
    seasonal_rows = starts[:, None] - 1 + steps - m * np.ceil(steps / m).astype(int)  # (B, H)
    slope = (anchor - raw[0]) / np.maximum(starts - 1, 1)[:, None]  # drift over all history
    ma = np.stack([raw[s - bt.ma_window:s].mean(axis=0) for s in starts])  # (B, T)
    return {"naive": naive_forecast(anchor, horizon),
            "seasonal_naive": raw[seasonal_rows],
            "drift": anchor[:, None, :] + steps[None, :, None] * slope[:, None, :],
            "moving_average": naive_forecast(ma, horizon)}


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
    folds: int
    seconds: float

    def metrics(self, axis=None) -> dict:
        """The metric set (see `forecast.metrics.metrics`) for the model and every baseline."""
        return {name: metrics(self.actual, fc, self.anchor, self.mase_scale, axis=axis)
                for name, fc in self.forecasts.items()}

    def plot(self, target: int = 0):
        """A matplotlib Figure: actual against every forecaster one step ahead."""
        from forecast.plot import plot_backtest

        return plot_backtest(self, target)

    def write(self, folder, settings: dict | None = None) -> dict:
        """backtest.csv, backtest.json (with `settings`) and two PNGs in `folder`."""
        from forecast.outputs import write_backtest

        return write_backtest(self, folder, settings)

    def skill(self) -> float:
        m = self.metrics()
        return skill(m["model"]["rmse"], m["naive"]["rmse"])

    def table(self) -> pd.DataFrame:
        """One row per origin, step and target: actual and every forecast."""
        b, h, t = self.actual.shape
        cols = {"origin": np.repeat(self.origins, h * t),
                "target_date": np.repeat(self.target_dates.ravel(), t),
                "step": np.tile(np.repeat(np.arange(1, h + 1), t), b),
                "target": np.tile(self.targets, b * h), "actual": self.actual.ravel()}
        cols.update({name: fc.ravel() for name, fc in self.forecasts.items()})
        return pd.DataFrame(cols)


def backtest(frame: pd.DataFrame | pd.Series, data: DataConfig = DataConfig(),
             model: ModelConfig = ModelConfig(), train: TrainConfig = TrainConfig(),
             bt: BacktestConfig = BacktestConfig(), *, source: SourceConfig = SourceConfig(),
             progress=None) -> BacktestResult:
    """Walk forward over the origins of `bt`, retraining as it says; see the module docstring.

    `progress(done, total)` is called after each fold. The validation share of each fold's training
    rows (for early stopping) is `data.val_fraction`. Nothing is written to disk.
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
    need = max(bt.season_length, bt.ma_window) + 1
    if starts[0] < need:
        raise ForecastError(f"the baselines need {need} rows before the first origin, there are "
                            f"{starts[0]}; use fewer origins or a shorter --ma-window/--season-length")
    forecast, scales = [], []
    for i, fold in enumerate(folds):
        stop = int(fold[-1]) + data.horizon
        trained = train_fold(frame, int(fold[0]), stop, data, model, train, bt, data.val_fraction)
        prepared = trained.prepared
        rows = prepared.index.get_indexer(frame.index[fold])  # positions after any transform
        dataset = WindowDataset(prepared.values, len(data.targets), data.seq_len, data.horizon,
                                torch.as_tensor(rows))
        with torch_threads(train.threads):
            forecast.append(prepared.to_original(predict_scaled(trained.net, dataset), rows))
        scales.append(np.repeat(prepared.mase_scale()[None, None, :], len(fold), axis=0))
        if progress is not None:
            progress(i + 1, len(folds))
    steps = starts[:, None] + np.arange(data.horizon)
    return BacktestResult(
        targets=tuple(data.targets), origins=frame.index[starts - 1],
        target_dates=np.asarray(frame.index)[steps], actual=raw[steps],
        forecasts={"model": np.concatenate(forecast), **baselines(raw, starts, data.horizon, bt)},
        anchor=raw[starts - 1], mase_scale=np.concatenate(scales), folds=len(folds),
        seconds=time.perf_counter() - started)
