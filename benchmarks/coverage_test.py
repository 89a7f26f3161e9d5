"""How often the coverage test ("Intervals short of their promise") calls honest intervals short.

Exchangeable errors (|N(0, 1)|), split conformal margins at 80% from `n` calibration windows, `m` test
origins of one step; each case `--runs` times. Counts the runs in which `coverage_shortfall` says
p < 0.05, with the margins taken as exact (the test before) and with the calibration's own sampling
error counted (`calibrated`, what `Intervals.calibration_variance` gives for one calibration). A test
at 5% should warn in at most about 5% of them. Last line: JSON.

    python benchmarks/coverage_test.py [--runs 2000]
"""
import argparse
import json

import numpy as np

from forecast.intervals import conformal_quantile
from forecast.metrics import coverage_shortfall

CASES = ((100, 500), (500, 500), (100, 2000), (30, 5000))  # calibration windows, test origins


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000)
    args = parser.parse_args()
    rng, found = np.random.default_rng(0), []
    for n, m in CASES:
        exact = counted = 0
        for _ in range(args.runs):
            margin = conformal_quantile(np.abs(rng.normal(size=n)), 0.8)
            hits = (np.abs(rng.normal(size=m)) <= margin)[:, None, None]
            exact += coverage_shortfall(hits, 0.8)["p_value"] < 0.05
            counted += coverage_shortfall(hits, 0.8, calibrated=0.8 * 0.2 / (n + 2))["p_value"] < 0.05
        found.append({"calibration": n, "test": m, "exact_pct": 100 * exact / args.runs,
                      "counted_pct": 100 * counted / args.runs})
        print(f"calibration {n:4d}, test {m:5d}: short at 5% in {found[-1]['exact_pct']:5.1f}% of runs with the "
              f"margins taken as exact, {found[-1]['counted_pct']:5.1f}% with the calibration counted", flush=True)
    print(json.dumps({"runs": args.runs, "cases": found}))


if __name__ == "__main__":
    main()
