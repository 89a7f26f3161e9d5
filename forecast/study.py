"""Tuning study definitions: data source, settings, search space, trials, sampler, pruner.

A study is one YAML file in `studies/` (see `studies/aapl_sample.yaml`) with the keys of `StudySpec`:
`source`, `data`, `model` and `train` hold fields of the config dataclasses (anything not given keeps
the dataclass default), `search` the space. Flags override it with one rule: a flag replaces the one
field it names and nothing else (a source flag such as `--csv` replaces the file's ticker/sample/path,
which are one choice). `suggest` is the one function that holds the search space.
"""
from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from forecast.config import DataConfig, ModelConfig, SourceConfig, TrainConfig, check_compatible
from forecast.errors import ForecastError, meant

SAMPLERS = ("tpe", "random")
PRUNERS = ("median", "hyperband", "none")
# Searchable parameter -> kind: int/float ranges are [low, high]; choices are lists.
SPACE = {"hidden_size": "int_log", "seq_len": "int", "cell": "choice", "num_layers": "int",
         "dropout": "float", "learning_rate": "float_log", "batch_size": "choice",
         "weight_decay": "float", "normalize": "choice", "time_features": "choice", "cycle": "choice"}
DEFAULT_SPACE = {"hidden_size": [8, 128], "seq_len": [10, 120]}
CONFIGS = {"source": SourceConfig, "data": DataConfig, "model": ModelConfig, "train": TrainConfig}


@dataclass
class StudySpec:
    """Everything a study needs, checked on creation.

    `study_name` None derives a name from the source, settings and search space, so two unrelated
    runs never share a study by accident.
    """

    study_name: str | None = None
    source: SourceConfig = field(default_factory=SourceConfig)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    search: dict = field(default_factory=lambda: dict(DEFAULT_SPACE))
    n_trials: int = 20
    sampler: str = "tpe"
    pruner: str = "median"
    storage: str | None = None
    seed: int = 42
    heartbeat_grace: int = 60  # s without a heartbeat after which a running trial counts as failed

    def __post_init__(self):
        for name, cls in CONFIGS.items():
            value = getattr(self, name)
            if not isinstance(value, cls):
                setattr(self, name, cls.from_dict(value or {}))
        if self.sampler not in SAMPLERS:
            raise ForecastError(f"unknown sampler {self.sampler!r}; choose one of: {', '.join(SAMPLERS)}")
        if self.pruner not in PRUNERS:
            raise ForecastError(f"unknown pruner {self.pruner!r}; choose one of: {', '.join(PRUNERS)}")
        if isinstance(self.n_trials, bool) or not isinstance(self.n_trials, int) or self.n_trials < 1:
            raise ForecastError(f"n_trials must be a positive whole number, got {self.n_trials!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ForecastError(f"seed must be a whole number, got {self.seed!r}")
        if isinstance(self.heartbeat_grace, bool) or not isinstance(self.heartbeat_grace, int) \
                or self.heartbeat_grace < 2:
            raise ForecastError(f"heartbeat_grace must be 2 seconds or more, got {self.heartbeat_grace!r}")
        if self.train.devices not in ("auto", "1") or self.train.strategy != "auto":
            raise ForecastError("a study trains each trial on one device; run trials side by side with "
                                "--jobs N (or one worker per GPU) instead of train.devices / train.strategy")
        if not isinstance(self.search, dict):
            raise ForecastError("search must map parameter names to ranges or choices")
        self.search = {**DEFAULT_SPACE, **self.search}  # hidden_size and seq_len are always searched
        for name, values in self.search.items():
            if SPACE.get(name, "choice") != "choice":
                values = self.search[name] = _bounds(values)
            _check_range(name, values)
        if list(self.search["seq_len"]) == DEFAULT_SPACE["seq_len"]:
            self.search["seq_len"] = default_seq_len(self.data)
        self._named = self.study_name is not None  # given, not derived
        if self.study_name is None:
            self.study_name = f"{self.source.label.lower()}-{self.fingerprint()[:8]}"
        self._check_corners()

    def identity(self) -> dict:
        """What makes two runs the same study: data source, settings and search space (not how many
        CPU threads run it)."""
        train = {k: v for k, v in self.train.to_dict().items() if k != "threads"}
        return {"source": self.source.to_dict(), "data": self.data.to_dict(),
                "model": self.model.to_dict(), "train": train, "search": self.search}

    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(self.identity(), sort_keys=True).encode()).hexdigest()

    def configs(self, params: dict[str, Any]) -> tuple[DataConfig, ModelConfig, TrainConfig]:
        """The study's settings with a trial's `params` on top, checked together."""
        pick = lambda cfg: {k: v for k, v in params.items() if k in {f.name for f in fields(cfg)}}  # noqa: E731
        data, model, train = (cfg.override(**pick(cfg)) for cfg in (self.data, self.model, self.train))
        check_compatible(data, model)
        return data, model, train

    def _check_corners(self) -> None:
        """Fixed settings that can never work with the search space fail now, not in every trial."""
        step = self.model.segment_len
        low, high = self.search["seq_len"]
        if -(-int(low) // step) * step > high:
            raise ForecastError(f"search seq_len {[low, high]} holds no multiple of segment_len {step}")
        chosen = {name: values for name, values in self.search.items() if SPACE[name] == "choice"}
        for corner in (0, -1):  # the ends of every range, with every combination of the choices
            params = {name: values[corner] for name, values in self.search.items() if name not in chosen}
            params["seq_len"] = max(step, -(-int(params["seq_len"]) // step) * step)
            params = {k: (int(v) if SPACE[k].startswith("int") else v) for k, v in params.items()}
            for values in itertools.product(*chosen.values()):
                combination = dict(zip(chosen, values))
                try:
                    self.configs({**params, **combination})
                except ForecastError as e:
                    drawn = ", ".join(f"{k}={v}" for k, v in (combination or params).items())
                    raise ForecastError(f"search {drawn}: {e}") from None

    def to_dict(self) -> dict:
        return {"study_name": self.study_name, **self.identity(), "n_trials": self.n_trials,
                "sampler": self.sampler, "pruner": self.pruner, "storage": self.storage,
                "seed": self.seed, "heartbeat_grace": self.heartbeat_grace}

    def override(self, source: SourceConfig | dict | None = None, data: dict | None = None,
                 model: dict | None = None,
                 train: dict | None = None, search: dict | None = None, **settings) -> StudySpec:
        """A copy with flags applied: each given (non-None) value replaces the field it names."""
        new = {"source": source if isinstance(source, SourceConfig)
               else self.source.with_flags(**(source or {}))}
        for name, changes in (("data", data), ("model", model), ("train", train)):
            new[name] = getattr(self, name).override(**(changes or {}))
        settings = {k: v for k, v in settings.items() if v is not None}
        name_given = "study_name" in settings or self._named
        merged = {f.name: getattr(self, f.name) for f in fields(self)}
        merged.update(new)
        merged.update(settings)
        merged["search"] = {**self.search, **{k: v for k, v in (search or {}).items() if v is not None}}
        if not name_given:
            merged["study_name"] = None  # derived again from what changed
        return StudySpec(**merged)


def default_seq_len(data: DataConfig) -> list[int]:
    """The input lengths searched when none are given: 10 to 120, from the horizon on with known
    columns (they are read over the horizon inside the inputs)."""
    return [max(v, data.horizon) for v in DEFAULT_SPACE["seq_len"]] if data.known else DEFAULT_SPACE["seq_len"]


def fit_search(spec: StudySpec, frames: dict) -> StudySpec:
    """`spec` with the default input-length range cut to what one series' training span can take
    (150 monthly rows cannot train on 120 inputs: those trials would only fail). A range the user
    gave, or a panel's (whose series differ), is kept. `frames`: the series by name."""
    low, high = spec.search["seq_len"]
    if len(frames) > 1 or [low, high] != default_seq_len(spec.data):
        return spec
    from forecast.windows import split_rows  # here, not above: a StudySpec is read without torch

    (one,) = frames.values()
    try:
        train_end, _ = split_rows(one.index, spec.data.override(seq_len=1))
    except ForecastError:  # too short for any input: the trials say so
        return spec
    longest = train_end - spec.data.horizon - spec.data.lost_rows
    if longest >= high or longest < 1:
        return spec
    return spec.override(search={"seq_len": [min(low, longest), longest]})


def named_for(spec: StudySpec, frames: dict) -> StudySpec:
    """`spec` named from `frames`' content too when its name is derived and its source names no data
    (frames given in Python, unless they are the default source's own, the bundled AAPL sample's
    series): tuning other data on the same storage then starts another study instead of resuming
    this one's trials, which were scored on different data."""
    source = spec.source
    if spec._named or source.ticker or source.sample or source.path or list(frames) == [source.label]:
        return spec
    from pandas.util import hash_pandas_object  # here, not above: a StudySpec is read without pandas

    digest = hashlib.sha256(spec.fingerprint().encode())
    for name, frame in frames.items():
        digest.update(repr((name, list(frame.columns))).encode())
        digest.update(hash_pandas_object(frame).to_numpy().tobytes())
    first = str(next(iter(frames)))
    label = first if len(frames) == 1 else f"{first}+{len(frames) - 1}"
    return replace(spec, study_name=f"{label.lower()}-{digest.hexdigest()[:8]}")


def _bounds(values):
    """A range; one number (or a list of one) holds the setting fixed."""
    values = list(values) if isinstance(values, (list, tuple)) else [values]
    return values * 2 if len(values) == 1 else values


def _check_range(name: str, values) -> None:
    if name not in SPACE:
        raise ForecastError(f"cannot search {name!r}{meant([name], SPACE)}; searchable: {', '.join(SPACE)}")
    if not isinstance(values, (list, tuple)) or not values:
        raise ForecastError(f"search {name}: give a list, e.g. low,high or choices")
    if SPACE[name] != "choice":
        if len(values) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                       for v in values):
            raise ForecastError(f"search {name}: give low,high numbers, got {values}")
        low, high = values
        smallest = 0 if name in ("dropout", "weight_decay") else (1 if SPACE[name].startswith("int") else 1e-12)
        if not smallest <= low <= high < float("inf"):
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


def _loader():
    """PyYAML's safe loader reading 1e-3 as a number, as YAML 1.2 does (1.1 wants 1.0e-3 and gives
    the text '1e-3', which a learning rate then refuses)."""
    import re

    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_implicit_resolver("tag:yaml.org,2002:float", re.compile(
        r"^[-+]?(?:[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?|\.[0-9_]+(?:[eE][-+]?[0-9]+)?"
        r"|[0-9][0-9_]*[eE][-+]?[0-9]+|\.(?:inf|Inf|INF)|[-+]\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
        list("-+0123456789."))
    return Loader


# A settings file's sections (`--config FILE`): fit, backtest and tune read the ones they use
SECTIONS = ("source", "data", "model", "train", "backtest")
# What `forecast fit` and `forecast backtest` write beside the settings in config.json: read and ignored,
# so that a run's config.json replays it
RESULTS = frozenset({"data_used", "split_windows", "levels", "frequency", "epochs_run", "best_epoch",
                     "best_val_loss", "seconds", "evaluated_model", "saved_model", "metrics",
                     "metrics_by_step", "calibration"})


def read_config(path: str | Path, results: bool = False) -> dict:
    """A settings file: YAML (or JSON) whose sections `source`, `data`, `model`, `train` and
    `backtest` hold fields of the settings dataclasses, beside a study's keys (`search`, `n_trials`,
    `sampler`, ...). A study file and the config.json that `fit` writes are both such files; what a
    run wrote beside its settings (`RESULTS`) is left out, or kept with `results`."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ForecastError(f"settings file not found: {path}")
    try:
        raw = yaml.load(path.read_text(), Loader=_loader()) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ForecastError(f"{path}: not valid YAML{where} ({getattr(e, 'problem', None) or e})") from None
    if not isinstance(raw, dict):
        raise ForecastError(f"{path}: expected a mapping of settings")
    known = {f.name for f in fields(StudySpec)} | set(SECTIONS)
    unknown = set(raw) - known - RESULTS
    if unknown:
        raise ForecastError(f"{path}: unknown key(s) {', '.join(sorted(map(str, unknown)))}; "
                            f"use: {', '.join(sorted(known))}")
    for name in SECTIONS:
        if name in raw and not isinstance(raw[name], dict):
            raise ForecastError(f"{path}: {name} must be a mapping of settings, got {type(raw[name]).__name__}")
    return raw if results else {k: v for k, v in raw.items() if k not in RESULTS}


def load_study_file(path: str | Path) -> StudySpec:
    """A study from a settings file (see `read_config`); its name defaults to the file's stem, or for
    a run's config.json (which every run names so) is derived from its settings."""
    raw = {k: v for k, v in read_config(path, results=True).items() if k != "backtest"}
    if not RESULTS & set(raw):
        raw.setdefault("study_name", Path(path).stem)
    raw = {k: v for k, v in raw.items() if k not in RESULTS}
    try:
        spec = StudySpec(**raw)
    except (ForecastError, TypeError) as e:
        raise ForecastError(f"{path}: {e}") from None
    return spec


def parse_range(text: str | None, name: str):
    """CLI text to a search entry: '8,128' -> [8, 128]; '24' -> [24, 24] (held fixed);
    'lstm,gru' -> ['lstm', 'gru']."""
    if text is None:
        return None
    out: list[int | float | str] = []
    for p in (p.strip() for p in text.split(",") if p.strip()):
        try:
            out.append(int(p))
        except ValueError:
            try:
                out.append(float(p))
            except ValueError:
                out.append(p)
    if SPACE.get(name) not in (None, "choice"):
        out = _bounds(out)
    _check_range(name, out)
    return out
