"""Forecast a series a panel's model never trained on (a store that opened after training) from its own
history: the network is shared, so all a new series needs is its own preprocessing, fitted on the
history given, and, with static columns, its static values encoded as in training.

What a trained series has and a new one cannot: a learned vector (`--series-embedding`) and a cycle
fitted on its training windows (`--cycle`), so models with either refuse; and intervals calibrated on
its own validation windows. A new series' intervals take the trained series' median margins
(in units of a window's local scale, see `forecast.intervals`): a reasonable width, without the
coverage guarantee of a series that was validated.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from forecast.errors import ForecastError
from forecast.intervals import Calibration
from forecast.preprocess import Preprocessor
from forecast.sources import validate_frame
from forecast.static import apply_static, static_values


def pooled_calibration(calibrations: list[Calibration | None]) -> Calibration | None:
    """The median margin of each coverage, step and target over the trained series' calibrations."""
    known = [c for c in calibrations if c is not None]
    if not known:
        return None
    margin = np.median(np.stack([c.margin for c in known]), axis=0)
    return Calibration(known[0].coverage, known[0].pairs, margin, min(c.n for c in known))


def new_member(model, name: str, frame: pd.DataFrame):
    """A `Member` for series `name`, not among `model.members`, from its history `frame` (the model's
    input columns, and its static columns when the model reads some)."""
    from forecast.trained import Member

    cfg = model.data
    why = ("learned a vector for each series it trained on (--series-embedding)" if model.model.series_embedding
           else "fitted a cycle to each series' training rows (--cycle)" if cfg.cycle else None)
    if why:
        raise ForecastError(f"series {name!r} is not in this model, which {why}: a new series has none; "
                            "forecast it with a model fitted without it, or one fitted with the series")
    values = static_values(frame, cfg.static, f"series {name}") if cfg.static else {}
    frame, _ = validate_frame(frame, list(cfg.inputs), max_gap=model.source.max_gap, source=f"series {name}")
    if len(frame) < model.context_rows:
        raise ForecastError(f"series {name}: {len(frame)} rows of history; this model needs at least "
                            f"{model.context_rows}")
    static = apply_static(model.static_encoding, values, f"series {name}") if cfg.static else None
    preprocessor = Preprocessor.fit(frame, cfg.targets, cfg.transform, cfg.scaler, None, cfg.time_features,
                                    0, len(cfg.known), cfg.horizon, static)
    calibration = pooled_calibration([m.calibration for m in model.members.values()])
    return Member(preprocessor, frame.iloc[-model.context_rows:], calibration, 0)
