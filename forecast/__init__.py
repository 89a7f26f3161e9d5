"""forecast: recurrent-network forecasting of stock prices and any other time series.

The public API is the task API named in `__all__`: load data, fit, backtest and tune, their results
and settings, and the model with its Lightning module; everything else is reachable by module
(`forecast.metrics`, `forecast.intervals.calibrate`, `forecast.metrics.diebold_mariano`, ...).
Names load lazily (PEP 562) so that `import forecast` and the CLI's `--help` stay fast: torch and
Lightning are imported only when a model or loader is used.
"""
from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

__version__ = "0.3.0.dev0"  # the one place; pyproject.toml reads it (0.2 wrote model format 4)

_EXPORTS = {
    "load": "forecast.loading",
    "SourceConfig": "forecast.config",
    "DataConfig": "forecast.config",
    "ModelConfig": "forecast.config",
    "TrainConfig": "forecast.config",
    "BacktestConfig": "forecast.config",
    "ForecastError": "forecast.errors",
    "fit": "forecast.train",
    "FitResult": "forecast.train",
    "TrainedModel": "forecast.trained",
    "backtest": "forecast.walkforward",
    "Evaluation": "forecast.evaluation",
    "tune": "forecast.tuning",
    "TuneResult": "forecast.tuning",
    "StudySpec": "forecast.study",
    "WindowDataModule": "forecast.trainer",
    "Forecaster": "forecast.forecaster",
    "RecurrentNet": "forecast.model",
}

__all__ = [  # the task API (18 names); the same as _EXPORTS, which a test checks
    "BacktestConfig", "DataConfig", "Evaluation", "FitResult", "ForecastError", "Forecaster",
    "ModelConfig", "RecurrentNet", "SourceConfig", "StudySpec", "TrainConfig", "TrainedModel",
    "TuneResult", "WindowDataModule", "backtest", "fit", "load", "tune", "__version__",
]

if TYPE_CHECKING:  # what type checkers and editors see; at run time the names load on first use
    from forecast.config import BacktestConfig, DataConfig, ModelConfig, SourceConfig, TrainConfig
    from forecast.errors import ForecastError
    from forecast.forecaster import Forecaster
    from forecast.loading import load
    from forecast.model import RecurrentNet
    from forecast.study import StudySpec
    from forecast.train import FitResult, fit
    from forecast.trained import TrainedModel
    from forecast.tuning import TuneResult, tune
    from forecast.evaluation import Evaluation
    from forecast.walkforward import backtest
    from forecast.trainer import WindowDataModule


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'forecast' has no attribute {name!r}")
