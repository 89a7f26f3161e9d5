"""Forecasting every series of a large panel: one forward pass for all of them against one per series.

A GRU of 32 (one short epoch: the weights do not matter here) on 2,000 synthetic daily series of 200
points, seq_len 28, horizon 7, 80% and 90% intervals. Each round times `model.predict()` (every
series from its saved history: one batched pass through the network, one table) and the same
forecasts made series by series (`model.member(name).predict()`: a network call and a table each,
as `predict` made them before), alternately, with the same threads; it checks that both give the
same numbers. Last line: JSON.

    python benchmarks/predict_panel.py [--series 2000] [--rounds 3]
"""
import argparse
import json
import time

import numpy as np
import pandas as pd
import torch

from forecast import DataConfig, ModelConfig, TrainConfig, fit


def make_panel(n: int, length: int = 200, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2022-01-01", periods=length, freq="D")
    t = np.arange(length)
    return {f"s{i:05d}": pd.DataFrame({"y": 50 + 10 * np.sin(2 * np.pi * t / 7 + i) + rng.normal(0, 2, length)},
                                      index=dates) for i in range(n)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    started = time.perf_counter()
    result = fit(make_panel(args.series), DataConfig(targets=("y",), seq_len=28, horizon=7),
                 ModelConfig(cell="gru", hidden_size=32), TrainConfig(max_epochs=1, accelerator="cpu"),
                 quiet=True, refit=False)
    print(f"fitted on {args.series} series in {time.perf_counter() - started:.1f} s "
          f"({torch.get_num_threads()} threads)", flush=True)
    model, names = result.model, result.model.series
    batched, single = [], []
    for _ in range(args.rounds):
        t = time.perf_counter()
        together = model.predict()
        batched.append(time.perf_counter() - t)
        t = time.perf_counter()
        apart = pd.concat([model.member(name).predict().assign(series=name) for name in names])
        single.append(time.perf_counter() - t)
        gap = float(np.abs(together["y"].to_numpy() - apart["y"].to_numpy()).max())
        print(f"one pass {batched[-1]:6.2f} s   series by series {single[-1]:6.2f} s   "
              f"ratio {single[-1] / batched[-1]:5.1f}   largest difference {gap:.1e}", flush=True)
    print(json.dumps({"series": args.series, "threads": torch.get_num_threads(), "one_pass_s": batched,
                      "series_by_series_s": single, "largest_difference": gap}))


if __name__ == "__main__":
    main()
