"""Command-line options shared by several commands, declared once, and their mapping to configs."""
from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Annotated, Optional

import typer

# Where the data comes from.
Ticker = Annotated[Optional[str], typer.Option(help="Yahoo Finance ticker, e.g. AAPL (cached on disk).")]
Sample = Annotated[Optional[str], typer.Option(help="Bundled sample ticker: AAPL, MSFT, IBM or GOOG.")]
Csv = Annotated[Optional[Path], typer.Option(help="CSV file with a date column.")]
Parquet = Annotated[Optional[Path], typer.Option(help="Parquet file with a date column.")]
DateCol = Annotated[Optional[str], typer.Option(help="Date column of the file (detected if omitted).")]
Target = Annotated[Optional[list[str]], typer.Option(help="Column to forecast; repeat for several. Default Close.")]
Features = Annotated[Optional[list[str]], typer.Option(help="Extra input column (covariate); repeatable.")]
Start = Annotated[Optional[str], typer.Option(help="First date to use, e.g. 2015-01-01.")]
End = Annotated[Optional[str], typer.Option(help="Use dates before this one.")]
Interval = Annotated[str, typer.Option(help="Yahoo interval: 1d, 1wk, 1mo or 1h.")]
CacheDir = Annotated[Optional[Path], typer.Option(help="Cache folder (default: $FORECAST_CACHE_DIR or the user cache folder).")]
Offline = Annotated[bool, typer.Option(help="Read the cache only; never download.")]
MaxGap = Annotated[int, typer.Option(help="Forward-fill runs of up to this many missing values.")]

# The model and its training (defaults are the configs' defaults).
Horizon = Annotated[int, typer.Option(help="Steps to forecast at once.")]
SeqLen = Annotated[int, typer.Option(help="Input window length (steps).")]
Transform = Annotated[str, typer.Option(help="Target transform: none, log, log_return.")]
Scaling = Annotated[str, typer.Option("--scaler", help="Column scaling fitted on train: standard, none.")]
Cell = Annotated[str, typer.Option(help="Recurrent cell: rnn, lstm or gru.")]
HiddenSize = Annotated[int, typer.Option(help="Hidden units per layer.")]
NumLayers = Annotated[int, typer.Option(help="Stacked recurrent layers.")]
Dropout = Annotated[float, typer.Option(help="Dropout between layers and before the head.")]
InstanceNorm = Annotated[bool, typer.Option(help="Shift each window by its last value.")]
SegmentLen = Annotated[int, typer.Option(help="Feed the RNN segments of this many steps.")]
ChannelIndependent = Annotated[bool, typer.Option(help="Each column its own series (no covariates).")]
Loss = Annotated[str, typer.Option(help="Loss: mse, mae or huber.")]
Optimizer = Annotated[str, typer.Option(help="adam or adamw.")]
LearningRate = Annotated[float, typer.Option(help="Optimiser step size.")]
WeightDecay = Annotated[float, typer.Option(help="L2 penalty (decoupled with adamw).")]
Schedule = Annotated[str, typer.Option(help="Learning-rate schedule: none, cosine, plateau.")]
GradientClip = Annotated[float, typer.Option(help="Clip gradient norm (0: off).")]
BatchSize = Annotated[int, typer.Option(help="Windows per batch.")]
MaxEpochs = Annotated[int, typer.Option(help="Most epochs; early stopping may end sooner.")]
Patience = Annotated[int, typer.Option(help="Epochs without validation improvement before stopping (0: off).")]
Seed = Annotated[int, typer.Option(help="Random seed: same seed, same run.")]
Accelerator = Annotated[str, typer.Option(help="auto, cpu, gpu or mps.")]
Devices = Annotated[str, typer.Option(help="Devices to use: auto or a count.")]
Precision = Annotated[str, typer.Option(help="32-true, 16-mixed, bf16-mixed, ...")]
Quiet = Annotated[bool, typer.Option(help="No progress bar or training logs.")]


def configs_from(options: dict):
    """Build the three configs from a command's options, picking each config's fields by name."""
    from forecast.config import DataConfig, ModelConfig, TrainConfig, check_compatible

    def pick(cls):
        return {f.name: options[f.name] for f in fields(cls) if options.get(f.name) is not None}

    data = DataConfig(**{**pick(DataConfig), "targets": tuple(options.get("target") or ["Close"]),
                         "features": tuple(options.get("features") or [])})
    model, train = ModelConfig(**pick(ModelConfig)), TrainConfig(**pick(TrainConfig))
    check_compatible(data, model)
    if train.accelerator != "auto":
        from forecast.train import resolve_accelerator

        resolve_accelerator(train.accelerator)
    return data, model, train
