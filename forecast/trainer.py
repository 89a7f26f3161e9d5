"""How a fit's Lightning Trainer runs: on which devices, in which processes, and how quietly.

`device_count` checks the devices asked for against the machine; `SpawnedDDP` trains on several
(worker processes spawned from this one, never the command started again); `quiet_training` keeps
Lightning's banners, tips and warnings off the screen for one call and restores what it changed;
`ctrl_c_remembered` makes sure a Ctrl-C is never lost.
"""
from __future__ import annotations


import contextlib
import logging
import os
import signal
import sys
import threading
import warnings

import lightning.pytorch as pl
import torch
from lightning.pytorch.strategies import DDPStrategy

from forecast.config import TrainConfig
from forecast.errors import ForecastError

_NOISY_LOGGERS = ("lightning.pytorch", "lightning.fabric", "lightning", "pytorch_lightning")


def _silence_lightning() -> None:
    """Lightning's device banners, tips and per-Trainer warnings off (in this process)."""
    warnings.filterwarnings("ignore", module="lightning")
    warnings.filterwarnings("ignore", module="pytorch_lightning")
    warnings.filterwarnings("ignore", message=".*(LeafSpec|log_every_n_steps|num_workers|sync_dist).*")
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)


@contextlib.contextmanager
def quiet_training(quiet: bool = True):
    """Keep Lightning's device banners, tips and per-Trainer warnings off the screen for the calls
    inside, and restore the logging levels and warning filters afterwards."""
    if not quiet:
        yield
        return
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
    writes and prints once) and it receives rank 0's weights. Workers are as quiet as asked."""

    def __init__(self, quiet: bool = True):
        super().__init__(start_method="spawn")
        self.quiet = quiet

    def setup_environment(self) -> None:
        if self.quiet:  # runs in each worker, which lives only for this training
            _silence_lightning()
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


class CtrlC(pl.Callback):
    """A Ctrl-C that is remembered as well as raised. Python drops a KeyboardInterrupt raised inside
    a garbage-collection callback or a destructor (it is only reported as ignored), so a training run
    raises it again after the next batch, and a study checks it after every trial. While `armed` is
    False the handler only remembers (so it never lands while Optuna writes a trial)."""

    def __init__(self, armed: bool = True):
        self.seen, self.armed = False, armed

    def handler(self, signum, frame):
        self.seen = True
        if self.armed:
            raise KeyboardInterrupt

    def on_train_batch_end(self, trainer, *args):
        if self.seen:
            raise KeyboardInterrupt

    on_validation_batch_end = on_train_batch_end


@contextlib.contextmanager
def ctrl_c_remembered(armed: bool = True):
    """Handle Ctrl-C with a `CtrlC` (yielded) inside; the dropped KeyboardInterrupt is kept off the
    screen. The caller's handler and unraisable hook are put back afterwards (Lightning ignores
    Ctrl-C from the first one on). Outside the main thread signals are not ours: nothing changes."""
    ctrl = CtrlC(armed)
    if threading.current_thread() is not threading.main_thread():
        yield ctrl
        return
    previous, hook = signal.signal(signal.SIGINT, ctrl.handler), sys.unraisablehook
    sys.unraisablehook = lambda info: None if isinstance(info.exc_value, KeyboardInterrupt) else hook(info)
    try:
        yield ctrl
    finally:
        sys.unraisablehook = hook
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


class ProgressLines(pl.Callback):
    """Says through `report`, at most every `every` seconds and after the last epoch, which epoch a
    long run is at, its losses, the time so far and at most how long is left: what a log file or a
    pipe gets instead of a progress bar (which only a terminal shows). Only the first process speaks."""

    def __init__(self, report, every: float = 30.0, stage: str = "training"):
        self.report, self.every, self.stage = report, every, stage
        self.started = self.said = 0.0

    def on_fit_start(self, trainer, module):
        import time

        self.started = self.said = time.perf_counter()

    def on_train_epoch_end(self, trainer, module):
        import time

        now, done = time.perf_counter(), trainer.current_epoch + 1
        if not trainer.is_global_zero or (now - self.said < self.every and done < trainer.max_epochs):
            return
        self.said = now
        losses = ", ".join(f"{name.replace('_', ' ')} {float(value):.4g}"
                           for name, value in sorted(trainer.callback_metrics.items())
                           if name in ("train_loss", "val_loss"))
        left = (now - self.started) / done * (trainer.max_epochs - done)
        self.report(f"{self.stage}: epoch {done} of at most {trainer.max_epochs}, {losses}; "
                    f"{now - self.started:.0f} s so far, at most about {left:.0f} s left")
