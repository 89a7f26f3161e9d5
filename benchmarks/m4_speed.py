"""M4 Hourly's training speed: one epoch of the library against a plain PyTorch loop over the same
windows, and the seconds of loading and preparing the panel.

The M4 page's recipe (GRU of 64, input 168, horizon 48, batch 256, the 24-hour cycle, the log scale,
an absolute loss, windows shifted by their last value, gradients clipped at 1): the library's path
(`WindowDataset`, `Forecaster`, a Lightning `Trainer`) against a hand-written loop doing the same
arithmetic (`benchmarks/panel.py`'s, with these settings), on one random sample of the training
windows, run alternately with the same threads. Last line: JSON, also written to
`benchmarks/results/m4/speed.json`.

    python benchmarks/m4_speed.py [--sample 50000] [--rounds 2] [--segment-len 24 --hidden-size 64 --members 5]

With `--segment-len`/`--hidden-size`/`--members` (the recipe since segments) both sides read the input
in segments, each embedded by a linear layer, and train that many networks side by side, each on its
own loss; the JSON goes to `speed_seg{S}_h{H}[_ensemble{K}].json`.
"""
import argparse
import json
import os
import sys
import time

import torch

from m4 import DATA, HORIZON, RESULTS, load
from panel import library_epoch, plain_epoch

SHAPE = {"seq_len": 168, "horizon": HORIZON, "hidden": 64, "batch": 256, "cell": "gru", "loss": "mae",
         "normalize": "last", "clip": 1.0}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sample", type=int, default=50_000, help="training windows per epoch")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--segment-len", type=int, default=1)
    parser.add_argument("--hidden-size", type=int, default=SHAPE["hidden"])
    parser.add_argument("--members", type=int, default=1, help="an ensemble of this many networks on both sides")
    args = parser.parse_args()
    shape = {**SHAPE, "hidden": args.hidden_size, "segment": args.segment_len, "members": args.members}
    if not (DATA / "hourly_train.csv").is_file():
        sys.exit(f"M4 Hourly not found in {DATA}; see ../shared/data/README.md")
    from forecast import DataConfig
    from forecast.panel import prepare_panel

    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    frames, _ = load(DATA)
    loaded = time.perf_counter() - t0
    data = DataConfig(targets=("value",), seq_len=SHAPE["seq_len"], horizon=HORIZON, cycle=24, transform="log")
    t0 = time.perf_counter()
    panel = prepare_panel(frames, data)
    prepared = time.perf_counter() - t0
    starts = panel.stage_starts("train")
    sample = starts[torch.randperm(len(starts), generator=torch.Generator().manual_seed(1))[:args.sample]]
    print(f"{len(frames)} series: loaded in {loaded:.1f} s, prepared ({len(starts):,} training windows) in "
          f"{prepared:.1f} s", flush=True)
    ours, theirs = [], []
    for _ in range(args.rounds):
        theirs.append(plain_epoch(panel, sample, args.threads, shape))
        ours.append(library_epoch(panel, sample, args.threads, shape))
        print(f"epoch of {len(sample):,} windows: library {len(sample) / ours[-1]:,.0f} windows/s "
              f"({ours[-1]:.1f} s), plain loop {len(sample) / theirs[-1]:,.0f} windows/s ({theirs[-1]:.1f} s), "
              f"library / plain {theirs[-1] / ours[-1]:.2f}", flush=True)
    record = {"series": len(frames), "load_s": round(loaded, 2), "prepare_s": round(prepared, 2),
              "train_windows": len(starts), "sample": len(sample), "threads": args.threads,
              "library_epoch_s": [round(v, 2) for v in ours], "plain_epoch_s": [round(v, 2) for v in theirs],
              "ratio": [round(t / o, 3) for t, o in zip(theirs, ours)],
              "load": [load_before, os.getloadavg()[0]], "settings": shape}
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = "speed.json" if args.segment_len == 1 and args.hidden_size == SHAPE["hidden"] and args.members == 1 else \
        f"speed_seg{args.segment_len}_h{args.hidden_size}" + (f"_ensemble{args.members}" if args.members > 1 else "") + ".json"
    (RESULTS / name).write_text(json.dumps(record, indent=1))
    print(json.dumps(record))


if __name__ == "__main__":
    main()
