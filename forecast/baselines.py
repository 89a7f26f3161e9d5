"""The forecasts any sceptic tries first, in original units, from the past only.

Point baselines: naive (the random walk: the last value), seasonal naive, drift (the line from the
first to the last value) and moving average; opt-in, the statistical models a sceptic tries next
(statsmodels): the M4 benchmarks' Naive2, ETS, Theta and ARIMA. Interval baseline: the naive forecast with empirical quantiles
of h-step changes over the training rows (the random walk's own interval).
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from forecast.config import STATISTICAL  # opt-in (DataConfig.baselines): a fit per series and target
from forecast.dates import is_steps, season_of_unit, step_unit
from forecast.errors import ForecastError
from forecast.metrics import naive_forecast

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
