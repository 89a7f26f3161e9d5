"""Panels at scale: preparing many series, and one epoch of the global model against a plain loop.

10,000 synthetic daily series of 1,000-3,000 points (about 20 million in all), each starting on its
own date and all ending on the same day (a ragged panel), seq_len 64, horizon 16. (1) Validating every series and preparing the
panel (one calendar cut, a preprocessor per series, the concatenated tensor and the window starts):
seconds and the peak extra memory (resident set, above what the frames already take). (2) One
training epoch over a random 500,000-window sample of the training windows: the library's path
(`WindowDataset` over the panel's tensor, `Forecaster`, a Lightning `Trainer`) against a hand-written
PyTorch loop over the same windows (unfolded views, whole-batch gathers, the same LSTM of 64 and
head), run alternately, same threads. Last line: JSON with the figures.

    python benchmarks/panel.py [--series 10000] [--sample 500000] [--rounds 1]
"""
import argparse
import json
import resource
import time

import lightning.pytorch as pl
import numpy as np
import pandas as pd
import torch

from forecast import DataConfig, ModelConfig, TrainConfig
from forecast.forecaster import Forecaster
from forecast.model import CELLS
from forecast.panel import prepare_panel, validate_panel
from forecast.trainer import quiet_training
from forecast.windows import WindowDataset, batch_loader

SEQ_LEN, HORIZON, HIDDEN, BATCH, LR = 64, 16, 64, 256, 1e-3


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_panel(n: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    frames = {}
    end = pd.Timestamp("2024-12-31")
    for i in range(n):
        length = int(rng.integers(1000, 3001))  # every series up to the same day, each from its own start
        start = end - pd.Timedelta(days=length - 1)
        t = np.arange(length)
        values = 50 + 10 * np.sin(2 * np.pi * t / rng.integers(7, 60)) + np.cumsum(rng.normal(0, 0.3, length))
        frames[f"s{i}"] = pd.DataFrame({"y": values}, index=pd.date_range(start, periods=length, freq="D", name="Date"))
    return frames


# What both loops train: the library's settings, which the plain loop does by hand
SHAPE = {"seq_len": SEQ_LEN, "horizon": HORIZON, "hidden": HIDDEN, "batch": BATCH, "cell": "lstm", "loss": "mse",
         "normalize": "none", "clip": 0.0}


def library_epoch(panel, starts, threads, shape=SHAPE):
    torch.set_num_threads(threads)
    seq_len, horizon, batch = shape["seq_len"], shape["horizon"], shape["batch"]
    dataset = WindowDataset(panel.values, 1, seq_len, horizon, starts)
    data = DataConfig(targets=("y",), seq_len=seq_len, horizon=horizon)
    model = ModelConfig(cell=shape["cell"], hidden_size=shape["hidden"], normalize=shape["normalize"],
                        segment_len=shape.get("segment", 1))
    train = TrainConfig(learning_rate=LR, batch_size=batch, gradient_clip=shape["clip"], max_epochs=1,
                        loss=shape["loss"], ensemble=shape.get("members", 1))
    pl.seed_everything(0, verbose=False)
    module = Forecaster(data.to_dict(), model.to_dict(), train.to_dict())
    with quiet_training():
        trainer = pl.Trainer(accelerator="cpu", devices=1, max_epochs=1, logger=False, enable_checkpointing=False,
                             enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
                             num_sanity_val_steps=0, gradient_clip_val=shape["clip"] or None)
    loader = batch_loader(dataset, batch, shuffle=True, seed=0)
    t0 = time.perf_counter()
    with quiet_training():
        trainer.fit(module, train_dataloaders=loader)
    return time.perf_counter() - t0


def plain_epoch(panel, starts, threads, shape=SHAPE):
    torch.set_num_threads(threads)
    seq_len, horizon, hidden, shift = shape["seq_len"], shape["horizon"], shape["hidden"], shape["normalize"] == "last"
    inputs = panel.values.unfold(0, seq_len, 1).transpose(1, 2)  # (N - L + 1, L, 1)
    targets = panel.values[:, :1].unfold(0, horizon, 1).transpose(1, 2)
    loss_of = {"mse": torch.nn.functional.mse_loss, "mae": torch.nn.functional.l1_loss}[shape["loss"]]

    segment = shape.get("segment", 1)  # > 1: each step of the cell reads a segment, embedded (SegRNN)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = torch.nn.Linear(segment, hidden) if segment > 1 else None
            self.rnn = CELLS[shape["cell"]](hidden if self.embed else 1, hidden, batch_first=True)
            self.head = torch.nn.Linear(hidden, horizon)

        def forward(self, xb):
            last = xb[:, -1:] if shift else 0  # each window less its last value, added back
            x = xb - last
            if self.embed is not None:
                x = torch.relu(self.embed(x.reshape(len(x), seq_len // segment, segment)))
            out, _ = self.rnn(x)
            return self.head(out[:, -1])[..., None] + last

    class Members(torch.nn.Module):  # an ensemble: every member's forecast stacked, each on its own loss
        def __init__(self, k):
            super().__init__()
            self.nets = torch.nn.ModuleList(Net() for _ in range(k))

        def forward(self, xb):
            return torch.stack([net(xb) for net in self.nets])

    torch.manual_seed(0)
    members = shape.get("members", 1)
    net = Net() if members == 1 else Members(members)
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    order = starts[torch.randperm(len(starts), generator=torch.Generator().manual_seed(0))]
    t0 = time.perf_counter()
    for batch in order.split(shape["batch"]):
        pred = net(inputs[batch - seq_len])
        loss = loss_of(pred, targets[batch].expand_as(pred))
        opt.zero_grad()
        loss.backward()
        if shape["clip"]:
            torch.nn.utils.clip_grad_norm_(net.parameters(), shape["clip"])
        opt.step()
    return time.perf_counter() - t0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--series", type=int, default=10_000)
    parser.add_argument("--sample", type=int, default=500_000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    frames = make_panel(args.series)
    points = sum(len(f) for f in frames.values())
    before = rss_mb()
    t0 = time.perf_counter()
    frames, _ = validate_panel(frames, ["y"])
    validated = time.perf_counter() - t0
    data = DataConfig(targets=("y",), seq_len=SEQ_LEN, horizon=HORIZON)
    t0 = time.perf_counter()
    panel = prepare_panel(frames, data)
    starts = panel.stage_starts("train")
    prepared = time.perf_counter() - t0
    extra = peak_mb() - before
    print(f"{args.series} series, {points:,} points: validated in {validated:.1f} s, prepared "
          f"({len(starts):,} training windows) in {prepared:.1f} s, peak extra memory {extra:.0f} MB",
          flush=True)
    sample = starts[torch.randperm(len(starts), generator=torch.Generator().manual_seed(1))[:args.sample]]
    ours, theirs = [], []
    for _ in range(args.rounds):
        theirs.append(plain_epoch(panel, sample, args.threads))
        ours.append(library_epoch(panel, sample, args.threads))
        print(f"epoch of {len(sample):,} windows: library {ours[-1]:.1f} s, plain loop {theirs[-1]:.1f} s, "
              f"ratio (plain time / library time) {theirs[-1] / ours[-1]:.2f}", flush=True)
    print(json.dumps({"series": args.series, "points": points, "validate_s": round(validated, 2),
                      "prepare_s": round(prepared, 2), "peak_extra_mb": round(extra),
                      "train_windows": len(starts), "sample": len(sample),
                      "library_epoch_s": [round(v, 2) for v in ours], "plain_epoch_s": [round(v, 2) for v in theirs],
                      "ratio": [round(t / o, 3) for t, o in zip(theirs, ours)], "threads": args.threads}))


if __name__ == "__main__":
    main()
