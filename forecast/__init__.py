"""forecast: recurrent-network forecasting of stock prices and any other time series.

The public API is named in `__all__`. Names load lazily (PEP 562) so that `import forecast` and the
CLI's `--help` stay fast: torch and Lightning are imported only when a model or loader is used.
"""
from importlib import import_module

__version__ = "0.1.0"

_EXPORTS = {
    "SourceConfig": "forecast.config",
    "DataConfig": "forecast.config",
    "ModelConfig": "forecast.config",
    "TrainConfig": "forecast.config",
    "BacktestConfig": "forecast.config",
    "ForecastError": "forecast.errors",
    "load_source": "forecast.loading",
    "load_panel": "forecast.loading",
    "prepare_panel": "forecast.panel",
    "from_long": "forecast.panel",
    "to_long": "forecast.panel",
    "load_file": "forecast.sources",
    "load_sample": "forecast.sources",
    "load_yahoo": "forecast.yahoo",
    "validate_frame": "forecast.sources",
    "Preprocessor": "forecast.preprocess",
    "prepare": "forecast.data",
    "WindowDataset": "forecast.windows",
    "WindowDataModule": "forecast.windows",
    "RecurrentNet": "forecast.model",
    "Forecaster": "forecast.forecaster",
    "fit": "forecast.train",
    "FitResult": "forecast.train",
    "evaluate": "forecast.evaluation",
    "TrainedModel": "forecast.trained",
    "load_model": "forecast.trained",
    "Calibration": "forecast.intervals",
    "calibrate": "forecast.intervals",
    "diebold_mariano": "forecast.significance",
    "pesaran_timmermann": "forecast.significance",
    "backtest": "forecast.walkforward",
    "BacktestResult": "forecast.walkforward",
    "StudySpec": "forecast.study",
    "load_study_file": "forecast.study",
    "tune": "forecast.tuning",
    "run_study": "forecast.tuning",
    "TuneResult": "forecast.tuning",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'forecast' has no attribute {name!r}")
