"""How a fit's Lightning Trainer runs (on which devices, in which processes, how quietly) and the
LightningDataModule that feeds it.

`device_count` checks the devices asked for against the machine; `SpawnedDDP` trains on several
(worker processes spawned from this one, never the command started again); `quiet_training` keeps
Lightning's banners, tips and warnings off the screen for one call and restores what it changed;
`WindowDataModule` prepares a panel (one series is a panel of one) and hands its windows to any
`Trainer`; `check_resume` says whether an interrupted fit may go on; `update` trains a saved model
further on newer rows. (The callbacks a fit runs live beside the LightningModule, in `forecast.forecaster`.)
"""
from __future__ import annotations

import contextlib
import logging
import os
import signal
import warnings
from dataclasses import replace
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import pandas as pd
import torch
from lightning.pytorch.strategies import DDPStrategy
from torch.utils.data import DataLoader

from forecast.checks import positive
from forecast.config import DataConfig, ModelConfig, TrainConfig
from forecast.dates import check_step, stamp
from forecast.errors import ForecastError, MissingColumns
from forecast.files import write_atomically
from forecast.forecaster import Forecaster, torch_threads
from forecast.panel import Prepared, prepare_panel, split_long
from forecast.sources import validate_frame
from forecast.trained import TrainedModel, lacking
from forecast.windows import WindowDataset, batch_loader, prepare, stage_dataset

_NOISY_LOGGERS = ("lightning.pytorch", "lightning.fabric", "lightning", "pytorch_lightning")


def _silence_lightning() -> None:
    """Lightning's device banners, tips and per-Trainer warnings off (in this process)."""
    warnings.filterwarnings("ignore", module="lightning")
    warnings.filterwarnings("ignore", module="pytorch_lightning")
    warnings.filterwarnings("ignore", message=".*(LeafSpec|log_every_n_steps|num_workers|sync_dist).*")
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)


@contextlib.contextmanager
def quiet_training():
    """Keep Lightning's device banners, tips and per-Trainer warnings off the screen for the calls
    inside (progress bars are the Trainer's `enable_progress_bar`), and restore the logging levels
    and warning filters afterwards."""
    loggers = [logging.getLogger(name) for name in _NOISY_LOGGERS]
    levels = [lg.level for lg in loggers]
    with warnings.catch_warnings():
        _silence_lightning()
        try:
            yield
        finally:
            for lg, level in zip(loggers, levels):
                lg.setLevel(level)


def device_count(train: TrainConfig) -> int:
    """Processes to train in: the `devices` count ("auto" is one), checked against the machine."""
    n = 1 if train.devices == "auto" else int(train.devices)
    accelerator = resolve_accelerator(train.accelerator)
    if n > 1 and accelerator == "mps":
        raise ForecastError(f"train.devices {n}: Apple's MPS is one device; use devices 1 or accelerator cpu")
    gpus = torch.cuda.device_count() if accelerator in ("gpu", "auto") else 0
    if n > 1 and accelerator == "gpu" and gpus < n:
        raise ForecastError(f"train.devices {n}: this machine has {gpus} CUDA GPU(s)")
    cores = os.cpu_count() or 1
    if n > cores and (accelerator == "cpu" or (accelerator == "auto" and gpus == 0)):
        raise ForecastError(f"train.devices {n}: this machine has {cores} CPU cores, and more CPU processes "
                            f"than cores only wait for each other; give devices {cores} or fewer")
    return n


def _stopped_by_parent(signum, frame) -> None:
    os._exit(128 + signum)


class SpawnedDDP(DDPStrategy):
    """Lightning's DDP with the worker processes spawned from this one, instead of the whole command
    started again once per device: only the calling process goes on after training (evaluates,
    writes and prints once) and it receives rank 0's weights. Workers keep Lightning's noise off."""

    def __init__(self):
        super().__init__(start_method="spawn")

    def setup_environment(self) -> None:
        _silence_lightning()  # runs in each worker, which lives only for this training
        super().setup_environment()

    def on_train_start(self) -> None:
        super().on_train_start()
        # In place of Lightning's handler (set just before, it tells the other workers, who may be
        # gone): a worker that the parent stops because another one died leaves at once and
        # quietly; the parent names the worker that died, once.
        signal.signal(signal.SIGTERM, _stopped_by_parent)

    def teardown(self) -> None:
        super().teardown()
        # Rank 0 hosts the rendezvous store: if it left first, another rank still tearing down
        # would lose it and abort. Every rank waits for the others, then leaves the group.
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.barrier()
            torch.distributed.destroy_process_group()


def resolve_accelerator(name: str) -> str:
    """Fail early, in plain words, when the requested device is not there."""
    if name in ("gpu", "cuda") and not torch.cuda.is_available():
        raise ForecastError(f"train.accelerator {name}: no CUDA GPU is available here; use cpu or auto")
    if name == "mps" and not torch.backends.mps.is_available():
        raise ForecastError("train.accelerator mps: Apple's MPS is not available here; use cpu or auto")
    return "gpu" if name == "cuda" else name


class WindowDataModule(pl.LightningDataModule):
    """Splits, scaling and loaders for one frame; hand it to any `Trainer`.

    Parameters
    ----------
    frame : validated frames holding `cfg.inputs` by series name (see `forecast.loading.as_panel`);
        one frame is a panel of one.
    cfg : what to forecast and how to split and scale.
    device : keep the series on this device (e.g. "cuda") so no batch crosses the bus.
    fit_on : the rows training uses and the preprocessor is fitted on: "train", "train+val", "all".
    drop_bad : leave out a panel's series that cannot be split or encoded (else an error names them).
    """

    def __init__(self, frame: pd.DataFrame | dict, cfg: DataConfig, batch_size: int = 64, seed: int = 42,
                 eval_batch_size: int = 1024, device: str | torch.device | None = None,
                 fit_on: str = "train", drop_bad: bool = False, sampling: str = "windows"):
        super().__init__()
        self.frame = frame if isinstance(frame, dict) else {"series": frame}
        self.cfg, self.fit_on, self.drop_bad = cfg, fit_on, drop_bad
        self.sampling = sampling  # "series": each series of a panel drawn equally often per epoch
        self.batch_size, self.seed, self.eval_batch_size = batch_size, seed, eval_batch_size
        self.device = device  # hold the whole series on this device: batches are then gathered there
        self.prepared: Prepared | None = None  # set by `setup`

    def setup(self, stage: str | None = None) -> None:
        if self.prepared is None:
            prepared = prepare_panel(self.frame, self.cfg, self.fit_on, self.drop_bad)
            if self.device is not None:
                prepared.values = prepared.values.to(self.device)
            self.prepared = prepared

    def dataset(self, stage: str) -> WindowDataset:
        self.setup()
        return stage_dataset(self.prepared, stage)

    def train_dataloader(self) -> DataLoader:
        trainer = self.trainer  # set while a Trainer uses this module
        world, rank = (trainer.world_size, trainer.global_rank) if trainer is not None else (1, 0)
        return batch_loader(self.dataset("train"), self.batch_size, shuffle=True, seed=self.seed,
                            rank=rank, world=world, weights=self.window_weights())

    def window_weights(self) -> torch.Tensor | None:
        """(training windows,) odds of drawing each window, or None for every window once: with
        `sampling="series"` each series of a panel gets the same total, shared by its windows, so a
        series 30 times longer is not seen 30 times as often."""
        parts = getattr(self.prepared, "parts", None)
        if self.sampling != "series" or parts is None:
            return None
        counts = [part.split_sizes()["train"] for part in parts]  # the windows `dataset("train")` holds
        return torch.cat([torch.full((n,), 1.0 / n) for n in counts if n])

    def val_dataloader(self) -> DataLoader:
        return batch_loader(self.dataset("val"), self.eval_batch_size)

    def test_dataloader(self) -> DataLoader:
        return batch_loader(self.dataset("test"), self.eval_batch_size)

    def starts(self, stage: str) -> np.ndarray:
        return self.dataset(stage).starts.numpy()


# Resuming an interrupted fit

# Settings a resumed fit may change: they do not change what was learned so far.
RESUMABLE_CHANGES = ("max_epochs", "patience", "threads", "accelerator", "devices", "strategy", "logger")


def data_fingerprint(frame: dict[str, pd.DataFrame]) -> str:
    """A digest of the rows a fit trains on (dates, columns, values; each series of a panel): a
    checkpoint resumes only on the data it was started on."""
    import hashlib

    digest = hashlib.sha256()
    for name, part in sorted(frame.items()):
        digest.update(str(name).encode() + repr(list(part.columns)).encode())
        digest.update(pd.util.hash_pandas_object(part, index=True).to_numpy().tobytes())
    return digest.hexdigest()


def earlier_log(log: Path, done: int) -> pd.DataFrame | None:
    """The training log of the epochs a resumed fit keeps (Lightning's CSV logger starts its file
    afresh); None when there is none."""
    if not log.is_file():
        return None
    try:
        rows = pd.read_csv(log)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError):
        return None
    return rows[rows["epoch"] < done] if "epoch" in rows.columns else None


def merge_log(log: Path, earlier: pd.DataFrame | None) -> None:
    """The kept epochs' rows, then the resumed run's, in one file (written atomically)."""
    if earlier is None or earlier.empty:
        return
    later = pd.read_csv(log) if log.is_file() else earlier.iloc[:0]
    merged = pd.concat([earlier, later], ignore_index=True)
    write_atomically(log, lambda tmp: merged.to_csv(tmp, index=False))


def check_resume(last: Path, data: DataConfig, model: ModelConfig, train: TrainConfig,
                  net: dict | None = None) -> int:
    """Refuse to continue an interrupted fit with settings other than the ones it was started with;
    the number of epochs it finished."""
    try:
        checkpoint = torch.load(last, map_location="cpu", weights_only=True)
        saved, done = checkpoint.get("hyper_parameters") or {}, int(checkpoint.get("epoch", 0)) + 1
    except Exception as e:  # noqa: BLE001 - a damaged or foreign file raises many types
        raise ForecastError(f"--resume: {last} is not a readable checkpoint ({type(e).__name__}); "
                            "fit afresh into another --out") from None
    requested = {"data": data.to_dict(), "model": model.to_dict(), "train": train.to_dict()}
    changed = [f"{key} {saved.get(group, {}).get(key)!r} -> {value!r}"
               for group, settings in requested.items() for key, value in settings.items()
               if not (group == "train" and key in RESUMABLE_CHANGES)
               and saved.get(group, {}).get(key) != value]
    if saved.get("net") != net:
        changed.append(f"net {saved.get('net')!r} -> {net!r}")
    if changed:
        raise ForecastError("--resume: the interrupted fit was started with other settings ("
                            + ", ".join(changed) + "); give the same settings, or fit afresh into "
                            "another --out")
    if train.max_epochs <= done:
        raise ForecastError(f"--resume: the interrupted fit already finished {done} epochs; give "
                            f"--max-epochs above {done} to train more")
    return done


def resumable(last: Path | None) -> str:
    return f"{last} holds the last finished epoch: run the same command with --resume to continue" \
        if last else "nothing was saved"


# Training a saved model further on newer rows

def update(model: TrainedModel, history: pd.DataFrame | pd.Series | dict, epochs: int = 5,
           learning_rate: float | None = None, quiet: bool = True) -> tuple[TrainedModel, dict]:
    """Keep training a model on newer rows, the network starting from its weights, with the same
    settings and fitted preprocessing. `history` (the model's input columns, past the last date it
    saw, at its step): a frame for one series, a dict by name for a panel's (series not given keep
    their history). All its windows train for `epochs` (at `learning_rate`, default the model's);
    the intervals keep their calibration. Returns the new model (the old is unchanged) and what
    changed: series, rows, dates, first and last epoch's loss, the first forecast before and after (None
    for a model of known columns, which forecasts with their future values),
    and the series left out (not in a model fitted with `source.drop_bad`; without it they are an error).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from forecast import DataConfig, TrainConfig, fit
    >>> from forecast.trainer import update
    >>> index = pd.date_range("2024-01-01", periods=400, freq="h")
    >>> load = pd.Series(50 + 10 * np.sin(np.arange(400) * 2 * np.pi / 24), index=index, name="load")
    >>> old = fit(load[:300], DataConfig(targets=["load"], seq_len=24, horizon=6),
    ...           train=TrainConfig(max_epochs=1), quiet=True).model
    >>> new, changed = update(old, load, epochs=1)
    >>> new.history.index[-1] == index[-1], changed["new_rows"]
    (True, 100)
    """
    positive("epochs", epochs, int)
    history = split_long(history)  # a long frame (Nixtla's shape, or series and time levels): frames by series
    if not isinstance(history, dict):
        if len(model.members) != 1:
            raise ForecastError(f"this model forecasts {len(model.members)} series: give the newer rows by series "
                                "(a dict in Python, a long file with --series-col on the command line)")
        history = {next(iter(model.members)): history}
    if not history:
        raise ForecastError(f"no newer rows given; give those of the model's series ({', '.join(list(model.members)[:5])})")
    fresh = [name for name in history if name not in model.members]
    if fresh and (not model.source.drop_bad or len(fresh) == len(history)):
        raise ForecastError(f"series {', '.join(map(str, fresh[:5]))} not in this model: update trains the series it "
                            "has (predict --new-series forecasts others; fit again to train on them)")
    history = {name: rows for name, rows in history.items() if name not in fresh}  # fitted --drop-bad: as then
    cfg = model.data
    frames, parts, last = {}, [], {}
    for name, rows_given in history.items():
        member, what = model.members[name], "newer rows" + (f" of {name}" if len(model.members) > 1 else "")
        try:
            frame, _ = validate_frame(rows_given, list(cfg.inputs), model.source.max_gap, what,
                                      model.source.fill_missing_dates)
        except MissingColumns as e:  # the model's columns are not the user's to choose here: rename
            raise lacking(e, "the newer rows") from None
        check_step(frame.index, member.history.index)
        last[name] = member.history.index[-1]
        if frame.index[-1] <= last[name]:
            raise ForecastError(f"the {what} end on {stamp(frame.index[-1])}, not after {stamp(last[name])}, "
                                "the last date this model saw: nothing new to train on")
        frames[name] = frame
        parts.append(prepare(frame, cfg, "all", member.preprocessor))
        parts[-1].series = member.index  # its row in the series embedding
    dataset = stage_dataset(Prepared(cfg, list(frames), parts, torch.cat([p.values for p in parts]),
                                          np.cumsum([0] + [len(p.values) for p in parts[:-1]]), {}), "train")
    train = model.train.override(max_epochs=epochs, learning_rate=learning_rate, patience=0)
    module = Forecaster(cfg.to_dict(), model.model.to_dict(), train.to_dict(), len(model.members),
                        parts[0].preprocessor.static.size, model.net_spec)
    module.net.load_state_dict(model.net.state_dict())
    name0 = next(iter(frames))

    def first_step(trained, history=None) -> float | None:  # None: it would need the known columns' future
        return None if cfg.known else float(trained.predict(history, series=[name0]).iloc[0][cfg.targets[0]])

    before = first_step(model, {name0: frames[name0]})
    pl.seed_everything(train.seed, workers=True, verbose=False)
    loader = batch_loader(dataset, train.batch_size, shuffle=True, seed=train.seed)
    losses: list[float] = []  # the mean training loss of every epoch
    record = pl.callbacks.LambdaCallback(
        on_train_epoch_end=lambda trainer, _: losses.append(float(trainer.callback_metrics["train_loss"])))
    with quiet_training(), torch_threads(train.threads):
        trainer = pl.Trainer(accelerator=resolve_accelerator(train.accelerator), devices=1, max_epochs=epochs,
                             gradient_clip_val=train.gradient_clip or None, logger=False,
                             enable_checkpointing=False, enable_progress_bar=not quiet,
                             enable_model_summary=False, limit_val_batches=0, num_sanity_val_steps=0,
                             callbacks=[record])
        trainer.fit(module, train_dataloaders=loader)
    context = model.context_rows
    members = {name: replace(m, history=frames[name].iloc[-context:]) if name in frames else m
               for name, m in model.members.items()}
    starts, ends = min(f.index[0] for f in frames.values()), max(f.index[-1] for f in frames.values())
    info = {**model.info, "evaluated": False,
            "updated": {"series": len(frames), "rows": sum(map(len, frames.values())), "from": stamp(starts),
                        "to": stamp(ends), "epochs": epochs, "after": stamp(max(last.values()))}}
    updated = replace(model, net=module.cpu().float().eval().net, members=members, train=train, info=info)
    after = first_step(updated)
    changed = {"series": len(frames), "new_rows": int(sum((f.index > last[n]).sum() for n, f in frames.items())),
               "trained_rows": sum(map(len, frames.values())), "trained_from": stamp(starts),
               "trained_to": stamp(ends), "epochs": epochs, "loss_first_epoch": losses[0],
               "loss_last_epoch": losses[-1], "first_forecast_before": before, "first_forecast_after": after,
               "left_out": fresh}
    return updated, changed
