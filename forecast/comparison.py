"""The model beside its baselines on the same forecasts: accuracy, intervals, significance, verdict.

One summary serves `fit` (the test span), `backtest` (every walk-forward origin) and tuning's final
refit. The verdict is against the best baseline by RMSE, not only the naive forecast, and says
whether the difference is significant (Diebold-Mariano with the small-sample correction); direction
calls are set beside always calling the training span's majority direction, and tested
(Pesaran-Timmermann).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from forecast.intervals import Intervals, label
from forecast.metrics import (coverage_shortfall, diebold_mariano, interval_metrics, metrics, pesaran_timmermann,
                              pinball, skill)
from forecast.metrics import p_is, verdict as dm_sentence

LEVEL = 0.05  # significance level of every verdict


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


def interval_scores(intervals: Intervals, actual: np.ndarray, axis=None) -> dict:
    """Coverage, width and interval score of the model's and the naive intervals, by coverage."""
    return {label(c): {"model": interval_metrics(actual, intervals.lower[k], intervals.upper[k], c, axis=axis),
                       "naive": interval_metrics(actual, intervals.naive_lower[k], intervals.naive_upper[k], c,
                                                 axis=axis)}
            for k, c in enumerate(intervals.coverage)}


def summarise(actual: np.ndarray, forecasts: dict, anchor: np.ndarray, mase_scale, intervals: Intervals,
              majority: np.ndarray, lag: int, prices: bool = False, confidence: bool = True,
              dates: np.ndarray | None = None) -> dict:
    """Every number the verdict rests on, for forecasts (B, H, T) of the model and the baselines.

    Parameters
    ----------
    forecasts : "model" first, then the baselines ("naive" among them).
    mase_scale : (T,) or (B, 1, T), also the scale of the per-origin losses the tests compare.
    majority : (T,) +1 or -1, the training span's majority direction.
    lag : how many origins apart forecasts stop overlapping (the horizon over the origin stride).
    prices : the series are prices (trading days): the verdict says what a random walk means there.
    confidence : also the model confidence set of every forecaster (see `confidence_set`).
    dates : (B,) each forecast's origin, for several series pooled: the loss tests then compare each
        date's mean loss over the series (see `by_date`).
    """
    out: dict[str, Any] = {name: metrics(actual, fc, anchor, mase_scale) for name, fc in forecasts.items()}
    out["skill"] = skill(out["model"]["rmse"], out["naive"]["rmse"])
    out["zero_actuals"] = float(np.mean(np.abs(actual) <= 1e-12))  # the share MAPE leaves out
    # Several series pooled (a scale per window): RMSE would be decided by the largest series, so the
    # yardstick is scale-free, MASE (each series' errors in units of its own one-step change).
    yardstick = "mase" if np.ndim(mase_scale) == 3 and len(np.unique(mase_scale)) > 1 else "rmse"
    rivals = [n for n in forecasts if n != "model" and math.isfinite(out[n][yardstick])]
    best = min(rivals, key=lambda n: out[n][yardstick])
    out["yardstick"] = yardstick
    out["best_baseline"], out["skill_vs_best"] = best, skill(out["model"][yardstick], out[best][yardstick])
    calls = "up" if (majority > 0).all() else "down" if (majority < 0).all() else "majority"
    out["always"] = {"call": calls, "direction": constant_direction(actual, anchor, majority)}

    out["intervals"] = interval_scores(intervals, actual)
    model_q, levels = intervals.as_quantiles(forecasts["model"], intervals.lower, intervals.upper)
    naive_q, _ = intervals.as_quantiles(forecasts["naive"], intervals.naive_lower, intervals.naive_upper)
    out["pinball"] = {"levels": levels.tolist(),
                      "model": pinball(actual, model_q, levels), "naive": pinball(actual, naive_q, levels),
                      "model_scaled": pinball(actual, model_q, levels, mase_scale),
                      "naive_scaled": pinball(actual, naive_q, levels, mase_scale)}
    if intervals.quantiles is not None:
        out["pinball"]["quantile_head"] = pinball(actual, intervals.quantiles, intervals.levels)

    tested, over = by_date(dates, lag)

    def losses(fc):  # mean squared error of each origin (B,), in units of the naive in-sample error; or of each date
        return tested(np.mean(((fc - actual) / mase_scale) ** 2, axis=(1, 2)))

    def shortfall(k, c):  # is the k-th interval (coverage c) short: its share of outcomes covered at each origin or date
        hits = (intervals.lower[k] <= actual) & (actual <= intervals.upper[k])
        share = tested(hits.reshape(len(hits), -1).mean(axis=1))
        return {**coverage_shortfall(share, c, lag, per_origin=hits.size // len(share),
                                     calibrated=intervals.calibration_variance(c)), **over}

    first_up = actual[:, 0] - anchor
    called = forecasts["model"][:, 0] - anchor
    both = (first_up != 0) & (called != 0)
    out["tests"] = {"dm_naive": {**diebold_mariano(losses(forecasts["model"]), losses(forecasts["naive"]), lag), **over},
                    "dm_best": {**diebold_mariano(losses(forecasts["model"]), losses(forecasts[best]), lag), **over},
                    "direction": pesaran_timmermann(first_up[both] > 0, called[both] > 0),
                    "coverage": {label(c): shortfall(k, c) for k, c in enumerate(intervals.coverage)}}
    out["verdict"] = verdict_lines(out, prices)
    if confidence and len(forecasts) > 2:
        out["tests"]["confidence_set"] = confidence_set({n: losses(fc) for n, fc in forecasts.items()}, lag)
        out["verdict"].append(confidence_line(out["tests"]["confidence_set"]))
    return out


DATES = 20  # a pooled panel's loss tests go by date when its forecasts have this many origin dates


BY_DATE, INDEPENDENT = "dates, each the series' mean", "forecasts, the series taken as independent"
POOLED = {BY_DATE: " (tested on each date's mean loss over the series: a shock they share counts once)",
          INDEPENDENT: f" (tested with the series taken as independent: fewer than {DATES} dates)"}


def by_date(dates: np.ndarray | None, lag: int):
    """What the loss tests of several series pooled compare: each origin date's mean loss over its
    series, when there are `DATES` dates or more (and over twice `lag`), for series that share
    shocks (stocks on a market day) are not independent, and counting each series' loss as its own
    origin would call a small edge significant (the test of equal accuracy on average over a panel,
    on the mean loss difference of each date: Akgun, Pirotte, Urga and Yang 2024); with fewer dates
    (a competition's one window per series) every forecast, the series taken as independent.
    Returns what turns per-forecast values (B,) into those the tests compare, and the words the
    tests name their count with."""
    if dates is None:
        return (lambda values: values), {}
    codes, names = pd.factorize(np.asarray(dates), sort=True)
    if len(names) < max(DATES, 2 * lag + 1):
        return (lambda values: values), {"over": INDEPENDENT}
    counts = np.bincount(codes)
    return (lambda values: np.bincount(codes, values) / counts), {"over": BY_DATE}


MCS_SIZE = 0.10  # the model confidence set holds the best forecaster with 90% confidence


def confidence_set(losses: dict[str, np.ndarray], lag: int, seed: int = 0) -> dict:
    """Hansen, Lunde and Nason's model confidence set (through `arch`) over per-origin losses (B,)
    of several forecasters compared at once: the ones that cannot be told apart from the best at
    90%, the others, and each one's MCS p-value. The bootstrap keeps blocks of `lag` origins
    (overlapping multi-step forecasts are not independent)."""
    from arch.bootstrap import MCS

    losses = {n: loss for n, loss in losses.items() if np.isfinite(loss).any()}  # a baseline statsmodels could not fit
    frame = pd.DataFrame({name: np.asarray(loss, np.float64) for name, loss in losses.items()}).dropna()
    if len(frame) < 10:
        return {"included": list(losses), "excluded": [], "p_values": {}, "note": "too few origins to tell"}
    twins = {n: next(m for m in frame if frame[m].equals(frame[n])) for n in frame}  # identical losses: one stands in
    distinct = frame[sorted(set(twins.values()), key=list(frame).index)]
    if distinct.shape[1] < 2:
        return {"included": list(losses), "excluded": [], "p_values": {}, "note": "every forecaster lost the same"}
    try:
        with np.errstate(all="ignore"):  # a loss difference of no spread divides by zero
            mcs = MCS(distinct, size=MCS_SIZE, reps=500, block_size=max(1, int(lag)), method="R", seed=seed)
            mcs.compute()
    except (IndexError, ValueError, np.linalg.LinAlgError) as e:  # degenerate losses (constant, too alike)
        return {"included": list(losses), "excluded": [], "p_values": {}, "note": f"the bootstrap failed ({e})"}
    pvalues = {str(n): float(p) for n, p in mcs.pvalues["Pvalue"].items()}
    if not all(math.isfinite(v) for v in pvalues.values()):
        return {"included": list(losses), "excluded": [], "p_values": {},
                "note": "some losses differ by a constant, which the bootstrap cannot weigh"}
    kept = set(mcs.included)
    return {"included": [n for n in losses if twins[n] in kept], "excluded": [n for n in losses if twins[n] not in kept],
            "p_values": {n: pvalues[twins[n]] for n in losses}}


def confidence_line(found: dict) -> str:
    named = lambda names: ", ".join(n.replace("_", " ") for n in names)  # noqa: E731
    if found.get("note"):
        return f"Model confidence set: not computed ({found['note']})."
    if not found["excluded"]:
        return (f"Model confidence set (90%, all forecasters at once): none can be told apart from the best "
                f"({named(found['included'])}).")
    if len(found["included"]) == 1:  # the best alone: "cannot be told apart from the best" would name it beside itself
        return (f"Model confidence set (90%, all forecasters at once): {named(found['included'])} alone is in it, the best; "
                f"{named(found['excluded'])} can be told apart from it.")
    return (f"Model confidence set (90%, all forecasters at once): {named(found['included'])} cannot be told "
            f"apart from the best; {named(found['excluded'])} can.")


def by_step(actual: np.ndarray, forecasts: dict, anchor: np.ndarray, mase_scale, intervals: Intervals) -> dict:
    """Point metrics of every forecaster and interval metrics of the model and naive, per step (H,)."""
    out = {name: metrics(actual, fc, anchor, mase_scale, axis=(0, 2)) for name, fc in forecasts.items()}
    out["intervals"] = interval_scores(intervals, actual, axis=(0, 2))
    return out


def verdict_lines(s: dict, prices: bool = False) -> list[str]:
    """Plain sentences: the edge over the best baseline and whether it is real, then direction."""
    best, dm = s["best_baseline"], s["tests"]["dm_best"]
    gain = s["skill_vs_best"]
    name = best.replace("_", " ")
    yard = s.get("yardstick", "rmse").upper()
    significant = dm["p_value"] == dm["p_value"] and dm["p_value"] < LEVEL
    # the random walk (naive last value, or with drift) as the yardstick: the case of prices
    walk = prices and best in ("naive", "drift")
    if gain != gain:  # the best baseline's error is 0
        head = (f"The best baseline ({name}) is exact on these forecasts ({yard} "
                f"{s[best][yard.lower()]:.2g}): no model can beat it.")
    elif gain > 0 and significant:
        head = (f"The model beats the best baseline ({name}): {yard} {100 * gain:.1f}% lower, "
                f"{dm_sentence(dm, name, LEVEL)}.")
    elif gain > 0:
        head = (f"The model's {yard} is {100 * gain:.1f}% lower than the best baseline's ({name}), but "
                f"{dm_sentence(dm, name, LEVEL)}: no real edge." +
                (" For prices the random walk is hard to beat." if walk else ""))
    else:
        head = (f"The model does NOT beat the best baseline ({name}): {yard} {100 * -gain:.1f}% higher; "
                f"{dm_sentence(dm, name, LEVEL)}." +
                (" For prices the random walk is hard to beat; do not trade on this model." if walk
                 else f" Forecast with {name} instead, or find a model that beats it."))
    lines = [head]
    if best != "naive":
        lines.append(f"Against the naive last value: {dm_sentence(s['tests']['dm_naive'], 'naive', LEVEL)}.")
    pt, model_dir, always = s["tests"]["direction"], s["model"]["direction"], s["always"]
    if model_dir == model_dir:
        always_call = ("each series' training majority direction" if always["call"] == "majority"
                       else f"always {always['call']}")
        if pt["p_value"] == pt["p_value"]:
            judged = ("the calls carry information" if pt["p_value"] < LEVEL
                      else "no better than chance")
            if pt["p_value"] < LEVEL and model_dir <= always["direction"]:
                judged += f", yet {always_call} is right as often"
            test = f"Pesaran-Timmermann {p_is(pt['p_value'])}: {judged}"
        else:  # a call that never changes says nothing, whatever share of the calls it gets right
            test = (f"{pt.get('why', 'the calls or the outcomes never change')}: a call that never "
                    "changes carries no information, whatever its hit rate")
        lines.append(f"Direction, over every step: the model is right on {model_dir:.1f}% of its calls, "
                     f"{always_call} on {always['direction']:.1f}%. One step ahead: {test}.")
    short = [(name, t) for name, t in s["tests"].get("coverage", {}).items()
             if t["p_value"] == t["p_value"] and t["p_value"] < LEVEL]
    if short:
        said = "; ".join(f"the {name} interval covered {100 * t['coverage']:.1f}% ({p_is(t['p_value'], 2)})"
                         for name, t in short)
        lines.append(f"Intervals short of their promise: {said}, over {short[0][1]['n']} "
                     f"{short[0][1].get('over', 'origins')}. The future "
                     "was wilder than the calibration span: calibrate on a longer or later span (a refitted "
                     "model's intervals take the test's windows too), or, in a backtest, use --calibration "
                     "adaptive.")
    return lines


def series_rows(summaries: dict[str, dict]) -> dict:
    """One row per series from its summary: the model beside naive and the best baseline, the
    Diebold-Mariano p against naive, and the coverage of each interval."""
    rows = {}
    for name, s in summaries.items():
        dm, own = s["tests"]["dm_naive"], s["tests"]["dm_best"]
        rows[name] = {"rmse": s["model"]["rmse"], "naive_rmse": s["naive"]["rmse"],
                      "mase": s["model"]["mase"], "naive_mase": s["naive"]["mase"], "skill": s["skill"],
                      "dm_p_naive": dm["p_value"], "better": s["skill"] > 0,
                      "significant": bool(dm["p_value"] < LEVEL and dm["mean_diff"] < 0),
                      "best_baseline": s["best_baseline"], "skill_vs_best": s["skill_vs_best"],
                      "dm_p_best": own["p_value"], "beats_best": bool(s["skill_vs_best"] > 0),
                      "dm_diff_best": own["mean_diff"],
                      **{f"coverage{k[:-1]}": v["model"]["coverage"] for k, v in s["intervals"].items()}}
    return rows


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjustment of several p-values (NaN stays NaN): with many series, some
    p < 0.05 by luck alone; the adjusted ones keep the chance of any false "significant" below 5%."""
    p = np.asarray(p_values, np.float64)
    adjusted = np.full(p.shape, np.nan)
    tested = np.flatnonzero(~np.isnan(p))
    order = tested[np.argsort(p[tested])]
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(order) - rank) * p[i]))
        adjusted[i] = running
    return adjusted


def benjamini_hochberg(p_values) -> np.ndarray:
    """Benjamini and Hochberg's adjustment (scipy's; NaN stays NaN): "significant" at 5% on these keeps
    the expected share of false discoveries among them below 5% (less strict than Holm's)."""
    from scipy.stats import false_discovery_control

    p = np.asarray(p_values, np.float64)
    adjusted = np.full(p.shape, np.nan)
    tested = ~np.isnan(p)
    if tested.any():
        adjusted[tested] = false_discovery_control(p[tested], method="bh")
    return adjusted


def with_series(pooled: dict, rows: dict) -> dict:
    """The pooled summary of a panel, its per-series table, and a verdict that counts series: against
    naive and against each series' own best baseline, significance adjusted for the number of series
    (Holm)."""
    names = list(rows)
    for key, test in (("dm_p_naive", "holm_p_naive"), ("dm_p_best", "holm_p_best")):
        for name, p in zip(names, holm([rows[n][key] for n in names])):
            rows[name][test] = float(p)
    for name, p in zip(names, benjamini_hochberg([rows[n]["dm_p_naive"] for n in names])):
        rows[name]["bh_p_naive"] = float(p)
    better = sum(r["better"] for r in rows.values())
    significant = sum(bool(r["holm_p_naive"] < LEVEL) and r["better"] for r in rows.values())
    discovered = sum(bool(r["bh_p_naive"] < LEVEL) and r["better"] for r in rows.values())
    beats_own = sum(r["beats_best"] for r in rows.values())
    own_significant = sum(bool(r["holm_p_best"] < LEVEL) and r["beats_best"] for r in rows.values())
    own_worse = sum(bool(r["holm_p_best"] < LEVEL) and not r["beats_best"] for r in rows.values())
    mean_skill = float(np.mean([r["skill"] for r in rows.values()]))
    lines = [f"The model beats the naive forecast on {better} of {len(rows)} series (significantly, DM "
             f"p < {LEVEL:g} after Holm's adjustment for {len(rows)} tests, on {significant}; with "
             f"Benjamini-Hochberg's, which bounds the share of false discoveries instead, on {discovered}); mean skill "
             f"{100 * mean_skill:+.1f}%.",
             f"Against each series' own best baseline it is better on {beats_own} of {len(rows)} "
             f"(significantly on {own_significant}, significantly worse on {own_worse}). Pooled over every "
             f"series, scale-free{POOLED.get(pooled['tests']['dm_best'].get('over'), '')}:"]
    return {**pooled, "series": rows, "mean_skill": mean_skill, "series_beating_naive": better,
            "series_beating_naive_significantly": significant, "series_beating_naive_fdr": discovered,
            "series_beating_own_best": beats_own,
            "series_beating_own_best_significantly": own_significant,
            "verdict": [*lines, *pooled["verdict"]]}
