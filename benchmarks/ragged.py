"""A ragged panel: series of 80 to 2,600 daily steps that all end on the same day (stores opened years
apart). How many series each split default can use, and whether drawing windows per series (each
series weighs the same per epoch) serves the panel better than every window once (long series
dominate), on validation, then test.

    python benchmarks/ragged.py --seeds 1 2 3

The series share one weekly shape in three kinds and have their own level, trend and noise, so a
global model has something to learn across series; the data are generated here (no download).
"""
from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import pandas as pd


def panel(n_series: int = 40, shortest: int = 80, longest: int = 2600, seed: int = 0) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    lengths = np.exp(rng.uniform(np.log(shortest), np.log(longest), n_series)).astype(int)
    lengths[:2] = shortest, longest
    end = pd.Timestamp("2024-06-30")
    shapes = np.array([[0, 1, 2, 3, 4, 8, 6], [5, 0, 0, 0, 5, 9, 9], [2, 2, 2, 2, 2, -3, -3]], float)
    frames = {}
    for i, n in enumerate(lengths):
        dates = pd.date_range(end=end, periods=n, freq="D")
        weekly = shapes[i % 3][dates.day_of_week] * rng.uniform(0.5, 2)
        noise = np.zeros(n)
        for t in range(1, n):  # AR(1) noise: something to forecast beyond the week
            noise[t] = 0.7 * noise[t - 1] + rng.normal(0, 1)
        level = rng.uniform(20, 200) + np.cumsum(rng.normal(0, 0.05, n))
        frames[f"store{i:02d}"] = pd.DataFrame({"y": level + weekly + noise}, index=dates.rename("Date"))
    return frames


def usable(frames, data) -> int:
    from forecast.errors import ForecastError
    from forecast.panel import unusable

    try:
        return len(frames) - len(unusable(frames, data)[1])
    except ForecastError:
        return 0


def main() -> None:
    from forecast import DataConfig, ModelConfig, TrainConfig, fit

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--series", type=int, default=40)
    parser.add_argument("--max-epochs", type=int, default=6)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    frames = panel(args.series)
    data = DataConfig(targets=("y",), seq_len=14, horizon=7)
    fractions = DataConfig(targets=("y",), seq_len=14, horizon=7, val_fraction=0.15, test_fraction=0.15)
    used = {"steps from the end (default)": usable(frames, data), "fractions of all dates (before)": usable(frames, fractions)}
    print(f"{len(frames)} series of {min(map(len, frames.values()))} to {max(map(len, frames.values()))} steps; "
          + "; ".join(f"{k}: {v} series usable" for k, v in used.items()))
    rows = {}
    for sampling in ("windows", "series"):
        runs = []
        for seed in args.seeds:
            started = time.perf_counter()
            result = fit(frames, data, ModelConfig(cell="gru", hidden_size=32),
                         TrainConfig(max_epochs=args.max_epochs, patience=0, seed=seed, sampling=sampling,
                                     accelerator="cpu"), refit=False, quiet=True)
            m = result.metrics
            runs.append({"seed": seed, "val_loss": result.evaluated.info.get("best_val_loss"),
                         "test_mase": m["model"]["mase"], "best_baseline_mase": m[m["best_baseline"]]["mase"],
                         "mean_series_skill": m.get("mean_skill"), "seconds": time.perf_counter() - started})
            print(f"{sampling} seed {seed}: " + ", ".join(f"{k} {v:.4g}" for k, v in runs[-1].items() if k != "seed"),
                  flush=True)
        rows[sampling] = {k: float(np.mean([r[k] for r in runs])) for k in runs[0] if k != "seed"}
    print(f"{'sampling':<10} {'val loss':>9} {'test MASE':>10} {'best baseline':>14} {'seconds':>8}")
    for name, r in rows.items():
        print(f"{name:<10} {r['val_loss']:9.4f} {r['test_mase']:10.4f} {r['best_baseline_mase']:14.4f} "
              f"{r['seconds']:8.1f}")
    print(f"load before {load_before:.2f}, after {os.getloadavg()[0]:.2f}")
    print(json.dumps({"usable": used, "rows": rows, "seeds": args.seeds, "load": [load_before, os.getloadavg()[0]]}))


if __name__ == "__main__":
    main()
