"""Score a trained network on one split: forecasts in original units beside the naive forecast."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from forecast.data import Prepared
from forecast.metrics import metrics, naive_forecast, skill
from forecast.trained import predict_scaled
from forecast.windows import stage_dataset


@dataclass
class Evaluation:
    """Forecasts for every window of one split, in original units, beside the naive forecast."""

    index: pd.DatetimeIndex  # (B,) date of each window's first target
    actual: np.ndarray  # (B, H, T)
    forecast: np.ndarray  # (B, H, T)
    naive: np.ndarray  # (B, H, T)
    anchor: np.ndarray  # (B, T) last observed value
    mase_scale: np.ndarray  # (T,) mean absolute one-step change over the training rows

    def table(self, axis=None) -> dict:
        """Metrics of the model and of the naive forecast, and the skill `1 - RMSE / RMSE_naive`."""
        model = metrics(self.actual, self.forecast, self.anchor, self.mase_scale, axis=axis)
        naive = metrics(self.actual, self.naive, self.anchor, self.mase_scale, axis=axis)
        out = {"model": model, "naive": naive}
        if axis is None:
            out["skill"] = skill(model["rmse"], naive["rmse"])
        return out


def evaluate(net: torch.nn.Module, prepared: Prepared, stage: str = "test") -> Evaluation:
    """Forecast every `stage` window and decode it with the prepared data's preprocessor."""
    dataset = stage_dataset(prepared, stage)
    starts = dataset.starts.numpy()
    forecast = prepared.to_original(predict_scaled(net, dataset), starts)
    anchor = prepared.anchors(starts)
    return Evaluation(prepared.index[starts], prepared.actuals(starts), forecast,
                      naive_forecast(anchor, prepared.cfg.horizon), anchor, prepared.mase_scale())
