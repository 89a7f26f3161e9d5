"""Column scaling fitted on the training span, and target transforms with an exact inverse.

Order on the way in: target transform (log, log returns) -> standardization of every column.
On the way out: inverse standardization of the target columns -> inverse transform, which for log
returns needs the last observed value before the forecast (the anchor).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from forecast.errors import ForecastError


class Scaler:
    """Per-column standardization; a constant column gets std 1 so nothing divides by zero."""

    def __init__(self, mean: np.ndarray, std: np.ndarray):
        self.mean = np.asarray(mean, dtype=np.float64)  # (C,)
        self.std = np.asarray(std, dtype=np.float64)  # (C,)

    @classmethod
    def fit(cls, values: np.ndarray, kind: str = "standard") -> Scaler:
        """Fit on `values` (N, C): pass the training rows only."""
        n_cols = values.shape[1]
        if kind == "none":
            return cls(np.zeros(n_cols), np.ones(n_cols))
        mean, std = values.mean(axis=0), values.std(axis=0)
        std = np.where(std > 1e-12 * np.maximum(np.abs(mean), 1.0), std, 1.0)
        return cls(mean, std)

    def transform(self, values: np.ndarray) -> np.ndarray:
        return (values - self.mean) / self.std

    def inverse(self, values: np.ndarray, n_cols: int | None = None) -> np.ndarray:
        """Undo scaling for the first `n_cols` columns (the targets), broadcasting over leading dims."""
        n = values.shape[-1] if n_cols is None else n_cols
        return values * self.std[:n] + self.mean[:n]

    def to_dict(self) -> dict:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> Scaler:
        return cls(d["mean"], d["std"])


def apply_transform(kind: str, frame: pd.DataFrame, targets) -> pd.DataFrame:
    """Transform the target columns; `log_return` drops the first row (it has no previous value)."""
    if kind == "none":
        return frame
    values = frame[list(targets)]
    if (values <= 0).to_numpy().any():
        col = values.columns[(values <= 0).any().to_numpy().argmax()]
        first = values.index[(values[col] <= 0).to_numpy().argmax()]
        raise ForecastError(f"transform {kind!r} needs positive values, but {col!r} is "
                            f"{values[col][first]} at {first}; use --transform none")
    out = frame.copy()
    out[list(targets)] = np.log(values)
    if kind == "log_return":
        out[list(targets)] = out[list(targets)].diff()
        out = out.iloc[1:]
    return out


def invert_transform(kind: str, values: np.ndarray, anchor: np.ndarray) -> np.ndarray:
    """Map forecasts back to original units.

    Parameters
    ----------
    values : (B, H, T) forecasts in transformed units (already unscaled).
    anchor : (B, T) last observed original value before each forecast; used by `log_return`.
    """
    if kind == "none":
        return values
    if kind == "log":
        return np.exp(values)
    if kind == "log_return":
        return anchor[:, None, :] * np.exp(np.cumsum(values, axis=1))
    raise ForecastError(f"unknown transform {kind!r}")
