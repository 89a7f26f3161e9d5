"""Forecast accuracy in original units, and the naive comparison every result is shown beside.

All functions take arrays shaped (B, H, T): windows, horizon steps, targets.
"""
from __future__ import annotations

import numpy as np


def metrics(actual: np.ndarray, forecast: np.ndarray, anchor: np.ndarray | None = None,
            mase_scale: float | np.ndarray | None = None, axis=None) -> dict[str, float]:
    """MAE, RMSE, MAPE and sMAPE (percent); MASE with `mase_scale` (the in-sample naive MAE);
    directional accuracy (percent of up/down moves called right) with `anchor` (B, T), the last
    observed value. `axis` keeps dimensions, e.g. `axis=(0, 2)` gives one value per horizon step."""
    err = forecast - actual
    denom = np.abs(actual)
    valid = denom > 1e-12  # MAPE is undefined at zero; skip those points
    out = {
        "mae": np.mean(np.abs(err), axis=axis),
        "rmse": np.sqrt(np.mean(err ** 2, axis=axis)),
        "mape": 100 * np.nanmean(np.where(valid, np.abs(err) / np.where(valid, denom, 1), np.nan),
                                 axis=axis),
        "smape": 100 * np.mean(2 * np.abs(err) / np.maximum(np.abs(actual) + np.abs(forecast), 1e-12),
                               axis=axis),
    }
    if mase_scale is not None:  # scalar or one scale per target (T,)
        out["mase"] = np.mean(np.abs(err) / mase_scale, axis=axis)
    if anchor is not None:
        moved = np.sign(actual - anchor[:, None, :])
        called = np.sign(forecast - anchor[:, None, :])
        hit = np.where(moved != 0, (moved == called).astype(float), np.nan)
        # A forecast that never moves (the naive one) makes no call at all: n/a, not 0%.
        out["direction"] = 100 * np.nanmean(hit, axis=axis) if called.any() else np.nan
    return {k: (float(v) if np.ndim(v) == 0 else np.asarray(v)) for k, v in out.items()}


def naive_forecast(anchor: np.ndarray, horizon: int) -> np.ndarray:
    """The random walk: the last observed value (B, T) repeated over the horizon -> (B, H, T)."""
    return np.repeat(anchor[:, None, :], horizon, axis=1)


def skill(model_rmse: float, naive_rmse: float) -> float:
    """1 - RMSE_model / RMSE_naive: above 0 the model beats the naive forecast."""
    return float(1 - model_rmse / naive_rmse) if naive_rmse > 0 else float("nan")


def verdict(model_rmse: float, naive_rmse: float) -> str:
    """One plain sentence about the comparison that matters most."""
    s = skill(model_rmse, naive_rmse)
    if 0 < s < 0.02:
        return (f"The model is about as good as the naive last-value forecast (RMSE only {100 * s:.1f}% "
                "lower): no real edge. For prices the random walk is hard to beat.")
    if s > 0:
        return f"The model beats the naive last-value forecast: RMSE {100 * s:.1f}% lower."
    return (f"The model does NOT beat the naive last-value forecast (RMSE {100 * -s:.1f}% higher). "
            "For prices this is common: the random walk is hard to beat; do not trade on this model.")
