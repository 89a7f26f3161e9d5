"""Train a forecaster on one series and evaluate it against the naive forecast.

`fit` is what `forecast fit` calls: validate -> window data module -> Lightning Trainer with early
stopping -> best checkpoint restored -> test metrics in original units beside the naive forecast.
"""
from __future__ import annotations

import logging
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import pandas as pd
import torch

from forecast.calendar import infer_frequency
from forecast.config import DataConfig, ModelConfig, TrainConfig, check_compatible
from forecast.data import Prepared
from forecast.errors import ForecastError, TrainingInterrupted
from forecast.metrics import metrics, naive_forecast, skill
from forecast.model import Forecaster, RecurrentNet
from forecast.sources import DataReport, validate_frame
from forecast.windows import WindowDataModule, stage_dataset


@dataclass
class Evaluation:
    """Forecasts for every window of one split, in original units, beside the naive forecast."""

    index: pd.DatetimeIndex  # (B,) date of each window's first target
    actual: np.ndarray  # (B, H, T)
    forecast: np.ndarray  # (B, H, T)
    naive: np.ndarray  # (B, H, T)
    anchor: np.ndarray  # (B, T) last observed value

    def table(self) -> dict:
        model = metrics(self.actual, self.forecast, self.anchor)
        naive = metrics(self.actual, self.naive, self.anchor)
        return {"model": model, "naive": naive, "skill": skill(model["rmse"], naive["rmse"])}


@dataclass
class FitResult:
    """A trained model with everything needed to save it, evaluate it and forecast with it."""

    net: RecurrentNet
    data: DataConfig
    model: ModelConfig
    train: TrainConfig
    prepared: Prepared
    history: pd.DataFrame  # last rows of the validated frame, enough for one forecast
    frequency: str
    report: DataReport
    test: Evaluation
    metrics: dict
    epochs: int
    seconds: float
    extra: dict = field(default_factory=dict)

    @property
    def scaler(self):
        """The training-span scaler, as `LoadedModel.scaler` has it."""
        return self.prepared.scaler

    def save(self, path) -> Path:
        from forecast.modelfile import save_model

        return save_model(self, path)


def quiet_lightning() -> None:
    """Keep Lightning's banners, tips and per-Trainer warnings (and Optuna's experimental notes)
    off the user's screen; errors still show."""
    import optuna

    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", module="lightning")
    warnings.filterwarnings("ignore", message=".*(LeafSpec|log_every_n_steps|num_workers).*")
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def resolve_accelerator(name: str) -> str:
    """Fail early, in plain words, when the requested device is not there."""
    if name in ("gpu", "cuda") and not torch.cuda.is_available():
        raise ForecastError(f"--accelerator {name}: no CUDA GPU is available here; use cpu or auto")
    if name == "mps" and not torch.backends.mps.is_available():
        raise ForecastError("--accelerator mps: Apple's MPS is not available here; use cpu or auto")
    return "gpu" if name == "cuda" else name


def predict_scaled(net: torch.nn.Module, dataset, batch_size: int = 1024) -> np.ndarray:
    """Run `net` over every window of `dataset` in order -> (B, H, T) forecasts in scaled units."""
    device = next(net.parameters()).device
    net.eval()
    outputs = []
    with torch.inference_mode():  # whole batches straight from the window views: no loader needed
        for idx in torch.arange(len(dataset)).split(batch_size):
            x, _ = dataset[idx]
            outputs.append(net(x.to(device)).float())
    return torch.cat(outputs).cpu().numpy()


def evaluate(net: torch.nn.Module, prepared: Prepared, stage: str = "test") -> Evaluation:
    """Forecast every `stage` window and map it to original units."""
    dataset = stage_dataset(prepared, stage)
    starts = dataset.starts.numpy()
    forecast = prepared.to_original(predict_scaled(net, dataset), starts)
    anchor = prepared.anchors(starts)
    return Evaluation(prepared.index[starts], prepared.actuals(starts), forecast,
                      naive_forecast(anchor, prepared.cfg.horizon), anchor)


def _trainer(train: TrainConfig, out_dir: Path, quiet: bool, callbacks: list) -> pl.Trainer:
    devices = int(train.devices) if str(train.devices).isdigit() else train.devices
    return pl.Trainer(
        accelerator=resolve_accelerator(train.accelerator), devices=devices,
        precision=train.precision, max_epochs=train.max_epochs,
        gradient_clip_val=train.gradient_clip or None, callbacks=callbacks,
        default_root_dir=out_dir, logger=pl.loggers.CSVLogger(out_dir, name="logs", version=""),
        enable_progress_bar=not quiet, enable_model_summary=False, num_sanity_val_steps=0)


@dataclass
class Trained:
    """A trained network with its data; `best_val` is the best validation loss (scaled units)."""

    net: RecurrentNet
    prepared: Prepared
    best_val: float
    best_epoch: int
    epochs: int


def train_network(frame: pd.DataFrame, data: DataConfig, model: ModelConfig, train: TrainConfig,
                  out_dir: str | Path | None = None, quiet: bool = True, resume: bool = False,
                  callbacks: list | None = None, announce=None) -> Trained:
    """Train on a validated frame with early stopping and restore the best epoch.

    With `data.train_through_val` the validation span is training data too: no early stopping, and
    the last epoch is kept (a best epoch chosen on training data would mean nothing).
    """
    check_compatible(data, model)
    pl.seed_everything(train.seed, workers=True, verbose=False)
    dm = WindowDataModule(frame, data, batch_size=train.batch_size, seed=train.seed)
    dm.setup()
    if announce is not None:
        announce(dm.prepared)
    module = Forecaster(model.to_dict(), train.to_dict(), len(data.inputs), len(data.targets),
                        data.seq_len, data.horizon)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(out_dir if out_dir is not None else tmp)
        select = not data.train_through_val
        checkpoint = pl.callbacks.ModelCheckpoint(dirpath=out / "checkpoints", save_last=True,
                                                  monitor="val_loss" if select else None,
                                                  filename="best")
        callbacks = [checkpoint, *(callbacks or [])]
        if train.patience and select:
            callbacks.append(pl.callbacks.EarlyStopping(monitor="val_loss", patience=train.patience))
        trainer = _trainer(train, out, quiet, callbacks)
        last = out / "checkpoints" / "last.ckpt"
        if resume and not last.is_file():
            raise ForecastError(f"--resume: no interrupted fit in {out} (missing {last})")
        try:
            trainer.fit(module, datamodule=dm, ckpt_path=str(last) if resume else None)
        except SystemExit:  # Lightning exits(1) on Ctrl-C after a graceful shutdown
            if trainer.interrupted:
                raise TrainingInterrupted(f"training interrupted; {last} holds the last finished epoch: "
                                          "run the same command with --resume to continue") from None
            raise
        best_epoch = trainer.current_epoch - 1
        if select and checkpoint.best_model_path:  # restore the epoch with the best validation loss
            state = torch.load(checkpoint.best_model_path, map_location="cpu", weights_only=True)
            module.load_state_dict(state["state_dict"])
            best_epoch = state["epoch"]
    score = checkpoint.best_model_score if select else trainer.callback_metrics.get("val_loss")
    best_val = float(score) if score is not None else float("nan")
    return Trained(module.net.cpu().float(), dm.prepared, best_val, best_epoch, trainer.current_epoch)


def fit(frame: pd.DataFrame | pd.Series, data: DataConfig = DataConfig(),
        model: ModelConfig = ModelConfig(), train: TrainConfig = TrainConfig(),
        out_dir: str | Path | None = None, report: DataReport | None = None,
        quiet: bool = False, resume: bool = False, callbacks: list | None = None,
        announce=None) -> FitResult:
    """Train on `frame` and evaluate on its test span beside the naive forecast.

    Parameters
    ----------
    frame : series or frame indexed by timestamps, holding `data.inputs` (validated here).
    out_dir : where checkpoints and logs go (a temporary folder when None).
    resume : continue from `out_dir/checkpoints/last.ckpt` if an earlier fit was interrupted.
    callbacks : more Lightning callbacks.
    announce : called with the `Prepared` data before training starts (the CLI prints it).
    """
    started = time.perf_counter()
    check_compatible(data, model)
    resolve_accelerator(train.accelerator)
    frame, checked = validate_frame(frame, list(data.inputs), max_gap=data.max_gap,
                                    source=report.source if report else "DataFrame")
    report = report or checked
    trained = train_network(frame, data, model, train, out_dir, quiet, resume, callbacks, announce)
    test = evaluate(trained.net, trained.prepared, "test")
    if not np.isfinite(test.forecast).all():
        raise ForecastError("training diverged (the loss became NaN or infinite); lower "
                            "--learning-rate or keep --gradient-clip on")
    return FitResult(net=trained.net, data=data, model=model, train=train, prepared=trained.prepared,
                     history=frame.iloc[-(data.seq_len + 1):],
                     frequency=infer_frequency(frame.index, report.calendar), report=report,
                     test=test, metrics=test.table(), epochs=trained.epochs,
                     seconds=time.perf_counter() - started,
                     extra={"best_val_loss": trained.best_val, "best_epoch": trained.best_epoch})
