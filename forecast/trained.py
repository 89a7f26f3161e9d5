"""The trained model: network, settings, fitted preprocessing, history tail and calendar, in one object.

`fit` produces one, `TrainedModel.load` (or `load_model`) returns the same type, and it predicts,
saves and plots itself. The file is safetensors: the network's weights and the history tail as
tensors, and in its header JSON with everything needed to rebuild and use the model (configs,
preprocessing statistics, columns, frequency or trading calendar, library versions, seed, the test
metrics). Loading never unpickles anything and needs no training data.
"""
from __future__ import annotations

import json
import platform
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from forecast.calendar import future_dates
from forecast.config import DataConfig, ModelConfig, SourceConfig, TrainConfig
from forecast.errors import ForecastError
from forecast.files import jsonable, write_atomically
from forecast.intervals import Calibration, local_scale
from forecast.model import RecurrentNet, build_net
from forecast.preprocess import Preprocessor
from forecast.sources import validate_frame

FORMAT, VERSION = "forecast-model", 3  # 3: quantile heads and conformal calibration


def predict_scaled(net: torch.nn.Module, inputs, batch_size: int = 1024) -> np.ndarray:
    """Run `net` over windows -> (B, H, T) outputs in encoded units.

    `inputs` is a (B, L, C) tensor or a `WindowDataset` (batches gathered straight from its views).
    """
    device = next(net.parameters()).device
    net.eval()
    outputs = []
    with torch.inference_mode():
        for idx in torch.arange(len(inputs)).split(batch_size):
            x = inputs[idx]
            x = x[0] if isinstance(x, tuple) else x  # a dataset gives (inputs, targets)
            outputs.append(net(x.to(device)).float())
    return torch.cat(outputs).cpu().numpy()


@dataclass
class TrainedModel:
    """A forecaster ready to use: `predict()` the next `horizon` steps, `save()`, `plot()`.

    history : the last rows of the data it was trained on, enough for one forecast.
    frequency : a pandas offset alias, or an exchange calendar name ("XNYS") for trading days.
    info : what is known about how it was made: rows trained on, epochs, test metrics, versions.
    calibration : conformal margins from the validation span, for prediction intervals (None for
        model files written before intervals existed).
    """

    net: RecurrentNet
    source: SourceConfig
    data: DataConfig
    model: ModelConfig
    train: TrainConfig
    preprocessor: Preprocessor
    history: pd.DataFrame
    frequency: str
    info: dict = field(default_factory=dict)
    calibration: Calibration | None = None

    @property
    def context_rows(self) -> int:
        """History rows one forecast needs: the input window plus what the transform consumes."""
        return self.data.seq_len + (1 if self.data.transform == "log_return" else 0)

    def predict(self, history: pd.DataFrame | pd.Series | None = None) -> pd.DataFrame:
        """The next `horizon` values of every target after the end of `history`.

        Parameters
        ----------
        history : recent data holding the model's input columns; default: the history saved with it.

        Returns
        -------
        DataFrame (horizon rows) in original units, indexed by the future timestamps (trading days
        for daily stock prices): one column per target (the median for a quantile model), then
        `TARGET_qLEVEL` for each trained quantile and `TARGET_lowerPCT` / `TARGET_upperPCT` for
        each calibrated interval.
        """
        cfg = self.data
        history = self.history if history is None else history
        history, _ = validate_frame(history, list(cfg.inputs), max_gap=self.source.max_gap,
                                    source="history")
        if len(history) < self.context_rows:
            raise ForecastError(f"history has {len(history)} rows; this model needs the last "
                                f"{self.context_rows}")
        history = history.iloc[-self.context_rows:]
        _, values = self.preprocessor.encode(history)
        x = torch.from_numpy(values.astype(np.float32))[None]  # (1, L, C)
        anchor = history[list(cfg.targets)].to_numpy(dtype=np.float64)[-1:]  # (1, T)
        decoded = self.preprocessor.decode(predict_scaled(self.net, x), anchor)  # (1, H, T[, Q])
        levels = self.model.quantiles
        point = decoded[..., levels.index(0.5)] if levels else decoded
        columns = {name: point[0, :, t] for t, name in enumerate(cfg.targets)}
        for t, name in enumerate(cfg.targets):
            for q, level in enumerate(levels):
                columns[f"{name}_q{level:g}"] = decoded[0, :, t, q]
            if self.calibration is not None:
                scale = local_scale(history[list(cfg.targets)].to_numpy(np.float64), [len(history)],
                                    cfg.seq_len)
                lower, upper = self.calibration.bounds(point, decoded if levels else None, scale)
                for k, c in enumerate(self.calibration.coverage):
                    columns[f"{name}_lower{100 * c:g}"] = lower[k, 0, :, t]
                    columns[f"{name}_upper{100 * c:g}"] = upper[k, 0, :, t]
        index = future_dates(history.index[-1], cfg.horizon, self.frequency)
        return pd.DataFrame(columns, index=index)

    def plot(self, history: pd.DataFrame | None = None, target: int = 0):
        """A matplotlib Figure: the recent history and the forecast that follows it."""
        from forecast.plot import plot_forecast

        history = self.history if history is None else history
        return plot_forecast(history, self.predict(history), self.data.targets[target])

    def metadata(self) -> dict:
        import lightning

        from forecast import __version__

        return jsonable({
            "format": FORMAT, "version": VERSION, "created": datetime.now(timezone.utc).isoformat(),
            "source": self.source.to_dict(), "data": self.data.to_dict(), "model": self.model.to_dict(),
            "train": self.train.to_dict(), "preprocessor": self.preprocessor.to_dict(),
            "history_index": [ts.isoformat() for ts in self.history.index],
            "frequency": self.frequency, "last_timestamp": self.history.index[-1].isoformat(),
            "seed": self.train.seed, "info": self.info,
            "calibration": self.calibration.to_dict() if self.calibration else None,
            "versions": {"forecast": __version__, "torch": torch.__version__,
                         "lightning": lightning.__version__, "python": platform.python_version()},
        })

    def save(self, path: str | Path) -> Path:
        """Write the model file (atomically: an interrupted save leaves no half-written file)."""
        from safetensors.torch import save_file

        tensors = {f"net.{k}": v.detach().cpu().contiguous() for k, v in self.net.state_dict().items()}
        tensors["history"] = torch.tensor(np.ascontiguousarray(self.history.to_numpy(np.float64)))
        meta = json.dumps(self.metadata())
        return write_atomically(Path(path), lambda tmp: save_file(tensors, str(tmp),
                                                                  metadata={"forecast": meta}))

    @classmethod
    def load(cls, path: str | Path) -> TrainedModel:
        """Rebuild a model from its file; a missing, corrupt or foreign file raises `ForecastError`."""
        from safetensors import safe_open

        path = Path(path)
        if path.is_dir():
            raise ForecastError(f"{path} is a folder; give the model file (model.safetensors) in it")
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
        except (KeyError, json.JSONDecodeError, TypeError, AttributeError):
            raise ForecastError(f"{path} is a safetensors file but not a forecast model") from None
        if not isinstance(meta.get("version"), int) or meta["version"] > VERSION:
            raise ForecastError(f"{path} was written by a newer forecast (format {meta.get('version')}); "
                                "upgrade forecast to read it")
        try:
            if meta["version"] == 1:
                meta = _upgrade_from_version_1(meta)
            return cls._from_parts(meta, tensors)
        except ForecastError as e:
            raise ForecastError(f"{path}: {e}") from None
        except (KeyError, TypeError, ValueError, RuntimeError) as e:
            raise ForecastError(f"{path}: the model file is damaged or incomplete "
                                f"({type(e).__name__}: {e})") from None

    @classmethod
    def _from_parts(cls, meta: dict, tensors: dict) -> TrainedModel:
        data, model = DataConfig.from_dict(meta["data"]), ModelConfig.from_dict(meta["model"])
        preprocessor = Preprocessor.from_dict(meta["preprocessor"])
        if preprocessor.columns != list(data.inputs) or preprocessor.transform != data.transform:
            raise ForecastError("preprocessing columns or transform do not match the data settings")
        net = build_net(data, model)
        state = {k.removeprefix("net."): v for k, v in tensors.items() if k.startswith("net.")}
        try:
            net.load_state_dict(state)
        except RuntimeError as e:
            raise ForecastError(f"weights do not match the saved configuration ({e})") from None
        net.eval()
        history = tensors["history"].numpy()
        if history.ndim != 2 or history.shape != (len(meta["history_index"]), len(data.inputs)):
            raise ForecastError(f"the saved history has shape {history.shape}, expected "
                                f"({len(meta['history_index'])}, {len(data.inputs)})")
        history = pd.DataFrame(history, columns=list(data.inputs),
                               index=pd.DatetimeIndex(pd.to_datetime(meta["history_index"]), name="Date"))
        calibration = meta.get("calibration")
        return cls(net, SourceConfig.from_dict(meta["source"]), data, model,
                   TrainConfig.from_dict(meta["train"]), preprocessor, history, meta["frequency"],
                   meta.get("info") or {}, Calibration.from_dict(calibration) if calibration else None)


def _upgrade_from_version_1(meta: dict) -> dict:
    """Model files of forecast 0.1: a bare scaler and `max_gap` inside the data settings. Their
    networks work unchanged, except with log returns, whose scaling and instance normalisation
    changed meaning (a zero output now is a zero return)."""
    data = {k: v for k, v in meta["data"].items() if k not in ("max_gap", "train_through_val")}
    if data.get("transform") == "log_return":
        raise ForecastError("a forecast 0.1 model with --transform log_return cannot be used by this "
                            "version (its scaling changed); fit it again")
    inputs = list(data.get("targets", [])) + [f for f in data.get("features", [])
                                              if f not in data.get("targets", [])]
    return {**meta, "data": data, "source": {"max_gap": meta["data"].get("max_gap", 5)},
            "preprocessor": {"columns": inputs, "n_targets": meta["n_targets"],
                             "transform": data.get("transform", "none"), **meta["scaler"]},
            "info": {"test_metrics": meta.get("metrics"), "epochs": meta.get("epochs"),
                     "source": meta.get("source"), "trained_on": "the training span (forecast 0.1)"}}


def load_model(path: str | Path) -> TrainedModel:
    """`TrainedModel.load(path)`."""
    return TrainedModel.load(path)
