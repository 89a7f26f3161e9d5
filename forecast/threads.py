"""How many CPU threads PyTorch uses: as asked, or chosen by measuring what else runs on the machine.

PyTorch's default (every core, idle threads spinning) is fastest on a quiet machine and collapses
when other processes compete for the cores: spinning threads of several processes fight each other,
and a 10-second fit took minutes (`benchmarks/contention.py`). A small recurrent model gains from a
second thread only when that core is free. So by default `forecast` measures how much CPU other
processes used (the machine's busy CPU time from psutil, on Linux, macOS and Windows alike, minus
this process's own) when training starts and again at
every epoch, and uses every core only while they are free, one thread otherwise. `--set train.threads=N`,
`TrainConfig(threads=N)` or `$FORECAST_THREADS` fix the count instead. The caller's own setting is
put back after each call. A different thread count can change the last digits of a result (the
order of floating-point sums changes), so for bit-identical reruns under changing load, fix it.
"""
from __future__ import annotations

import contextlib
import os
import time

import lightning.pytorch as pl
import torch

from forecast.errors import ForecastError


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
