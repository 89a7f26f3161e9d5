"""forecast: recurrent-network forecasting of stock prices and any other time series.

The public API is named in `__all__`. Names load lazily (PEP 562) so that `import forecast` and the
CLI's `--help` stay fast: torch and Lightning are imported only when a model or loader is used.
"""
from importlib import import_module

__version__ = "0.1.0"

_EXPORTS = {
    "DataConfig": "forecast.config",
    "ModelConfig": "forecast.config",
    "TrainConfig": "forecast.config",
    "ForecastError": "forecast.errors",
    "validate_frame": "forecast.sources",
    "load_file": "forecast.sources",
    "load_sample": "forecast.sources",
    "load_yahoo": "forecast.yahoo",
    "load_source": "forecast.loading",
    "prepare": "forecast.data",
    "Scaler": "forecast.scaling",
    "WindowDataset": "forecast.windows",
    "WindowDataModule": "forecast.windows",
    "RecurrentNet": "forecast.model",
    "Forecaster": "forecast.model",
    "fit": "forecast.train",
    "evaluate": "forecast.train",
    "FitResult": "forecast.train",
    "save_model": "forecast.modelfile",
    "load_model": "forecast.modelfile",
    "predict": "forecast.inference",
    "write_run": "forecast.runs",
    "BacktestConfig": "forecast.config",
    "backtest": "forecast.walkforward",
    "StudySpec": "forecast.study",
    "run_study": "forecast.tune",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'forecast' has no attribute {name!r}")
