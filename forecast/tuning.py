"""Optuna tuning: pruned, persistent studies, spread over worker processes through the storage.

The objective trains on the training span and returns the best validation loss, whose targets cover
the same dates for every `seq_len`. The data is loaded once per study; each trial builds its windows
from the loaded frame. Every worker process runs its share of the trials against the same storage,
so machines can join a study by pointing at the same database URL.
"""
from __future__ import annotations

import contextlib
import math
import multiprocessing as mp
import os
import threading
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import optuna
import pandas as pd
import torch

from forecast.errors import ForecastError, TrainingInterrupted
from forecast.files import write_json
from forecast.forecaster import cores, ctrl_c_remembered
from forecast.loading import as_panel, frame_target
from forecast.outputs import plot_study, save_figure
from forecast.sources import loaded
from forecast.storage import (creation_lock, fail_orphans, first_heartbeat, masked, open_storage, retrying,
                              storage_cause, storage_lost, storage_url)
from forecast.study import StudySpec, fit_search, named_for, suggest
from forecast.train import FitResult, fit, train_network

FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED,
            optuna.trial.TrialState.FAIL)
RUNNING = optuna.trial.TrialState.RUNNING
# What a trial may fail with and the study survive: bad settings and a device out of memory.
# Anything else is a bug and stops the study with its traceback.
EXPECTED_FAILURES = (ForecastError, torch.OutOfMemoryError)


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


def make_study(spec: StudySpec, storage, seed_offset: int = 0) -> optuna.Study:
    """Create the study or join it; a stored study with another source, settings or search space
    is refused, so unrelated runs never mix."""
    seed = spec.seed + seed_offset
    sampler = (optuna.samplers.TPESampler(seed=seed, n_startup_trials=5) if spec.sampler == "tpe"
               else optuna.samplers.RandomSampler(seed=seed))
    pruner = {"median": optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1),
              "hyperband": optuna.pruners.HyperbandPruner(min_resource=1,
                                                          max_resource=spec.train.max_epochs),
              "none": optuna.pruners.NopPruner()}[spec.pruner]
    study = retrying(f"study {spec.study_name!r}", lambda: optuna.create_study(
        study_name=spec.study_name, storage=storage, direction="minimize", sampler=sampler,
        pruner=pruner, load_if_exists=True))
    stored = study.user_attrs.get("fingerprint")
    if stored is None:
        study.set_user_attr("fingerprint", spec.fingerprint())
        study.set_user_attr("identity", spec.identity())
    elif stored != spec.fingerprint():
        raise ForecastError(f"study {spec.study_name!r} in this storage was made with another data "
                            "source, settings or search space; choose another --study-name")
    return study


def _claim(spec: StudySpec, storage) -> bool:
    """Create the study if it does not exist yet; True for the one process that created it."""
    def create():
        try:
            optuna.create_study(study_name=spec.study_name, storage=storage, direction="minimize")
            return True
        except optuna.exceptions.DuplicatedStudyError:
            return False
    return retrying(f"study {spec.study_name!r}", create)


def objective(trial: optuna.Trial, spec: StudySpec, frame: dict, trials_dir=None) -> float:
    """Train one configuration; return its best validation loss (over every series' validation
    windows for a panel). A NaN loss fails the trial. With `trials_dir`, the trial's epochs are
    logged in `trials_dir/trial-NNNN` (CSV, and TensorBoard or MLflow as `train.logger` says: one
    MLflow store for the study's trials, a run per trial)."""
    try:
        data, model, train = spec.configs(suggest(trial, spec.search,
                                                  seq_len_step=spec.model.segment_len))
        log = None if trials_dir is None else (Path(trials_dir) / f"trial-{trial.number:04d}", Path(trials_dir))
        trained = train_network(frame, data, model, train, callbacks=[PruningCallback(trial)],
                                drop_bad=spec.source.drop_bad, log=log)
        if not math.isfinite(trained.best_val):
            raise ForecastError("the validation loss was never finite (training diverged); "
                                "lower the learning rate")
    except TrainingInterrupted:  # Ctrl-C stops the study, not just this trial
        trial.set_user_attr("failure", "interrupted")
        raise KeyboardInterrupt from None
    except EXPECTED_FAILURES as e:
        trial.set_user_attr("failure", f"{type(e).__name__}: {e}")  # shown instead of a traceback
        raise
    trial.set_user_attr("best_epoch", trained.best_epoch)
    return trained.best_val


def _optimize(spec: StudySpec, frame: dict, n_trials: int, seed_offset: int, trials_dir=None) -> None:
    """Run up to `n_trials` trials; stop early once the study as a whole holds `spec.n_trials`
    finished or running trials, however many processes and machines share it."""
    url = storage_url(spec)
    storage = open_storage(url, spec.heartbeat_grace)
    study = make_study(spec, storage, seed_offset)
    ask = study.ask

    def ask_within_total(*args, **kwargs):
        # Count and create under one lock shared by every process on the storage: a process that
        # joins late or finishes last never creates a trial beyond the study's total. The trial's
        # first heartbeat is written before the lock is released (see `fail_orphans`).
        with creation_lock(url, storage):
            fail_orphans(storage, spec.study_name)
            if len(study.get_trials(deepcopy=False, states=FINISHED + (RUNNING,))) >= spec.n_trials:
                raise _StudyFull
            trial = ask(*args, **kwargs)
            first_heartbeat(storage, spec.study_name, trial)
            return trial
    study.ask = ask_within_total  # type: ignore[method-assign]  # `optimize` asks through it for every trial (Optuna 3 to 5; the major is pinned)
    with ctrl_c_remembered(armed=False) as ctrl_c, _quiet_heartbeat():
        def run(trial):
            if ctrl_c.seen:  # Ctrl-C came while the trial was being created: fail it
                raise KeyboardInterrupt
            ctrl_c.armed = True  # only inside the objective, never while Optuna writes a trial
            try:
                return objective(trial, spec, frame, trials_dir)
            finally:
                ctrl_c.armed = False

        for _ in range(n_trials):
            try:
                study.optimize(run, n_trials=1, catch=EXPECTED_FAILURES)
            except _StudyFull:
                break
            except Exception as e:  # the server went away mid-study: what finished is saved there
                lost = storage_cause(e)  # (Optuna may raise another error while handling it)
                if lost is None:
                    raise
                raise ForecastError(storage_lost(url, lost)) from None
            if ctrl_c.seen:
                raise KeyboardInterrupt


@contextlib.contextmanager
def _quiet_heartbeat():
    """Optuna records heartbeats in a thread of its own, which prints a traceback when the storage
    goes away; the trial's own thread says so in one line (see `storage_lost`), so that one is quiet."""
    previous = threading.excepthook

    def hook(args) -> None:
        if storage_cause(args.exc_value) is None:
            previous(args)

    threading.excepthook = hook
    try:
        yield
    finally:
        threading.excepthook = previous


class _StudyFull(Exception):
    """The study holds its total of trials; this process stops."""


def _worker(spec: StudySpec, frame: dict, n_trials: int, seed_offset: int, trials_dir=None):
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # a worker process of our own: no tracebacks
    try:
        _optimize(spec, frame, n_trials, seed_offset, trials_dir)
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    except ForecastError:  # the storage went away: the parent says so, once
        raise SystemExit(LOST) from None


LOST = 75  # a worker's exit status when the study's storage stopped answering (EX_TEMPFAIL)


def finished_trials(study: optuna.Study) -> int:
    """Trials that count toward `n_trials`: complete, pruned or failed for a reason of their own; one
    that Ctrl-C interrupted ran no test of its settings, so the study runs another in its place."""
    return sum(t.user_attrs.get("failure") != "interrupted"
               for t in study.get_trials(deepcopy=False, states=FINISHED))


def run_study(spec: StudySpec, frame: pd.DataFrame | dict, jobs: int = 1, trials_dir=None) -> optuna.Study:
    """Run the study until it holds `spec.n_trials` finished trials, in `jobs` processes; `frame`
    may be a panel (a dict of frames, one per series). `trials_dir`: where each trial logs its
    epochs (see `objective`)."""
    if jobs < 1:
        raise ForecastError(f"--jobs must be positive, got {jobs}")
    frame, _ = as_panel(frame, spec.data.inputs, spec.source, spec.data.static)  # validated once
    storage = open_storage(storage_url(spec), spec.heartbeat_grace)
    created = _claim(spec, storage)
    study = make_study(spec, storage)
    with warnings.catch_warnings():  # experimental in Optuna, and exactly what is needed here
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)  # trials of killed workers, past their grace period
    with creation_lock(storage_url(spec), storage):  # and those killed before their first heartbeat
        fail_orphans(storage, spec.study_name or "")  # named on creation: never empty
    done = finished_trials(study)
    running = len(study.get_trials(deepcopy=False, states=(RUNNING,)))
    remaining = max(0, spec.n_trials - done - running)
    jobs = min(jobs, remaining) or 1
    quotas = [remaining // jobs + (i < remaining % jobs) for i in range(jobs)]
    # Different sampler seeds per worker and per resumed run, so workers do not propose twins. A
    # command that joins a study others are running (or just created) mixes in its process id; a
    # study run by one command at a time stays repeatable.
    joined = running > 0 or (not created and done == 0)
    offsets = [done * 1009 + i + (os.getpid() * 7919 if joined else 0) for i in range(jobs)]
    # N workers share the cores instead of oversubscribing them (threads are not part of the
    # study's identity, so the workers still join the same study).
    worker_spec = replace(spec, train=spec.train.override(
        threads=spec.train.threads or max(1, cores() // jobs)))
    if remaining and jobs == 1:
        _optimize(spec, frame, remaining, offsets[0], trials_dir)
    elif remaining:
        ctx = mp.get_context("spawn")  # fork and torch threads do not mix
        procs = [ctx.Process(target=_worker, args=(worker_spec, frame, q, o, trials_dir))
                 for q, o in zip(quotas, offsets)]
        for p in procs:
            p.start()
        try:
            for p in procs:
                p.join()
        except KeyboardInterrupt:  # the workers got Ctrl-C too; wait for them to record it
            for p in procs:
                p.join(timeout=30)
                if p.is_alive():
                    p.terminate()
            raise
        if any(p.exitcode == 130 for p in procs):
            raise KeyboardInterrupt
        if any(p.exitcode == LOST for p in procs):
            raise ForecastError(storage_lost(storage_url(spec), ConnectionError("in a worker process")))
        failed = [p.exitcode for p in procs if p.exitcode]
        if failed:
            raise ForecastError(f"{len(failed)} worker process(es) exited with {failed}; "
                                "the study is saved, run the same command to continue it")
    return optuna.load_study(study_name=spec.study_name, storage=open_storage(storage_url(spec), spec.heartbeat_grace))


def load_existing(spec: StudySpec) -> optuna.Study:
    """Open a study that must exist already, creating no file on the way."""
    url = storage_url(spec)
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file() or \
            url.endswith((".log", ".jsonl")) and not Path(url).is_file():
        raise ForecastError(f"no study storage at {masked(url)}")
    try:
        return optuna.load_study(study_name=spec.study_name, storage=open_storage(url, spec.heartbeat_grace))
    except KeyError:
        raise ForecastError(f"no study {spec.study_name!r} in {url}") from None


def summary(study: optuna.Study) -> dict:
    """Trial counts by state, the best trial and parameter importances."""
    trials = study.get_trials(deepcopy=False)
    counts = {state.name.lower(): sum(t.state == state for t in trials)
              for state in optuna.trial.TrialState}
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    out: dict[str, Any] = {"study": study.study_name, "trials": len(trials), **counts, "best": None, "importances": {},
           "failures": [f"#{t.number}: {t.user_attrs.get('failure', 'no reason recorded')}"
                        for t in trials if t.state == optuna.trial.TrialState.FAIL]}
    if complete:
        best = study.best_trial
        out["best"] = {"number": best.number, "val_loss": best.value, "params": best.params,
                       "best_epoch": best.user_attrs.get("best_epoch")}
        try:  # one trial says nothing of importance (Optuna warns and gives each 0)
            out["importances"] = optuna.importance.get_param_importances(study) if len(complete) > 1 else {}
        except (RuntimeError, ValueError, ZeroDivisionError):
            pass  # too few distinct completed trials to say anything
    return out


@dataclass
class TuneResult:
    """A finished study, its summary, and the best configuration retrained (`refit`, if asked)."""

    study: optuna.Study
    summary: dict
    spec: StudySpec
    refit: FitResult | None = None

    def __repr__(self) -> str:  # a glance in a notebook; the fields hold the rest
        best = self.summary["best"]
        n = self.summary["trials"]
        return (f"TuneResult(study {self.summary['study']!r}: {n} trial{'s' * (n != 1)}, best {best['params']} "
                f"(validation loss {best['val_loss']:.4g}))" + (f"\n{self.refit!r}" if self.refit is not None else ""))

    def plot(self):
        """A matplotlib Figure of every trial's validation loss and the best so far."""
        return plot_study(self.study.get_trials(deepcopy=False))

    def write(self, folder: str | Path) -> dict[str, Path]:
        """study.json, optimization_history.png and, with a refit, what `forecast fit` writes."""
        folder = Path(folder)
        spec = self.spec.to_dict()
        if spec.get("storage"):  # never a password on disk
            spec["storage"] = masked(spec["storage"])
        paths = {"study": write_json({"spec": spec, **self.summary}, folder / "study.json"),
                 "history plot": save_figure(self.plot(), folder / "optimization_history.png")}
        if self.refit is not None:
            paths.update(self.refit.write(folder))
        return paths


def refit_best(spec: StudySpec, study: optuna.Study, frame: dict, report=None,
               quiet: bool = True) -> FitResult:
    """Retrain the best configuration on train + validation for the epochs its trial found best,
    score it once on test against the naive forecast, then refit on every row (like `fit`)."""
    best = study.best_trial
    data, model, train = spec.configs(best.params)
    epochs = int(best.user_attrs.get("best_epoch", train.max_epochs - 1)) + 1
    train = train.override(max_epochs=epochs, patience=0)
    return fit(frame, data, model, train, source=spec.source, fit_on="train+val", report=report,
               quiet=quiet)


def tune(spec: StudySpec, frame: pd.DataFrame | dict, jobs: int = 1, refit: bool = True, report=None,
         quiet: bool = True, trials_dir=None) -> TuneResult:
    """Run the study to `spec.n_trials` finished trials, summarise it and retrain the best; with
    `trials_dir`, each trial logs its epochs there (see `objective`). `quiet`: Optuna's line per
    trial and the refit's progress bars off.

    Raises `ForecastError` with the first failure's message when no trial completed. The default
    input-length range is first cut to what the data can train on (see `fit_search`). Frames that
    the spec's source does not name, under a derived study name, name the study from their content
    too (see `named_for`): other data start another study.

    Examples
    --------
    >>> from forecast import StudySpec, tune
    >>> from forecast.sources import load_sample
    >>> spec = StudySpec(study_name="doc", storage="sqlite:///doc.db", n_trials=2, train={"max_epochs": 1},
    ...                  search={"hidden_size": [4, 16], "seq_len": [10, 20]})
    >>> result = tune(spec, load_sample("IBM").tail(400))
    >>> result.study.best_trial.params["seq_len"] in range(10, 21)
    True
    """
    if not isinstance(spec, StudySpec):
        raise ForecastError(f"tune takes a StudySpec first, then the data; got a {type(spec).__name__} first")
    if loaded(frame):  # what `load` returned: its frames, and its report unless one is given
        frame, report = frame[0], report or frame[1]
    data = frame_target(frame, spec.data)[0]
    spec = spec.override(data={"targets": data.targets}) if data != spec.data else spec
    frame, _ = as_panel(frame, spec.data.inputs, spec.source, spec.data.static)
    spec = fit_search(spec, frame)
    spec = named_for(spec, frame)
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(max(verbosity, optuna.logging.WARNING) if quiet else verbosity)  # never louder
    try:
        study = run_study(spec, frame, jobs, trials_dir)
    finally:
        optuna.logging.set_verbosity(verbosity)
    try:
        s = summary(study)
    except Exception as e:
        lost = storage_cause(e)
        if lost is None:
            raise
        raise ForecastError(storage_lost(storage_url(spec), lost)) from None
    if s["best"] is None:
        failed = [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.FAIL]
        reason = failed[0].user_attrs.get("failure") if failed else None
        raise ForecastError(f"no trial of study {spec.study_name!r} completed"
                            + (f"; the first failure: {reason}" if reason else ""))
    fitted = refit_best(spec, study, frame, report, quiet) if refit else None
    return TuneResult(study, s, spec, fitted)
