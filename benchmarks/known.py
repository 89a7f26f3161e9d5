"""What a known future covariate (`--known`) is worth against the same column read over the past only
(`--features`) and against none: daily sales that jump by 8 on promotion days (15% of days, drawn at
random and announced ahead), with noise of standard deviation 1, so the best possible test RMSE is
about 1 and no past value tells when the next promotion comes.

A GRU of 32, input 14 days, horizon 7, Adam 1e-2, at most 60 epochs with early stopping on validation;
1,000 days split 70/15/15. Each row is the mean over the seeds of the test RMSE (model, and the best
baseline's) and the seconds per fit; the last line is JSON with every figure.

    python benchmarks/known.py [--seeds 1 2 3]
"""
import argparse
import json
import time

import numpy as np
import pandas as pd

from forecast import DataConfig, ModelConfig, TrainConfig, fit

ROLES = {"none": {}, "--features promo": {"features": ("promo",)}, "--known promo": {"known": ("promo",)}}


def series(seed: int, n: int = 1000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    promo = (rng.random(n) < 0.15).astype(float)
    return pd.DataFrame({"sales": 50 + rng.normal(0, 1, n) + 8 * promo, "promo": promo},
                        index=pd.date_range("2020-01-01", periods=n, freq="D"))


def run(seed: int, role: dict) -> dict:
    data = DataConfig(targets=("sales",), seq_len=14, horizon=7, **role)
    train = TrainConfig(max_epochs=60, patience=10, learning_rate=1e-2, seed=seed, accelerator="cpu")
    started = time.perf_counter()
    result = fit(series(seed), data, ModelConfig(cell="gru", hidden_size=32), train, quiet=True, refit=False)
    m = result.metrics
    return {"rmse": m["model"]["rmse"], "best_baseline": m["best_baseline"],
            "baseline_rmse": m[m["best_baseline"]]["rmse"], "seconds": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    args = parser.parse_args()
    out = {}
    print(f"{'inputs':<18} {'test RMSE':>10} {'best baseline':>22} {'s per fit':>10}")
    for name, role in ROLES.items():
        runs = [run(seed, role) for seed in args.seeds]
        row = {k: float(np.mean([r[k] for r in runs])) for k in ("rmse", "baseline_rmse", "seconds")}
        row["best_baseline"] = runs[0]["best_baseline"]
        out[name] = row
        print(f"{name:<18} {row['rmse']:>10.3f} {row['best_baseline'] + ' ' + format(row['baseline_rmse'], '.3f'):>22} "
              f"{row['seconds']:>10.1f}", flush=True)
    print(json.dumps({"seeds": args.seeds, "results": out}))


if __name__ == "__main__":
    main()
