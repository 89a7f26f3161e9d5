"""Tuning study definitions: data source, fixed settings, search space, trials, sampler, pruner.

A study is one YAML file in `studies/` (see `studies/aapl_sample.yaml`) or the same fields given as
`forecast tune` flags; flags win. `suggest` is the one function that holds the search space.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from forecast.config import DataConfig, ModelConfig, TrainConfig, check_compatible
from forecast.errors import ForecastError

SAMPLERS = ("tpe", "random")
PRUNERS = ("median", "hyperband", "none")
# Searchable parameter -> kind: int/float ranges are [low, high]; choices are lists.
SPACE = {"hidden_size": "int_log", "seq_len": "int", "cell": "choice", "num_layers": "int",
         "dropout": "float", "learning_rate": "float_log", "batch_size": "choice"}
DEFAULT_SPACE = {"hidden_size": [8, 128], "seq_len": [10, 120]}
SOURCE_KEYS = ("ticker", "sample", "csv", "parquet", "date_col", "target", "features", "start",
               "end", "interval", "offline")


@dataclass
class StudySpec:
    """Everything a study needs; `fixed` holds DataConfig/ModelConfig/TrainConfig overrides."""

    study_name: str = "forecast"
    source: dict = field(default_factory=dict)
    fixed: dict = field(default_factory=lambda: {"data": {}, "model": {}, "train": {}})
    search: dict = field(default_factory=lambda: dict(DEFAULT_SPACE))
    n_trials: int = 20
    sampler: str = "tpe"
    pruner: str = "median"
    storage: str | None = None
    seed: int = 42

    def __post_init__(self):
        if self.sampler not in SAMPLERS:
            raise ForecastError(f"unknown sampler {self.sampler!r}; choose one of: {', '.join(SAMPLERS)}")
        if self.pruner not in PRUNERS:
            raise ForecastError(f"unknown pruner {self.pruner!r}; choose one of: {', '.join(PRUNERS)}")
        if self.n_trials < 1:
            raise ForecastError(f"n_trials must be positive, got {self.n_trials}")
        unknown = set(self.source) - set(SOURCE_KEYS)
        if unknown:
            raise ForecastError(f"unknown source key(s) {', '.join(sorted(unknown))}; "
                                f"use: {', '.join(SOURCE_KEYS)}")
        self.search = {**DEFAULT_SPACE, **self.search}  # hidden_size and seq_len are always searched
        for name, values in self.search.items():
            _check_range(name, values)
        self.fixed = {k: dict(self.fixed.get(k) or {}) for k in ("data", "model", "train")}
        self.configs({}, check=False)  # fixed settings must be valid on their own

    def configs(self, params: dict[str, Any], check: bool = True
                ) -> tuple[DataConfig, ModelConfig, TrainConfig]:
        """Fixed settings with a trial's `params` on top; `check` also checks them together."""
        data = DataConfig.from_dict({"targets": self.source.get("target") or ["Close"],
                                     "features": self.source.get("features") or [],
                                     **self.fixed["data"]})
        model = ModelConfig.from_dict(self.fixed["model"])
        train = TrainConfig.from_dict({"max_epochs": 15, "patience": 3, "seed": self.seed,
                                       **self.fixed["train"]})
        pick = lambda cfg: {k: v for k, v in params.items() if k in {f.name for f in fields(cfg)}}  # noqa: E731
        data, model, train = (replace(cfg, **pick(cfg)) for cfg in (data, model, train))
        if check:
            check_compatible(data, model)
        return data, model, train


def _check_range(name: str, values) -> None:
    if name not in SPACE:
        raise ForecastError(f"cannot search {name!r}; searchable: {', '.join(SPACE)}")
    if not isinstance(values, (list, tuple)) or not values:
        raise ForecastError(f"search {name}: give a list, e.g. [low, high] or choices")
    if SPACE[name] != "choice":
        if len(values) != 2 or not all(isinstance(v, (int, float)) for v in values):
            raise ForecastError(f"search {name}: give [low, high], got {values}")
        low, high = values
        smallest = 0 if name == "dropout" else (1 if SPACE[name].startswith("int") else 1e-12)
        if not smallest <= low <= high:
            raise ForecastError(f"search {name}: need {smallest} <= low <= high, got {values}")


def suggest(trial, search: dict, seq_len_step: int = 1) -> dict[str, Any]:
    """Draw one trial's parameters from the search space; `seq_len` moves in steps of
    `seq_len_step` (the segment length, which it must be a multiple of)."""
    params = {}
    for name, values in search.items():
        kind = SPACE[name]
        if kind == "choice":
            params[name] = trial.suggest_categorical(name, list(values))
        elif name == "seq_len":
            low = -(-int(values[0]) // seq_len_step) * seq_len_step  # round up to a multiple
            high = max(low, int(values[1]) // seq_len_step * seq_len_step)
            params[name] = trial.suggest_int(name, low, high, step=seq_len_step)
        elif kind.startswith("int"):
            params[name] = trial.suggest_int(name, int(values[0]), int(values[1]), log=kind == "int_log")
        else:
            params[name] = trial.suggest_float(name, float(values[0]), float(values[1]),
                                               log=kind == "float_log")
    return params


def load_study_file(path: str | Path) -> StudySpec:
    """Read a YAML study definition."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ForecastError(f"study file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ForecastError(f"{path}: not valid YAML ({e})") from None
    if not isinstance(raw, dict):
        raise ForecastError(f"{path}: expected a mapping of study settings")
    known = {f.name for f in fields(StudySpec)}
    unknown = set(raw) - known
    if unknown:
        raise ForecastError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}; "
                            f"use: {', '.join(sorted(known))}")
    raw.setdefault("study_name", path.stem)
    try:
        return StudySpec(**raw)
    except TypeError as e:
        raise ForecastError(f"{path}: {e}") from None


def parse_range(text: str | None, name: str):
    """CLI text to a search entry: '8,128' -> [8, 128]; 'lstm,gru' -> ['lstm', 'gru']."""
    if text is None:
        return None
    parts = [p.strip() for p in text.split(",") if p.strip()]
    out = []
    for p in parts:
        try:
            out.append(int(p))
        except ValueError:
            try:
                out.append(float(p))
            except ValueError:
                out.append(p)
    _check_range(name, out)
    return out
