"""Tuning wall time on the bundled sample: pruning on vs off, and --jobs 2 vs --jobs 1.

Runs the shipped study `studies/aapl_sample.yaml` (20 trials, same seed) four times into fresh
storages and prints a table; last line: JSON with the figures.

    python benchmarks/tune.py [--n-trials 20]
"""
import argparse
import json
import tempfile
import time
from pathlib import Path

from forecast.config import SourceConfig
from forecast.loading import load_source
from forecast.study import load_study_file
from forecast.tuning import run_study

STUDY = Path(__file__).resolve().parent.parent / "studies" / "aapl_sample.yaml"


def timed(spec, frame, jobs):
    started = time.perf_counter()
    study = run_study(spec, frame, jobs)
    seconds = time.perf_counter() - started
    states = [t.state.name for t in study.trials]
    return {"seconds": round(seconds, 1), "trials": len(states), "pruned": states.count("PRUNED"),
            "complete": states.count("COMPLETE"), "failed": states.count("FAIL"),
            "best_val_loss": round(study.best_value, 6)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-trials", type=int, default=20)
    args = parser.parse_args()
    base = load_study_file(STUDY)
    frame, _ = load_source(SourceConfig(sample="AAPL"), columns=["Close"])
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, pruner, jobs in [("pruned, jobs 1", "median", 1), ("no pruning, jobs 1", "none", 1),
                                   ("pruned, jobs 2", "median", 2)]:
            spec = base.override(n_trials=args.n_trials, pruner=pruner, study_name=name.replace(", ", "_"),
                                 storage=f"sqlite:///{tmp}/{name.replace(', ', '_').replace(' ', '')}.db")
            results[name] = timed(spec, frame, jobs)
            print(f"{name:20s} {results[name]}", flush=True)
    one, two = results["pruned, jobs 1"]["seconds"], results["pruned, jobs 2"]["seconds"]
    off = results["no pruning, jobs 1"]["seconds"]
    print(f"pruning saves {100 * (1 - one / off):.0f}% of the wall time; --jobs 2 runs "
          f"{one / two:.2f}x as fast as --jobs 1")
    print(json.dumps({"n_trials": args.n_trials, **results, "speedup_jobs2": round(one / two, 2),
                      "pruning_time_saved": round(1 - one / off, 3)}))


if __name__ == "__main__":
    main()
