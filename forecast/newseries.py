"""Forecast a series a panel's model never trained on (a store that opened after training) from its own
history: the network is shared, so all a new series needs is its own preprocessing (scaling and, with
`--cycle`, its cycle), fitted on the history given, and, with static columns, its static values
encoded as in training.

What a trained series has and a new one cannot: a learned vector (`model.series_embedding`), so such
models refuse; and intervals calibrated on its own validation windows. A new series' intervals take
the trained series' median margins (in units of a window's local scale, see `forecast.intervals`): a
reasonable width, without the coverage guarantee of a series that was validated.

A backtest can hold series out of training and forecast them this way at every origin
(`BacktestConfig.hold_out`, `forecast backtest --hold-out`): the helpers at the end build what
each fold needs.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from forecast.config import DataConfig, ModelConfig
from forecast.data import prepare
from forecast.errors import ForecastError
from forecast.intervals import Calibration, conformal_quantile
from forecast.preprocess import Preprocessor
from forecast.preprocess import apply_static, static_encoding, static_table, static_values


def refusal(data: DataConfig, model: ModelConfig) -> str | None:
    """Why a model of these settings cannot forecast a series it did not train on, or None."""
    return "learned a vector for each series it trained on (model.series_embedding)" if model.series_embedding else None


def new_preprocessor(cfg: DataConfig, history: pd.DataFrame, static=None) -> Preprocessor:
    """A new series' preprocessing, fitted on all of its `history` (its only rows before the forecast)."""
    return Preprocessor.fit(history, cfg.targets, cfg.transform, cfg.scaler, None, cfg.time_features, cfg.cycle,
                            len(cfg.known), cfg.horizon, static)


def pooled_calibration(calibrations: list[Calibration | None]) -> Calibration | None:
    """The median margin of each coverage, step and target over the trained series' calibrations."""
    known = [c for c in calibrations if c is not None]
    if not known:
        return None
    margin = np.median(np.stack([c.margin for c in known]), axis=0)
    return Calibration(known[0].coverage, known[0].pairs, margin, min(c.n for c in known))


def held_out(names: list[str], spec: str, seed: int) -> list[str]:
    """The series a backtest holds out of training (see `BacktestConfig.hold_out`): `spec` names
    them ("a,b"), or gives a share ("20%") or a count ("5") drawn at random with `seed`; in the
    panel's order."""
    if len(names) < 2:
        raise ForecastError("--hold-out holds series out of a panel's training; these data are one series")
    wanted = [w.strip() for w in spec.split(",") if w.strip()]
    if not all(w in names for w in wanted):
        number = spec.strip().removesuffix("%")
        if len(wanted) > 1 or not number.replace(".", "", 1).isdigit():
            missing = [w for w in wanted if w not in names]
            raise ForecastError(f"--hold-out: no series {', '.join(map(repr, missing))} in these data; "
                                f"give names among {_some(names)}, a share (20%) or a count (5)")
        share = spec.strip().endswith("%")
        count = max(1, round(len(names) * float(number) / 100)) if share else int(float(number))
        rng = np.random.default_rng(seed)
        wanted = rng.choice(np.array(names, dtype=object), min(count, len(names)), replace=False).tolist()
    if len(set(wanted)) >= len(names):
        raise ForecastError(f"--hold-out {spec} holds out every one of the {len(names)} series; "
                            "at least one must train the model")
    return [n for n in names if n in set(wanted)]


def _some(names: list[str], limit: int = 6) -> str:
    shown = ", ".join(map(repr, names[:limit]))
    return shown + (f" (and {len(names) - limit} more)" if len(names) > limit else "")


# What a backtest that holds series out of training (`BacktestConfig.hold_out`) needs at each fold

def check_static(trains: dict, held: dict, data: DataConfig) -> None:
    """Before any training: the series left to train can encode the static columns, and every
    held-out series' values are among theirs."""
    try:
        encoding = static_encoding(static_table(trains, data.static))
    except ForecastError as e:
        raise ForecastError(f"--hold-out leaves {len(trains)} series to train on: {e}") from None
    for name, frame in held.items():
        static_of(frame, encoding, data, name)


def static_of(frame: pd.DataFrame, encoding: dict, data: DataConfig, name: str):
    """A held-out series' encoded static values (see `forecast.preprocess.apply_static`)."""
    try:
        return apply_static(encoding, static_values(frame, data.static, f"series {name}"), f"held-out series {name}")
    except ForecastError as e:
        raise ForecastError(f"{e}; a held-out series' static values must be among the trained series': "
                            "hold out others with --hold-out NAMES") from None


def pooled_scores(scores: list[np.ndarray], model: ModelConfig) -> tuple[np.ndarray, np.ndarray] | None:
    """What a new series is calibrated with at a fold: the trained series' (K, n, H, T) validation
    scores pooled (where adaptive intervals start) and the median of their margins (split intervals,
    as `pooled_calibration`)."""
    if not scores:
        return None
    margins = [np.stack([conformal_quantile(s[k], c) for k, c in enumerate(model.coverage)]) for s in scores]
    return np.concatenate(scores, axis=1), np.median(np.stack(margins), axis=0)


def new_parts(frame: pd.DataFrame, lo, dates, last, prepared, name: str):
    """A held-out series at each origin of a fold, as `predict --new-series` would forecast it there:
    yields (the origin's first target date, the series' rows from `lo` to that forecast's last target,
    preprocessing fitted on the rows before that date), for each of `dates` with enough rows before it
    (`seq_len`). `last` is the fold's last target date."""
    cfg = prepared.cfg
    cut = frame.loc[(frame.index >= lo) & (frame.index <= last), list(cfg.inputs)]
    lost = 1 if cfg.transform == "log_return" else 0
    static = static_of(frame, prepared.static_encoding, cfg, name) if cfg.static else None
    for date, row in zip(dates, cut.index.get_indexer(dates)):  # -1: no row on that date
        if row < cfg.seq_len + lost or row + cfg.horizon > len(cut):
            continue
        try:
            fitted = new_preprocessor(cfg, cut.iloc[:row], static)
            part = prepare(cut.iloc[:row + cfg.horizon], cfg, "all", fitted)
        except ForecastError as e:
            raise ForecastError(f"held-out series {name}: {e}") from None
        yield date, replace(part, train_end=row - lost, val_end=row - lost, fit_end=row - lost)
