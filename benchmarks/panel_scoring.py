"""Scoring a large panel's test span: what the summary costs as `Evaluation` computes it, against
the two ways it did before.

A GRU of 32 (one short epoch: the scores need not be good) on synthetic daily series of 200 points,
seq_len 28, horizon 7. Each round computes the test evaluation's summary (pooled metrics, tests and
verdict, and a row per series) three ways, one after another, timing each, then tracing its peak
memory in a second run (`tracemalloc`, which numpy reports to):

- now: each series' forecasts found in one grouping; the pooled loss tests (Diebold-Mariano, the
  model confidence set) on each date's mean loss over the series;
- a mask per series: each series' forecasts found with a boolean mask over every forecast (before
  ca6bfa8: work that grows with the square of the series); the per-series table must be the same;
- every forecast an origin: the pooled loss tests over every series' forecasts one after another
  (before: the bootstrap of the confidence set keeps 500 resamples of every forecast).

Last line: JSON.

    python benchmarks/panel_scoring.py [--series 3000 10000] [--rounds 2]
"""
import argparse
import json
import os
import time
import tracemalloc

import numpy as np
import torch

import forecast.comparison
from predict_panel import make_panel  # beside this script
from forecast import DataConfig, ModelConfig, TrainConfig, fit
from forecast.evaluation import Evaluation

NOW = {"rows": Evaluation._rows, "by_date": forecast.comparison.by_date}


def by_mask(self) -> dict:
    """Each series' forecasts found with a mask over every forecast (the old way)."""
    return {name: np.flatnonzero(self._ids == name) for name in dict.fromkeys(self._ids)}


WAYS = {"now": NOW,
        "a mask per series": {**NOW, "rows": by_mask},
        "every forecast an origin": {**NOW, "by_date": lambda dates, lag: ((lambda values: values), {})}}


def timed(evaluation: Evaluation, way: dict) -> tuple[float, float, dict]:
    """Seconds of the summary computed `way`, then its peak MB in a second, traced run (tracing
    slows it), and the summary."""
    Evaluation._rows, forecast.comparison.by_date = way["rows"], way["by_date"]
    try:
        evaluation._summaries.clear()
        started = time.perf_counter()
        summary = evaluation.summary()
        seconds = time.perf_counter() - started
        evaluation._summaries.clear()
        tracemalloc.start()
        evaluation.summary()
        peak = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()
    finally:
        Evaluation._rows, forecast.comparison.by_date = NOW["rows"], NOW["by_date"]
    return seconds, peak, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, nargs="+", default=[3000, 10000])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    found = []
    for n in args.series:
        started = time.perf_counter()
        result = fit(make_panel(n), DataConfig(targets=("y",), seq_len=28, horizon=7),
                     ModelConfig(cell="gru", hidden_size=32), TrainConfig(max_epochs=1, accelerator="cpu"),
                     quiet=True, refit=False)
        test = result.test
        print(f"{n} series, {len(test.origins)} test forecasts at {len(np.unique(test.origins))} dates: fitted in "
              f"{time.perf_counter() - started:.1f} s ({torch.get_num_threads()} threads, load "
              f"{os.getloadavg()[0]:.2f})", flush=True)
        runs: dict[str, list] = {way: [] for way in WAYS}
        for _ in range(args.rounds):
            summaries = {}
            for way, how in WAYS.items():
                seconds, peak, summaries[way] = timed(test, how)
                runs[way].append({"seconds": seconds, "peak_mb": peak})
                print(f"  {way:26s} {seconds:6.2f} s  peak {peak:7.0f} MB", flush=True)
            assert json.dumps(summaries["now"]["series"], default=str) == \
                json.dumps(summaries["a mask per series"]["series"], default=str)
            print("  (the same per-series table now and with a mask per series)", flush=True)
        found.append({"series": n, "forecasts": len(test.origins), **runs})
    print(json.dumps({"threads": torch.get_num_threads(), "runs": found}))


if __name__ == "__main__":
    main()
