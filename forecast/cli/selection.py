"""Choosing a model: `forecast backtest` (how its settings would have done, walking forward through
history, beside the baselines) and `forecast tune` (which settings do best on validation). Each:
parse, one library call (`forecast.walkforward.backtest`, `forecast.tuning.tune`), print."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from forecast.cli.common import (check_writable, fmt, load_inputs, out, print_metrics, print_paths, run_folder, say,
                                 show, warn)
from forecast.cli.options import CONFIG, DATA, MODEL, SET, SOURCE, TRAIN, option, settings, split_flags, with_options
from forecast.config import DataConfig
from forecast.errors import ForecastError


def _print(result) -> None:
    from rich.table import Table

    where = (f"{len(set(result.origins))} origins x {len(set(result.series))} series" if result.is_panel
             else f"{len(result.origins)} origins")
    if result.new:
        where += f", scored on the {len(result.new)} held out of training"
    print_metrics(result.metrics, f"Walk-forward backtest: {where}, {result.folds} fold(s), "
                  f"horizon {result.actual.shape[1]}")
    per_step = result.by_step()
    steps = Table(title="By horizon step: MAE, and coverage of the model's intervals")
    steps.add_column("step", justify="right")
    for name in result.forecasts:
        steps.add_column(name.replace("_", " "), justify="right")
    for name in per_step["intervals"]:
        steps.add_column(f"cover {name}", justify="right")
    for h in range(result.actual.shape[1]):
        steps.add_row(str(h + 1), *(fmt(per_step[n]["mae"][h]) for n in result.forecasts),
                      *(fmt(m["model"]["coverage"][h]) for m in per_step["intervals"].values()))
    show(steps)


B = "Backtest"
TRAIN_SHOWN = {k: v for k, v in TRAIN.items() if k not in ("loss", "batch_size", "seed")}  # the rest: --config, --set


# A fold validates on the last share of its training rows; its test spans are the origins
BACKTEST_DATA = {**DATA, "split": option(None, "split", str, "VAL,TEST shares, e.g. 0.15,0.15: each fold validates on the last VAL of its training rows (TEST is unused: the origins are the test; dates and steps do not apply).", "Data")}


@with_options(SOURCE, BACKTEST_DATA, MODEL, TRAIN_SHOWN, CONFIG, SET)
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
    if options.get("split") and "val_fraction" not in split_flags(options["split"]):
        raise ForecastError("backtest --split takes shares, VAL,TEST such as 0.15,0.15: each fold validates on the "
                            "last VAL of its training rows (TEST is unused: the origins are the test); to place the "
                            "origins by date, --origins-from and --origins-to")
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
    for name in result.left_out:
        warn(f"left out series {name}: no fold trained on it or forecast it (too young or constant before the "
             f"origins, or no data at them); --hold-out {name} scores a young one as a series never trained on")
    walked = len(set(result.origins))
    if bt.origins is None and bt.origins_from is None and bt.origins_to is None and walked < DEFAULT_ORIGINS:
        say(f"{walked} origins: the last quarter of the data, or as many as leave the first fold enough rows to "
            f"train on (--origins defaults to {DEFAULT_ORIGINS} where the data allow)")
    _print(result)
    used = {"source": source.to_dict(), "data": data.to_dict(), "model": net.to_dict(),
            "train": train.to_dict(), "backtest": bt.to_dict(), "data_used": report.source}
    print_paths(result.write(folder, used))


# forecast tune

SEARCHED = ("hidden_size", "seq_len", "cell", "learning_rate", "batch_size", "seed")  # --search or tune's own
# A study's own settings that --set reaches without a section (`--set sampler=random`)
STUDY = {"sampler": str, "pruner": str, "heartbeat_grace": int}


def _print_summary(s: dict) -> None:
    from rich.table import Table

    say(f"study {s['study']}: {s['trials']} trials ({s['complete']} complete, {s['pruned']} pruned, "
        f"{s['fail']} failed, {s['running']} running)")
    for line in s.get("failures", []):
        say(f"  failed {line}")
    if s["best"] is None:
        say("no completed trial yet")
        return
    say(f"best trial #{s['best']['number']}: validation loss {s['best']['val_loss']:.5g}")  # a title would wrap
    table = Table()
    table.add_column("parameter")
    table.add_column("value", justify="right")
    table.add_column("importance", justify="right")
    for name, value in s["best"]["params"].items():
        imp = s["importances"].get(name)
        table.add_row(name, f"{value:.4g}" if isinstance(value, float) else str(value),
                      "" if imp is None else f"{imp:.2f}")
    show(table)


@with_options(SOURCE, DATA, MODEL, TRAIN, SET, skip=(*SEARCHED, "baselines", "holidays"))
def tune(config: Annotated[Optional[Path], typer.Option(help="Study file (YAML, e.g. studies/aapl_sample.yaml): the settings sections, the search space, trials, sampler, pruner; a run's config.json also serves.", rich_help_panel="Settings")] = None,
         n_trials: Annotated[Optional[int], typer.Option(help="Total finished trials the study should hold (default 20).", show_default=False)] = None,
         jobs: Annotated[int, typer.Option(help="Worker processes sharing the storage.")] = 1,
         storage: Annotated[Optional[str], typer.Option(help="Optuna storage URL or journal .log file (default studies/NAME.db).")] = None,
         study_name: Annotated[Optional[str], typer.Option(help="Study name in the storage (default: from the data and search space).")] = None,
         search: Annotated[Optional[list[str]], typer.Option(help="Search NAME=LOW,HIGH (a range), NAME=A,B,C (choices) or NAME=VALUE (held fixed), e.g. seq_len=24,336 or cell=lstm,gru; repeatable. Searchable: hidden_size, seq_len, cell, num_layers, dropout, learning_rate, batch_size, weight_decay, normalize, time_features, cycle (default hidden_size=8,128 and seq_len=10,120).", show_default=False)] = None,
         seed: Annotated[Optional[int], typer.Option(help="Random seed of the sampler and of training: same seed, same run (default 42).", show_default=False)] = None,
         show: Annotated[bool, typer.Option(help="Summarise the study; run no trials.")] = False,
         refit: Annotated[bool, typer.Option(help="Retrain the best trial on train+val, test it, refit on all rows and save it.")] = True,
         out_dir: Annotated[Optional[Path], typer.Option("--out", help="Output folder (default: runs/STUDY-tune-TIME).")] = None,
         **options):
    """Search hidden size, sequence length and more with Optuna; pruned, resumable, parallel."""
    from forecast.cli.options import assignments
    from forecast.study import StudySpec, fit_search, load_study_file, parse_range

    ranges = {}
    for item in search or ():
        name, equals, value = item.partition("=")
        if not equals or not name.strip():
            raise ForecastError(f"--search takes NAME=VALUES, e.g. seq_len=24,336; got {item!r}")
        ranges[name.strip()] = parse_range(value, name.strip())
    base = load_study_file(config) if config else StudySpec()
    sets = [i for i in options.get("set") or () if i.partition("=")[0].strip() not in STUDY]
    study = assignments([i for i in options.get("set") or () if i not in sets], (), STUDY).get("", {})
    saved = {"source": base.source, "data": base.data, "model": base.model, "train": base.train}
    given = settings({**options, "set": sets}, ("source", "data", "model", "train"), saved,
                     {"train": {"seed": seed}})
    spec = base.override(source=given["source"], data=given["data"].to_dict(), model=given["model"].to_dict(),
                         train=given["train"].to_dict(), search=ranges, n_trials=n_trials, storage=storage,
                         study_name=study_name, seed=seed, **study)
    import optuna

    from forecast import tuning
    from forecast.storage import masked

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # the CLI prints its own lines per trial
    url = tuning.storage_url(spec)
    if show:
        unused = [f"--{k.replace('_', '-')}" for k, v in {"n_trials": n_trials, "jobs": jobs != 1, "out": out_dir,
                                                          "no_refit": not refit}.items() if v]
        if unused:  # a summary runs nothing: an option for a run would be ignored
            raise ForecastError(f"--show summarises the study and runs nothing; drop {', '.join(unused)}")
        _print_summary(tuning.summary(tuning.load_existing(spec)))
        return
    if out_dir is not None and (out_dir / "model.safetensors").exists():
        raise ForecastError(f"{out_dir} already holds a model; choose another --out")
    frame, report, data = load_inputs(spec.source, spec.data, spec.data.targets != DataConfig().targets)
    if data is not spec.data:  # the target inferred from the file: the study's name follows it
        spec = spec.override(data={"targets": data.targets})
    spec = fit_search(spec, frame)
    url = masked(tuning.storage_url(spec))  # what is shown: never a password
    folder = run_folder(out_dir, spec.study_name or "study", "tune")
    check_writable(folder)
    say(f"data: {report.source}, {report.rows} rows ({report.start} to {report.end})")
    say(f"study {spec.study_name} in {url}: {spec.n_trials} trials in all, {jobs} worker(s), "
        f"sampler {spec.sampler}, pruner {spec.pruner}; search {json.dumps(spec.search)}")
    started = time.perf_counter()
    try:
        result = tuning.tune(spec, frame, jobs, refit=refit, report=report, trials_dir=folder / "trials")
    except KeyboardInterrupt:
        from forecast.errors import TrainingInterrupted

        raise TrainingInterrupted(f"interrupted; the finished trials are saved in {url}: run the same "
                                  "command to continue the study") from None
    say(f"tuning took {time.perf_counter() - started:.1f} s; each trial's epochs are logged in {folder / 'trials'}")
    _print_summary(result.summary)
    if result.refit is not None:
        for name, why in result.refit.prepared.dropped.items():  # --drop-bad: the trials left them out too
            warn(f"left out series {name}: {why}")
        print_metrics(result.refit.metrics, "Test metrics of the best configuration, trained on "
                      f"{result.refit.evaluated.info['trained_on']}")
    print_paths(result.write(folder))
    say(f"open the study in a browser: optuna-dashboard {url}")
