"""One global model for many series against one local model per series, same settings and split.

Two panels: the 4 bundled tickers (Close, default settings: LSTM 64, seq_len 60, horizon 5) and
ETTh1's 7 columns as 7 series (standard split, seq_len 96, horizon 24, GRU 128 over segments of 24,
MAE loss). The global model is one `fit` on the panel; the local models are one `fit` per series.
Both use the same calendar cut (the panel's dates, passed to each local fit), the same epochs budget
per model (max epochs and early stopping on validation) and the same seed; each is scored once on
test. Printed per series and on average: test RMSE, MASE and skill against naive, and the wall time.
Last line: JSON with every figure.

    python benchmarks/global_local.py [--max-epochs N] [--no-ett]
"""
import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from forecast import DataConfig, ModelConfig, TrainConfig, fit
from forecast.sources import load_sample
from forecast.panel import calendar_cut, from_wide

ETTH1 = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "ETTh1.csv"


def compare(name, frames, data, model, train):
    data = calendar_cut(frames, data)  # the same dates for the global and every local model
    t0 = time.perf_counter()
    panel = fit(frames, data, model, train, quiet=True, refit=False)
    global_s = time.perf_counter() - t0
    rows, local_s = {}, 0.0
    for series, frame in frames.items():
        t0 = time.perf_counter()
        alone = fit(frame, data, model, train, quiet=True, refit=False)
        local_s += time.perf_counter() - t0
        g = panel.metrics["series"][series]
        rows[series] = {"global_rmse": g["rmse"], "local_rmse": alone.metrics["model"]["rmse"],
                        "naive_rmse": g["naive_rmse"], "global_mase": g["mase"],
                        "local_mase": alone.metrics["model"]["mase"], "global_skill": g["skill"],
                        "local_skill": alone.metrics["skill"]}
        r = rows[series]
        print(f"{name:>7} {series:>5}: RMSE global {r['global_rmse']:.4g} local {r['local_rmse']:.4g} "
              f"naive {r['naive_rmse']:.4g} | MASE {r['global_mase']:.4g} vs {r['local_mase']:.4g} | skill "
              f"{100 * r['global_skill']:+.1f}% vs {100 * r['local_skill']:+.1f}%", flush=True)
    mean = {k: float(np.mean([r[k] for r in rows.values()])) for k in next(iter(rows.values()))}
    wins = sum(r["global_rmse"] < r["local_rmse"] for r in rows.values())
    print(f"{name:>7} mean: MASE global {mean['global_mase']:.4g} vs local {mean['local_mase']:.4g}, "
          f"skill {100 * mean['global_skill']:+.2f}% vs {100 * mean['local_skill']:+.2f}%; global lower RMSE "
          f"on {wins} of {len(rows)}; wall {global_s:.0f} s global vs {local_s:.0f} s local", flush=True)
    return {"panel": name, "series": rows, "mean": mean, "global_wins": wins,
            "global_seconds": round(global_s, 1), "local_seconds": round(local_s, 1)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-epochs", type=int, default=None)
    parser.add_argument("--no-ett", action="store_true")
    args = parser.parse_args()
    cap = {"max_epochs": args.max_epochs} if args.max_epochs else {}
    out = []
    stocks = {t: load_sample(t)[["Close"]] for t in ("AAPL", "MSFT", "IBM", "GOOG")}
    out.append(compare("tickers", stocks, DataConfig(), ModelConfig(),
                       TrainConfig(accelerator="cpu").override(**cap)))
    if not args.no_ett:
        ett = pd.read_csv(ETTH1, parse_dates=["date"], index_col="date").iloc[:14400]
        frames = from_wide(ett, list(ett.columns))
        data = DataConfig(targets=("value",), seq_len=96, horizon=24, val_start=str(ett.index[8640]),
                          test_start=str(ett.index[11520]))
        model = ModelConfig(cell="gru", hidden_size=128, segment_len=24)
        train = TrainConfig(loss="mae", batch_size=256, max_epochs=10, patience=3, accelerator="cpu").override(**cap)
        out.append(compare("ETTh1", frames, data, model, train))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
