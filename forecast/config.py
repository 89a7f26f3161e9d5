"""Settings for data, model and training: three small dataclasses that check themselves on creation.

The resolved configs are saved with every model file and run, and rebuilt with `from_dict`.
No torch import here, so the CLI can build and check configs before loading the heavy libraries.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from forecast.errors import ForecastError

CELLS = ("rnn", "lstm", "gru")
LOSSES = ("mse", "mae", "huber")
OPTIMIZERS = ("adam", "adamw")
SCHEDULES = ("none", "cosine", "plateau")
SCALERS = ("standard", "none")
TRANSFORMS = ("none", "log", "log_return")


def _choice(name: str, value: str, valid: tuple[str, ...]) -> None:
    if value not in valid:
        raise ForecastError(f"unknown {name} {value!r}; choose one of: {', '.join(valid)}")


def _positive(name: str, value: float) -> None:
    if value is None or value <= 0:
        raise ForecastError(f"{name} must be positive, got {value}")


class _Config:
    """Round-trips through plain JSON-able dicts (tuples become lists)."""

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]):
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ForecastError(f"unknown {cls.__name__} setting(s): {', '.join(sorted(unknown))}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


@dataclass(frozen=True)
class DataConfig(_Config):
    """What to forecast from which columns, and how the series is split and scaled.

    Splits are chronological: the last `test_fraction` of rows is the test span, the `val_fraction`
    before it the validation span (or from `val_start` / `test_start` dates when given). Validation
    and test *targets* start at their span's first row whatever `seq_len` is; their inputs may reach
    back into the span before.
    """

    targets: tuple[str, ...] = ("Close",)
    features: tuple[str, ...] = ()
    seq_len: int = 60
    horizon: int = 5
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    val_start: str | None = None
    test_start: str | None = None
    scaler: str = "standard"
    transform: str = "none"
    max_gap: int = 5
    train_through_val: bool = False  # final refit: validation rows become training rows

    def __post_init__(self):
        if isinstance(self.targets, str):
            object.__setattr__(self, "targets", (self.targets,))
        if isinstance(self.features, str):
            object.__setattr__(self, "features", (self.features,))
        object.__setattr__(self, "targets", tuple(self.targets))
        # A target is always an input too; listing it again as a feature would feed it twice.
        object.__setattr__(self, "features", tuple(f for f in self.features if f not in self.targets))
        if not self.targets:
            raise ForecastError("at least one target column is needed")
        _positive("seq_len", self.seq_len)
        _positive("horizon", self.horizon)
        if self.max_gap < 0:
            raise ForecastError(f"max_gap must be 0 or more, got {self.max_gap}")
        for name in ("val_fraction", "test_fraction"):
            value = getattr(self, name)
            if not 0 < value < 1:
                raise ForecastError(f"{name} must be between 0 and 1, got {value}")
        if self.val_fraction + self.test_fraction >= 0.9:
            raise ForecastError("val_fraction + test_fraction must leave at least 10% for training")
        _choice("scaler", self.scaler, SCALERS)
        _choice("transform", self.transform, TRANSFORMS)

    @property
    def inputs(self) -> tuple[str, ...]:
        """Input columns: targets first (the model reads its targets' history), then covariates."""
        return self.targets + self.features


@dataclass(frozen=True)
class ModelConfig(_Config):
    """The recurrent network.

    `instance_norm` scales each input window by its own last value and spread and undoes it on the
    output, so a model trained on one price level works at another. `segment_len` > 1 feeds the RNN
    non-overlapping segments of the input instead of single steps (fewer, richer steps).
    `channel_independent` runs every column through the same network as its own univariate series.
    """

    cell: str = "lstm"
    hidden_size: int = 64
    num_layers: int = 1
    dropout: float = 0.0
    instance_norm: bool = True
    segment_len: int = 1
    channel_independent: bool = False

    def __post_init__(self):
        _choice("cell", self.cell, CELLS)
        _positive("hidden_size", self.hidden_size)
        _positive("num_layers", self.num_layers)
        _positive("segment_len", self.segment_len)
        if not 0 <= self.dropout < 1:
            raise ForecastError(f"dropout must be in [0, 1), got {self.dropout}")


@dataclass(frozen=True)
class TrainConfig(_Config):
    """Optimisation and the Lightning Trainer's settings."""

    loss: str = "mse"
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    schedule: str = "none"
    gradient_clip: float = 1.0
    batch_size: int = 64
    max_epochs: int = 30
    patience: int = 5
    seed: int = 42
    accelerator: str = "auto"
    devices: str = "auto"
    precision: str = "32-true"

    def __post_init__(self):
        _choice("loss", self.loss, LOSSES)
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("schedule", self.schedule, SCHEDULES)
        _choice("accelerator", self.accelerator, ("auto", "cpu", "gpu", "cuda", "mps"))
        _positive("learning_rate", self.learning_rate)
        _positive("batch_size", self.batch_size)
        _positive("max_epochs", self.max_epochs)
        if self.weight_decay < 0 or self.gradient_clip < 0 or self.patience < 0:
            raise ForecastError("weight_decay, gradient_clip and patience must not be negative")


def check_compatible(data: DataConfig, model: ModelConfig) -> None:
    """Settings that are fine alone but not together."""
    if data.seq_len % model.segment_len:
        raise ForecastError(f"seq_len {data.seq_len} must be a multiple of segment_len {model.segment_len}")
    if model.channel_independent and data.features:
        raise ForecastError("channel_independent needs every input column to be a target; "
                            "drop the features or make them targets")


WINDOWS = ("expanding", "sliding")


@dataclass(frozen=True)
class BacktestConfig(_Config):
    """Walk-forward evaluation.

    Origins are the last `origins` points spaced `stride` steps apart (or every `stride`-th point whose
    first target falls in `[start, end)`). The model is retrained every `retrain_every` origins (0:
    trained once before the first origin, then only rolled forward), on all data before the fold's
    first target (`expanding`) or on the last `train_size` rows of it (`sliding`).
    """

    origins: int = 20
    stride: int = 1
    start: str | None = None
    end: str | None = None
    window: str = "expanding"
    train_size: int | None = None
    retrain_every: int = 0
    season_length: int = 5
    ma_window: int = 20

    def __post_init__(self):
        _positive("origins", self.origins)
        _positive("stride", self.stride)
        _positive("season_length", self.season_length)
        _positive("ma_window", self.ma_window)
        _choice("window", self.window, WINDOWS)
        if self.retrain_every < 0:
            raise ForecastError(f"retrain_every must be 0 (train once) or more, got {self.retrain_every}")
        if self.train_size is not None:
            _positive("train_size", self.train_size)
