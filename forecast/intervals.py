"""Prediction intervals with a coverage guarantee: split-conformal calibration on held-out windows.

A point model's interval is its forecast plus or minus a conformal quantile of its absolute errors on
the validation span, per horizon step and target. A quantile model's interval is conformalised
quantile regression (CQR, Romano et al. 2019): the trained quantile pair widened (or narrowed) by a
conformal quantile of how far outside it the validation values fell. Errors are measured in units
of each window's own local scale (the mean absolute one-step change over its input window, known
at forecast time), so widths follow the level and volatility of the series: a price that doubled
since the validation span gets intervals twice as wide (normalised conformal scores). Coverage holds
in finite samples when calibration and future windows are exchangeable; for series whose behaviour
drifts, `adaptive_margins` (adaptive conformal inference, Gibbs and Candes 2021) moves the level as
misses are observed.

Shapes: K coverage levels, B windows, H horizon steps, T targets, Q quantile levels, n calibration
windows.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from forecast.errors import ForecastError


def local_scale(raw: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
    """(B, T) mean absolute one-step change of the targets `raw` (N, T) over the `length` rows before
    each row of `starts`: the scale of a window, from its inputs only (floored above zero)."""
    starts = np.asarray(starts)
    steps = np.abs(np.diff(raw, axis=0))  # (N - 1, T); row j is the change into row j + 1
    total = np.concatenate([np.zeros((1, raw.shape[1])), np.cumsum(steps, axis=0)])
    lo = np.maximum(starts - length, 0)
    count = np.maximum(starts - 1 - lo, 1)[:, None]
    scale = (total[starts - 1] - total[lo]) / count
    floor = 1e-6 * np.abs(raw[starts - 1]) + 1e-12
    return np.maximum(scale, floor)


def pick_pairs(levels, coverage) -> tuple[tuple[int, int] | None, ...]:
    """For each coverage, the indices (lower, upper) of the trained quantile pair closest to the
    central interval it needs (e.g. 0.05 and 0.95 for 0.9); None when no pair straddles the median."""
    levels = list(levels)
    below = [i for i, q in enumerate(levels) if q < 0.5]
    above = [i for i, q in enumerate(levels) if q > 0.5]
    pairs: list[tuple[int, int] | None] = []
    for c in coverage:
        if not below or not above:
            pairs.append(None)
            continue
        lo = min(below, key=lambda i: abs(levels[i] - (1 - c) / 2))
        hi = min(above, key=lambda i: abs(levels[i] - (1 + c) / 2))
        pairs.append((lo, hi))
    return tuple(pairs)


def conformity(actual: np.ndarray, point: np.ndarray, quantiles: np.ndarray | None, pairs,
               scale: np.ndarray) -> np.ndarray:
    """(K, B, H, T) conformity scores in units of each window's `scale` (B, T): |error| of the point
    forecast, or CQR's signed distance outside the quantile pair (negative inside)."""
    scale = scale[:, None, :]
    scores = []
    for pair in pairs:
        if pair is None or quantiles is None:
            scores.append(np.abs(actual - point) / scale)
        else:
            lo, hi = quantiles[..., pair[0]], quantiles[..., pair[1]]
            scores.append(np.maximum(lo - actual, actual - hi) / scale)
    return np.stack(scores)


def conformal_quantile(scores: np.ndarray, level) -> np.ndarray:
    """The ceil((n + 1) * level)-th smallest of n scores along axis 0 (+inf when that is beyond n,
    the smallest score when below 1): the finite-sample conformal quantile. `level` may be an array
    broadcasting against the scores' other axes."""
    n = scores.shape[0]
    ordered = np.sort(scores, axis=0)
    k = np.ceil((n + 1) * np.asarray(level, np.float64)).astype(int)
    k = np.broadcast_to(k, ordered.shape[1:])
    taken = np.take_along_axis(ordered, np.clip(k - 1, 0, n - 1)[None], axis=0)[0]
    return np.where(k > n, np.inf, taken)


def bounds(point: np.ndarray, quantiles: np.ndarray | None, pairs, margin: np.ndarray,
           scale: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(K, B, H, T) lower and upper bounds from forecasts, conformal margins (K, [B,] H, T) in units
    of each window's `scale` (B, T)."""
    scale = scale[:, None, :]
    lows, highs = [], []
    for k, pair in enumerate(pairs):
        if pair is None or quantiles is None:
            lo, hi = point - margin[k] * scale, point + margin[k] * scale
        else:
            lo = quantiles[..., pair[0]] - margin[k] * scale
            hi = quantiles[..., pair[1]] + margin[k] * scale
            mid = (lo + hi) / 2  # a negative margin larger than half the width would cross them
            lo, hi = np.minimum(lo, mid), np.maximum(hi, mid)
        lows.append(lo)
        highs.append(hi)
    return np.stack(lows), np.stack(highs)


@dataclass
class Calibration:
    """Conformal margins fitted on held-out windows; saved with the model.

    coverage : (K,) nominal coverage of each interval, e.g. (0.8, 0.9).
    pairs : per coverage, the indices of the quantile pair it widens, or None (point +- margin).
    margin : (K, H, T) margins in units of a window's local scale (see `local_scale`).
    n : calibration windows used.
    """

    coverage: tuple[float, ...]
    pairs: tuple[tuple[int, int] | None, ...]
    margin: np.ndarray
    n: int

    def bounds(self, point: np.ndarray, quantiles: np.ndarray | None, scale: np.ndarray):
        """(K, B, H, T) lower and upper bounds around forecasts (B, H, T) and quantiles (B, H, T, Q)
        of windows with local scales `scale` (B, T)."""
        return bounds(point, quantiles, self.pairs, self.margin, scale)

    def unbounded(self) -> list[float]:
        """The coverages whose interval is infinite at some step: with n calibration windows a
        coverage c needs n >= c / (1 - c) (9 windows for 90%)."""
        return [c for k, c in enumerate(self.coverage) if np.isinf(self.margin[k]).any()]

    def to_dict(self) -> dict:
        return {"coverage": list(self.coverage), "pairs": [list(p) if p else None for p in self.pairs],
                "margin": self.margin, "n": self.n}  # +inf is written as null

    @classmethod
    def from_dict(cls, d: dict) -> Calibration:
        margin = np.array(d["margin"], dtype=np.float64)  # null -> NaN -> the +inf it was
        return cls(tuple(d["coverage"]), tuple(tuple(p) if p else None for p in d["pairs"]),
                   np.where(np.isnan(margin), np.inf, margin), int(d["n"]))


def calibrate(actual: np.ndarray, point: np.ndarray, quantiles: np.ndarray | None, levels,
              coverage, scale: np.ndarray) -> Calibration:
    """Fit conformal margins on held-out windows: actual and forecasts (n, H, T), quantiles
    (n, H, T, Q) at `levels` or None, local scales (n, T)."""
    n = len(actual)
    if n < 1:
        raise ForecastError("no validation windows to calibrate the intervals on")
    pairs = pick_pairs(levels if quantiles is not None else (), coverage)
    scores = conformity(actual, point, quantiles, pairs, scale)  # (K, n, H, T)
    margin = np.stack([conformal_quantile(scores[k], c) for k, c in enumerate(coverage)])
    return Calibration(tuple(coverage), pairs, margin, n)


def adaptive_margins(calibration_scores: list[np.ndarray], fold_of: np.ndarray, scores: np.ndarray,
                     known_at: np.ndarray, coverage, gamma: float) -> np.ndarray:
    """Adaptive conformal inference over walk-forward origins, per coverage, step and target.

    Parameters
    ----------
    calibration_scores : per fold, (K, n, H, T) scores of its validation windows.
    fold_of : (B,) the fold of each origin, in time order.
    scores : (K, B, H, T) each origin's own score, known once its target is observed.
    known_at : (B, H) index of the first origin at which that target has been observed.
    gamma : step size: after each observed outcome, the miss level alpha moves by
        gamma * (alpha_nominal - missed), so misses widen later intervals and hits narrow them.

    Returns
    -------
    (K, B, H, T) margins: the conformal quantile of the fold's scores at level 1 - alpha_t.
    """
    k_count, b_count, h_count, t_count = scores.shape
    nominal = 1 - np.asarray(coverage, np.float64)[:, None, None]  # (K, 1, 1)
    alpha = np.broadcast_to(nominal, (k_count, h_count, t_count)).copy()
    margins = np.empty_like(scores)
    missed = np.zeros(scores.shape, bool)
    pending: list[list[tuple[int, int]]] = [[] for _ in range(b_count + 1)]  # origin -> (origin, step) outcomes it reveals
    for i in range(b_count):
        for h in range(h_count):
            pending[min(int(known_at[i, h]), b_count)].append((i, h))
    for i in range(b_count):
        for j, h in pending[i]:
            alpha[:, h] += gamma * (nominal[:, 0] - missed[:, j, h])
        cal = calibration_scores[fold_of[i]]
        margins[:, i] = np.stack([conformal_quantile(cal[k], 1 - alpha[k]) for k in range(k_count)])
        missed[:, i] = scores[:, i] > margins[:, i]
    return margins


# The bounds of a set of forecasts: the model's and the naive forecast's

@dataclass
class Intervals:
    """Prediction intervals of the model and of the naive baseline, (K, B, H, T) each, for the
    coverages `coverage` (K,); `quantiles` (B, H, T, Q) at `levels` when the model has a quantile head.

    `calibrated` (B,): for each window, how many windows share its calibration over that
    calibration's effective size plus 2 (B_g / (n_g / H + 2): n_g calibration windows overlapping
    by H steps), so that `calibration_variance` adds up what each calibration's sampling error
    does to a coverage; None: not known (the margins are then taken as exact).
    """

    coverage: tuple[float, ...]
    lower: np.ndarray
    upper: np.ndarray
    naive_lower: np.ndarray
    naive_upper: np.ndarray
    quantiles: np.ndarray | None = None
    levels: tuple[float, ...] = ()
    calibrated: np.ndarray | None = None

    def take(self, keep) -> Intervals:
        """The intervals of the windows at `keep` (a boolean mask or indices over B; a subset that
        keeps each calibration's windows whole, as a series' is, keeps `calibration_variance` true)."""
        return Intervals(self.coverage, self.lower[:, keep], self.upper[:, keep], self.naive_lower[:, keep],
                         self.naive_upper[:, keep], None if self.quantiles is None else self.quantiles[keep],
                         self.levels, None if self.calibrated is None else self.calibrated[keep])

    def calibration_variance(self, coverage: float) -> float:
        """What the calibrations' own sampling error adds to the variance of the share of outcomes
        covered at `coverage`: c(1 - c) sum_g (B_g / B)^2 / (n_g / H + 2); margins from a finite
        calibration cover a little more or less than c, and a long test span would call that a shortfall."""
        if self.calibrated is None or not len(self.calibrated):
            return 0.0
        return coverage * (1 - coverage) * float(np.sum(self.calibrated)) / len(self.calibrated) ** 2

    @staticmethod
    def weights(groups: np.ndarray, calibration_windows, horizon: int) -> np.ndarray:
        """`calibrated` for windows whose margins came from calibration `groups` (B,), made of
        `calibration_windows[g]` windows each (overlapping by `horizon` steps)."""
        return (np.bincount(groups) / (np.asarray(calibration_windows) / horizon + 2))[groups]

    @staticmethod
    def concatenate(parts: list[Intervals]) -> Intervals:
        """Several sets of windows' intervals as one (windows stacked in order)."""
        cat = lambda name, axis: np.concatenate([getattr(p, name) for p in parts], axis=axis)  # noqa: E731
        first = parts[0]
        return Intervals(first.coverage, cat("lower", 1), cat("upper", 1), cat("naive_lower", 1),
                         cat("naive_upper", 1), cat("quantiles", 0) if first.quantiles is not None else None,
                         first.levels, cat("calibrated", 0) if all(p.calibrated is not None for p in parts) else None)

    def as_quantiles(self, point: np.ndarray, lower: np.ndarray, upper: np.ndarray):
        """The intervals' bounds and the point forecast as quantiles: (B, H, T, 2K + 1) and levels."""
        levels = [0.5] + [(1 - c) / 2 for c in self.coverage] + [(1 + c) / 2 for c in self.coverage]
        values = np.concatenate([point[None], lower, upper])  # (2K + 1, B, H, T)
        return np.moveaxis(values, 0, -1), np.asarray(levels)


def label(coverage: float) -> str:
    return f"{100 * coverage:g}%"
