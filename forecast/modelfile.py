"""The model file: safetensors weights plus JSON metadata that explain and rebuild the model.

One `.safetensors` file holds the network's weights, the tail of the training history (so `predict`
works without the data) and, in its header, JSON with the configs, scaler statistics, columns,
frequency or trading calendar, last timestamp, library versions, seed and test metrics. Loading it
never unpickles anything.
"""
from __future__ import annotations

import json
import platform
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from forecast.config import DataConfig, ModelConfig, TrainConfig
from forecast.errors import ForecastError
from forecast.model import RecurrentNet
from forecast.scaling import Scaler

FORMAT, VERSION = "forecast-model", 1


@dataclass
class LoadedModel:
    """A model rebuilt from its file: enough to forecast, with no training data."""

    net: RecurrentNet
    data: DataConfig
    model: ModelConfig
    train: TrainConfig
    scaler: Scaler
    history: pd.DataFrame
    frequency: str
    meta: dict


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return value


def save_model(result, path: str | Path) -> Path:
    """Write a fitted model (`FitResult`) to `path` (a `.safetensors` file)."""
    import lightning
    from safetensors.torch import save_file

    from forecast import __version__

    path = Path(path)
    history = result.history
    meta = {
        "format": FORMAT, "version": VERSION, "created": datetime.now(timezone.utc).isoformat(),
        "data": result.data.to_dict(), "model": result.model.to_dict(), "train": result.train.to_dict(),
        "n_inputs": len(result.data.inputs), "n_targets": len(result.data.targets),
        "scaler": result.scaler.to_dict(), "columns": list(history.columns),
        "history_index": [ts.isoformat() for ts in history.index],
        "frequency": result.frequency, "last_timestamp": history.index[-1].isoformat(),
        "source": result.report.source, "seed": result.train.seed,
        "metrics": _jsonable(result.metrics), "epochs": result.epochs,
        "versions": {"forecast": __version__, "torch": torch.__version__,
                     "lightning": lightning.__version__, "python": platform.python_version()},
    }
    tensors = {f"net.{k}": v.detach().cpu().contiguous() for k, v in result.net.state_dict().items()}
    tensors["history"] = torch.from_numpy(np.ascontiguousarray(history.to_numpy(dtype=np.float64)).copy())
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata={"forecast": json.dumps(meta)})
    return path


def load_model(path: str | Path) -> LoadedModel:
    """Rebuild a model from its file; a missing, corrupt or foreign file raises `ForecastError`."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise ForecastError(f"model file not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # safetensors raises several types for damaged files
        raise ForecastError(f"{path} is not a readable model file ({type(e).__name__}: {e})") from None
    try:
        meta = json.loads(header["forecast"])
        if meta.get("format") != FORMAT:
            raise KeyError("format")
    except (KeyError, json.JSONDecodeError, TypeError):
        raise ForecastError(f"{path} is a safetensors file but not a forecast model") from None
    if meta["version"] > VERSION:
        raise ForecastError(f"{path} was written by a newer forecast (format {meta['version']}); upgrade")
    data, model = DataConfig.from_dict(meta["data"]), ModelConfig.from_dict(meta["model"])
    net = RecurrentNet(model, meta["n_inputs"], meta["n_targets"], data.seq_len, data.horizon)
    state = {k.removeprefix("net."): v for k, v in tensors.items() if k.startswith("net.")}
    try:
        net.load_state_dict(state)
    except RuntimeError as e:
        raise ForecastError(f"{path}: weights do not match the saved configuration ({e})") from None
    net.eval()
    history = pd.DataFrame(tensors["history"].numpy(), columns=meta["columns"],
                           index=pd.DatetimeIndex(pd.to_datetime(meta["history_index"]), name="Date"))
    return LoadedModel(net, data, model, TrainConfig.from_dict(meta["train"]),
                       Scaler.from_dict(meta["scaler"]), history, meta["frequency"], meta)
