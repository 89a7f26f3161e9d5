"""Build training windows for a 10,000,000-point series with seq_len 256: time and peak extra memory.

Runs the library's real path (validate -> split -> fit scaler on train -> scale -> unfold views) and
gathers one batch. Last line: JSON with `seconds` and `peak_extra_mb` (growth of the process's peak
resident memory over the input frame). Target: under 2 s and under 1 GB.

    python benchmarks/windows.py [--points N] [--seq-len L]
"""
import argparse
import json
import resource
import time

import numpy as np
import pandas as pd
import torch

from forecast.config import DataConfig
from forecast.windows import prepare
from forecast.sources import validate_frame
from forecast.windows import stage_dataset


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=10_000_000)
    parser.add_argument("--seq-len", type=int, default=256)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    index = pd.date_range("2000-01-01", periods=args.points, freq="min")
    frame = pd.DataFrame({"y": rng.standard_normal(args.points).cumsum()}, index=index)
    torch.zeros(1)  # load torch's allocator before the baseline reading
    base = peak_mb()
    t0 = time.perf_counter()
    clean, _ = validate_frame(frame, ["y"])
    prepared = prepare(clean, DataConfig(targets=("y",), seq_len=args.seq_len, horizon=1))
    train = stage_dataset(prepared, "train")
    x, y = train[torch.arange(0, len(train), len(train) // 256)[:256]]  # one batch, spread out
    seconds = time.perf_counter() - t0
    extra = peak_mb() - base
    n_windows = len(train)
    copy_mb = n_windows * args.seq_len * 4 / 2**20
    print(f"{n_windows:,} training windows of {args.seq_len} steps in {seconds:.2f} s; "
          f"peak extra memory {extra:.0f} MB (a materialised copy would need {copy_mb:,.0f} MB); "
          f"batch {tuple(x.shape)}")
    print(json.dumps({"points": args.points, "seq_len": args.seq_len, "windows": n_windows,
                      "seconds": round(seconds, 3), "peak_extra_mb": round(extra, 1)}))


if __name__ == "__main__":
    main()
