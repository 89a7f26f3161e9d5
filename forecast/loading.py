"""One entry point from any source to a validated frame: ticker, file, DataFrame or bundled sample."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from forecast.errors import ForecastError
from forecast.sources import DataReport, load_file, load_sample, validate_frame


def load_source(ticker: str | None = None, sample: str | None = None, path: str | Path | None = None,
                frame: pd.DataFrame | pd.Series | None = None, columns=None,
                date_col: str | None = None, start=None, end=None, interval: str = "1d",
                cache_dir: str | Path | None = None, offline: bool = False,
                max_gap: int = 5) -> tuple[pd.DataFrame, DataReport]:
    """Load and validate one series; with no source, the bundled AAPL sample.

    Parameters
    ----------
    ticker : Yahoo Finance symbol (cached on disk, see `forecast.yahoo.load_yahoo`).
    sample : a bundled ticker (AAPL, MSFT, IBM, GOOG); the default when no source is given.
    path : CSV or Parquet file with a date column.
    frame : a DataFrame or Series indexed by timestamps.
    columns : columns to keep, targets first; all numeric columns when None.
    start, end : keep rows with `start <= date < end`.
    """
    given = [name for name, v in (("ticker", ticker), ("sample", sample), ("file", path),
                                  ("frame", frame)) if v is not None]
    if len(given) > 1:
        raise ForecastError(f"give one data source, not {' and '.join(given)}")
    calendar = None
    if ticker is not None:
        from forecast.yahoo import load_yahoo

        raw, report = load_yahoo(ticker, start, end, interval, cache_dir, offline)
        source, warnings, calendar = report.source, report.warnings, report.calendar
    else:
        warnings = []
        if path is not None:
            raw, source = load_file(path, date_col), str(path)
        elif frame is not None:
            raw, source = frame, "DataFrame"
        else:
            sample = (sample or "AAPL").upper()
            raw, source, calendar = load_sample(sample), f"bundled sample {sample} daily", "XNYS"
        raw = _between(raw, start, end, source)
    clean, report = validate_frame(raw, columns, max_gap=max_gap, source=source)
    report.calendar, report.warnings = calendar, warnings
    return clean, report


def _between(frame, start, end, source):
    if start is None and end is None:
        return frame
    index = pd.to_datetime(frame.index)
    keep = (index >= pd.Timestamp(start) if start is not None else True) & \
           (index < pd.Timestamp(end) if end is not None else True)
    if not keep.any():
        raise ForecastError(f"{source}: no rows between {start or 'the start'} and {end or 'the end'}")
    return frame[keep]
