"""Train a forecaster and evaluate it against the naive forecast.

`fit` is what `forecast fit` calls: validate -> windows -> Lightning Trainer with early stopping on
the validation span -> best epoch restored -> test metrics in original units beside the naive
forecast -> by default a final refit on every row for the chosen number of epochs, which is the
model that is returned for forecasting (the test metrics stay those of the evaluated model).
"""
from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import pandas as pd
import torch
from torch.multiprocessing.spawn import ProcessExitedException

from forecast.checks import placed, target_index
from forecast.config import DataConfig, ModelConfig, SourceConfig, TrainConfig, check_compatible
from forecast.dates import infer_frequency, stamp
from forecast.errors import ForecastError, TrainingInterrupted
from forecast.evaluation import Evaluation, calibrate_held_out, evaluate, pool
from forecast.files import write_atomically
from forecast.forecaster import (AdaptiveThreads, BestWeights, Forecaster, LastCheckpoint, ctrl_c_remembered,
                                 torch_threads)
from forecast.loading import as_panel, frame_target
from forecast.model import net_spec
from forecast.outputs import plot_test, write_fit
from forecast.panel import Prepared
from forecast.sources import DataReport, loaded
from forecast.trained import Member, TrainedModel
from forecast.trainer import (SpawnedDDP, WindowDataModule, check_resume, data_fingerprint, device_count,
                              earlier_log, merge_log, quiet_training, resolve_accelerator, resumable)
from forecast.windows import PreparedSeries, batch_loader


@dataclass
class Trained:
    """A trained network with its data; `best_val` is the best validation loss (encoded units)."""

    net: torch.nn.Module
    prepared: Prepared
    best_val: float
    best_epoch: int
    epochs: int
    tracking: dict | None = None  # where a TensorBoard or MLflow logger put this training (see `tracked`)


def _trainer(train: TrainConfig, out_dir: Path | None, quiet: bool, callbacks: list,
             validate: bool, log: tuple | None = None) -> pl.Trainer:
    devices = device_count(train)
    # Several devices: spawned DDP workers, each with its own share of the batches (see
    # `forecast.windows.ShardedBatches`, so Lightning's DistributedSampler is not wanted).
    strategy = SpawnedDDP() if devices > 1 or train.strategy == "ddp" else "auto"
    return pl.Trainer(
        accelerator=resolve_accelerator(train.accelerator), devices=devices, strategy=strategy,
        use_distributed_sampler=False, max_epochs=train.max_epochs,
        precision=train.precision,  # type: ignore[arg-type]  # one of config.PRECISIONS, checked there
        gradient_clip_val=train.gradient_clip or None, callbacks=callbacks,
        default_root_dir=out_dir, logger=loggers(train, *(log or (out_dir,))) or False,
        enable_checkpointing=out_dir is not None,
        limit_val_batches=None if validate else 0, enable_progress_bar=not quiet,
        enable_model_summary=False, num_sanity_val_steps=0)


def loggers(train: TrainConfig, out_dir: Path | None, store: Path | None = None) -> list:
    """The fit's loggers: CSV in `out_dir/logs` (what `--resume` continues), and TensorBoard (event
    files beside it) or MLflow (`$MLFLOW_TRACKING_URI`, else a SQLite store in `store`, by default
    `out_dir`) when `train.logger` asks; none without an output folder."""
    if out_dir is None:
        return []
    store = store or out_dir
    chosen: list = [pl.loggers.CSVLogger(out_dir, name="logs", version="")]
    if train.logger == "tensorboard":
        chosen.append(pl.loggers.TensorBoardLogger(out_dir, name="tensorboard", version="", default_hp_metric=False))
    elif train.logger == "mlflow":
        own = not os.environ.get("MLFLOW_TRACKING_URI")  # else the server or store the user set up
        chosen.append(pl.loggers.MLFlowLogger(
            experiment_name="forecast", run_name=Path(out_dir).name, tracking_uri=_mlflow_uri(store),
            artifact_location=(Path(store).resolve() / "mlartifacts").as_uri() if own else None))
    return chosen


def _mlflow_uri(out_dir: str | Path) -> str:
    """$MLFLOW_TRACKING_URI, else a SQLite store in the output folder (MLflow 3 retired plain files)."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path(out_dir).resolve() / 'mlflow.db'}"


def tracked(trainer: pl.Trainer, out_dir: str | Path | None) -> dict | None:
    """Where the TensorBoard or MLflow logger of `trainer` wrote (for the artifacts written later)."""
    for logger in trainer.loggers:
        if isinstance(logger, pl.loggers.TensorBoardLogger):
            return {"logger": "tensorboard", "log_dir": logger.log_dir}
        if isinstance(logger, pl.loggers.MLFlowLogger) and out_dir is not None:
            return {"logger": "mlflow", "tracking_uri": _mlflow_uri(out_dir), "run_id": logger.run_id}
    return None


def train_network(frame: dict[str, pd.DataFrame], data: DataConfig, model: ModelConfig, train: TrainConfig,
                  fit_on: str = "train", out_dir: str | Path | None = None, quiet: bool = True,
                  resume: bool = False, callbacks: list | None = None, announce=None,
                  drop_bad: bool = False, net: dict | None = None, log: tuple | None = None,
                  start: torch.nn.Module | None = None) -> Trained:
    """Train on validated series by name (see `forecast.loading.as_panel`); restore the best epoch
    when validation can choose one.

    `fit_on="train"` trains on the training span, validates every epoch, stops early and keeps the
    best epoch. With `"train+val"` or `"all"` those rows are training data too: no validation and no
    early stopping; the last epoch is kept (`train.max_epochs` fixes how many).
    `net` is a custom network's `forecast.model.net_spec` (None: `RecurrentNet`); its `prepare` and
    `finish` hooks, when it has them, run before and after training.
    With `out_dir`, `out_dir/checkpoints/last.ckpt` is written after every epoch and `resume`
    continues from it; without, nothing is written to disk but, with `log` (a folder, and the
    folder of the MLflow store), the epochs' logs (a tuning trial's). `start` is a trained network of
    the same shape whose weights training continues from (a warm refit), instead of fresh ones.
    """
    check_compatible(data, model)
    devices = device_count(train)
    pl.seed_everything(train.seed, workers=True, verbose=False)
    dm = WindowDataModule(frame, data, batch_size=train.batch_size, seed=train.seed, fit_on=fit_on,
                          drop_bad=drop_bad, sampling=train.sampling)
    dm.setup()
    prepared = dm.prepared
    assert prepared is not None  # set by setup
    if announce is not None:
        announce(prepared)
    parts = prepared.parts
    module = Forecaster(data.to_dict(), model.to_dict(), train.to_dict(), len(parts),
                        parts[0].preprocessor.static.size, net)
    select = fit_on == "train"
    val = (lambda: batch_loader(dm.dataset("val"), 4096)) if select else (lambda: None)
    with torch_threads(train.threads):
        if hasattr(module.net, "prepare"):  # again on resume: the same data give the same result
            getattr(module.net, "prepare")(batch_loader(dm.dataset("train"), 4096), val())
    if start is not None:
        module.net.load_state_dict(start.state_dict())
    best = BestWeights()
    callbacks = [best, *(callbacks or [])]
    if train.patience and select:
        callbacks.append(pl.callbacks.EarlyStopping(monitor="val_loss", patience=train.patience))
    last, earlier = None, None
    if out_dir is not None:
        checkpoints = Path(out_dir) / "checkpoints"
        last = checkpoints / "last.ckpt"
        if resume and not last.is_file():
            raise ForecastError(f"--resume: no interrupted fit in {out_dir} (missing {last})")
        sealed, fingerprint = checkpoints / "data.sha256", data_fingerprint(frame)
        if resume:
            done = check_resume(last, data, model, train, net)
            if not sealed.is_file() or sealed.read_text().strip() != fingerprint:
                raise ForecastError(f"--resume: the interrupted fit in {out_dir} was started on other data "
                                    "(other rows, dates or values); give the same data, or fit afresh "
                                    "into another --out")
            earlier = earlier_log(Path(out_dir) / "logs" / "metrics.csv", done)
        if not resume and checkpoints.exists():
            shutil.rmtree(checkpoints)  # a fresh fit never resumes from someone else's epochs
        if not resume:
            checkpoints.mkdir(parents=True, exist_ok=True)
            write_atomically(sealed, lambda tmp: Path(tmp).write_text(fingerprint + "\n"))
        callbacks.append(LastCheckpoint(last))
    with quiet_training(), torch_threads(train.threads) as meter:
        if meter is not None and devices == 1:  # no fixed count: follow what else the machine runs
            callbacks.append(AdaptiveThreads(meter))
        with ctrl_c_remembered() as ctrl_c:
            trainer = _trainer(train, Path(out_dir) if out_dir is not None else None, quiet,
                               [*callbacks, ctrl_c], validate=select, log=log)
            try:
                # weights_only: a checkpoint is data, never code, whatever torch's default
                trainer.fit(module, datamodule=dm, ckpt_path=str(last) if resume else None,
                            weights_only=True)
            except SystemExit:  # Lightning exits(1) on Ctrl-C after a graceful shutdown
                if trainer.interrupted:
                    raise TrainingInterrupted(f"training interrupted; {resumable(last)}") from None
                raise
            except ProcessExitedException as e:  # a data-parallel worker was killed or crashed
                how = f"was killed ({e.signal_name})" if e.signal_name else f"exited with status {e.exit_code}"
                raise ForecastError(f"training process {e.error_index + 1} of {devices} {how}, and the others "
                                    f"were stopped; {resumable(last)}") from None
            finally:  # the epochs before an interruption stay in the log, however this run ends
                if earlier is not None and out_dir is not None:
                    merge_log(Path(out_dir) / "logs" / "metrics.csv", earlier)
    if trainer.interrupted:
        raise TrainingInterrupted("training interrupted; nothing was saved")
    # BestWeights restored the best epoch (in this process or in rank 0, whose weights came back)
    logged = trainer.callback_metrics
    epochs = int(logged["epochs_run"])
    best_epoch = int(logged["best_epoch"]) if select and int(logged["best_epoch"]) >= 0 else epochs - 1
    best_val = float(logged["best_val"]) if select and int(logged["best_epoch"]) >= 0 else float("nan")
    network = module.cpu().float().eval().net
    if hasattr(network, "finish"):
        with torch_threads(train.threads), torch.no_grad():
            loader = val()
            if getattr(network, "finish")(loader) and loader is not None:  # the forecast changed: a study compares it
                sizes, losses = zip(*((len(b[0]), float(module.batch_loss(b))) for b in loader))
                best_val = float(np.average(losses, weights=sizes))
    return Trained(network, prepared, best_val, best_epoch, epochs, tracked(trainer, out_dir))


@dataclass
class FitResult:
    """What `fit` produced: the model to forecast with, and how well its evaluated twin did.

    model : the `TrainedModel` to use (refit on every row unless `refit=False`).
    evaluated : the model scored on the test span (trained on the training span only); the same
        object as `model` without a refit.
    test : every test forecast beside the baselines (of every series, pooled, for a panel);
        `metrics` summarises it (for a panel with a per-series table under "series").
    by_series : each series' own test evaluation; parts : each series' prepared data.
    stages : the seconds of each stage: "train" (the data prepared, the epochs run), "evaluate" (a
        twin trained for calibration when validation was trained on, the intervals calibrated, the
        test span scored) and "refit" (0 without one); `seconds` is their total.
    """

    model: TrainedModel
    evaluated: TrainedModel
    prepared: Prepared
    report: DataReport
    test: Evaluation
    metrics: dict
    epochs: int
    best_epoch: int
    best_val: float
    seconds: float
    by_series: dict = field(default_factory=dict)  # name -> Evaluation on test (a panel's series)
    parts: dict = field(default_factory=dict)  # name -> that series' PreparedSeries
    stages: dict = field(default_factory=dict)  # "train", "evaluate", "refit" -> seconds

    def __repr__(self) -> str:  # a glance in a notebook; the fields hold the rest
        refit = "; then refitted on every row" if self.refit else ""
        verdict = "".join(f"\n  {line}" for line in self.metrics.get("verdict", [])[:1])
        val = f" (validation loss {self.best_val:.4g})" if np.isfinite(self.best_val) else ""
        return (f"FitResult of {self.model!r}\n  trained {self.epochs} epoch{'s' * (self.epochs != 1)}{val}"
                f"{refit}, {self.seconds:.1f} s\n  test: {self.test!r}{verdict}")

    @property
    def is_panel(self) -> bool:
        return len(self.by_series) > 1

    @property
    def refit(self) -> bool:
        return self.model is not self.evaluated

    def save(self, path) -> Path:
        """Save the model to forecast with (see `model`)."""
        return self.model.save(path)

    def predict(self, history=None) -> pd.DataFrame:
        return self.model.predict(history)

    def plot(self, target: int = 0):
        """A matplotlib Figure of the test span: history, actual, 1-step and h-step forecasts."""
        return plot_test(self, target_index(target, self.model.data.targets))

    def write(self, folder: str | Path) -> dict[str, Path]:
        """Write model, config, test forecasts and plot into `folder`; return what went where."""
        return write_fit(self, folder)


def fit(frame: pd.DataFrame | pd.Series, data: DataConfig = DataConfig(),
        model: ModelConfig = ModelConfig(), train: TrainConfig = TrainConfig(), *,
        source: SourceConfig = SourceConfig(), refit: bool = True, fit_on: str = "train",
        out_dir: str | Path | None = None, report: DataReport | None = None, quiet: bool = False,
        resume: bool = False, callbacks: list | None = None, announce=None,
        net: type | str | None = None, net_options: dict | None = None) -> FitResult:
    """Train on `frame`, evaluate on its test span beside the baselines, then refit on all rows.

    Prediction intervals are calibrated on the validation span by a model that did not train on it
    (with `fit_on="train+val"` a twin trained on the training span only, for the same epochs), and
    the test span is scored with them. Once it is, the refitted model's intervals are calibrated by
    that same model on every window after the training span, validation's and test's: twice the
    windows, and the newest. Without a refit the saved model keeps validation's.

    Parameters
    ----------
    frame : series or frame indexed by timestamps, holding `data.inputs` (validated here with
        `source.max_gap`); for many series a dict of such frames by name, or a long frame in
        Nixtla's shape (columns `unique_id`, `ds` and the values, e.g. `y`).
    source : where the frame came from; saved with the model.
    refit : after the test evaluation, train again on every row for the chosen number of epochs and
        return that model (the one that saw the newest data); False keeps the evaluated model. With
        `train.refit_epochs` N the refit instead continues the evaluated model's weights on every row
        for N epochs: faster when N is below the chosen epochs.
    fit_on : "train" (choose the epoch on validation) or "train+val" (train on both for exactly
        `train.max_epochs` epochs, as tuning's final refit does).
    out_dir : where checkpoints and training logs go (nothing is written when None).
    resume : continue from `out_dir/checkpoints/last.ckpt` if an earlier fit was interrupted.
    announce : called with the `Prepared` data before training starts (the CLI prints it).
    net, net_options : another network in place of `RecurrentNet` (the extension point): a
        `torch.nn.Module` class, or its "package.module:QualName", built with `RecurrentNet`'s
        arguments and `**net_options` (JSON-able); the model file saves both, never pickled code.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from forecast import DataConfig, ModelConfig, TrainConfig, fit
    >>> index = pd.date_range("2024-01-01", periods=400, freq="h")
    >>> load = pd.Series(50 + 10 * np.sin(np.arange(400) * 2 * np.pi / 24), index=index, name="load")
    >>> result = fit(load, DataConfig(targets=["load"], seq_len=24, horizon=6),
    ...              ModelConfig(cell="gru", hidden_size=8), TrainConfig(max_epochs=2), quiet=True)
    >>> len(result.model.predict()), "naive" in result.metrics, "verdict" in result.metrics
    (6, True, True)
    """
    started = time.perf_counter()
    placed(data=data, model=model, train=train, source=source)
    if loaded(frame):  # what `load` returned: its frames, and its report unless one is given
        frame, report = frame[0], report or frame[1]
    data, chosen = frame_target(frame, data)
    check_compatible(data, model)
    device_count(train)
    spec = net_spec(net, net_options)
    if fit_on not in ("train", "train+val"):
        raise ForecastError(f"fit_on must be 'train' or 'train+val', got {fit_on!r}")
    frames, checked = as_panel(frame, data.inputs, source, data.static, report.source if report else "DataFrame")
    report = report or checked
    report.notes += [chosen] if chosen else []
    trained = train_network(frames, data, model, train, fit_on, out_dir, quiet,
                            resume, callbacks, announce, drop_bad=source.drop_bad, net=spec)
    parts = parts_of(trained.prepared)
    stages = {"train": time.perf_counter() - started}
    epochs = trained.best_epoch + 1
    if spec is not None:  # what a custom net picked on validation: the refit (and the saved model) reuse it
        spec = {**spec, "options": {**spec["options"], **getattr(trained.net, "picked", {})}}
    network = calibrating_net = trained.net
    calibrating = parts
    if fit_on != "train":  # validation was trained on: calibrate a twin that never saw it
        twin = train_network(frames, data, model,
                             replace(train, max_epochs=epochs, patience=0), "train", quiet=quiet,
                             drop_bad=source.drop_bad, net=spec)
        calibrating_net, calibrating = twin.net, parts_of(twin.prepared)
    with torch_threads(train.threads):
        calibrations = {n: calibrate_held_out(calibrating_net, p) for n, p in calibrating.items()}
        by_series = {n: evaluate(network, p, "test", calibrations[n]) for n, p in parts.items()}
    test = pool(by_series) if len(by_series) > 1 else next(iter(by_series.values()))
    if not np.isfinite(test.forecast).all():
        raise ForecastError("training diverged (the loss became NaN or infinite); lower "
                            "--learning-rate or keep train.gradient_clip on")
    metrics = test.metrics  # a panel's with a table per series (one that --drop-bad left with one: as one)
    kept = {n: frames[n] for n in parts}
    frequency = infer_frequency(next(iter(kept.values())).index, report.calendar)
    n_rows, span = sum(len(f) for f in kept.values()), sum(p.fit_end for p in parts.values())
    first = next(iter(parts.values()))
    info = {"trained_on_rows": span, "epochs": epochs, "test_metrics": metrics,
            "test_start": trained.prepared.cfg.test_start or stamp(first.index[first.val_end]),
            "best_val_loss": trained.best_val, "source": report.source,
            **({"tracking": trained.tracking} if trained.tracking else {})}
    context = data.context_rows

    def make(network, prepared, extra, calibrated=calibrations):
        preprocessors = {n: p.preprocessor for n, p in parts_of(prepared).items()}
        members = {n: Member(preprocessors[n], kept[n][list(data.inputs)].iloc[-context:], calibrated[n], i)
                   for i, n in enumerate(kept)}
        return TrainedModel(network, source, data, model, train, members, frequency, {**info, **extra},
                            getattr(prepared, "static_encoding", {}), spec)

    evaluated = make(network, trained.prepared, {"evaluated": True, "trained_on": f"first {span} of {n_rows} rows"})
    final = evaluated
    stages["evaluate"] = time.perf_counter() - started - stages["train"]
    if refit:  # afresh for the chosen epochs, or (train.refit_epochs) on from the evaluated weights
        warm = train.refit_epochs
        again = train_network(kept, data, model, replace(train, max_epochs=warm or epochs, patience=0), "all",
                              quiet=quiet, net=spec, start=network if warm else None)
        how = f", {warm} more epoch{'s' * (warm > 1)} from the evaluated model" if warm else ""
        with torch_threads(train.threads):  # the test scored, the refit's intervals take its windows too
            late = {n: calibrate_held_out(calibrating_net, p, through_test=True) for n, p in calibrating.items()}
        final = make(again.net, again.prepared,
                     {"evaluated": False, "trained_on": f"all {n_rows} rows{how}", "trained_on_rows": n_rows}, late)
    return FitResult(model=final, evaluated=evaluated, prepared=trained.prepared, report=report,
                     test=test, metrics=metrics, epochs=trained.epochs, best_epoch=trained.best_epoch,
                     best_val=trained.best_val, seconds=time.perf_counter() - started,
                     by_series=by_series, parts=parts,
                     stages={**stages, "refit": time.perf_counter() - started - sum(stages.values())})


def parts_of(prepared: Prepared) -> dict[str, PreparedSeries]:
    """Each series' own prepared data, by name."""
    return dict(zip(prepared.names, prepared.parts))
