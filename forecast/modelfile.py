"""The model file: safetensors holding the network's weights and each series' history tail, with a JSON
header (key "forecast") that says everything else (see `forecast.trained`). Here: writing one, finding
and reading a file, refusing what is not one, and bringing format 4 (forecast 0.2) up to the current
one. (Building the model from what was read is `TrainedModel.load`'s.)
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from forecast import __version__
from forecast.errors import ForecastError
from forecast.files import jsonable, write_atomically

FORMAT, VERSION = "forecast-model", 5  # 3: quantiles and calibration; 4: several series; 5: net, normalize

# The model settings format 4 had and format 5 dropped (they moved to benchmarks/heads.py), with the
# value that meant "not used"
DROPPED = {"decoder": "linear", "linear_skip": False, "skip_period": 0, "fit_skip": False, "skip_ridge": None,
           "blend_linear": False, "linear_weight": None, "ensemble": 1}


def metadata(model) -> dict:
    """The header of a `forecast.trained.TrainedModel`'s file: everything but the tensors, in the
    current format."""
    import platform
    from datetime import datetime, timezone

    import lightning
    import torch

    members = [{"name": name, "preprocessor": m.preprocessor.to_dict(),
                "history_index": [ts.isoformat() for ts in m.history.index],
                "calibration": m.calibration.to_dict() if m.calibration else None}
               for name, m in model.members.items()]
    return jsonable({
        "format": FORMAT, "version": VERSION, "created": datetime.now(timezone.utc).isoformat(),
        "source": model.source.to_dict(), "data": model.data.to_dict(), "model": model.model.to_dict(),
        "train": model.train.to_dict(), "members": members, "frequency": model.frequency,
        "last_timestamp": max(m.history.index[-1] for m in model.members.values()).isoformat(),
        "seed": model.train.seed, "info": model.info, "static_encoding": model.static_encoding,
        "net": model.net_spec,
        "versions": {"forecast": __version__, "torch": torch.__version__,
                     "lightning": lightning.__version__, "python": platform.python_version()},
    })


def write_model_file(model, path: str | Path) -> Path:
    """A `TrainedModel`'s file: the network's weights and each series' history tail as tensors, the
    header as JSON; atomically."""
    import torch
    from safetensors.torch import save_file

    tensors = {f"net.{k}": v.detach().cpu().contiguous() for k, v in model.net.state_dict().items()}
    for i, m in enumerate(model.members.values()):
        tensors[f"history.{i}"] = torch.tensor(np.ascontiguousarray(m.history.to_numpy(np.float64)))
    header = json.dumps(metadata(model))
    path = Path(path) / "model.safetensors" if Path(path).is_dir() else Path(path)  # a folder, as load reads
    return write_atomically(path, lambda tmp: save_file(tensors, str(tmp), metadata={"forecast": header}))


def read_model_file(path: str | Path) -> tuple[Path, dict, dict]:
    """(the file's path, its header in the current format, its tensors by name) of a model file, or
    of the run folder `forecast fit` wrote; a missing, corrupt or foreign file raises `ForecastError`."""
    from safetensors import safe_open

    path = Path(path)
    if path.is_dir():  # the run folder `fit` wrote: its model file
        if not (path / "model.safetensors").is_file():
            raise ForecastError(f"{path} is a folder without a model.safetensors; give a model file "
                                "or the folder `forecast fit` wrote")
        path = path / "model.safetensors"
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
        if meta["version"] < 4:  # forecast 0.1 and early 0.2: one series at the top level
            raise ForecastError(f"written in model-file format {meta['version']} (forecast 0.1), which this "
                                "version no longer reads; fit the model again, or read it with forecast 0.2")
        if meta["version"] < 5:
            meta = _ten_settings(meta)
    except ForecastError as e:
        raise ForecastError(f"{path}: {e}") from None
    except (KeyError, TypeError, ValueError) as e:
        raise ForecastError(f"{path}: the model file is damaged or incomplete ({type(e).__name__}: {e})") from None
    return path, meta, tensors


def _ten_settings(meta: dict) -> dict:
    """Format 4 had two normalisation switches and eight experimental ones, which moved to
    benchmarks/heads.py: a model that used one cannot be rebuilt by the product."""
    model = dict(meta["model"])
    used = [k for k, unused in DROPPED.items() if model.pop(k, unused) != unused]
    if used:
        raise ForecastError(f"this model uses {', '.join(used)}, which left the product in forecast 0.3 "
                            "(see benchmarks/heads.py); fit it again, or read it with forecast 0.2")
    if "instance_norm" in model or "instance_scale" in model:
        norm, scale = model.pop("instance_norm", True), model.pop("instance_scale", False)
        if scale and not norm:
            raise ForecastError("this model scales windows without shifting them (instance_scale without "
                                "instance_norm), which forecast 0.3 no longer offers; fit it again")
        model["normalize"] = "last+scale" if scale else "last" if norm else "none"
    return {**meta, "model": model}


def check_contents(meta: dict, tensors: dict, data, model) -> None:
    """Refuse a damaged or tampered file before anything is built from it: no series, numbers that are
    not finite, interval margins of the wrong shape or that would invert an interval."""
    members = meta.get("members")
    if not isinstance(members, list) or not members or not all(isinstance(m, dict) for m in members):
        raise ForecastError("it holds no series (its 'members' are empty or not a list)")
    for name, tensor in tensors.items():
        if tensor.is_floating_point() and not bool(tensor.isfinite().all()):
            raise ForecastError(f"tensor {name!r} holds values that are not finite numbers")
    for i, m in enumerate(members):
        if f"history.{i}" not in tensors or "preprocessor" not in m or "history_index" not in m:
            raise ForecastError(f"series {i} lacks its history or preprocessing")
        if m.get("calibration"):
            _check_calibration(m["calibration"], m.get("name", i), data, model)


def _check_calibration(calibration: dict, name, data, model) -> None:
    coverage = [float(c) for c in calibration.get("coverage", [])]
    if coverage != list(model.coverage):
        raise ForecastError(f"series {name!r}: intervals for {coverage}, settings for {list(model.coverage)}")
    margin = np.array([[[np.inf if v is None else v for v in row] for row in step]
                       for step in calibration.get("margin", [])], dtype=np.float64)
    expected = (len(coverage), data.horizon, len(data.targets))
    if margin.shape != expected or np.isnan(margin).any():
        raise ForecastError(f"series {name!r}: interval margins of shape {margin.shape}, expected {expected}")
    quantiles = len(model.quantiles)  # the median is among them
    for k, pair in enumerate(calibration.get("pairs", [])):
        if pair is None and (margin[k] < 0).any():
            raise ForecastError(f"series {name!r}: a negative margin would invert the {coverage[k]:.0%} interval")
        if pair is not None and not (0 <= pair[0] < pair[1] < max(quantiles, 1)):
            raise ForecastError(f"series {name!r}: the {coverage[k]:.0%} interval names quantiles {pair}")
