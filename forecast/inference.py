"""Forecast the future from a fitted or saved model, optionally with fresher history."""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from forecast.calendar import future_dates
from forecast.errors import ForecastError
from forecast.scaling import apply_transform, invert_transform
from forecast.sources import validate_frame


def predict(model, history: pd.DataFrame | pd.Series | None = None) -> pd.DataFrame:
    """The next `horizon` values of every target after the end of `history`.

    Parameters
    ----------
    model : a `FitResult` from `fit` or a `LoadedModel` from `load_model`.
    history : recent data holding the model's input columns; default: the history saved with it.

    Returns
    -------
    DataFrame (horizon rows, one column per target) in original units, indexed by future
    timestamps (trading days for daily stock prices).
    """
    cfg = model.data
    scaler = model.scaler
    if history is None:
        history = model.history
    history, _ = validate_frame(history, list(cfg.inputs), max_gap=cfg.max_gap, source="history")
    need = cfg.seq_len + (1 if cfg.transform == "log_return" else 0)
    if len(history) < need:
        raise ForecastError(f"history has {len(history)} rows; this model needs the last {need}")
    history = history.iloc[-need:]
    values = apply_transform(cfg.transform, history, cfg.targets).to_numpy(dtype=np.float64)
    x = torch.from_numpy(scaler.transform(values).astype(np.float32))[None]  # (1, L, C)
    net = model.net.eval()
    with torch.inference_mode():
        scaled = net(x.to(next(net.parameters()).device)).float().cpu().numpy()  # (1, H, T)
    anchor = history[list(cfg.targets)].to_numpy(dtype=np.float64)[-1:]  # (1, T)
    forecast = invert_transform(cfg.transform, scaler.inverse(scaled.astype(np.float64),
                                                              len(cfg.targets)), anchor)[0]
    index = future_dates(history.index[-1], cfg.horizon, model.frequency)
    return pd.DataFrame(forecast, index=index, columns=list(cfg.targets))
