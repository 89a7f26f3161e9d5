"""Training and prediction throughput: the project's forecaster against a plain PyTorch loop.

Same data (ETTh1 `OT`, standard split, standardised on train), same network (one recurrent layer of
64, linear head over the last hidden state), seq_len 96, horizon 24, batch 256, Adam 1e-3, 5 epochs,
float32, no validation in the timed part. (a) goes through the public API (`WindowDataModule`,
`Forecaster`, a Lightning `Trainer`; prediction with `forecast.model.predict_scaled`); (b) is a
hand-written loop over the same tensors. Also times `forecast --help` as a subprocess.
Last line: JSON with the figures.

    python benchmarks/throughput.py [--epochs 5] [--cells lstm gru rnn] [--device cpu|cuda]
                                    [--precision 32-true|bf16-mixed]
"""
import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import lightning.pytorch as pl
import pandas as pd
import torch

from forecast import DataConfig, ModelConfig, TrainConfig, WindowDataModule
from forecast.forecaster import AdaptiveThreads, Forecaster, torch_threads
from forecast.model import CELLS
from forecast.trained import predict_scaled

ETTH1 = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "ETTh1.csv"
SEQ_LEN, HORIZON, HIDDEN, BATCH, LR = 96, 24, 64, 256, 1e-3


def load():
    frame = pd.read_csv(ETTH1, parse_dates=["date"], index_col="date")[["OT"]].iloc[:14400]
    data = DataConfig(targets=("OT",), seq_len=SEQ_LEN, horizon=HORIZON,
                      val_start=str(frame.index[8640]), test_start=str(frame.index[11520]))
    return frame, data


def sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


def project(frame, data, cell, epochs, device, precision, threads=None):
    """The library's path: data module, LightningModule, Trainer; no validation while timed.
    `threads` as `TrainConfig.threads` (None: the library's default)."""
    with torch_threads(threads) as meter:
        return _project(frame, data, cell, epochs, device, precision, meter)


def _project(frame, data, cell, epochs, device, precision, meter=None):
    model = ModelConfig(cell=cell, hidden_size=HIDDEN, normalize="none")
    train = TrainConfig(learning_rate=LR, batch_size=BATCH, gradient_clip=0.0, max_epochs=epochs)
    pl.seed_everything(0, verbose=False)
    dm = WindowDataModule(frame, data, batch_size=BATCH, seed=0, device=device)
    dm.setup()
    module = Forecaster(data.to_dict(), model.to_dict(), train.to_dict())
    trainer = pl.Trainer(accelerator="gpu" if device == "cuda" else "cpu", devices=1,
                         precision=precision, max_epochs=epochs, limit_val_batches=0,
                         logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, num_sanity_val_steps=0,
                         callbacks=[AdaptiveThreads(meter)] if meter is not None else [])
    loader = dm.train_dataloader()
    t0 = time.perf_counter()
    trainer.fit(module, train_dataloaders=loader)
    sync(device)
    train_s = time.perf_counter() - t0
    net = module.net.to(device)
    test = dm.dataset("test")

    def run():
        predict_scaled(net, test, batch_size=1024)
        sync(device)
    return len(dm.dataset("train")) * epochs / train_s, len(test) / median_time(run)


def plain(frame, data, cell, epochs, device, precision):
    """What a careful engineer writes by hand: unfolded windows, index whole batches, step."""
    values = torch.tensor(frame["OT"].to_numpy(), dtype=torch.float32)
    mean, std = values[:8640].mean(), values[:8640].std(unbiased=False)
    x = ((values - mean) / std).to(device)
    inputs = x.unfold(0, SEQ_LEN, 1)  # (N - L + 1, L)
    targets = x.unfold(0, HORIZON, 1)  # (N - H + 1, H)
    starts = torch.arange(SEQ_LEN, 8640 - HORIZON + 1, device=device)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = CELLS[cell](1, HIDDEN, batch_first=True)
            self.head = torch.nn.Linear(HIDDEN, HORIZON)

        def forward(self, xb):
            out, _ = self.rnn(xb)
            return self.head(out[:, -1])

    torch.manual_seed(0)
    net = Net().to(device)
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    autocast = torch.autocast(device, dtype=torch.bfloat16, enabled=precision == "bf16-mixed")
    generator = torch.Generator(device=device).manual_seed(0)
    t0 = time.perf_counter()
    for _ in range(epochs):
        for idx in torch.randperm(len(starts), generator=generator, device=device).split(BATCH):
            s = starts[idx]
            xb, yb = inputs[s - SEQ_LEN].unsqueeze(-1), targets[s]
            with autocast:
                loss = torch.nn.functional.mse_loss(net(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    sync(device)
    train_s = time.perf_counter() - t0
    test_starts = torch.arange(11520, 14400 - HORIZON + 1, device=device)
    net.eval()

    def run():
        with torch.inference_mode():
            outputs = [net(inputs[idx - SEQ_LEN].unsqueeze(-1)) for idx in test_starts.split(1024)]
            torch.cat(outputs).cpu().numpy()  # a prediction is kept, not thrown away
        sync(device)
    return len(starts) * epochs / train_s, len(test_starts) / median_time(run)


def median_time(fn, repeats=7):
    """Median of several runs: prediction takes a fraction of a second, so one run is mostly noise."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def help_seconds():
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "forecast", "--help"], check=True, capture_output=True)
    return time.perf_counter() - t0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--cells", nargs="+", default=["lstm", "gru", "rnn"])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--precision", default="32-true")
    parser.add_argument("--rounds", type=int, default=5, help="alternating runs of each path")
    args = parser.parse_args()
    import logging
    import warnings
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    frame, data = load()
    rows = {}
    print(f"device {args.device}, precision {args.precision}, torch threads {torch.get_num_threads()}")
    print("windows/s, median over rounds; ratio = project / plain per round: median [min, max]")
    print(f"{'cell':5s} {'train project':>14s} {'plain':>8s} {'ratio':>20s}  "
          f"{'predict project':>16s} {'plain':>8s} {'ratio':>20s}")
    for cell in args.cells:
        # Alternate the two paths for several rounds: each round's ratio compares runs taken side by
        # side under the same load; the median and the spread over rounds say how sure it is.
        runs = {"plain": [], "project": []}
        for r in range(args.rounds):
            for name in (("plain", "project") if r % 2 == 0 else ("project", "plain")):
                fn = plain if name == "plain" else project
                runs[name].append(fn(frame, data, cell, args.epochs, args.device, args.precision))
        row = {}
        for i, kind in enumerate(("train", "predict")):
            ours = [run[i] for run in runs["project"]]
            theirs = [run[i] for run in runs["plain"]]
            ratios = [a / b for a, b in zip(ours, theirs)]
            row.update({f"{kind}_project": round(statistics.median(ours)),
                        f"{kind}_plain": round(statistics.median(theirs)),
                        f"{kind}_ratio": round(statistics.median(ratios), 3),
                        f"{kind}_ratio_min": round(min(ratios), 3), f"{kind}_ratio_max": round(max(ratios), 3)})
        rows[cell] = r = row
        print(f"{cell:5s} {r['train_project']:>14,} {r['train_plain']:>8,} "
              f"{r['train_ratio']:>6.3f} [{r['train_ratio_min']:.2f}, {r['train_ratio_max']:.2f}]  "
              f"{r['predict_project']:>16,} {r['predict_plain']:>8,} "
              f"{r['predict_ratio']:>6.3f} [{r['predict_ratio_min']:.2f}, {r['predict_ratio_max']:.2f}]",
              flush=True)
    help_s = statistics.median(help_seconds() for _ in range(5))
    print(f"forecast --help: {help_s:.3f} s (median of 5)")
    print(json.dumps({"device": args.device, "precision": args.precision, "epochs": args.epochs,
                      "rounds": args.rounds,
                      "cells": rows, "help_seconds": round(help_s, 3)}))


if __name__ == "__main__":
    main()
