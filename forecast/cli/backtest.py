"""`forecast backtest`: parse, one library call (`forecast.walkforward.backtest`), print."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from forecast.cli.common import check_writable, fmt, load_inputs, out, print_metrics, print_paths, run_folder, say
from forecast.cli.options import CONFIG, DATA, MODEL, SET, SOURCE, TRAIN, settings, with_options
from forecast.config import DataConfig
from forecast.errors import ForecastError


def _print(result) -> None:
    from rich.table import Table

    where = (f"{len(set(result.origins))} origins x {len(set(result.series))} series" if result.is_panel
             else f"{len(result.origins)} origins")
    if result.new:
        where += f", scored on the {len(result.new)} held out of training"
    print_metrics(result.metrics(), f"Walk-forward backtest: {where}, {result.folds} fold(s), "
                  f"horizon {result.actual.shape[1]}")
    per_step = result.by_step()
    steps = Table(title="By horizon step: MAE, and coverage of the model's intervals")
    steps.add_column("step", justify="right")
    for name in result.forecasts:
        steps.add_column(name, justify="right")
    for name in per_step["intervals"]:
        steps.add_column(f"cover {name}", justify="right")
    for h in range(result.actual.shape[1]):
        steps.add_row(str(h + 1), *(fmt(per_step[n]["mae"][h]) for n in result.forecasts),
                      *(fmt(m["model"]["coverage"][h]) for m in per_step["intervals"].values()))
    out.print(steps)


B = "Backtest"
TRAIN_SHOWN = {k: v for k, v in TRAIN.items() if k not in ("loss", "batch_size", "seed")}  # the rest: --config, --set


@with_options(SOURCE, DATA, MODEL, TRAIN_SHOWN, CONFIG, SET)
def backtest(model: Annotated[Optional[Path], typer.Option(help="Start from a saved model's settings (retrained per fold); other options given here override them.", rich_help_panel=B)] = None,
             origins: Annotated[Optional[int], typer.Option(help="Walk forward over the last K origins (default 250, enough for the significance tests; on shorter data the last quarter of the rows).", show_default=False, rich_help_panel=B)] = None,
             stride: Annotated[Optional[int], typer.Option(help="Steps between origins (default 1).", show_default=False, rich_help_panel=B)] = None,
             origins_from: Annotated[Optional[str], typer.Option(help="Origins with targets from this date...", rich_help_panel=B)] = None,
             origins_to: Annotated[Optional[str], typer.Option(help="...up to before this date (instead of --origins).", rich_help_panel=B)] = None,
             window: Annotated[Optional[str], typer.Option(help="Training window: expanding or sliding (default expanding).", show_default=False, rich_help_panel=B)] = None,
             train_size: Annotated[Optional[int], typer.Option(help="Rows in a sliding training window.", rich_help_panel=B)] = None,
             retrain_every: Annotated[Optional[int], typer.Option(help="Retrain every R origins (default 0: train once).", show_default=False, rich_help_panel=B)] = None,
             calibration: Annotated[Optional[str], typer.Option(help="Intervals: split (calibrated on each fold's validation span) or adaptive (adaptive conformal inference: widen after misses; its step: --set backtest.gamma=0.005) (default split).", show_default=False, rich_help_panel=B)] = None,
             hold_out: Annotated[Optional[str], typer.Option(help="Hold these series of a panel out of training and forecast them as new ones at every origin: names (a,b), a share (20%) or a count (5) drawn with the seed.", show_default=False, rich_help_panel=B)] = None,
             out_dir: Annotated[Optional[Path], typer.Option("--out", help="Output folder (default: runs/NAME-backtest-TIME).")] = None,
             **options):
    """Walk-forward backtest of the model beside naive, seasonal naive, drift and moving average."""
    own = {"origins": origins, "stride": stride, "origins_from": origins_from, "origins_to": origins_to,
           "window": window, "train_size": train_size, "retrain_every": retrain_every,
           "calibration": calibration, "hold_out": hold_out}
    saved = None
    if model is not None:
        from forecast.trained import TrainedModel

        trained = TrainedModel.load(model)
        saved = {"source": trained.source, "data": trained.data, "model": trained.model, "train": trained.train}
    given = settings(options, ("source", "data", "model", "train", "backtest"), saved, {"backtest": own})
    source, data, net, train, bt = (given[k] for k in ("source", "data", "model", "train", "backtest"))
    if out_dir is not None and (out_dir / "backtest.csv").exists():
        raise ForecastError(f"{out_dir} already holds a backtest; choose another --out")
    folder = run_folder(out_dir, source.label, "backtest")
    check_writable(folder)
    frame, report, data = load_inputs(source, data, bool(options.get("target")) or model is not None
                                      or data.targets != DataConfig().targets)
    say(f"data: {report.source}, {report.rows} rows ({report.start} to {report.end})")
    from rich.progress import Progress

    from forecast.walkforward import DEFAULT_ORIGINS
    from forecast.walkforward import backtest as run_backtest

    with Progress(console=out, transient=True) as bar:
        task = bar.add_task("training folds", total=None)
        result = run_backtest(frame, data, net, train, bt, source=source,
                              progress=lambda done, total: bar.update(task, completed=done, total=total))
    say(f"{result.folds} fold(s) trained and forecast in {result.seconds:.1f} s")
    walked = len(set(result.origins))
    if bt.origins is None and bt.origins_from is None and bt.origins_to is None and walked < DEFAULT_ORIGINS:
        say(f"{walked} origins: the last quarter of the data, or as many as leave the first fold enough rows to "
            f"train on (--origins defaults to {DEFAULT_ORIGINS} where the data allow)")
    _print(result)
    used = {"source": source.to_dict(), "data": data.to_dict(), "model": net.to_dict(),
            "train": train.to_dict(), "backtest": bt.to_dict(), "data_used": report.source}
    print_paths(result.write(folder, used))
