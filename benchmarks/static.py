"""What a static covariate (`--static`) is worth in a panel of short, noisy series: 60 stores of three
kinds (office: busy on weekdays; mall: busy at weekends; station: busy on Monday and Friday), each
with its own level, 150 days of daily sales whose weekly swing of about 12 is buried in noise of
standard deviation 4. The kind fixes the week's shape; one week of a store's own noisy history shows
it poorly, so a model that knows the kind should forecast better, and a learned vector per series
(`--series-embedding`) has only each store's few training months to learn it from.

A second table asks what a new store gets (`predict(new=True)`, `--new-series`): a model fitted on 40
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

import numpy as np
import pandas as pd

from forecast import DataConfig, ModelConfig, TrainConfig, fit

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


def unseen_rmse(model, frames: dict, test_start: str, horizon: int = 7, new: bool = False) -> float:
    """Test RMSE of `model` on `frames` from every origin in the test span, each forecast from the
    store's history up to that origin (scaled on that history when the store is new to the model)."""
    errors = []
    for name, frame in frames.items():
        first = int(frame.index.searchsorted(pd.Timestamp(test_start)))
        for origin in range(first, len(frame) - horizon + 1):
            forecast = model.predict({name: frame.iloc[:origin]}, series=[name], new=new)
            errors.append(forecast["sales"].to_numpy() - frame["sales"].to_numpy()[origin:origin + horizon])
    return float(np.sqrt(np.mean(np.square(errors))))


def run_new(seed: int, data_role: dict) -> dict:
    data = DataConfig(targets=("sales",), seq_len=7, horizon=7, time_features=("dayofweek",), **data_role)
    train = TrainConfig(max_epochs=60, patience=10, learning_rate=1e-2, seed=seed, accelerator="cpu")
    frames = panel(seed)
    held = dict(list(frames.items())[40:])
    model = ModelConfig(cell="gru", hidden_size=32)
    everyone = fit(frames, data, model, train, quiet=True, refit=False)
    others = fit(dict(list(frames.items())[:40]), data, model, train, quiet=True, refit=False)
    test_start = everyone.prepared.cfg.test_start
    return {"trained on them": unseen_rmse(everyone.model, held, test_start),
            "new to the model": unseen_rmse(others.model, held, test_start, new=True)}


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
    print(f"\n{'the 20 held-out stores':<36} {'trained on them':>16} {'new to the model':>17}")
    new = {}
    for name in ("none", "--static kind"):
        runs = [run_new(seed, ROLES[name][0]) for seed in args.seeds]
        new[name] = {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}
        print(f"{name:<36} {new[name]['trained on them']:>16.3f} {new[name]['new to the model']:>17.3f}", flush=True)
    print(json.dumps({"seeds": args.seeds, "results": out, "new_series": new}))


if __name__ == "__main__":
    main()
