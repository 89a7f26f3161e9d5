"""The measures every forecast is scored by and the baselines it is scored beside, in original units:
one metric set for fit, backtest and tuning's refit.

All functions take arrays shaped (B, H, T): windows, horizon steps, targets. The tests that say
whether an edge is real (Diebold-Mariano, Pesaran-Timmermann, the coverage shortfall) follow. Last,
the forecasts any sceptic tries first, from the past only: naive (the random walk: the last value),
seasonal naive, drift (the line from the first to the last value) and moving average; opt-in, the
statistical models a sceptic tries next (statsmodels): the M4 benchmarks' Naive2, ETS, Theta and
ARIMA. The interval baseline is the naive forecast with empirical quantiles of h-step changes over
the training rows (the random walk's own interval).
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

from forecast.config import STATISTICAL  # opt-in (DataConfig.baselines): a fit per series and target
from forecast.dates import is_steps, season_of_unit, step_unit
from forecast.errors import ForecastError


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
            "mape": 100 * np.sum(np.where(valid, abs_err / np.where(valid, denom, 1), 0.0), axis=axis)
            / np.sum(valid, axis=axis),  # over the actual values that are not 0 (NaN when none is)
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


def coverage_shortfall(hits: np.ndarray, nominal: float, h: int = 1, per_origin: int | None = None,
                       calibrated: float = 0.0) -> dict:
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
    per_origin : how many outcomes each value of `hits` stands for when it is a share already (a
        panel's share at each date, over its series); None: `hits` holds the outcomes.
    calibrated : the variance that the calibration's own sampling error adds to the observed share
        (`Intervals.calibration_variance`): margins fitted on n windows cover c give or take sqrt(c(1-c)/(n+2)).

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
    per_origin = per_origin or np.asarray(hits).size // n
    # at least the spread of independent outcomes under the promise: a share that never varies
    # (every outcome missed) is not infinitely certain
    variance = max(variance, nominal * (1 - nominal) / per_origin)
    out["p_value"] = float(stats.norm.cdf((observed - nominal) / math.sqrt(variance / n + calibrated)))
    return out


def p_is(p: float, digits: int = 3) -> str:
    """"p=0.0123", or "p<1e-300" where it underflowed to 0 (a test's p-value is never 0)."""
    return f"p={p:.{digits}g}" if p > 0 else "p<1e-300"


def verdict(test: dict, other: str = "naive", level: float = 0.05) -> str:
    """One sentence from a Diebold-Mariano result: better, worse, or no significant difference."""
    p = test["p_value"]
    if p != p:  # NaN
        return f"not enough forecasts to test the difference from {other} ({test['n']})"
    where = f"(DM {p_is(p)}, {test['n']} {test.get('over', 'origins')})"
    if p < level:
        better = "better" if test["mean_diff"] < 0 else "worse"
        return f"{better} than {other} at the {100 * level:g}% level {where}"
    return f"no significant difference from {other} {where}"


# --- The baselines

BASELINES = ("naive", "seasonal_naive", "drift", "moving_average")


def season_of(index: pd.DatetimeIndex, cycle: int = 0) -> int:
    """The seasonal naive's season, from the data's step: a week of trading days (5) or of days (7),
    a day of hours (24) or of any sub-daily step, a year of weeks (52), months (12) or quarters (4).
    An integer time axis has no calendar: its season is the `cycle` the user gave (else 1)."""
    if is_steps(index):
        return cycle or 1
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
    return {"naive": np.repeat(anchor[:, None, :], horizon, axis=1),  # the random walk: the last value
            "seasonal_naive": raw[np.maximum(seasonal_rows, 0)],
            "drift": anchor[:, None, :] + steps[None, :, None] * slope[:, None, :],
            "moving_average": np.repeat(ma[:, None, :], horizon, axis=1)}


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


def statistical(raw: np.ndarray, starts: np.ndarray, horizon: int, season: int, names, fit_end: int) -> dict:
    """(B, H, T) forecasts of the statistical baselines `names` for windows whose targets start at
    rows `starts`, from the original-unit targets `raw` (N, T).

    Naive2, ETS and ARIMA estimate their parameters once, on the training rows (`raw[:fit_end]`),
    then filter each window's history (the rows before it) with them: the way the network is judged,
    nothing estimated on what it forecasts. Theta refits on each history (it is a closed form).
    - naive2: the M4 benchmarks' Naive2, the last value of the seasonally adjusted series with the
      season put back (multiplicative indices where the 90% test finds the season, else the naive);
    - ets: Holt-Winters with a damped trend, and an additive season of `season` steps when that
      lowers the AIC on the training rows (two seasons at least);
    - theta: the M4 benchmark's Theta (seasonally adjusted when a 90% test finds the season);
    - arima: ARIMA(p, d, q) on the seasonally adjusted series (multiplicative indices where the 90%
      test finds the season, as the M4 benchmarks adjust theirs), d from a KPSS test (at most 1),
      p and q up to 2 by AIC.
    A model statsmodels cannot fit (too few rows, a constant series) forecasts NaN: the tables
    show n/a and the verdicts leave it out."""
    unknown = sorted(set(names) - set(STATISTICAL))
    if unknown:
        raise ForecastError(f"unknown baseline(s) {', '.join(unknown)}; choose from {', '.join(STATISTICAL)}")
    out = {name: np.full((len(starts), horizon, raw.shape[1]), np.nan) for name in names}
    import statsmodels.tsa.api  # noqa: F401  its import adds "always" filters: before ours, not over them

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")  # statsmodels' convergence and frequency notes, per fit
        for t in range(raw.shape[1]):
            series = np.asarray(raw[:, t], np.float64)
            for name in names:
                try:
                    forecaster = _FORECASTERS[name](series[:fit_end], season)
                    for b, start in enumerate(starts):
                        out[name][b, :, t] = forecaster(series[:start], horizon)
                except (ValueError, np.linalg.LinAlgError, IndexError, ZeroDivisionError):
                    out[name][..., t] = np.nan
    return out


def _naive2(train: np.ndarray, season: int):
    figure = seasonal_figure(train, season)

    def forecast(history, h):
        if figure is None:
            return np.full(h, history[-1])
        n = len(history)  # rows counted from the series' first, as the indices were
        return history[-1] / figure[(n - 1) % season] * figure[np.arange(n, n + h) % season]
    return forecast


def _ets(train: np.ndarray, season: int):
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    options: list[dict] = [{}] + ([{"seasonal": "add", "seasonal_periods": season}] if 1 < season and 2 * season < len(train) else [])
    fits = [(ExponentialSmoothing(train, trend="add", damped_trend=True, **o).fit(), o) for o in options]
    best, chosen = min(fits, key=lambda f: f[0].aic)
    p = best.params
    start = {"initial_level": p["initial_level"], "initial_trend": p["initial_trend"],
             **({"initial_seasonal": p["initial_seasons"]} if chosen else {})}
    smoothing = {k: p[k] for k in ("smoothing_level", "smoothing_trend", "damping_trend")}
    smoothing.update({"smoothing_seasonal": p["smoothing_seasonal"]} if chosen else {})

    def forecast(history, h):  # the training fit's parameters and initial states, run over the history
        model = ExponentialSmoothing(history, trend="add", damped_trend=True, initialization_method="known",
                                     **chosen, **start)
        return model.fit(optimized=False, **smoothing).forecast(h)
    return forecast


def _theta(train: np.ndarray, season: int):
    from statsmodels.tsa.forecasting.theta import ThetaModel

    def forecast(history, h):
        seasonal = 1 < season and 2 * season <= len(history)
        return np.asarray(ThetaModel(history, period=season if seasonal else 1, deseasonalize=seasonal).fit().forecast(h))
    return forecast


def _arima(train: np.ndarray, season: int):
    from statsmodels.tsa.arima.model import ARIMA
    from statsmodels.tsa.stattools import kpss

    figure = seasonal_figure(train, season)
    adjust = (lambda x, at=0: x) if figure is None else \
        (lambda x, at=0: x / figure[np.arange(at, at + len(x)) % season])  # rows counted from the series' first
    level = adjust(train)
    d = int(kpss(level, nlags="auto")[1] < 0.05)  # not stationary around a level: one difference
    fits = [ARIMA(level, order=(p, d, q), trend="c" if d == 0 else "n").fit() for p in range(3) for q in range(3)]
    best = min(fits, key=lambda f: f.aic)

    def forecast(history, h):
        ahead = best.apply(adjust(history)).forecast(h)
        return ahead if figure is None else ahead * figure[np.arange(len(history), len(history) + h) % season]
    return forecast


def seasonal_figure(train: np.ndarray, season: int) -> np.ndarray | None:
    """(season,) multiplicative seasonal indices of a positive series whose autocorrelation at lag
    `season` passes the M4 benchmarks' 90% test (classical decomposition, statsmodels), else None."""
    from statsmodels.tsa.seasonal import seasonal_decompose
    from statsmodels.tsa.stattools import acf

    if season < 2 or len(train) < 3 * season or (train <= 0).any():
        return None
    r = acf(train, nlags=season)[1:]
    if abs(r[-1]) <= 1.645 / np.sqrt(len(train)) * np.sqrt(1 + 2 * np.sum(r[:-1] ** 2)):
        return None
    return np.asarray(seasonal_decompose(train, model="multiplicative", period=season).seasonal[:season])


_FORECASTERS = {"naive2": _naive2, "ets": _ets, "theta": _theta, "arima": _arima}
