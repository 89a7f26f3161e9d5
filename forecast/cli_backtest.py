"""`forecast backtest`: the CLI face of `forecast.walkforward` (registered on the app in `forecast.cli`)."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from forecast.cli import _label, _load, app, fmt, out, print_verdict
from forecast.cli_options import (Accelerator, BatchSize, CacheDir, Cell, Csv, DateCol, Dropout, End,
                                  Features, HiddenSize, Horizon, Interval, LearningRate, Loss,
                                  MaxEpochs, MaxGap, NumLayers, Offline, Parquet, Patience, Sample,
                                  Seed, SeqLen, Start, Target, Ticker, Transform, configs_from)
from forecast.errors import ForecastError


def _print(result) -> None:
    from rich.table import Table

    overall = result.metrics()
    table = Table(title=f"Walk-forward backtest: {len(result.origins)} origins, {result.folds} fold(s), "
                        f"horizon {result.actual.shape[1]}")
    for col in ("forecast", "MAE", "RMSE", "MAPE %", "sMAPE %", "MASE", "direction %"):
        table.add_column(col, justify="left" if col == "forecast" else "right")
    for name, m in overall.items():
        table.add_row(name, *(fmt(m[k]) for k in ("mae", "rmse", "mape", "smape", "mase", "direction")))
    out.print(table)
    per_step = result.metrics(axis=(0, 2))
    steps = Table(title="MAE by horizon step")
    steps.add_column("step", justify="right")
    for name in per_step:
        steps.add_column(name, justify="right")
    for h in range(result.actual.shape[1]):
        steps.add_row(str(h + 1), *(fmt(per_step[n]["mae"][h]) for n in per_step))
    out.print(steps)
    print_verdict(overall["model"]["rmse"], overall["naive"]["rmse"])


@app.command()
def backtest(ticker: Ticker = None, sample: Sample = None, csv: Csv = None, parquet: Parquet = None,
             date_col: DateCol = None, target: Target = None, features: Features = None,
             start: Start = None, end: End = None, interval: Interval = "1d", cache_dir: CacheDir = None,
             offline: Offline = False, max_gap: MaxGap = 5,
             model: Annotated[Optional[Path], typer.Option(help="Use a saved model's settings (retrained per fold).")] = None,
             origins: Annotated[int, typer.Option(help="Walk forward over the last K origins.")] = 20,
             stride: Annotated[int, typer.Option(help="Steps between origins.")] = 1,
             from_date: Annotated[Optional[str], typer.Option("--from", help="Origins with targets from this date...")] = None,
             to_date: Annotated[Optional[str], typer.Option("--to", help="...up to before this date (instead of --origins).")] = None,
             window: Annotated[str, typer.Option(help="Training window: expanding or sliding.")] = "expanding",
             train_size: Annotated[Optional[int], typer.Option(help="Rows in a sliding training window.")] = None,
             retrain_every: Annotated[int, typer.Option(help="Retrain every R origins (0: train once).")] = 0,
             season_length: Annotated[int, typer.Option(help="Season of the seasonal-naive baseline.")] = 5,
             ma_window: Annotated[int, typer.Option(help="Window of the moving-average baseline.")] = 20,
             horizon: Horizon = 5, seq_len: SeqLen = 60, transform: Transform = "none",
             cell: Cell = "lstm", hidden_size: HiddenSize = 64, num_layers: NumLayers = 1,
             dropout: Dropout = 0.0, loss: Loss = "mse", learning_rate: LearningRate = 1e-3,
             batch_size: BatchSize = 64, max_epochs: MaxEpochs = 30, patience: Patience = 5,
             seed: Seed = 42, accelerator: Accelerator = "auto",
             out_dir: Annotated[Optional[Path], typer.Option("--out", help="Output folder (default: runs/NAME-backtest).")] = None):
    """Walk-forward backtest of the model beside naive, seasonal naive, drift and moving average."""
    from forecast.config import BacktestConfig

    options = dict(locals())
    bt = BacktestConfig(origins=origins, stride=stride, start=from_date, end=to_date, window=window,
                        train_size=train_size, retrain_every=retrain_every,
                        season_length=season_length, ma_window=ma_window)
    if model is not None:
        from forecast.modelfile import load_model

        saved = load_model(model)
        data, net_cfg, train = saved.data, saved.model, saved.train
    else:
        data, net_cfg, train = configs_from(options)
    folder = out_dir or Path("runs") / f"{_label(ticker, sample, csv, parquet)}-backtest-{time.strftime('%Y%m%d-%H%M%S')}"
    if (folder / "backtest.csv").exists():
        raise ForecastError(f"{folder} already holds a backtest; choose another --out")
    frame, report = _load(ticker, sample, csv, parquet, date_col, data.targets, data.features, start,
                          end, interval, cache_dir, offline, max_gap)
    out.print(f"data: {report.source}, {report.rows} rows ({report.start} to {report.end})")
    from forecast.train import quiet_lightning

    quiet_lightning()
    from rich.progress import Progress

    from forecast.walkforward import backtest as run_backtest
    from forecast.plot import plot_backtest

    with Progress(console=out, transient=True) as bar:
        task = bar.add_task("training folds", total=None)
        result = run_backtest(frame, data, net_cfg, train, bt,
                              progress=lambda done, total: bar.update(task, completed=done, total=total))
    out.print(f"{result.folds} fold(s) trained and forecast in {result.seconds:.1f} s")
    _print(result)
    folder.mkdir(parents=True, exist_ok=True)
    result.table().to_csv(folder / "backtest.csv", index=False)
    summary = {"data": data.to_dict(), "model": net_cfg.to_dict(), "train": train.to_dict(),
               "backtest": bt.to_dict(), "source": report.source, "folds": result.folds,
               "seconds": round(result.seconds, 2), "skill": result.skill(),
               "metrics": {k: {m: float(v) for m, v in d.items()} for k, d in result.metrics().items()}}
    (folder / "backtest.json").write_text(json.dumps(summary, indent=2))
    for path in [folder / "backtest.csv", folder / "backtest.json", *plot_backtest(result, folder)]:
        out.print(f"wrote {path}")
