"""Forecast accuracy in original units: one metric set for fit, backtest and tuning's refit.

All functions take arrays shaped (B, H, T): windows, horizon steps, targets. The tests that say
whether an edge is real (Diebold-Mariano, Pesaran-Timmermann, the coverage shortfall) follow.
"""
from __future__ import annotations

import math

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


# --- Is an edge real or luck? (forecast.significance until 0.3)

def diebold_mariano(loss_model: np.ndarray, loss_other: np.ndarray, h: int = 1) -> dict:
    """Two-sided Diebold-Mariano test of equal expected loss, with the Harvey-Leybourne-Newbold
    small-sample correction and a t(n-1) reference.

    Parameters
    ----------
    loss_model, loss_other : (n,) losses of each forecast origin, in time order.
    h : forecast horizon in origins: h-step forecasts made at consecutive origins overlap, so the
        loss differences are autocorrelated up to lag h-1, which the variance includes.

    Returns
    -------
    dict with `statistic` (negative: the model's loss is lower), `p_value`, `n` and `mean_diff`.
    The long-run variance uses the rectangular window of the original test; where that estimate is
    not positive (possible for h > 1) the Bartlett window is used instead.
    """
    from scipy import stats

    d = np.asarray(loss_model, np.float64) - np.asarray(loss_other, np.float64)
    n = len(d)
    mean = float(d.mean()) if n else float("nan")
    if n < 3 or h >= n:
        return {"statistic": float("nan"), "p_value": float("nan"), "n": n, "mean_diff": mean}
    centred = d - mean
    gamma = [centred[k:] @ centred[: n - k] / n for k in range(h)]
    variance = gamma[0] + 2 * sum(gamma[1:])
    if variance <= 0:
        variance = gamma[0] + 2 * sum((1 - k / h) * g for k, g in enumerate(gamma[1:], start=1))
    if variance <= 0:  # the two forecasts lose exactly the same everywhere
        return {"statistic": float("nan"), "p_value": 1.0 if mean == 0 else float("nan"), "n": n,
                "mean_diff": mean}
    dm = mean / math.sqrt(variance / n)
    hln = dm * math.sqrt((n + 1 - 2 * h + h * (h - 1) / n) / n)
    return {"statistic": float(hln), "p_value": float(2 * stats.t.sf(abs(hln), df=n - 1)), "n": n,
            "mean_diff": mean}


def pesaran_timmermann(actual_up: np.ndarray, forecast_up: np.ndarray) -> dict:
    """One-sided Pesaran-Timmermann (1992) test that up/down calls carry information.

    Parameters
    ----------
    actual_up, forecast_up : (n,) booleans, whether the value went up and whether it was called up
        (flat cases left out by the caller).

    Returns
    -------
    dict with `statistic` (standard normal under the null of independence), `p_value` (small: the
    calls are better than chance), `n`, `hit_rate`, and `why` when it cannot be tested (NaN): fewer
    than two cases, calls that always go the same way (their hits are the base rate), or outcomes
    that do.
    """
    from scipy import stats

    y, x = np.asarray(actual_up, bool), np.asarray(forecast_up, bool)
    n = len(y)
    nan = {"statistic": float("nan"), "p_value": float("nan"), "n": n,
           "hit_rate": float(np.mean(x == y)) if n else float("nan")}
    if n < 2:
        return {**nan, "why": f"{n} one-step call(s)"}
    if x.all() or not x.any():
        return {**nan, "why": f"the model's one-step calls all go {'up' if x.all() else 'down'} ({n} origins)"}
    if y.all() or not y.any():
        return {**nan, "why": f"the one-step outcomes all go {'up' if y.all() else 'down'} ({n} origins)"}
    p_hat, py, px = float(np.mean(x == y)), float(y.mean()), float(x.mean())
    p_star = py * px + (1 - py) * (1 - px)
    var_p = p_star * (1 - p_star) / n
    var_star = ((2 * py - 1) ** 2 * px * (1 - px) / n + (2 * px - 1) ** 2 * py * (1 - py) / n
                + 4 * py * px * (1 - py) * (1 - px) / n ** 2)
    if var_p - var_star <= 0:
        return {**nan, "why": f"no spread to test ({n} origins)"}
    statistic = (p_hat - p_star) / math.sqrt(var_p - var_star)
    return {"statistic": float(statistic), "p_value": float(stats.norm.sf(statistic)), "n": n,
            "hit_rate": p_hat}


def coverage_shortfall(hits: np.ndarray, nominal: float, h: int = 1) -> dict:
    """One-sided test that an interval covers less often than its nominal coverage.

    Parameters
    ----------
    hits : (n, ...) whether each outcome fell inside its interval, origins first, in time order; the
        outcomes of one origin (its steps and targets) are averaged into one value per origin.
    nominal : the promised coverage, e.g. 0.8.
    h : forecast horizon in origins: windows made at consecutive origins share outcomes, so the
        per-origin shares are autocorrelated up to lag h-1, which the variance includes (Bartlett
        weights, always positive). Counting every outcome as independent would call a shortfall
        significant far too often.

    Returns
    -------
    dict with `coverage` (the observed share), `p_value` (small: significantly below the promise),
    `n` origins and `nominal`.
    """
    from scipy import stats

    share = np.asarray(hits, np.float64).reshape(len(hits), -1).mean(axis=1)
    n = len(share)
    observed = float(share.mean()) if n else float("nan")
    out = {"coverage": observed, "p_value": float("nan"), "n": n, "nominal": nominal}
    if n < 3:
        return out
    centred = share - observed
    lags = min(h, n - 1)
    gamma = [centred[k:] @ centred[: n - k] / n for k in range(lags)]
    variance = gamma[0] + 2 * sum((1 - k / lags) * g for k, g in enumerate(gamma[1:], start=1))
    per_origin = np.asarray(hits).size // n
    # at least the spread of independent outcomes under the promise: a share that never varies
    # (every outcome missed) is not infinitely certain
    variance = max(variance, nominal * (1 - nominal) / per_origin)
    out["p_value"] = float(stats.norm.cdf((observed - nominal) / math.sqrt(variance / n)))
    return out


def verdict(test: dict, other: str = "naive", level: float = 0.05) -> str:
    """One sentence from a Diebold-Mariano result: better, worse, or no significant difference."""
    p = test["p_value"]
    if p != p:  # NaN
        return f"not enough forecasts to test the difference from {other} ({test['n']})"
    where = f"(DM p={p:.3g}, {test['n']} origins)"
    if p < level:
        better = "better" if test["mean_diff"] < 0 else "worse"
        return f"{better} than {other} at the {100 * level:g}% level {where}"
    return f"no significant difference from {other} {where}"
