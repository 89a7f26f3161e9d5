"""The LightningModule around the network (loss, optimiser, learning-rate schedule and logging) and the
callbacks that run beside it.

`forecast.model.RecurrentNet` is the plain nn.Module; `Forecaster` is the one system that trains it,
with typed settings saved as its hyperparameters (and so in every checkpoint). Beside it:
`AdaptiveThreads` and `torch_threads` choose PyTorch's CPU thread count, `BestWeights` keeps the best
epoch, `LastCheckpoint` saves every epoch, `ProgressLines` reports to a log, and `ctrl_c_remembered`
makes sure a Ctrl-C is never lost.
"""
from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import lightning.pytorch as pl
import torch
import torch.nn.functional as F

from forecast.config import DataConfig, ModelConfig, TrainConfig
from forecast.errors import ForecastError
from forecast.model import build_net

LOSSES: dict[str, Callable[..., torch.Tensor]] = {"mse": F.mse_loss, "mae": F.l1_loss, "huber": F.huber_loss}


def pinball_loss(quantiles: torch.Tensor, target: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
    """Mean pinball loss of (B, H, T, Q) quantiles at `levels` (Q,) for targets (B, H, T)."""
    diff = target[..., None] - quantiles
    return torch.maximum(levels * diff, (levels - 1) * diff).mean()


class Forecaster(pl.LightningModule):
    """Loss, optimiser and logging around a `RecurrentNet` (or the custom network `net`, a
    `forecast.model.net_spec`); logs `train_loss` and `val_loss`.

    A point network is trained with `train.loss`; a quantile network with the pinball loss (on the
    cumulative change up to each step when the targets are changes, which is what its head gives).
    """

    def __init__(self, data: dict, model: dict, train: dict, n_series: int = 1, n_static: int = 0,
                 net: dict | None = None):
        super().__init__()
        self.save_hyperparameters()
        self.model_cfg, self.train_cfg = ModelConfig.from_dict(model), TrainConfig.from_dict(train)
        self.net = build_net(DataConfig.from_dict(data), self.model_cfg, n_series, n_static, net,
                             self.train_cfg.ensemble)
        self.loss_fn = LOSSES[self.train_cfg.loss]
        self._epoch_loss: list = [0.0, 0]  # the epoch's summed loss and its windows (see training_step)
        self.levels: torch.Tensor
        self.register_buffer("levels", torch.tensor(self.model_cfg.quantiles, dtype=torch.float32),
                             persistent=False)

    def forward(self, x: torch.Tensor, series: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x, series)

    def _shared_step(self, batch, stage: str) -> torch.Tensor:
        loss = self.batch_loss(batch)
        # Epoch-level logging only: a per-step log would synchronise the device every batch.
        self.log(f"{stage}_loss", loss, on_step=False, on_epoch=True, prog_bar=stage == "val",
                 batch_size=len(batch[0]), sync_dist=self._distributed())
        return loss

    def batch_loss(self, batch) -> torch.Tensor:
        """The loss of one batch (x, y[, series])."""
        x, y, *series = batch  # a panel's windows also carry their series
        series = series[0] if series else None
        pred = self(x, series)  # a custom net may give K stacked outputs in training, (K, B, H, T[, Q])
        if self.model_cfg.quantiles:
            if not self.net.level_targets:  # cumulative over the horizon axis
                pred, y = pred.cumsum(dim=-3), y.cumsum(dim=-2)
            loss = pinball_loss(pred, y, self.levels)
        else:  # stacked outputs: the mean of their losses, so each learns from its own
            loss = self.loss_fn(pred, y.expand_as(pred))
        return loss

    def _distributed(self) -> bool:
        """Several processes train: epoch losses are averaged over them (else each logs its own)."""
        return self._trainer is not None and self._trainer.world_size > 1

    def on_train_epoch_start(self) -> None:
        self._epoch_loss = [0.0, 0]

    def training_step(self, batch, batch_idx):
        # The epoch's mean loss is logged once, at its last batch: a log every batch costs Lightning's
        # bookkeeping about 0.7 ms a batch, a tenth of a small network's step (benchmarks/m4_speed.py).
        loss, n = self.batch_loss(batch), len(batch[0])
        self._epoch_loss[0] += loss.detach() * n
        self._epoch_loss[1] += n
        if self._trainer is not None and batch_idx == self._trainer.num_training_batches - 1:
            total, count = self._epoch_loss
            self.log("train_loss", total / count, on_step=False, on_epoch=True, batch_size=count,
                     sync_dist=self._distributed())
        return loss

    def validation_step(self, batch, batch_idx):
        return self._shared_step(batch, "val")

    def test_step(self, batch, batch_idx):
        return self._shared_step(batch, "test")

    def configure_optimizers(self):
        cfg = self.train_cfg
        optimizer_cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
        optimizer = optimizer_cls(self.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
        if cfg.schedule == "cosine":
            scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.max_epochs)
            return {"optimizer": optimizer, "lr_scheduler": scheduler}
        if cfg.schedule == "plateau":
            scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5,
                                                                   patience=max(1, cfg.patience // 2))
            # a refit or an update has no validation span: the training loss is what can stall there
            validated = self._trainer is None or self.trainer.limit_val_batches != 0
            return {"optimizer": optimizer,
                    "lr_scheduler": {"scheduler": scheduler, "monitor": "val_loss" if validated else "train_loss"}}
        return optimizer


# How many CPU threads PyTorch uses: as asked, or chosen by measuring what else runs on the machine.
#
# PyTorch's default (every core, idle threads spinning) is fastest on a quiet machine and collapses
# when other processes compete for the cores: spinning threads of several processes fight each other,
# and a 10-second fit took minutes (`benchmarks/contention.py`). A small recurrent model gains from a
# second thread only when that core is free. So by default `forecast` measures how much CPU other
# processes used (the machine's busy CPU time from psutil, on Linux, macOS and Windows alike, minus
# this process's own) when training starts and again at every epoch, and uses every core only while
# they are free, one thread otherwise. `--set train.threads=N`, `TrainConfig(threads=N)` or
# `$FORECAST_THREADS` fix the count instead. The caller's own setting is put back after each call. A
# different thread count can change the last digits of a result (the order of floating-point sums
# changes), so for bit-identical reruns under changing load, fix it.


def cores() -> int:
    """Cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def fixed_count(requested: int | None = None) -> int | None:
    """`requested`, else $FORECAST_THREADS, else None (choose by measurement)."""
    if requested is not None:
        return requested
    env = os.environ.get("FORECAST_THREADS", "").strip()
    if env:
        if not env.isdigit() or int(env) < 1:
            raise ForecastError(f"FORECAST_THREADS must be a positive whole number, got {env!r}")
        return int(env)
    return None


class CpuMeter:
    """Cores kept busy by *other* processes since the last reading (None where it cannot tell).

    One meter lives as long as the process: it starts reading when `forecast` is imported, so the
    first decision needs no wait of its own (loading the data took longer than a reading needs).
    """

    MIN_INTERVAL = 0.1  # seconds: the system's CPU times count in 10 ms ticks (Linux)
    MAX_AGE = 2.0  # seconds: an older reading describes the past, not now

    def __init__(self):
        self.last = self._read()

    @staticmethod
    def _read():
        import psutil

        try:
            times = psutil.cpu_times()
        except (OSError, RuntimeError, NotImplementedError):  # a sandbox that hides the counters
            return None
        busy = sum(times) - times.idle - getattr(times, "iowait", 0.0)
        return time.monotonic(), busy, time.process_time()

    def others(self, wait: bool = False) -> float | None:
        """Since the last reading; with `wait`, first sleep until the interval is long enough, and
        start afresh when the last reading is too old to say what is running now."""
        if self.last is None:
            return None
        if wait:
            if time.monotonic() - self.last[0] > self.MAX_AGE:
                self.last = self._read()
            time.sleep(max(0.0, self.MIN_INTERVAL - (time.monotonic() - self.last[0])))
        now = self._read()
        (t0, busy0, own0), (t1, busy1, own1) = self.last, now
        if t1 - t0 < self.MIN_INTERVAL / 2:
            return None  # too short to tell; keep the older reading as the start
        self.last = now
        return max(0.0, ((busy1 - busy0) - (own1 - own0)) / (t1 - t0))


METER = CpuMeter()


def choose(others: float | None, available: int) -> int:
    """Every core while the others leave them free; one thread once they use half a core or more."""
    if others is None or available <= 1:
        return available
    return available if others < 0.5 else 1


class AdaptiveThreads(pl.Callback):
    """Re-decide the thread count at every training epoch from what the other processes used."""

    def __init__(self, meter: CpuMeter):
        self.meter = meter

    def on_train_epoch_start(self, trainer, module):
        others = self.meter.others()
        if others is not None:
            torch.set_num_threads(choose(others, cores()))


@contextlib.contextmanager
def torch_threads(requested: int | None = None):
    """Run the calls inside with the thread count `fixed_count(requested)`, or one chosen from what
    the other processes used lately; yields the meter to hand to `AdaptiveThreads` (None when the
    count is fixed)."""
    before = torch.get_num_threads()
    fixed = fixed_count(requested)
    meter = None
    if fixed is not None:
        torch.set_num_threads(fixed)
    else:
        meter = METER
        torch.set_num_threads(choose(meter.others(wait=True), cores()))
    try:
        yield meter
    finally:
        torch.set_num_threads(before)


# Ctrl-C, progress, the best epoch and the last checkpoint

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
        self.started = self.said = time.perf_counter()

    def on_train_epoch_end(self, trainer, module):
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


class BestWeights(pl.Callback):
    """Keep a copy of the weights of the epoch with the lowest validation loss, in memory (and in
    the checkpoint, so that a resumed fit still knows them); put them back when training ends and
    leave `best_epoch`, `best_val` and `epochs_run` in the trainer's metrics (which is what comes
    back from spawned worker processes)."""

    def __init__(self, monitor: str = "val_loss"):
        self.monitor, self.best, self.epoch, self.state = monitor, float("inf"), -1, None

    def on_validation_end(self, trainer, module):
        score = trainer.callback_metrics.get(self.monitor)
        if trainer.sanity_checking or score is None:
            return
        if float(score) < self.best:  # NaN never wins
            self.best, self.epoch = float(score), trainer.current_epoch
            self.state = {k: v.detach().clone() for k, v in module.state_dict().items()}

    def on_fit_end(self, trainer, module):
        if self.state is not None:
            module.load_state_dict(self.state)
        trainer.callback_metrics.update(
            best_epoch=torch.tensor(float(self.epoch if self.state is not None else -1)),
            best_val=torch.tensor(self.best), epochs_run=torch.tensor(float(trainer.current_epoch)))

    def state_dict(self):
        return {"best": self.best, "epoch": self.epoch, "state": self.state}

    def load_state_dict(self, state):
        self.best, self.epoch, self.state = state["best"], state["epoch"], state["state"]


class LastCheckpoint(pl.callbacks.Checkpoint):
    """Write `last.ckpt` after every finished epoch, atomically (temporary file, then rename)."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def on_train_epoch_end(self, trainer, module):
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        trainer.save_checkpoint(tmp)  # every process takes part; rank 0 writes
        if trainer.is_global_zero:
            os.replace(tmp, self.path)
