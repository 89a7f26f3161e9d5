"""Calibrated intervals and significance on real data: do the promised coverages hold on test?

For ETTh1 `OT` (standard split: rows [0, 8640) train, [8640, 11520) validation, [11520, 14400) test;
horizon 24, input 96) and the 4 bundled tickers (horizon 5, default settings), a point model and a
quantile model (levels 0.05, 0.1, 0.5, 0.9, 0.95), without and with `normalize="last+scale"` (the window
divided by its own spread, so quantile widths follow its volatility), are fitted through the public
API; their 80% and
90% intervals are calibrated on validation (conformal) and scored once on test beside the naive
forecast's interval (the random walk's empirical h-step changes): coverage, mean width, interval
(Winkler) score, pinball loss, and the Diebold-Mariano p-values against naive and the best baseline.
Then one walk-forward backtest per ticker (250 origins, trained once) compares split-conformal with
adaptive (ACI) intervals. Last line: JSON with every figure.

    python benchmarks/intervals.py [--tickers AAPL MSFT IBM GOOG] [--no-ett] [--max-epochs N]
"""
import argparse
import json
import time
from pathlib import Path

import pandas as pd

from forecast import BacktestConfig, DataConfig, ModelConfig, TrainConfig, backtest, fit
from forecast.sources import load_sample

ETTH1 = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "ETTh1.csv"
LEVELS = (0.05, 0.1, 0.5, 0.9, 0.95)
VARIANTS = (((), False), ((), True), (LEVELS, False), (LEVELS, True))  # (quantiles, windows scaled by their spread)


def figures(summary: dict) -> dict:
    """The numbers a reader checks, from a fit's or backtest's summary."""
    out = {}
    for name, m in summary["intervals"].items():
        for who in ("model", "naive"):
            out.update({f"{who}_cover{name[:-1]}": round(m[who]["coverage"], 1),
                        f"{who}_width{name[:-1]}": round(m[who]["width"], 4),
                        f"{who}_score{name[:-1]}": round(m[who]["winkler"], 4)})
    tests = summary["tests"]
    out.update(pinball_model=round(summary["pinball"]["model"], 4),
               pinball_naive=round(summary["pinball"]["naive"], 4),
               dm_p_naive=round(tests["dm_naive"]["p_value"], 4), best=summary["best_baseline"],
               dm_p_best=round(tests["dm_best"]["p_value"], 4), skill=round(summary["skill"], 4))
    return out


def run_fit(name, frame, data, model, train):
    started = time.perf_counter()
    result = fit(frame, data, model, train, quiet=True, refit=False)
    head = ("quantile" if model.quantiles else "point") + ("+scale" if model.normalize == "last+scale" else "")
    row = {"series": name, "head": head,
           **figures(result.metrics), "seconds": round(time.perf_counter() - started, 1)}
    print(f"{name:>6} {row['head']:>14}: cover80 {row['model_cover80']:5.1f} (naive {row['naive_cover80']:5.1f}) "
          f"cover90 {row['model_cover90']:5.1f} (naive {row['naive_cover90']:5.1f}) | score90 "
          f"{row['model_score90']:.4g} vs naive {row['naive_score90']:.4g} | width90 {row['model_width90']:.4g} "
          f"vs {row['naive_width90']:.4g} | pinball {row['pinball_model']:.4g} vs {row['pinball_naive']:.4g} "
          f"| DM p naive {row['dm_p_naive']:.3g}, {row['best']} {row['dm_p_best']:.3g} | {row['seconds']} s",
          flush=True)
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tickers", nargs="*", default=["AAPL", "MSFT", "IBM", "GOOG"])
    parser.add_argument("--no-ett", action="store_true", help="skip ETTh1")
    parser.add_argument("--max-epochs", type=int, default=None, help="cap epochs (quick checks)")
    args = parser.parse_args()
    rows, backtests = [], []
    cap = {"max_epochs": args.max_epochs} if args.max_epochs else {}
    if not args.no_ett:
        ett = pd.read_csv(ETTH1, parse_dates=["date"], index_col="date")[["OT"]]
        data = DataConfig(targets=("OT",), seq_len=96, horizon=24, val_start=str(ett.index[8640]),
                          test_start=str(ett.index[11520]))
        train = TrainConfig(loss="mae", batch_size=256, max_epochs=20, patience=3, accelerator="cpu").override(**cap)
        for quantiles, scale in VARIANTS:
            model = ModelConfig(cell="gru", hidden_size=256, segment_len=24, quantiles=quantiles,
                                normalize="last+scale" if scale else "last")
            rows.append(run_fit("ETTh1", ett.iloc[:14400], data, model, train))
    for ticker in args.tickers:
        frame = load_sample(ticker)[["Close"]]
        train = TrainConfig(accelerator="cpu").override(**cap)
        for quantiles, scale in VARIANTS:
            model = ModelConfig(quantiles=quantiles, normalize="last+scale" if scale else "last")
            rows.append(run_fit(ticker, frame, DataConfig(), model, train))
        for kind in ("split", "adaptive"):
            started = time.perf_counter()
            result = backtest(frame, DataConfig(), ModelConfig(), train, BacktestConfig(calibration=kind))
            row = {"series": ticker, "intervals": kind, **figures(result.metrics),
                   "seconds": round(time.perf_counter() - started, 1)}
            print(f"{ticker:>6} backtest {kind:>8}: cover80 {row['model_cover80']:5.1f} cover90 "
                  f"{row['model_cover90']:5.1f} (naive {row['naive_cover80']:5.1f} / {row['naive_cover90']:5.1f})"
                  f" | score90 {row['model_score90']:.4g} vs naive {row['naive_score90']:.4g} | DM p naive "
                  f"{row['dm_p_naive']:.3g}", flush=True)
            backtests.append(row)
    within = [abs(r[f"model_cover{c}"] - c) <= 2 for r in rows for c in (80, 90)]
    print(f"test coverage within 2 points of nominal: {sum(within)} of {len(within)}")
    print(json.dumps({"fits": rows, "backtests": backtests, "within_2_points": sum(within),
                      "intervals_checked": len(within)}))


if __name__ == "__main__":
    main()
