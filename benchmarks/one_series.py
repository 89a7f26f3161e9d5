"""What one series' fit and backtest give, to the last digit: run it before and after a change to
the data path and compare the two JSON files (`cmp`); a refactor that claims to keep every figure
must leave them identical.

    python benchmarks/one_series.py before.json   # on the old commit
    python benchmarks/one_series.py after.json    # on the new one

IBM from the bundled sample, three splits and transforms (levels with a feature, log returns, steps
given) and a 30-origin backtest; tiny models, one thread, fixed seeds.
"""
import argparse
import json

from forecast import BacktestConfig, DataConfig, ModelConfig, SourceConfig, TrainConfig, backtest, fit, load

CASES = {"levels": DataConfig(targets=("Close",), features=("Volume",), seq_len=20, horizon=3),
         "log_return": DataConfig(targets=("Close",), seq_len=20, horizon=3, transform="log_return"),
         "steps": DataConfig(targets=("Close",), seq_len=20, horizon=3, val_steps=200, test_steps=150)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", help="where the JSON goes")
    args = parser.parse_args()
    frame, _ = load(SourceConfig(sample="IBM"), ["Close", "Volume"])
    out = {}
    for name, data in CASES.items():
        r = fit(frame, data, ModelConfig(hidden_size=8), TrainConfig(max_epochs=2, seed=5, threads=1), quiet=True)
        out[name] = {"val": r.best_val, "rmse": r.metrics["model"]["rmse"], "windows": r.prepared.split_sizes(),
                     "forecast": r.model.predict().to_numpy().round(10).tolist()}
    walked = backtest(frame, DataConfig(targets=("Close",), seq_len=20, horizon=3), ModelConfig(hidden_size=8),
                      TrainConfig(max_epochs=1, seed=5, threads=1), BacktestConfig(origins=30, retrain_every=10))
    out["backtest"] = {"rmse": walked.metrics["model"]["rmse"]}
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)
    print(json.dumps({k: {kk: v for kk, v in case.items() if kk != "forecast"} for k, case in out.items()}))


if __name__ == "__main__":
    main()
