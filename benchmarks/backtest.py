"""Walk-forward backtest of the default model on two bundled tickers, beside the naive forecast.

Default settings of `forecast backtest` except the origins: the last 250 trading days (about one
year), one origin every 5 days, retrained every 10 origins (5 folds). Last line: JSON with the figures.

    python benchmarks/backtest.py [--tickers AAPL MSFT] [--origins 50] [--stride 5] [--retrain-every 10]
"""
import argparse
import json

from forecast.walkforward import backtest
from forecast.config import BacktestConfig, DataConfig, ModelConfig, TrainConfig
from forecast.sources import load_sample


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickers", nargs="+", default=["AAPL", "MSFT"])
    parser.add_argument("--origins", type=int, default=50)
    parser.add_argument("--stride", type=int, default=5)
    parser.add_argument("--retrain-every", type=int, default=10)
    args = parser.parse_args()
    bt = BacktestConfig(origins=args.origins, stride=args.stride, retrain_every=args.retrain_every)
    figures = {}
    for ticker in args.tickers:
        frame = load_sample(ticker)[["Close"]]
        result = backtest(frame, DataConfig(), ModelConfig(), TrainConfig(accelerator="cpu"), bt)
        m = result.metrics
        figures[ticker] = {
            "seconds": round(result.seconds, 1), "folds": result.folds,
            "model_mae": round(m["model"]["mae"], 4), "naive_mae": round(m["naive"]["mae"], 4),
            "model_direction_pct": round(m["model"]["direction"], 1),
            "drift_direction_pct": round(m["drift"]["direction"], 1),
            "skill_rmse_pct": round(100 * result.skill, 2)}
        f = figures[ticker]
        print(f"{ticker}: model MAE {f['model_mae']} vs naive {f['naive_mae']}; direction "
              f"{f['model_direction_pct']}% (drift {f['drift_direction_pct']}%); skill "
              f"{f['skill_rmse_pct']:+.2f}%; {f['folds']} folds in {f['seconds']} s", flush=True)
    print(json.dumps({"origins": args.origins, "stride": args.stride,
                      "retrain_every": args.retrain_every, **figures}))


if __name__ == "__main__":
    main()
