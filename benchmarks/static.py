"""What a static covariate (`--static`) is worth in a panel of short, noisy series: 60 stores of three
kinds (office: busy on weekdays; mall: busy at weekends; station: busy on Monday and Friday), each
with its own level, 150 days of daily sales whose weekly swing of about 12 is buried in noise of
standard deviation 4. The kind fixes the week's shape; one week of a store's own noisy history shows
it poorly, so a model that knows the kind should forecast better, and a learned vector per series
(`--series-embedding`) has only each store's few training months to learn it from.

A second table asks what a new store gets (`forecast backtest --hold-out`): a model fitted on 40
of the stores forecasts the other 20, each from its own history up to every test origin, beside a
model that trained on all 60 forecasting the same 20 at the same origins, without and with the kind.

Every row adds the day of the week as a calendar input (`--time-features dayofweek`, what a user
would give daily sales). A GRU of 32, input 7 days, horizon 7, Adam 1e-2, at most 60 epochs with early
stopping on validation; the panel is split 70/15/15 on one calendar. Each row is the mean over the
seeds of the test RMSE (pooled over the stores; model and the best baseline) and the seconds per fit;
the noise alone gives 4. The last line is JSON with every figure.

    python benchmarks/static.py [--seeds 1 2 3]
"""
import argparse
import json
import time
from dataclasses import replace

import numpy as np
import pandas as pd

from forecast import BacktestConfig, DataConfig, ModelConfig, TrainConfig, backtest, fit
from forecast.panel import calendar_cut

KINDS = {"office": [4, 4, 4, 4, 4, -10, -10], "mall": [-4, -4, -4, -2, 2, 6, 6],
         "station": [6, -3, -3, -3, 6, -2, -1]}
ROLES = {"none": ({}, {}), "--series-embedding 4": ({}, {"series_embedding": 4}),
         "--static kind": ({"static": ("kind",)}, {}),
         "--static kind --series-embedding 4": ({"static": ("kind",)}, {"series_embedding": 4})}


def panel(seed: int, n_stores: int = 60, n: int = 150) -> dict:
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2021-01-04", periods=n, freq="D")  # a Monday
    out = {}
    for i in range(n_stores):
        kind = list(KINDS)[i % len(KINDS)]
        week = np.array(KINDS[kind], dtype=float)[dates.day_of_week]
        sales = rng.uniform(40, 80) + week + rng.normal(0, 4, n)
        out[f"store{i:02d}"] = pd.DataFrame({"sales": sales, "kind": kind}, index=dates)
    return out


def run(seed: int, data_role: dict, model_role: dict) -> dict:
    data = DataConfig(targets=("sales",), seq_len=7, horizon=7, time_features=("dayofweek",), **data_role)
    train = TrainConfig(max_epochs=60, patience=10, learning_rate=1e-2, seed=seed, accelerator="cpu")
    started = time.perf_counter()
    result = fit(panel(seed), data, ModelConfig(cell="gru", hidden_size=32, **model_role), train,
                 quiet=True, refit=False)
    m = result.metrics
    return {"rmse": m["model"]["rmse"], "best_baseline": m["best_baseline"],
            "baseline_rmse": m[m["best_baseline"]]["rmse"], "seconds": time.perf_counter() - started}


def run_new(seed: int, data_role: dict) -> dict:
    """The last 20 stores' test RMSE from every test origin: `forecast backtest --hold-out` (a model
    of the other 40, each new store scaled on its own history up to the origins) beside the same
    backtest with every store trained on."""
    frames = panel(seed)
    test_start = calendar_cut(frames, DataConfig(targets=("sales",), val_fraction=0.15, test_fraction=0.15)).test_start
    # one fold before the test span, its validation the same 15% of the rows as in `run`
    data = DataConfig(targets=("sales",), seq_len=7, horizon=7, time_features=("dayofweek",),
                      val_fraction=0.15 / 0.85, **data_role)
    train = TrainConfig(max_epochs=60, patience=10, learning_rate=1e-2, seed=seed, accelerator="cpu")
    model = ModelConfig(cell="gru", hidden_size=32)
    held = list(frames)[40:]
    bt = BacktestConfig(origins_from=test_start)
    out = {}
    for name, hold_out in (("trained on them", None), ("new to the model", ",".join(held))):
        result = backtest(frames, data, model, train, replace(bt, hold_out=hold_out))
        ours = np.isin(result.series, held)
        actual, iv = result.actual[ours], result.intervals.take(ours)
        out[name] = float(np.sqrt(np.mean(np.square(result.forecasts["model"][ours] - actual))))
        out[f"{name}: 80% coverage"] = float(np.mean((iv.lower[0] <= actual) & (actual <= iv.upper[0])))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    args = parser.parse_args()
    out = {}
    print(f"{'inputs':<36} {'test RMSE':>10} {'best baseline':>22} {'s per fit':>10}")
    for name, (data_role, model_role) in ROLES.items():
        runs = [run(seed, data_role, model_role) for seed in args.seeds]
        row = {k: float(np.mean([r[k] for r in runs])) for k in ("rmse", "baseline_rmse", "seconds")}
        row["best_baseline"] = runs[0]["best_baseline"]
        out[name] = row
        print(f"{name:<36} {row['rmse']:>10.3f} {row['best_baseline'] + ' ' + format(row['baseline_rmse'], '.3f'):>22} "
              f"{row['seconds']:>10.1f}", flush=True)
    print(f"\n{'the 20 held-out stores (RMSE, 80% cover)':<42} {'trained on them':>16} {'new to the model':>17}")
    new = {}
    for name in ("none", "--static kind"):
        runs = [run_new(seed, ROLES[name][0]) for seed in args.seeds]
        new[name] = row = {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}
        cells = [f"{row[k]:.3f}, {100 * row[k + ': 80% coverage']:.1f}%" for k in ("trained on them", "new to the model")]
        print(f"{name:<42} {cells[0]:>16} {cells[1]:>17}", flush=True)
    print(json.dumps({"seeds": args.seeds, "results": out, "new_series": new}))


if __name__ == "__main__":
    main()
