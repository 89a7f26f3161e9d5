"""Reading a long file of many series: parsing its dates and splitting it by series.

Writes a long CSV (a date column, a series column, a value) of 5,000 daily series of 200 rows (a
million rows, each date repeated once per series), then times: reading it (`load_file`), parsing its
date column (each distinct text once, against every row's text, alternately), splitting it into series in one pass (`forecast.panel.from_long`, a groupby)
against one boolean mask per series (what 0.1 did; every series reads the whole file), alternately,
and validating every series (`validate_panel`). Last line: JSON.

    python benchmarks/long_file.py [--series 5000] [--rows 200] [--rounds 2]
"""
import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from forecast.dates import _parse_texts, parse_dates
from forecast.panel import from_long, validate_panel
from forecast.files import load_file


def by_masks(frame: pd.DataFrame, series_col: str) -> dict:
    ids = frame[series_col].astype(str)
    return {name: frame[ids == name].drop(columns=series_col) for name in pd.unique(ids)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=5000)
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    dates = pd.date_range("2022-01-01", periods=args.rows, freq="D").strftime("%Y-%m-%d")
    long = pd.DataFrame({"date": np.tile(dates, args.series),
                         "store": np.repeat([f"s{i:05d}" for i in range(args.series)], args.rows),
                         "sales": rng.normal(50, 5, args.series * args.rows).round(3)})
    out = {"series": args.series, "rows": len(long)}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "long.csv"
        long.to_csv(path, index=False)
        t = time.perf_counter()
        raw = load_file(path)
        out["read_s"] = time.perf_counter() - t
    print(f"read {len(raw):,} rows of {args.series:,} series in {out['read_s']:.2f} s", flush=True)
    out["dates_once_s"], out["dates_every_row_s"] = [], []
    texts = long["date"]
    for _ in range(args.rounds):
        t = time.perf_counter()
        once = parse_dates(texts)
        out["dates_once_s"].append(time.perf_counter() - t)
        t = time.perf_counter()
        every = _parse_texts(texts.astype(str).str.strip(), "date", None, None)
        out["dates_every_row_s"].append(time.perf_counter() - t)
        assert once.equals(every)
        print(f"dates: each text once {out['dates_once_s'][-1]:6.2f} s   every row {out['dates_every_row_s'][-1]:6.2f} s",
              flush=True)
    out["one_pass_s"], out["masks_s"] = [], []
    for _ in range(args.rounds):
        t = time.perf_counter()
        frames = from_long(raw, "store")
        out["one_pass_s"].append(time.perf_counter() - t)
        t = time.perf_counter()
        reference = by_masks(raw, "store")
        out["masks_s"].append(time.perf_counter() - t)
        assert list(frames) == list(reference) and all(frames[n].equals(reference[n]) for n in frames)
        print(f"split: one pass {out['one_pass_s'][-1]:6.2f} s   a mask per series {out['masks_s'][-1]:6.2f} s   "
              f"ratio {out['masks_s'][-1] / out['one_pass_s'][-1]:5.1f}", flush=True)
    t = time.perf_counter()
    validate_panel(frames, ["sales"])
    out["validate_s"] = time.perf_counter() - t
    print(f"validated every series in {out['validate_s']:.2f} s", flush=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
