"""What calendar inputs (`--time-features`) are worth: ETTh1's oil temperature (OT), hourly, with and
without the hour of the day and the day of the week as inputs.

The standard ETTh1 split (rows [0, 8640) train, [8640, 11520) validation, [11520, 14400) test),
horizon 24, a GRU of 32 over single steps, MAE loss, early stopping on validation; inputs of 12 hours
(shorter than the daily cycle: the window alone cannot tell the time of day) and of 96 hours (four
days: it can). Each row is the mean over the seeds of MSE on OT standardised with train statistics,
validation beside test, and the seconds per fit; the last line is JSON with every figure.

    python benchmarks/time_features.py [--seq-lens 12 96] [--seeds 1 2 3] [--max-epochs 10]
"""
import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from forecast import DataConfig, ModelConfig, TrainConfig, fit
from forecast.evaluation import evaluate

ETTH1 = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "ETTh1.csv"
VARIANTS = {"none": (), "hour + dayofweek": ("hour", "dayofweek")}


def mse(ev, pre) -> float:
    """MSE of an evaluation on values standardised with the preprocessor's (train) statistics."""
    return float(np.mean(((ev.forecast - ev.actual) / pre.std[0]) ** 2))


def run(frame, seq_len, features, seed, max_epochs):
    data = DataConfig(targets=tuple(frame.columns), seq_len=seq_len, horizon=24, time_features=features,
                      val_start=str(frame.index[8640]), test_start=str(frame.index[11520]))
    model = ModelConfig(cell="gru", hidden_size=32)
    train = TrainConfig(loss="mae", max_epochs=max_epochs, patience=3, seed=seed, accelerator="cpu")
    started = time.perf_counter()
    result = fit(frame, data, model, train, quiet=True, refit=False)
    pre = result.evaluated.preprocessor
    return {"val_mse": mse(evaluate(result.evaluated.net, result.prepared.parts[0], "val"), pre),
            "mse": mse(result.test, pre), "seconds": time.perf_counter() - started}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seq-lens", nargs="+", type=int, default=[12, 96])
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--max-epochs", type=int, default=10)
    parser.add_argument("--target", default="OT", help="the ETTh1 column to forecast (HUFL: a load)")
    args = parser.parse_args()
    import logging
    import warnings
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    frame = pd.read_csv(ETTH1, parse_dates=["date"], index_col="date").iloc[:14400][[args.target]]
    print(f"{'input':>5s}  {'time features':16s} {'val MSE':>8s} {'test MSE':>8s} {'(sd)':>6s} {'seconds':>8s}")
    rows = []
    for seq_len in args.seq_lens:
        for name, features in VARIANTS.items():
            runs = [run(frame, seq_len, features, seed, args.max_epochs) for seed in args.seeds]
            row = {"seq_len": seq_len, "time_features": list(features),
                   **{k: float(np.mean([r[k] for r in runs])) for k in runs[0]},
                   "seed_mse": [r["mse"] for r in runs]}
            rows.append(row)
            print(f"{seq_len:>5d}  {name:16s} {row['val_mse']:>8.4f} {row['mse']:>8.4f} "
                  f"{np.std(row['seed_mse'], ddof=1) if len(runs) > 1 else 0:>6.4f} {row['seconds']:>8.1f}",
                  flush=True)
    print(json.dumps({"config": vars(args), "rows": rows}))


if __name__ == "__main__":
    main()
