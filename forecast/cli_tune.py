"""`forecast tune`: the CLI face of `forecast.tune` (registered on the app in `forecast.cli`)."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from forecast.cli import _load, app, out, print_metrics
from forecast.cli_options import (CacheDir, Csv, DateCol, End, Features, Interval, Offline, Parquet, Sample,
                                  Start, Target, Ticker)
from forecast.errors import ForecastError

Range = Annotated[Optional[str], typer.Option(help="Search range 'low,high'.")]
Choices = Annotated[Optional[str], typer.Option(help="Choices to search, comma-separated.")]


def _spec(study_file, flags: dict, source: dict, search: dict, fixed: dict):
    from forecast.study import StudySpec, load_study_file

    spec = load_study_file(study_file) if study_file else StudySpec()
    given = {k: v for k, v in flags.items() if v is not None}
    src = {k: v for k, v in source.items() if v not in (None, False, [])}
    if src:
        spec.source = {**spec.source, **src} if not {"ticker", "sample", "csv", "parquet"} & set(src) \
            else src
    fixed_data = {k: v for k, v in fixed.items() if v is not None and k in ("horizon",)}
    fixed_train = {k: v for k, v in fixed.items() if v is not None and k in ("max_epochs",)}
    return StudySpec(**{**spec.__dict__, **given,
                        "search": {**spec.search, **{k: v for k, v in search.items() if v is not None}},
                        "fixed": {"data": {**spec.fixed["data"], **fixed_data},
                                  "model": spec.fixed["model"],
                                  "train": {**spec.fixed["train"], **fixed_train}}})


def _print_summary(s: dict) -> None:
    from rich.table import Table

    out.print(f"study {s['study']}: {s['trials']} trials ({s['complete']} complete, {s['pruned']} pruned, "
              f"{s['fail']} failed, {s['running']} running)")
    if s["best"] is None:
        out.print("no completed trial yet")
        return
    table = Table(title=f"best trial #{s['best']['number']}: validation loss {s['best']['val_loss']:.5g}")
    table.add_column("parameter")
    table.add_column("value", justify="right")
    table.add_column("importance", justify="right")
    for name, value in s["best"]["params"].items():
        imp = s["importances"].get(name)
        table.add_row(name, f"{value:.4g}" if isinstance(value, float) else str(value),
                      "" if imp is None else f"{imp:.2f}")
    out.print(table)


@app.command()
def tune(study_file: Annotated[Optional[Path], typer.Argument(help="YAML study in studies/.")] = None,
         ticker: Ticker = None, sample: Sample = None, csv: Csv = None, parquet: Parquet = None,
         date_col: DateCol = None, target: Target = None, features: Features = None,
         start: Start = None, end: End = None, interval: Interval = "1d", cache_dir: CacheDir = None,
         offline: Offline = False,
         n_trials: Annotated[Optional[int], typer.Option(help="Total trials the study should hold.")] = None,
         jobs: Annotated[int, typer.Option(help="Worker processes sharing the storage.")] = 1,
         storage: Annotated[Optional[str], typer.Option(help="Optuna storage URL or journal .log file.")] = None,
         study_name: Annotated[Optional[str], typer.Option(help="Study name in the storage.")] = None,
         sampler: Annotated[Optional[str], typer.Option(help="tpe or random.")] = None,
         pruner: Annotated[Optional[str], typer.Option(help="median, hyperband or none.")] = None,
         seed: Annotated[Optional[int], typer.Option(help="Sampler and training seed.")] = None,
         hidden_size: Range = None, seq_len: Range = None, cell: Choices = None,
         num_layers: Range = None, dropout: Range = None, learning_rate: Range = None,
         batch_size: Choices = None,
         horizon: Annotated[Optional[int], typer.Option(help="Steps to forecast (fixed).")] = None,
         max_epochs: Annotated[Optional[int], typer.Option(help="Epochs per trial at most.")] = None,
         show: Annotated[bool, typer.Option(help="Summarise the study; run no trials.")] = False,
         refit: Annotated[bool, typer.Option(help="Retrain the best trial on train+val and save it.")] = True,
         out_dir: Annotated[Optional[Path], typer.Option("--out", help="Output folder (default: runs/NAME-tune).")] = None):
    """Search hidden size, sequence length and more with Optuna; pruned, resumable, parallel."""
    from forecast.study import parse_range

    search = {name: parse_range(value, name) for name, value in
              [("hidden_size", hidden_size), ("seq_len", seq_len), ("cell", cell),
               ("num_layers", num_layers), ("dropout", dropout), ("learning_rate", learning_rate),
               ("batch_size", batch_size)]}
    source = {"ticker": ticker, "sample": sample, "csv": str(csv) if csv else None,
              "parquet": str(parquet) if parquet else None, "date_col": date_col,
              "target": list(target or []), "features": list(features or []), "start": start,
              "end": end, "offline": offline}
    flags = {"n_trials": n_trials, "storage": storage, "study_name": study_name, "sampler": sampler,
             "pruner": pruner, "seed": seed}
    spec = _spec(study_file, flags, source, search, {"horizon": horizon, "max_epochs": max_epochs})
    from forecast import tune as tuning
    from forecast.train import quiet_lightning

    quiet_lightning()
    url = tuning.storage_url(spec)
    if show:
        import optuna

        try:
            study = optuna.load_study(study_name=spec.study_name, storage=tuning.open_storage(url))
        except KeyError:
            raise ForecastError(f"no study {spec.study_name!r} in {url}") from None
        _print_summary(tuning.summary(study))
        return
    src = spec.source
    data_cfg = spec.configs({}, check=False)[0]
    frame, report = _load(src.get("ticker"), src.get("sample"), src.get("csv"), src.get("parquet"),
                          src.get("date_col"), data_cfg.targets, data_cfg.features, src.get("start"),
                          src.get("end"), src.get("interval", interval), cache_dir,
                          src.get("offline", False), data_cfg.max_gap)
    out.print(f"data: {report.source}, {report.rows} rows ({report.start} to {report.end})")
    out.print(f"study {spec.study_name} in {url}: up to {spec.n_trials} trials, {jobs} worker(s), "
              f"sampler {spec.sampler}, pruner {spec.pruner}; search {json.dumps(spec.search)}")
    started = time.perf_counter()
    study = tuning.run_study(spec, frame, jobs)
    out.print(f"tuning took {time.perf_counter() - started:.1f} s")
    s = tuning.summary(study)
    _print_summary(s)
    folder = out_dir or Path("runs") / f"{spec.study_name}-tune-{time.strftime('%Y%m%d-%H%M%S')}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "study.json").write_text(json.dumps(s, indent=2, default=str))
    plot = tuning.plot_history(study, folder / "optimization_history.png")
    if plot:
        out.print(f"history plot: {plot}")
    if refit and s["best"] is not None:
        out.print("retraining the best configuration on train + validation ...")
        result, paths = tuning.refit_best(spec, study, frame, folder, report=report)
        print_metrics(result.metrics)
        for what, path in paths.items():
            out.print(f"{what}: {path}")
    out.print(f"open the study in a browser: optuna-dashboard {url}")
