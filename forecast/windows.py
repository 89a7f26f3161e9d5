"""Sliding windows as views over one tensor, batch loaders, and the LightningDataModule.

`WindowDataset` never copies the series: `Tensor.unfold` gives every window as a strided view, and a
batch is one gather of the rows it needs. Its `__getitem__` takes a whole batch of indices, so a
DataLoader with `batch_size=None` over a `BatchSampler` skips per-sample calls and collation. Trained
on several devices, `ShardedBatches` deals each epoch's batches out to the processes.
"""
from __future__ import annotations

import lightning.pytorch as pl
import numpy as np
import pandas as pd
import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, Sampler, SequentialSampler

from typing import TYPE_CHECKING

from forecast.config import DataConfig

if TYPE_CHECKING:  # panel imports this module
    from forecast.panel import Prepared


class WindowDataset(Dataset):
    """Windows whose targets start at rows `starts[i]`.

    Item `i` is `(inputs, targets)`: inputs `values[s - seq_len : s]` of shape (seq_len, C) and
    targets `values[s : s + horizon, :n_targets]` of shape (horizon, T), for `s = starts[i]`.
    Indexing with a 1-D index tensor returns a batch: (B, seq_len, C) and (B, horizon, T).
    """

    def __init__(self, values: torch.Tensor, n_targets: int, seq_len: int, horizon: int,
                 starts: torch.Tensor, series: torch.Tensor | None = None):
        self.seq_len = seq_len
        self.starts = starts
        self.series = series  # (N,) each row's series in a panel: items then carry it third
        self.inputs = values.unfold(0, seq_len, 1).transpose(1, 2)  # (N - L + 1, L, C) view
        self.targets = values[:, :n_targets].unfold(0, horizon, 1).transpose(1, 2)  # (N-H+1, H, T)

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, idx):
        s = self.starts[idx]
        if self.series is not None:
            return self.inputs[s - self.seq_len], self.targets[s], self.series[s]
        return self.inputs[s - self.seq_len], self.targets[s]


def stage_dataset(prepared, stage: str) -> WindowDataset:
    """The `stage` windows of one `PreparedSeries` or of a `Prepared` panel."""
    cfg = prepared.cfg
    return WindowDataset(prepared.values, prepared.n_targets, cfg.seq_len, cfg.horizon,
                         prepared.stage_starts(stage), prepared.row_series())


class ShardedBatches(Sampler):
    """Whole batches of window indices for one of `world` processes (data-parallel training).

    Every epoch all processes draw the same permutation of the `n` windows (from `seed` and the
    epoch), cut it into a multiple of `world` batches of near-equal size and take every `world`-th
    batch from their `rank` on: each window is seen exactly once per epoch across the processes, and
    every process runs the same number of steps (DDP synchronises gradients at each one).
    """

    def __init__(self, n: int, batch_size: int, seed: int, rank: int = 0, world: int = 1,
                 weights: torch.Tensor | None = None):
        self.n, self.seed, self.rank, self.world, self.epoch = n, seed, rank, world, 0
        self.weights = weights  # (n,): draw n windows with these odds instead of a permutation
        self.batches = world * max(1, -(-n // (batch_size * world)))  # ceil, a multiple of world

    def set_epoch(self, epoch: int) -> None:  # Lightning calls this before every epoch
        self.epoch = epoch

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(self.n, generator=generator) if self.weights is None else \
            torch.multinomial(self.weights, self.n, replacement=True, generator=generator)
        yield from order.tensor_split(self.batches)[self.rank::self.world]

    def __len__(self) -> int:
        return self.batches // self.world


def batch_loader(dataset: WindowDataset, batch_size: int, shuffle: bool = False,
                 seed: int | None = None, rank: int = 0, world: int = 1,
                 weights: torch.Tensor | None = None) -> DataLoader:
    """Whole-batch loader; with `shuffle`, the order is fixed by `seed` (new each epoch); with
    `world` > 1 processes, this one's share of every epoch (see `ShardedBatches`); with `weights`
    (n,), as many windows as there are, drawn with those odds (with replacement)."""
    if shuffle and (world > 1 or weights is not None):
        return DataLoader(dataset, sampler=ShardedBatches(len(dataset), batch_size, seed or 0, rank, world,
                                                          weights), batch_size=None)
    if shuffle:
        generator = torch.Generator().manual_seed(seed if seed is not None else 0)
        sampler: Sampler[int] = RandomSampler(dataset, generator=generator)
    else:
        sampler = SequentialSampler(dataset)
    return DataLoader(dataset, sampler=BatchSampler(sampler, batch_size, drop_last=False),
                      batch_size=None)


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
            from forecast.panel import prepare_panel

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
