"""What `backtest --hold-out` costs: a held-out series is re-scaled on its own history at every
origin (as `predict --new-series` would scale it there), so it is forecast origin by origin instead
of fold by fold. 50 random-walk-plus-week series of 700 days, GRU 16, input 28, horizon 7, 250 origins,
one fold of one epoch; the same backtest with 10 series held out and with none, alternating rounds,
side by side in one run. The last line is JSON.

    python benchmarks/holdout.py [--rounds 3]
"""
import argparse
import json
import os
import time

import numpy as np
import pandas as pd

from forecast import BacktestConfig, DataConfig, ModelConfig, TrainConfig, backtest


def panel(n_series: int = 50, n: int = 700) -> dict:
    rng = np.random.default_rng(0)
    dates = pd.date_range("2020-01-01", periods=n, freq="D")
    week = np.sin(np.arange(n) * 2 * np.pi / 7)
    return {f"s{i:02d}": pd.DataFrame({"y": 50 + 10 * np.roll(week, i) + rng.normal(0, 1, n).cumsum() * 0.3},
                                      index=dates) for i in range(n_series)}


def seconds(frames: dict, new_series: str | None) -> float:
    started = time.perf_counter()
    backtest(frames, DataConfig(targets=("y",), seq_len=28, horizon=7), ModelConfig(cell="gru", hidden_size=16),
             TrainConfig(max_epochs=1, threads=2, accelerator="cpu"), BacktestConfig(origins=250, hold_out=new_series))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    frames = panel()
    load = os.getloadavg()[0]
    rows = []
    for r in range(args.rounds):
        none, held = seconds(frames, None), seconds(frames, "10")
        rows.append({"none": none, "held_out_10": held, "ratio": held / none})
        print(f"round {r + 1}: none {none:.2f} s, 10 held out {held:.2f} s, ratio {held / none:.2f}", flush=True)
    per_origin = [(row["held_out_10"] - row["none"]) / (10 * 250) * 1000 for row in rows]
    print(f"extra per held-out series and origin: {min(per_origin):.2f}-{max(per_origin):.2f} ms "
          f"(load {load:.2f} before the run)")
    print(json.dumps({"load_before": load, "rounds": rows}))


if __name__ == "__main__":
    main()
