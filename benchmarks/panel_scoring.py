"""Scoring a large panel's test span: the per-series table grouped once against a mask per series.

A GRU of 32 (one short epoch: the scores need not be good) on synthetic daily series of 200 points,
seq_len 28, horizon 7. Each round computes the test evaluation's summary (pooled metrics, tests and
verdict, and a row per series) twice, alternately: as `Evaluation` does, finding each series' forecasts
in one grouping, and finding them with a boolean mask per series over every forecast (what it did
before: work that grows with the square of the series). It checks that both give the same table.
Last line: JSON.

    python benchmarks/panel_scoring.py [--series 3000 10000] [--rounds 2]
"""
import argparse
import json
import os
import time

import numpy as np
import torch

from benchmarks.predict_panel import make_panel
from forecast import DataConfig, ModelConfig, TrainConfig, fit
from forecast.evaluation import Evaluation


def by_mask(self) -> dict:
    """Each series' forecasts found with a mask over every forecast (the old way)."""
    return {name: np.flatnonzero(self._ids == name) for name in dict.fromkeys(self._ids)}


def timed(evaluation: Evaluation, rows) -> tuple[float, dict]:
    Evaluation._rows = rows
    evaluation._summaries.clear()
    started = time.perf_counter()
    summary = evaluation.summary()
    return time.perf_counter() - started, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, nargs="+", default=[3000, 10000])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    grouped_rows, found = Evaluation._rows, []
    for n in args.series:
        started = time.perf_counter()
        result = fit(make_panel(n), DataConfig(targets=("y",), seq_len=28, horizon=7),
                     ModelConfig(cell="gru", hidden_size=32), TrainConfig(max_epochs=1, accelerator="cpu"),
                     quiet=True, refit=False)
        test = result.test
        print(f"{n} series, {len(test.origins)} test forecasts: fitted in {time.perf_counter() - started:.1f} s "
              f"({torch.get_num_threads()} threads, load {os.getloadavg()[0]:.2f})", flush=True)
        grouped, masked = [], []
        for _ in range(args.rounds):
            seconds, one = timed(test, grouped_rows)
            grouped.append(seconds)
            seconds, other = timed(test, by_mask)
            masked.append(seconds)
            assert json.dumps(one["series"], default=str) == json.dumps(other["series"], default=str)
            print(f"  grouped once {grouped[-1]:6.2f} s   a mask per series {masked[-1]:6.2f} s   "
                  f"ratio {masked[-1] / grouped[-1]:5.1f}   same table", flush=True)
        Evaluation._rows = grouped_rows
        found.append({"series": n, "forecasts": len(test.origins), "grouped_s": grouped, "masked_s": masked})
    print(json.dumps({"threads": torch.get_num_threads(), "runs": found}))


if __name__ == "__main__":
    main()
