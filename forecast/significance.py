"""Is an edge real or luck? Diebold-Mariano for accuracy, Pesaran-Timmermann for direction, and a
test of whether an interval covers less often than it promised.

Both take plain arrays and return a small dict (statistic, p-value, n); `verdict` turns a test into
the sentence every command prints.
"""
from __future__ import annotations

import math

import numpy as np


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
