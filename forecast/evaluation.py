"""Score a trained network on one split: forecasts and intervals in original units beside the baselines."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from forecast.baselines import baselines, naive_bounds, season_of
from forecast.calendar import weekdays_only
from forecast.comparison import Intervals, by_step, series_rows, summarise
from forecast.config import ModelConfig
from forecast.data import Prepared
from forecast.errors import ForecastError
from forecast.intervals import Calibration, calibrate
from forecast.metrics import direction_of_majority
from forecast.trained import predict_scaled
from forecast.windows import WindowDataset, stage_dataset


@dataclass
class Evaluation:
    """Forecasts for every window of one split, in original units, beside the baselines.

    forecasts : "model" (the median for a quantile model) and every baseline, (B, H, T) each.
    intervals : the model's calibrated intervals and the naive forecast's, (K, B, H, T).
    """

    index: pd.DatetimeIndex  # (B,) date of each window's first target
    actual: np.ndarray  # (B, H, T)
    forecasts: dict
    anchor: np.ndarray  # (B, T) last observed value
    mase_scale: np.ndarray  # (T,) mean absolute one-step change over the training rows
    intervals: Intervals
    majority: np.ndarray  # (T,) +1/-1: the training span's majority direction

    @property
    def forecast(self) -> np.ndarray:
        return self.forecasts["model"]

    @property
    def naive(self) -> np.ndarray:
        return self.forecasts["naive"]

    def table(self) -> dict:
        """Metrics of the model and every baseline, interval scores, tests and the verdict
        (see `forecast.comparison.summarise`)."""
        return summarise(self.actual, self.forecasts, self.anchor, self.mase_scale, self.intervals,
                         self.majority, lag=self.actual.shape[1], prices=weekdays_only(self.index))

    def by_step(self) -> dict:
        return by_step(self.actual, self.forecasts, self.anchor, self.mase_scale, self.intervals)


def pool(evaluations: dict[str, Evaluation]) -> Evaluation:
    """Every series' test windows as one evaluation (scales and majority kept per window)."""
    evs = list(evaluations.values())
    per_window = lambda ev, a: np.repeat(np.reshape(a, (1, 1, -1)), len(ev.actual), axis=0)  # noqa: E731
    cat = lambda get: np.concatenate([get(ev) for ev in evs])  # noqa: E731
    return Evaluation(pd.DatetimeIndex(cat(lambda e: e.index.to_numpy())), cat(lambda e: e.actual),
                      {name: cat(lambda e: e.forecasts[name]) for name in evs[0].forecasts},
                      cat(lambda e: e.anchor), cat(lambda e: per_window(e, e.mase_scale)),
                      Intervals.concatenate([ev.intervals for ev in evs]),
                      cat(lambda e: per_window(e, e.majority)))


def series_table(evaluations: dict[str, Evaluation]) -> dict:
    """Per series: the model beside naive and the best baseline (see `comparison.series_rows`)."""
    return series_rows({name: ev.table() for name, ev in evaluations.items()})


def forecast_windows(net: torch.nn.Module, prepared: Prepared, starts: np.ndarray, dataset=None):
    """Original-unit forecasts (B, H, T) and quantiles (B, H, T, Q) or None for windows whose targets
    start at `starts` (a dataset of those windows may be given to skip gathering them again)."""
    if dataset is None:
        dataset = WindowDataset(prepared.values, prepared.n_targets, prepared.cfg.seq_len,
                                prepared.cfg.horizon, torch.as_tensor(starts), prepared.row_series())
    decoded = prepared.to_original(predict_scaled(net, dataset), starts)
    if decoded.ndim == 3:
        return decoded, None
    return decoded[..., settings_of(net).quantiles.index(0.5)], decoded


def settings_of(net: torch.nn.Module) -> ModelConfig:
    """The model settings a network was built with (`RecurrentNet.cfg`; a custom net keeps them too)."""
    cfg = getattr(net, "cfg", None)
    if not isinstance(cfg, ModelConfig):
        raise ForecastError(f"network {type(net).__name__} keeps no ModelConfig as .cfg (RecurrentNet does)")
    return cfg


def calibrate_on_validation(net: torch.nn.Module, prepared: Prepared) -> Calibration:
    """Conformal margins from the validation windows, which training never fits on."""
    dataset = stage_dataset(prepared, "val")
    starts = dataset.starts.numpy()
    point, quantiles = forecast_windows(net, prepared, starts, dataset)
    cfg = settings_of(net)
    return calibrate(prepared.actuals(starts), point, quantiles, cfg.quantiles, cfg.coverage,
                     prepared.scales(starts))


def evaluate(net: torch.nn.Module, prepared: Prepared, stage: str = "test",
             calibration: Calibration | None = None) -> Evaluation:
    """Forecast every `stage` window, with intervals calibrated on the validation span (or by the
    `calibration` given), beside the baselines."""
    calibration = calibration or calibrate_on_validation(net, prepared)
    dataset = stage_dataset(prepared, stage)
    starts = dataset.starts.numpy()
    point, quantiles = forecast_windows(net, prepared, starts, dataset)
    horizon, anchor = prepared.cfg.horizon, prepared.anchors(starts)
    train_rows = prepared.raw_targets[: prepared.fit_end]
    lower, upper = calibration.bounds(point, quantiles, prepared.scales(starts))
    naive_lower, naive_upper = naive_bounds(train_rows, anchor, horizon, calibration.coverage)
    intervals = Intervals(calibration.coverage, lower, upper, naive_lower, naive_upper, quantiles,
                          settings_of(net).quantiles)
    return Evaluation(prepared.index[starts], prepared.actuals(starts),
                      {"model": point, **baselines(prepared.raw_targets, starts, horizon,
                                                   season_of(prepared.index))}, anchor,
                      prepared.mase_scale(), intervals, direction_of_majority(train_rows))
