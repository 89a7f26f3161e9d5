"""One entry point from any source to a validated frame: ticker, file, DataFrame or bundled sample."""
from __future__ import annotations

import pandas as pd

from forecast.config import SourceConfig
from forecast.errors import ForecastError
from forecast.sources import DataReport, load_file, load_sample, validate_frame


def load_source(source: SourceConfig = SourceConfig(), columns=None,
                frame: pd.DataFrame | pd.Series | None = None) -> tuple[pd.DataFrame, DataReport]:
    """Load and validate one series; with no source, the bundled AAPL sample.

    Parameters
    ----------
    source : a Yahoo ticker (cached on disk, see `forecast.yahoo.load_yahoo`), a bundled sample
        (AAPL, MSFT, IBM, GOOG), or a CSV/Parquet path; plus dates, interval, cache and `max_gap`.
    columns : columns to keep, targets first; all numeric columns when None.
    frame : a DataFrame or Series indexed by timestamps, instead of the source's ticker/sample/path.
    """
    if frame is not None and (source.ticker or source.sample or source.path):
        raise ForecastError("give a frame or a source ticker/sample/path, not both")
    calendar = None
    warnings: list[str] = []
    if source.ticker is not None:
        from forecast.yahoo import load_yahoo

        raw, report = load_yahoo(source.ticker, source.start, source.end, source.interval,
                                 source.cache_dir, source.offline)
        label, warnings, calendar = report.source, report.warnings, report.calendar
    else:
        if frame is not None:
            raw, label = frame, "DataFrame"
        elif source.path is not None:
            raw, label = load_file(source.path, source.date_col, source.date_format,
                                   source.dayfirst), source.path
        else:
            sample = (source.sample or "AAPL").upper()
            raw, label, calendar = load_sample(sample), f"bundled sample {sample} daily", "XNYS"
        raw = _between(raw, source.start, source.end, label)
    clean, report = validate_frame(raw, columns, max_gap=source.max_gap, source=label)
    report.calendar = calendar if source.calendar == "auto" else source.calendar
    report.warnings = warnings
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
