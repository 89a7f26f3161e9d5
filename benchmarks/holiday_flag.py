"""What the holiday flag (`--holidays`) is worth on real series: ETTh1's loads (China's holidays: the
Spring Festival and National Day weeks empty the factories) and a daily stock (the exchange's
closures), each with and without the flag, on the same split, seeds and settings.

ETTh1: one target (HUFL, the high useful load, by default), input 168 hours, horizon 24, GRU 32,
the standard protocol's rows (train to 8640, validation to 11520, test to 14400). Stocks: IBM's
close from the bundled sample, input 20, horizon 5, calendar XNYS. Each row is the mean test RMSE
and MASE over the seeds; the last line is JSON.

    python benchmarks/holiday_flag.py [--seeds 1 2 3] [--max-epochs 6]
"""
import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from forecast import DataConfig, ModelConfig, SourceConfig, TrainConfig, fit, load

ETTH1 = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "ETTh1.csv"


def cases(target: str) -> dict:
    out = {}
    if ETTH1.is_file():
        frame = pd.read_csv(ETTH1, parse_dates=["date"], index_col="date").iloc[:14400][[target]]
        split = {"val_start": str(frame.index[8640]), "test_start": str(frame.index[11520])}
        out[f"ETTh1 {target}, CN"] = (frame, DataConfig(targets=(target,), seq_len=168, horizon=24, **split), "CN")
    else:
        print(f"ETTh1 not found at {ETTH1}: the stock case only")
    ibm, _ = load(SourceConfig(sample="IBM"))
    out["IBM close, XNYS"] = (ibm[["Close"]], DataConfig(targets=("Close",), seq_len=20, horizon=5), "XNYS")
    return out


def run(frame, data: DataConfig, seed: int, epochs: int) -> dict:
    train = TrainConfig(max_epochs=epochs, patience=3, learning_rate=3e-3, batch_size=128, seed=seed,
                        accelerator="cpu")
    started = time.perf_counter()
    result = fit(frame, data, ModelConfig(cell="gru", hidden_size=32), train, quiet=True, refit=False)
    m = result.metrics
    return {"rmse": m["model"]["rmse"], "mase": m["model"]["mase"], "val_loss": result.evaluated.info.get("best_val_loss"),
            "best_baseline": m["best_baseline"], "baseline_rmse": m[m["best_baseline"]]["rmse"],
            "seconds": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--max-epochs", type=int, default=6)
    parser.add_argument("--target", default="HUFL", help="the ETTh1 column forecast")
    args = parser.parse_args()
    load_before, out = os.getloadavg()[0], {}
    print(f"{'case':<22} {'flag':<6} {'val loss':>9} {'test RMSE':>10} {'MASE':>7} {'best baseline':>22} {'s/fit':>6}")
    for name, (frame, data, calendar) in cases(args.target).items():
        for flag in (None, calendar):
            cfg = DataConfig.from_dict({**data.to_dict(), "holidays": flag})
            runs = [run(frame, cfg, seed, args.max_epochs) for seed in args.seeds]
            row = {k: float(np.mean([r[k] for r in runs])) for k in ("rmse", "mase", "val_loss", "baseline_rmse", "seconds")}
            row["best_baseline"] = runs[0]["best_baseline"]
            out[f"{name} {flag or 'none'}"] = row
            print(f"{name:<22} {flag or 'none':<6} {row['val_loss']:>9.4f} {row['rmse']:>10.4f} {row['mase']:>7.3f} "
                  f"{row['best_baseline'] + ' ' + format(row['baseline_rmse'], '.4f'):>22} {row['seconds']:>6.0f}", flush=True)
    print(f"load before {load_before:.2f}, after {os.getloadavg()[0]:.2f}")
    print(json.dumps({"seeds": args.seeds, "max_epochs": args.max_epochs, "results": out,
                      "load": [load_before, os.getloadavg()[0]]}))


if __name__ == "__main__":
    main()
