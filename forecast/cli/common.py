"""What every command shares: consoles, option groups declared once, configs built from options,
loading a command's data and choosing its output folder (the tables it prints: `forecast.cli.printing`).

Options default to None, which means "not given": the config dataclasses hold every default (shown
in `--help`), and a study file or saved model keeps its own value for an option that is not given.
Nothing heavy is imported here, so `forecast --help` starts without torch, Lightning or pandas.
"""
from __future__ import annotations

import functools
import inspect
import sys
from dataclasses import fields
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape

from forecast.config import DataConfig, ModelConfig, SourceConfig, TrainConfig
from forecast.errors import ForecastError

class _Stdout:
    """Whatever `sys.stdout` is now, except that a reader who went away (`forecast fit | head`) stops
    the printing, not the work: the rest goes to the null device and the model is still saved."""

    gone = False

    def write(self, text: str) -> int:
        if not self.gone:
            try:
                return sys.stdout.write(text)
            except BrokenPipeError:
                self._away()
        return len(text)

    def flush(self) -> None:
        if not self.gone:
            try:
                sys.stdout.flush()
            except BrokenPipeError:
                self._away()

    def _away(self) -> None:
        import os

        self.gone = True
        try:  # the interpreter flushes stdout at exit too: point it at the null device (Python's advice)
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass

    def __getattr__(self, name):  # isatty, fileno, encoding: the real stdout's
        return getattr(sys.stdout, name)


console = Console(stderr=True, highlight=False)
out = Console(file=_Stdout(), highlight=False)


def say(text: str, style: str | None = None) -> None:
    """Print text as it is (escaped: brackets in file names and messages are not markup)."""
    out.print(f"[{style}]{escape(text)}[/]" if style else escape(text), soft_wrap=True)


def warn(text: str) -> None:
    console.print(f"[bold yellow]WARNING:[/] {escape(text)}", soft_wrap=True)


def _default(cls, name: str) -> str:
    value = {f.name: f.default for f in fields(cls)}[name]
    if isinstance(value, tuple):
        return ", ".join(map(str, value)) or "none"
    return str(value)


def _opt(cls, name: str, kind, help: str, flag: str | None = None):
    """An option whose default lives in the dataclass `cls` (shown in the help, not restated)."""
    text = help if cls is None else f"{help.rstrip('.')} (default {_default(cls, name)})."
    names = (flag,) if flag else ()
    return Annotated[Optional[kind], typer.Option(*names, help=text, show_default=False)]


S, D, M, T = SourceConfig, DataConfig, ModelConfig, TrainConfig
SOURCE = {
    "ticker": _opt(None, "ticker", str, "Yahoo Finance ticker, e.g. AAPL (cached on disk); several with commas, or @FILE of tickers: one model for all."),
    "sample": _opt(None, "sample", str, "Bundled sample ticker: AAPL, MSFT, IBM or GOOG (the default source); several with commas, or all."),
    "csv": _opt(None, "csv", Path, "CSV file with a date column."),
    "parquet": _opt(None, "parquet", Path, "Parquet file with a date column."),
    "date_col": _opt(None, "date_col", str, "Date column of the file (detected if omitted)."),
    "date_format": _opt(None, "date_format", str, "Format of the file's dates, e.g. %d/%m/%Y (detected if omitted)."),
    "dayfirst": _opt(None, "dayfirst", bool, "Dates like 03/04/2020 are day-first (or month-first).",
                     "--dayfirst/--monthfirst"),
    "start": _opt(None, "start", str, "First date to use, e.g. 2015-01-01."),
    "end": _opt(None, "end", str, "Use dates before this one."),
    "interval": _opt(S, "interval", str, "Yahoo interval: 1d, 1wk, 1mo or 1h."),
    "cache_dir": _opt(None, "cache_dir", Path, "Cache folder (default $FORECAST_CACHE_DIR or the user cache folder)."),
    "offline": _opt(S, "offline", bool, "Read the cache only; never download.", "--offline/--online"),
    "max_gap": _opt(S, "max_gap", int, "Forward-fill runs of up to this many missing values."),
    "calendar": _opt(S, "calendar", str, "Dates forecast: auto, an exchange (XNYS), B (business days) or a pandas frequency."),
    "series_col": _opt(None, "series_col", str, "Column naming each row's series in a long file: one model for all series."),
    "wide": _opt(S, "wide", bool, "Each --target column of the file is its own series (one model for all).",
                 "--wide/--no-wide"),
    "drop_bad": _opt(S, "drop_bad", bool, "Leave out series that cannot be used (too short, bad values), with a warning.",
                     "--drop-bad/--no-drop-bad"),
}
DATA = {
    "target": _opt(D, "targets", list[str], "Column to forecast; several as A,B or repeated; a file without Close: its only numeric column."),
    "features": _opt(None, "features", list[str], "Extra input column (covariate); several as A,B or repeated."),
    "known": _opt(None, "known", list[str], "Covariate whose future values are known (a holiday, a weather forecast), read over the horizon ahead; predict then needs --future."),
    "static": _opt(None, "static", list[str], "Column of a long file (--series-col) describing each series, one value per series (a store's region or size): text one-hot, numbers standardised."),
    "time_features": _opt(None, "time_features", list[str], "Calendar inputs from the dates: hour, dayofweek, day, dayofyear, month; several as A,B."),
    "cycle": _opt(D, "cycle", int, "Take a cycle of this many steps (24: the day of hourly data) out of the targets and forecast what it leaves (0: none)."),
    "horizon": _opt(D, "horizon", int, "Steps to forecast at once."),
    "seq_len": _opt(D, "seq_len", int, "Input window length in steps."),
    "val_fraction": _opt(None, "val_fraction", float, "Share of rows for validation (default 0.15 of one series; a panel counts --val-steps from its end unless this is given)."),
    "test_fraction": _opt(None, "test_fraction", float, "Share of rows for the test span (default 0.15 of one series; a panel counts --test-steps)."),
    "val_steps": _opt(None, "val_steps", int, "Validation: this many steps before the test span (default for a panel ending together: what its shortest series can give, at most 15% of a typical one, at least 4 horizons)."),
    "test_steps": _opt(None, "test_steps", int, "Test: the last this many steps (default for a panel ending together: as --val-steps)."),
    "val_start": _opt(None, "val_start", str, "Validation starts at this date (instead of --val-fraction)."),
    "test_start": _opt(None, "test_start", str, "Test starts at this date (instead of --test-fraction)."),
    "transform": _opt(D, "transform", str, "Target transform: none, log, log_return."),
    "scaler": _opt(D, "scaler", str, "Column scaling fitted on training rows: standard, none."),
}
MODEL = {
    "cell": _opt(M, "cell", str, "Recurrent cell: rnn, lstm or gru."),
    "hidden_size": _opt(M, "hidden_size", int, "Hidden units per layer."),
    "num_layers": _opt(M, "num_layers", int, "Stacked recurrent layers."),
    "dropout": _opt(M, "dropout", float, "Dropout between layers and before the head."),
    "normalize": _opt(None, "normalize", str, "Window normalisation: none, last (shift by the last value: zero output = naive), last+scale (also divide by the spread, so forecasts and quantile widths follow volatility). Default: last+scale with --quantiles, else last."),
    "segment_len": _opt(M, "segment_len", int, "Feed the RNN segments of this many steps."),
    "channel_independent": _opt(M, "channel_independent", bool, "Each column its own series (no covariates).",
                                "--channel-independent/--channels-mixed"),
    "quantiles": _opt(M, "quantiles", list[str], "Train a quantile head at these levels, e.g. 0.1,0.5,0.9 (the median is added; pinball loss)."),
    "series_embedding": _opt(M, "series_embedding", int, "A panel's model learns a vector of this size per series (0: none)."),
    "coverage": _opt(M, "coverage", list[str], "Prediction intervals to calibrate on validation (conformal), e.g. 0.8,0.9."),
}
TRAIN = {
    "loss": _opt(T, "loss", str, "Loss: mse, mae or huber."),
    "optimizer": _opt(T, "optimizer", str, "adam or adamw."),
    "learning_rate": _opt(T, "learning_rate", float, "Optimiser step size."),
    "weight_decay": _opt(T, "weight_decay", float, "L2 penalty (decoupled with adamw)."),
    "schedule": _opt(T, "schedule", str, "Learning-rate schedule: none, cosine, plateau."),
    "gradient_clip": _opt(T, "gradient_clip", float, "Clip the gradient norm (0: off)."),
    "batch_size": _opt(T, "batch_size", int, "Windows per batch."),
    "max_epochs": _opt(T, "max_epochs", int, "Most epochs; early stopping may end sooner."),
    "patience": _opt(T, "patience", int, "Epochs without validation improvement before stopping (0: off)."),
    "seed": _opt(T, "seed", int, "Random seed: same seed, same run."),
    "accelerator": _opt(T, "accelerator", str, "auto, cpu, gpu or mps."),
    "devices": _opt(T, "devices", str, "Devices (CPU processes or GPUs) to train one model on, data-parallel: auto (one) or a count."),
    "strategy": _opt(T, "strategy", str, "auto, or ddp (what several devices use: spawned processes, each its share of the batches)."),
    "precision": _opt(T, "precision", str, "32-true, 16-mixed, bf16-mixed or another Lightning precision"),
    "threads": _opt(None, "threads", int, "CPU threads for PyTorch (default $FORECAST_THREADS, else every core while other programs leave them free)."),
    "sampling": _opt(T, "sampling", str, "Training windows per epoch: windows (each once) or series (each series of a panel equally often)."),
}


def with_options(*groups: dict, skip: tuple[str, ...] = ()):
    """Add the options of `groups` (keyword-only, default None) to a command taking `**options`."""
    def decorate(func):
        own = [p for p in inspect.signature(func, eval_str=True).parameters.values() if p.kind != p.VAR_KEYWORD]
        extra = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=kind)
                 for group in groups for name, kind in group.items() if name not in skip]

        @functools.wraps(func)
        def command(**options):
            try:
                return func(**options)
            except KeyboardInterrupt:  # the CLI's error boundary prints it and exits 130
                from forecast.errors import TrainingInterrupted

                raise TrainingInterrupted("interrupted") from None

        params = own + extra
        command.__signature__ = inspect.Signature(params)
        command.__annotations__ = {p.name: p.annotation for p in params}
        del command.__wrapped__  # typer must read the signature above, not the function's own
        return command
    return decorate


def source_from(options: dict, base: SourceConfig = SourceConfig()) -> SourceConfig:
    """The source flags applied on `base` (a study's or a saved model's source, or the defaults)."""
    csv, parquet = options.get("csv"), options.get("parquet")
    if csv is not None and parquet is not None:
        raise ForecastError("give --csv or --parquet, not both")
    path = csv if csv is not None else parquet
    flags = {k: options.get(k) for k in SOURCE if k not in ("csv", "parquet")}
    return base.with_flags(**flags, path=str(path) if path is not None else None)


def data_flags(options: dict) -> dict:
    flags = {k: options.get(k) for k in DATA if k != "target"}
    flags["targets"] = names("target", options.get("target"))
    flags["features"] = names("features", options.get("features"))
    flags["known"] = names("known", options.get("known"))
    flags["static"] = names("static", options.get("static"))
    flags["time_features"] = names("time-features", options.get("time_features"))
    return flags


def names(option: str, values: list[str] | None) -> tuple[str, ...] | None:
    """`--target A,B` (or the option repeated) -> ("A", "B"); None when not given."""
    if not values:
        return None
    split = tuple(n.strip() for v in values for n in v.split(",") if n.strip())
    if not split:
        raise ForecastError(f"--{option}: no column name in {','.join(values)!r}")
    return split


def levels(name: str, values: list[str] | None) -> tuple[float, ...] | None:
    """`--quantiles 0.1,0.5,0.9` (or the option repeated) -> (0.1, 0.5, 0.9); None when not given."""
    if not values:
        return None
    parsed = []
    for word in (w for v in values for w in v.replace(",", " ").split()):
        try:
            parsed.append(float(word))
        except ValueError:
            raise ForecastError(f"--{name}: {word!r} is not a number; write levels like 0.1,0.5,0.9") from None
    return tuple(parsed)


def model_flags(options: dict) -> dict:
    flags = {k: options.get(k) for k in MODEL}
    flags["quantiles"] = levels("quantiles", options.get("quantiles"))
    flags["coverage"] = levels("coverage", options.get("coverage"))
    return flags


def configs_from(options: dict, base=(DataConfig(), ModelConfig(), TrainConfig())):
    """Data, model and training configs: the options that were given, over `base`."""
    from forecast.config import check_compatible

    data = base[0].override(**data_flags(options))
    model = base[1].override(**model_flags(options))
    train = base[2].override(**{k: options.get(k) for k in TRAIN})
    check_compatible(data, model)
    return data, model, train


def check_new_file(path: Path | None, force: bool) -> None:
    """Refuse to overwrite, and fail before any work when the folder cannot be written."""
    if path is None:
        return
    if path.exists() and not force:
        raise ForecastError(f"{path} exists; choose another name or pass --force to overwrite it")
    check_writable(path.parent)


# Folders this command made: a command that fails removes those still empty (see `remove_unused`)
MADE: list[Path] = []


def _made(folder: Path) -> None:
    """Note `folder` and each parent about to be made (outermost first)."""
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    MADE.extend(reversed(missing))


def remove_unused() -> None:
    """Remove the folders this command made that are still empty, innermost first (a failed run
    leaves no empty run folder behind; one holding a checkpoint to resume from stays)."""
    for folder in reversed(MADE):
        try:
            folder.rmdir()
        except OSError:  # not empty, or gone
            pass
    MADE.clear()


def check_writable(folder: Path) -> None:
    """Make `folder` (and its parents) or fail with one line, before loading data or training."""
    import os
    import tempfile

    if folder.exists() and not folder.is_dir():
        raise ForecastError(f"cannot write to {folder}: it is a file, not a folder")
    try:
        _made(folder)
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".forecast-write-test-"):
            pass
    except OSError as e:
        raise ForecastError(f"cannot write to {folder}: {e.strerror or e}") from None
    if not os.access(folder, os.W_OK):
        raise ForecastError(f"cannot write to {folder}: permission denied")
    from forecast.files import remove_stale_temporaries

    removed, size = remove_stale_temporaries(folder)
    if removed:
        warn(f"removed {removed} temporary file(s) ({size / 1e6:.1f} MB) that an interrupted write left in {folder}")


def load(source: SourceConfig, columns=None, static=()):
    """Load and validate the source (a dict of frames for a panel); print its warnings."""
    from forecast.loading import load_panel, load_source

    if static and not source.is_panel:
        raise ForecastError("--static describes each series of a panel: give a long file with --series-col")
    frame, report = load_panel(source, columns, static) if source.is_panel else load_source(source, columns)
    for warning in report.warnings:
        warn(warning)
    return frame, report


def load_inputs(source: SourceConfig, data: DataConfig, target_given: bool):
    """`load` of the columns `data` reads, and `data`. A file read without --target that lacks the
    default target (Close) forecasts its one numeric column besides the features, and says so. A wide
    file's target columns are its series, each forecasting its own values (`WIDE_VALUE`)."""
    from forecast.errors import MissingColumns

    if source.wide:
        from forecast.panel import WIDE_VALUE

        if data.features or data.known or data.static:
            raise ForecastError("--wide makes each --target column a series; it takes no --features, "
                                "--known or --static (a long file with --series-col does)")
        # without --target every numeric column is a series, as `forecast data --wide` reads it
        return (*load(source, list(data.targets) if target_given else None), data.override(targets=(WIDE_VALUE,)))

    try:
        return (*load(source, list(data.inputs), data.static), data)
    except MissingColumns as e:
        if target_given or source.path is None or source.wide or data.targets != DataConfig().targets \
                or data.targets[0] not in e.missing:
            raise
        numeric = [c for c in e.numeric if c not in data.features + data.known]
        others = [c for c in e.available if c not in data.features + data.known]
        kind = "numeric column" if numeric else "column"
        if not numeric and len(others) == 1:  # one column, unreadable: say which value is not a number
            numeric = others
        if len(numeric) != 1:
            raise ForecastError(f"{source.path}: which column to forecast? Name it with --target (numeric "
                                f"columns: {', '.join(map(str, numeric)) or 'none'})") from None
    data = data.override(targets=(numeric[0],))
    say(f"target: {numeric[0]}, the file's only {kind}{' besides the features' if data.features else ''} "
        "(--target picks another)")
    return (*load(source, list(data.inputs), data.static), data)


def run_folder(out_dir: Path | None, label: str, kind: str) -> Path:
    """`--out`, or a new folder `runs/LABEL-KIND-TIMESTAMP[-N]` that no other run is using."""
    import time

    if out_dir is not None:
        return out_dir
    stem = Path("runs") / f"{label}-{kind}-{time.strftime('%Y%m%d-%H%M%S')}"
    folder, n = stem, 1
    while True:
        try:
            _made(folder)
            folder.mkdir(parents=True)  # atomic: two commands starting together get two folders
            return folder
        except FileExistsError:
            n += 1
            folder = stem.with_name(f"{stem.name}-{n}")
