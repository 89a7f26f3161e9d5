"""`forecast tune`: parse, one library call (`forecast.tuning.tune`), print."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from forecast.cli.common import (DATA, MODEL, SOURCE, TRAIN, check_writable, data_flags, load_inputs, out,
                                 run_folder, say, source_from, with_options)
from forecast.cli.printing import print_metrics, print_paths
from forecast.errors import ForecastError

SEARCHED = ("hidden_size", "seq_len", "cell", "num_layers", "dropout", "learning_rate", "batch_size")
Range = Annotated[Optional[str], typer.Option(help="Search range 'low,high', or one value to hold it fixed.")]
Choices = Annotated[Optional[str], typer.Option(help="Choices to search, comma-separated.")]


def _print_summary(s: dict) -> None:
    from rich.table import Table

    say(f"study {s['study']}: {s['trials']} trials ({s['complete']} complete, {s['pruned']} pruned, "
        f"{s['fail']} failed, {s['running']} running)")
    for line in s.get("failures", []):
        say(f"  failed {line}")
    if s["best"] is None:
        say("no completed trial yet")
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


@with_options(SOURCE, DATA, MODEL, TRAIN, skip=SEARCHED + ("seed",))
def tune(study_file: Annotated[Optional[Path], typer.Argument(help="YAML study in studies/.")] = None,
         n_trials: Annotated[Optional[int], typer.Option(help="Total finished trials the study should hold (default 20).", show_default=False)] = None,
         jobs: Annotated[int, typer.Option(help="Worker processes sharing the storage.")] = 1,
         storage: Annotated[Optional[str], typer.Option(help="Optuna storage URL or journal .log file (default studies/NAME.db).")] = None,
         study_name: Annotated[Optional[str], typer.Option(help="Study name in the storage (default: from the data and search space).")] = None,
         sampler: Annotated[Optional[str], typer.Option(help="tpe or random (default tpe).", show_default=False)] = None,
         pruner: Annotated[Optional[str], typer.Option(help="median, hyperband or none (default median).", show_default=False)] = None,
         seed: Annotated[Optional[int], typer.Option(help="Sampler and training seed (default 42).", show_default=False)] = None,
         heartbeat_grace: Annotated[Optional[int], typer.Option(help="Seconds without a heartbeat after which a running trial of a killed worker counts as failed (default 60).", show_default=False)] = None,
         hidden_size: Range = None, seq_len: Range = None, cell: Choices = None, num_layers: Range = None,
         dropout: Range = None, learning_rate: Range = None, batch_size: Choices = None,
         show: Annotated[bool, typer.Option(help="Summarise the study; run no trials.")] = False,
         refit: Annotated[bool, typer.Option(help="Retrain the best trial on train+val, test it, refit on all rows and save it.")] = True,
         out_dir: Annotated[Optional[Path], typer.Option("--out", help="Output folder (default: runs/STUDY-tune-TIME).")] = None,
         **options):
    """Search hidden size, sequence length and more with Optuna; pruned, resumable, parallel."""
    from forecast.study import StudySpec, fit_search, load_study_file, parse_range

    search = {name: parse_range(value, name) for name, value in
              [("hidden_size", hidden_size), ("seq_len", seq_len), ("cell", cell),
               ("num_layers", num_layers), ("dropout", dropout), ("learning_rate", learning_rate),
               ("batch_size", batch_size)]}
    base = load_study_file(study_file) if study_file else StudySpec()
    train = {k: options.get(k) for k in TRAIN if k not in SEARCHED}
    if seed is not None:
        train["seed"] = seed
    spec = base.override(source=source_from(options, base.source),
                         data=data_flags(options),
                         model={k: options.get(k) for k in MODEL if k not in SEARCHED},
                         train=train, search=search, n_trials=n_trials, storage=storage,
                         study_name=study_name, sampler=sampler, pruner=pruner, seed=seed,
                         heartbeat_grace=heartbeat_grace)
    import optuna

    from forecast import tuning
    from forecast.storage import masked

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # the CLI prints its own lines per trial
    url = tuning.storage_url(spec)
    if show:
        _print_summary(tuning.summary(tuning.load_existing(spec)))
        return
    if out_dir is not None and (out_dir / "model.safetensors").exists():
        raise ForecastError(f"{out_dir} already holds a model; choose another --out")
    frame, report, data = load_inputs(spec.source, spec.data, bool(options.get("target")))
    if data is not spec.data:  # the target inferred from the file: the study's name follows it
        spec = spec.override(data={"targets": data.targets})
    spec = fit_search(spec, frame)
    url = masked(tuning.storage_url(spec))  # what is shown: never a password
    folder = run_folder(out_dir, spec.study_name, "tune")
    check_writable(folder)
    say(f"data: {report.source}, {report.rows} rows ({report.start} to {report.end})")
    say(f"study {spec.study_name} in {url}: {spec.n_trials} trials in all, {jobs} worker(s), "
        f"sampler {spec.sampler}, pruner {spec.pruner}; search {json.dumps(spec.search)}")
    started = time.perf_counter()
    try:
        result = tuning.tune(spec, frame, jobs, refit=refit, report=report)
    except KeyboardInterrupt:
        from forecast.errors import TrainingInterrupted

        raise TrainingInterrupted(f"interrupted; the finished trials are saved in {url}: run the same "
                                  "command to continue the study") from None
    say(f"tuning took {time.perf_counter() - started:.1f} s")
    _print_summary(result.summary)
    if result.refit is not None:
        print_metrics(result.refit.metrics, "Test metrics of the best configuration, trained on "
                      f"{result.refit.evaluated.info['trained_on']}")
    print_paths(result.write(folder))
    say(f"open the study in a browser: optuna-dashboard {url}")
