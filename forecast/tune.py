"""Optuna tuning: pruned, persistent studies, spread over worker processes through the storage.

The objective trains on the training span and returns the best validation loss, whose targets cover
the same dates for every `seq_len`. The data is loaded once per study; each trial builds its windows
from the loaded frame. Every worker process runs its share of the trials against the same storage,
so machines can join a study by pointing at the same database URL.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import warnings
from dataclasses import replace
from pathlib import Path

import lightning.pytorch as pl
import optuna
import pandas as pd

from forecast.errors import ForecastError
from forecast.sources import validate_frame
from forecast.study import StudySpec, suggest
from forecast.train import quiet_lightning, train_network

FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED,
            optuna.trial.TrialState.FAIL)


class PruningCallback(pl.Callback):
    """Report each epoch's validation loss to the trial; stop the trial when the pruner says so."""

    def __init__(self, trial: optuna.Trial, monitor: str = "val_loss"):
        self.trial, self.monitor = trial, monitor

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        score = trainer.callback_metrics.get(self.monitor)
        if trainer.sanity_checking or score is None:
            return
        self.trial.report(float(score), step=trainer.current_epoch)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned at epoch {trainer.current_epoch}")


def storage_url(spec: StudySpec) -> str:
    return spec.storage or f"sqlite:///studies/{spec.study_name}.db"


def open_storage(url: str):
    """An RDB URL (sqlite, postgresql, mysql) or a journal file (`*.log`, `*.jsonl`)."""
    if url.endswith((".log", ".jsonl")):
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        Path(url).parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(url))
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    try:
        # The heartbeat lets a later run mark trials of a killed worker as failed.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(url, heartbeat_interval=10, grace_period=60)
    except Exception as e:  # bad URL, missing driver, unreachable server
        raise ForecastError(f"cannot open study storage {url!r}: {e}") from None


def make_study(spec: StudySpec, storage, seed_offset: int = 0) -> optuna.Study:
    seed = spec.seed + seed_offset
    sampler = (optuna.samplers.TPESampler(seed=seed, n_startup_trials=5) if spec.sampler == "tpe"
               else optuna.samplers.RandomSampler(seed=seed))
    max_epochs = spec.configs({}, check=False)[2].max_epochs
    pruner = {"median": optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1),
              "hyperband": optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max_epochs),
              "none": optuna.pruners.NopPruner()}[spec.pruner]
    return optuna.create_study(study_name=spec.study_name, storage=storage, direction="minimize",
                               sampler=sampler, pruner=pruner, load_if_exists=True)


def objective(trial: optuna.Trial, spec: StudySpec, frame: pd.DataFrame) -> float:
    """Train one configuration; return its best validation loss (NaN marks the trial failed)."""
    step = spec.configs({}, check=False)[1].segment_len
    data, model, train = spec.configs(suggest(trial, spec.search, seq_len_step=step))
    trained = train_network(frame, data, model, train, callbacks=[PruningCallback(trial)])
    trial.set_user_attr("best_epoch", trained.best_epoch)
    return trained.best_val


def _worker(spec: StudySpec, frame: pd.DataFrame, n_trials: int, seed_offset: int, threads: int):
    import torch

    torch.set_num_threads(threads)  # N workers share the cores instead of oversubscribing them
    quiet_lightning()
    study = make_study(spec, open_storage(storage_url(spec)), seed_offset)
    # A trial that raises (bad combination, out of memory) is recorded as failed; the study goes on.
    study.optimize(lambda t: objective(t, spec, frame), n_trials=n_trials,
                   catch=(ForecastError, RuntimeError, ValueError), gc_after_trial=True)


def finished_trials(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=FINISHED))


def run_study(spec: StudySpec, frame: pd.DataFrame, jobs: int = 1) -> optuna.Study:
    """Run the study until it holds `spec.n_trials` finished trials, in `jobs` processes."""
    if jobs < 1:
        raise ForecastError(f"--jobs must be positive, got {jobs}")
    quiet_lightning()
    data = spec.configs({}, check=False)[0]
    frame, _ = validate_frame(frame, list(data.inputs), max_gap=data.max_gap)  # once per study
    study = make_study(spec, open_storage(storage_url(spec)))
    done = finished_trials(study)
    remaining = max(0, spec.n_trials - done)
    jobs = min(jobs, remaining) or 1
    quotas = [remaining // jobs + (i < remaining % jobs) for i in range(jobs)]
    # Different sampler seeds per worker and per resumed run, so workers do not propose twins.
    offsets = [done * 1009 + i for i in range(jobs)]
    threads = max(1, (os.cpu_count() or 1) // jobs)
    if remaining and jobs == 1:
        _worker(spec, frame, remaining, offsets[0], threads)
    elif remaining:
        ctx = mp.get_context("spawn")  # fork and torch threads do not mix
        procs = [ctx.Process(target=_worker, args=(spec, frame, q, o, threads))
                 for q, o in zip(quotas, offsets)]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        failed = [p.exitcode for p in procs if p.exitcode]
        if failed:
            raise ForecastError(f"{len(failed)} worker process(es) exited with {failed}; "
                                "the study is saved, run the same command to continue it")
    return optuna.load_study(study_name=spec.study_name, storage=open_storage(storage_url(spec)))


def summary(study: optuna.Study) -> dict:
    """Trial counts by state, the best trial and parameter importances."""
    trials = study.get_trials(deepcopy=False)
    counts = {state.name.lower(): sum(t.state == state for t in trials)
              for state in optuna.trial.TrialState}
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    out = {"study": study.study_name, "trials": len(trials), **counts, "best": None, "importances": {}}
    if complete:
        best = study.best_trial
        out["best"] = {"number": best.number, "val_loss": best.value, "params": best.params,
                       "best_epoch": best.user_attrs.get("best_epoch")}
        try:
            out["importances"] = optuna.importance.get_param_importances(study)
        except (RuntimeError, ValueError, ZeroDivisionError):
            pass  # too few distinct completed trials to say anything
    return out


def plot_history(study: optuna.Study, path: str | Path) -> Path | None:
    """Optimisation-history PNG (Optuna's matplotlib plot); None when nothing has completed."""
    if not any(t.state == optuna.trial.TrialState.COMPLETE for t in study.get_trials(deepcopy=False)):
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization.matplotlib import plot_optimization_history

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna marks its matplotlib plots experimental
        ax = plot_optimization_history(study)
    ax.set_ylabel("validation loss (scaled)")
    ax.figure.set_size_inches(9, 4.5)
    ax.figure.tight_layout()
    ax.figure.savefig(path, dpi=110)
    plt.close(ax.figure)
    return Path(path)


def refit_best(spec: StudySpec, study: optuna.Study, frame: pd.DataFrame, folder, report=None,
               quiet: bool = True):
    """Retrain the best configuration on train + validation for the epochs its trial found best;
    save it like `forecast fit` does, with test metrics against the naive forecast."""
    from forecast.runs import fit_and_save

    best = study.best_trial
    data, model, train = spec.configs(best.params)
    epochs = int(best.user_attrs.get("best_epoch", train.max_epochs - 1)) + 1
    data = replace(data, train_through_val=True)
    train = replace(train, max_epochs=epochs, patience=0)
    return fit_and_save(frame, data, model, train, folder, report=report, quiet=quiet)
