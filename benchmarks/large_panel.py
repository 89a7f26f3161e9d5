"""A large panel end to end, as a user runs it: `forecast data` and `forecast fit` on a long CSV of
many daily series, each in its own process, timed, with its peak memory.

Writes a Nixtla long CSV (`unique_id, ds, y`) of `--series` daily series of `--days` days (levels
drawn from a gamma distribution, a weekly sine, noise; seeded), then runs `forecast data` on it and
`forecast fit --horizon 7 --seq-len 28 --max-epochs 1 --no-refit --quiet --set train.batch_size=1024`
(one epoch: the figure is the cost of everything around training, and one epoch of it). Prints
seconds, peak resident memory (the child's `ru_maxrss`) and the fit's pooled test line. Last line:
JSON.

    python benchmarks/large_panel.py [--series 20000] [--days 300]
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def write_panel(path: Path, n: int, days: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    t = np.arange(days)
    level = rng.gamma(2, 10, n)[:, None]
    y = level * (1 + 0.3 * np.sin(2 * np.pi * t / 7)[None]) + rng.normal(0, 1, (n, days)) * level ** 0.5
    pd.DataFrame({"unique_id": np.repeat([f"item_{i}" for i in range(n)], days),
                  "ds": np.tile(pd.date_range("2018-01-01", periods=days, freq="D"), n),
                  "y": np.maximum(y, 0).ravel().round(2)}).to_csv(path, index=False)


def run(args: list[str]) -> dict:
    """Run `forecast ARGS` in a child process: seconds, its peak memory in MB, its output."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "forecast", *args], capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "200"})
    seconds = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"forecast {args[0]} failed: {done.stderr.strip()[-500:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # the largest child so far, in MB
    return {"seconds": round(seconds, 1), "peak_mb": round(peak), "out": done.stdout}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=20000)
    parser.add_argument("--days", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        csv = Path(folder) / "panel.csv"
        write_panel(csv, args.series, args.days)
        print(f"{args.series} series of {args.days} days: {csv.stat().st_size / 1e6:.0f} MB of CSV "
              f"(load {os.getloadavg()[0]:.2f})", flush=True)
        data = run(["data", "--csv", str(csv)])
        print(f"forecast data: {data['seconds']} s, peak {data['peak_mb']} MB", flush=True)
        fit = run(["fit", "--csv", str(csv), "--horizon", "7", "--seq-len", "28", "--max-epochs", "1", "--no-refit",
                   "--quiet", "--set", "train.batch_size=1024", "--out", str(Path(folder) / "run")])
        tested = next(line for line in fit["out"].splitlines() if "(DM p" in line)  # the pooled test against the best baseline
        print(f"forecast fit: {fit['seconds']} s, peak {fit['peak_mb']} MB (the larger of the two children)\n  {tested}"
              f"\n  (load {os.getloadavg()[0]:.2f} after)", flush=True)
    print(json.dumps({"series": args.series, "days": args.days, "data": {k: v for k, v in data.items() if k != "out"},
                      "fit": {k: v for k, v in fit.items() if k != "out"}, "pooled_test": tested}))


if __name__ == "__main__":
    main()
