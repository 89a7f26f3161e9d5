"""The `forecast` command line: each command parses options, calls one library function and prints.

Nothing heavy is imported at module level, so `forecast --help` starts without torch or Lightning.
A `ForecastError` is printed as one line on stderr with exit status 1, never as a traceback.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from forecast.errors import ForecastError, TrainingInterrupted

app = typer.Typer(help="Forecast time series with RNN, LSTM and GRU networks.", add_completion=False,
                  no_args_is_help=True, pretty_exceptions_enable=False)
console = Console(stderr=True, highlight=False)
out = Console(highlight=False)

from forecast import cli_options as opt
from forecast.cli_options import configs_from


def _version(value: bool) -> None:
    if value:
        from forecast import __version__

        out.print(f"forecast {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                help="Print the version and exit.")] = False):
    """Forecast time series with RNN, LSTM and GRU networks.

    Start with `forecast fit` (bundled AAPL sample); `forecast COMMAND --help` for each command.
    """


def _load(ticker, sample, csv, parquet, date_col, targets, features, start, end, interval,
          cache_dir, offline, max_gap, every_column=False):
    """Load and validate the chosen source; print what was used, loudly when it is a fallback.
    Without targets: Close (and the features) for prices, every numeric column of a file, or every
    numeric column anywhere with `every_column`."""
    from forecast.loading import load_source

    if csv is not None and parquet is not None:
        raise ForecastError("give --csv or --parquet, not both")
    columns = None
    if targets:
        columns = list(targets) + list(features or [])
    elif not every_column and (ticker or csv is None and parquet is None):
        columns = ["Close"] + list(features or [])
    frame, report = load_source(ticker=ticker, sample=sample, path=csv or parquet, columns=columns,
                                date_col=date_col, start=start, end=end, interval=interval,
                                cache_dir=cache_dir, offline=offline, max_gap=max_gap)
    for warning in report.warnings:
        console.print(f"[bold yellow]WARNING: {warning}[/]")
    return frame, report


def _check_new(path: Path | None, force: bool) -> None:
    if path is not None and path.exists() and not force:
        raise ForecastError(f"{path} exists; choose another name or pass --force to overwrite it")


@app.command()
def data(ticker: opt.Ticker = None, sample: opt.Sample = None, csv: opt.Csv = None, parquet: opt.Parquet = None,
         date_col: opt.DateCol = None, target: opt.Target = None, features: opt.Features = None,
         start: opt.Start = None, end: opt.End = None, interval: opt.Interval = "1d", cache_dir: opt.CacheDir = None,
         offline: opt.Offline = False, max_gap: opt.MaxGap = 5,
         output: Annotated[Optional[Path], typer.Option(help="Write the cleaned frame (.csv or .parquet).")] = None,
         force: Annotated[bool, typer.Option(help="Overwrite --output if it exists.")] = False):
    """Load, validate and summarise a series; fetching a ticker also warms the cache for --offline."""
    if output is not None and output.suffix.lower() not in (".csv", ".parquet"):
        raise ForecastError(f"--output must end in .csv or .parquet, not {output.suffix or 'nothing'}")
    _check_new(output, force)
    frame, report = _load(ticker, sample, csv, parquet, date_col, target, features, start, end,
                          interval, cache_dir, offline, max_gap, every_column=True)
    for line in report.lines():
        out.print(line)
    out.print(frame.describe().T[["mean", "std", "min", "max"]].to_string(float_format=lambda v: f"{v:,.4f}"))
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        if output.suffix.lower() == ".csv":
            frame.to_csv(output, index_label="Date")
        else:
            frame.to_parquet(output)
        out.print(f"wrote {output}")


def _out_dir(out: Path | None, label: str, cell: str, force: bool, resume: bool) -> Path:
    import time

    if out is None:
        out = Path("runs") / f"{label}-{cell}-{time.strftime('%Y%m%d-%H%M%S')}"
    if (out / "model.safetensors").exists() and not (force or resume):
        raise ForecastError(f"{out} already holds a model; choose another --out or pass --force")
    return out


def _label(ticker, sample, csv, parquet) -> str:
    if ticker or sample:
        return (ticker or sample).upper().replace("^", "")
    if csv or parquet:
        return Path(csv or parquet).stem
    return "AAPL"


def print_data(report, prepared) -> None:
    sizes = prepared.split_sizes()
    for line in report.lines():
        out.print(line)
    out.print(f"windows: train {sizes['train']} / validation {sizes['val']} / test {sizes['test']} "
              f"(test targets {prepared.index[prepared.val_end].date()} to {prepared.index[-1].date()})")


def fmt(value: float) -> str:
    return "n/a" if value != value else f"{value:.4g}"  # NaN != NaN


def print_verdict(model_rmse: float, naive_rmse: float) -> None:
    from forecast.metrics import skill, verdict

    out.print(f"skill vs naive (1 - RMSE_model / RMSE_naive): {100 * skill(model_rmse, naive_rmse):+.1f}%")
    out.print(verdict(model_rmse, naive_rmse))


def print_metrics(metrics: dict, title: str = "Test metrics (original units)") -> None:
    from rich.table import Table

    table = Table(title=title)
    for col in ("forecast", "MAE", "RMSE", "MAPE %", "direction %"):
        table.add_column(col, justify="right" if col != "forecast" else "left")
    for name in ("model", "naive"):
        m = metrics[name]
        label = "model" if name == "model" else "naive (last value)"
        table.add_row(label, fmt(m["mae"]), fmt(m["rmse"]), fmt(m["mape"]), fmt(m.get("direction", float("nan"))))
    out.print(table)
    print_verdict(metrics["model"]["rmse"], metrics["naive"]["rmse"])


@app.command()
def fit(ticker: opt.Ticker = None, sample: opt.Sample = None, csv: opt.Csv = None, parquet: opt.Parquet = None,
        date_col: opt.DateCol = None, target: opt.Target = None, features: opt.Features = None,
        start: opt.Start = None, end: opt.End = None, interval: opt.Interval = "1d", cache_dir: opt.CacheDir = None,
        offline: opt.Offline = False, max_gap: opt.MaxGap = 5, horizon: opt.Horizon = 5, seq_len: opt.SeqLen = 60,
        val_fraction: Annotated[float, typer.Option(help="Share of rows for validation.")] = 0.15,
        test_fraction: Annotated[float, typer.Option(help="Share of rows for the test span.")] = 0.15,
        transform: opt.Transform = "none", scaler: opt.Scaling = "standard", cell: opt.Cell = "lstm",
        hidden_size: opt.HiddenSize = 64, num_layers: opt.NumLayers = 1, dropout: opt.Dropout = 0.0,
        instance_norm: opt.InstanceNorm = True, segment_len: opt.SegmentLen = 1,
        channel_independent: opt.ChannelIndependent = False, loss: opt.Loss = "mse",
        optimizer: opt.Optimizer = "adam", learning_rate: opt.LearningRate = 1e-3,
        weight_decay: opt.WeightDecay = 0.0, schedule: opt.Schedule = "none", gradient_clip: opt.GradientClip = 1.0,
        batch_size: opt.BatchSize = 64, max_epochs: opt.MaxEpochs = 30, patience: opt.Patience = 5,
        seed: opt.Seed = 42, accelerator: opt.Accelerator = "auto", devices: opt.Devices = "auto",
        precision: opt.Precision = "32-true",
        out_dir: Annotated[Optional[Path], typer.Option("--out", help="Output folder (default: runs/NAME).")] = None,
        force: Annotated[bool, typer.Option(help="Overwrite a model already in --out.")] = False,
        resume: Annotated[bool, typer.Option(help="Continue an interrupted fit in --out.")] = False,
        quiet: opt.Quiet = False):
    """Train a recurrent forecaster, report it beside the naive forecast, save model, config and plot."""
    configs = configs_from(locals())
    if resume and out_dir is None:
        raise ForecastError("--resume needs the --out folder of the interrupted fit")
    folder = _out_dir(out_dir, _label(ticker, sample, csv, parquet), cell, force, resume)
    frame, report = _load(ticker, sample, csv, parquet, date_col, configs[0].targets,
                          configs[0].features, start, end, interval, cache_dir, offline, max_gap)
    from forecast.runs import fit_and_save
    from forecast.train import quiet_lightning

    quiet_lightning()
    result, paths = fit_and_save(frame, *configs, folder, report=report, quiet=quiet or not sys.stderr.isatty(),
                                 resume=resume, announce=lambda p: print_data(report, p))
    out.print(f"trained {result.epochs} epochs in {result.seconds:.1f} s")
    print_metrics(result.metrics)
    for what, path in paths.items():
        out.print(f"{what}: {path}")


@app.command()
def predict(model: Annotated[Path, typer.Option(help="Model file written by `forecast fit`.")],
            ticker: opt.Ticker = None, sample: opt.Sample = None, csv: opt.Csv = None, parquet: opt.Parquet = None,
            date_col: opt.DateCol = None, start: opt.Start = None, end: opt.End = None,
            interval: opt.Interval = "1d", cache_dir: opt.CacheDir = None, offline: opt.Offline = False,
            output: Annotated[Optional[Path], typer.Option(help="Write the forecast as CSV.")] = None,
            force: Annotated[bool, typer.Option(help="Overwrite --output if it exists.")] = False):
    """Forecast the next steps from a saved model, with its saved history or fresher data."""
    _check_new(output, force)
    from forecast.modelfile import load_model
    from forecast.inference import predict as run_predict

    loaded = load_model(model)
    history = None
    if any(v is not None for v in (ticker, sample, csv, parquet)):
        cfg = loaded.data
        history, _ = _load(ticker, sample, csv, parquet, date_col, cfg.targets, cfg.features, start,
                           end, interval, cache_dir, offline, cfg.max_gap)
    else:
        out.print(f"using the history saved with the model (up to {loaded.meta['last_timestamp'][:10]})")
    table = run_predict(loaded, history)
    out.print(table.to_string())
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(output, index_label="Date")
        out.print(f"wrote {output}")


def main() -> None:
    try:
        app()
    except ForecastError as e:
        console.print(f"[bold red]error:[/] {e}", soft_wrap=True, markup=True)
        sys.exit(130 if isinstance(e, TrainingInterrupted) else 1)


import forecast.cli_backtest  # noqa: E402,F401  (registers `forecast backtest`)
import forecast.cli_tune  # noqa: E402,F401  (registers `forecast tune`)
