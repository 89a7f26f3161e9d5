"""Forecast accuracy in original units: one metric set for fit, backtest and tuning's refit.

All functions take arrays shaped (B, H, T): windows, horizon steps, targets.
"""
from __future__ import annotations

import numpy as np


def metrics(actual: np.ndarray, forecast: np.ndarray, anchor: np.ndarray,
            mase_scale: np.ndarray | float, axis=None) -> dict[str, float | np.ndarray]:
    """MAE, RMSE, MAPE and sMAPE (percent), MASE and directional accuracy.

    Parameters
    ----------
    anchor : (B, T) the last observed value before each forecast.
    mase_scale : (T,) or scalar, the mean absolute one-step change over the training rows of the fit
        (or fold) that made the forecasts: MASE is the MAE in units of that naive in-sample error.
    axis : keep dimensions, e.g. `axis=(0, 2)` gives one value per horizon step.

    Direction is the percentage of up/down calls that were right, counted only where the forecast
    moves away from the anchor (a flat forecast makes no call, so it is not a miss) and the actual
    value moved; `direction_calls` says how many such calls there were (NaN accuracy with none).
    """
    err = forecast - actual
    abs_err = np.abs(err)  # once: four of the metrics read it (arrays of millions at long horizons)
    denom = np.abs(actual)
    valid = denom > 1e-12  # MAPE is undefined at zero; skip those points
    moved = np.sign(actual - anchor[:, None, :])
    called = np.sign(forecast - anchor[:, None, :])
    counted = (moved != 0) & (called != 0)
    calls = np.sum(counted, axis=axis)
    hits = np.sum(counted & (moved == called), axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = {
            "mae": np.mean(abs_err, axis=axis),
            "rmse": np.sqrt(np.mean(np.square(err, out=err), axis=axis)),
            "mape": 100 * np.nanmean(np.where(valid, abs_err / np.where(valid, denom, 1), np.nan), axis=axis),
            "smape": 100 * np.mean(2 * abs_err / np.maximum(denom + np.abs(forecast), 1e-12), axis=axis),
            "mase": np.mean(abs_err / mase_scale, axis=axis),
            "direction": np.where(calls > 0, 100 * hits / np.maximum(calls, 1), np.nan),
            "direction_calls": calls,
        }
    return {k: (v.item() if np.ndim(v) == 0 else np.asarray(v)) for k, v in out.items()}


def interval_metrics(actual: np.ndarray, lower: np.ndarray, upper: np.ndarray, coverage: float,
                     axis=None) -> dict[str, float | np.ndarray]:
    """Coverage (percent of actual values inside), mean width and mean interval (Winkler) score of
    central intervals meant to hold `coverage` of the values; arrays (B, H, T).

    The interval score is the width plus 2 / alpha times how far each miss falls outside (alpha =
    1 - coverage): narrow intervals win only if they do not miss more than promised.
    """
    alpha = 1 - coverage
    below, above = actual < lower, actual > upper
    width = upper - lower
    # np.where, not a product: an unbounded interval (too few calibration windows) has lower = -inf
    score = width + (2 / alpha) * (np.where(below, lower - actual, 0) + np.where(above, actual - upper, 0))
    out = {"coverage": 100 * np.mean(~below & ~above, axis=axis), "width": np.mean(width, axis=axis),
           "winkler": np.mean(score, axis=axis)}
    return {k: (v.item() if np.ndim(v) == 0 else np.asarray(v)) for k, v in out.items()}


def pinball(actual: np.ndarray, quantiles: np.ndarray, levels, mase_scale: np.ndarray | float = 1.0,
            axis=None) -> float | np.ndarray:
    """Pinball (quantile) loss averaged over the levels; `quantiles` is (B, H, T, Q) for `actual`
    (B, H, T). Divided by `mase_scale` (T,), it is the scaled quantile loss (M5's SPL with the
    one-step naive as the scale): 1 means as far off as the naive forecast is in-sample."""
    levels = np.asarray(levels, np.float64)
    loss = np.zeros(np.shape(actual))
    for q, level in enumerate(levels):  # level by level: (B, H, T, Q) temporaries are gigabytes at horizon 720
        diff = actual - quantiles[..., q]
        loss += np.maximum(level * diff, (level - 1) * diff)
    value = np.mean(loss / len(levels) / mase_scale, axis=axis)
    return value.item() if np.ndim(value) == 0 else value


def direction_of_majority(train: np.ndarray) -> np.ndarray:
    """(T,) +1 where most one-step changes of the training rows `train` (N, T) went up, else -1:
    the "always up" (or down) baseline a trader compares direction calls with."""
    moves = np.sign(np.diff(train, axis=0))
    return np.where((moves > 0).sum(axis=0) >= (moves < 0).sum(axis=0), 1.0, -1.0)


def constant_direction(actual: np.ndarray, anchor: np.ndarray, call: np.ndarray) -> float:
    """Percent of moves (B, H, T) in the direction `call` (T,): the majority baseline's accuracy."""
    moved = np.sign(actual - anchor[:, None, :])
    counted = moved != 0
    return float(100 * np.sum(counted & (moved == call)) / max(np.sum(counted), 1))


def naive_forecast(anchor: np.ndarray, horizon: int) -> np.ndarray:
    """The random walk: the last observed value (B, T) repeated over the horizon -> (B, H, T)."""
    return np.repeat(anchor[:, None, :], horizon, axis=1)


def skill(model_rmse: float, naive_rmse: float) -> float:
    """1 - RMSE_model / RMSE_naive: above 0 the model beats the naive forecast; NaN when the naive
    RMSE is 0, or rounding error beside the model's (an exact baseline: a ratio would be noise)."""
    exact = naive_rmse <= 1e-9 * abs(model_rmse) or not naive_rmse > 0
    return float("nan") if exact else float(1 - model_rmse / naive_rmse)
