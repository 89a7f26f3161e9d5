"""Validate a series from a file (read by `forecast.files`), a DataFrame or the bundled sample.

Every source ends in `validate_frame`: a float frame with a sorted, unique, timezone-naive
DatetimeIndex and no missing values, plus a `DataReport` saying what was loaded and repaired.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from importlib import resources
from numbers import Number
from pathlib import Path

import numpy as np
import pandas as pd

from forecast.dates import from_steps, full_grid, holes, is_steps, naive, parse_dates, stamp, steps_like
from forecast.errors import ForecastError, MissingColumns, listed, meant
from forecast.files import date_column
from forecast.preprocess import check_magnitudes

SAMPLE_TICKERS = ("AAPL", "MSFT", "IBM", "GOOG")
NIXTLA = ("unique_id", "ds")  # the long frame of statsforecast, neuralforecast and mlforecast
WIDE_VALUE = "value"  # the column name of a wide panel's series (`forecast.panel.from_wide`)


@dataclass
class DataReport:
    """What a source delivered, for the user to read before trusting any metric."""

    source: str
    rows: int = 0
    start: str = ""
    end: str = ""
    columns: list[str] = field(default_factory=list)
    filled: int = 0
    missing_dates: int = 0  # timestamps missing at the series' fixed step (inserted when `dates_filled`)
    dates_filled: bool = False
    dropped_leading: int = 0
    dropped_trailing: int = 0
    calendar: str | None = None  # "XNYS" for stock prices: future dates are trading days
    steps: bool = False  # an integer time axis (see forecast.dates), not dates
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what a reader should know that is not a warning
    after: pd.DataFrame | None = None  # the trailing rows dropped (a known column's future values)

    def lines(self) -> list[str]:
        out = [f"source: {self.source}", f"rows: {self.rows} ({'steps ' if self.steps else ''}{self.start} to "
                                          f"{self.end}{', an integer time axis' if self.steps else ''})",
               f"columns: {', '.join(self.columns)}"]
        inserted = f" (of {self.missing_dates} rows inserted at missing timestamps)" if self.dates_filled else ""
        out.append(f"gaps filled: {self.filled} missing values forward-filled{inserted}, "
                   f"{self.dropped_leading} leading and {self.dropped_trailing} trailing incomplete rows dropped")
        return out


def as_pandas(frame):
    """A polars DataFrame or an Arrow table (a dict of them too, its series names as text) as the pandas
    frame the library reads, what `load` returns (frames, report) as its frames; anything else as it is."""
    if isinstance(frame, (pd.DataFrame, pd.Series)):  # (first: 10,000 series pass here)
        return frame
    if loaded(frame):
        return as_pandas(frame[0])
    if isinstance(frame, dict):  # series names are text, as a model file keeps them: 1 is "1"
        named = {str(name): as_pandas(one) for name, one in frame.items()}
        if len(named) < len(frame):
            raise ForecastError("two series have one name once written as text (such as 1 and '1'); rename one")
        return named
    return frame.to_pandas() if hasattr(frame, "to_pandas") else frame


def loaded(frame) -> bool:
    """Whether `frame` is what `load` returns: (frames, `DataReport`)."""
    return isinstance(frame, tuple) and len(frame) == 2 and isinstance(frame[1], DataReport)


def _not_a_number(values: pd.Series):
    """The first value of a text column that does not read as a number (else its first value)."""
    bad = pd.to_numeric(values, errors="coerce").isna() & values.notna()
    return values[bad].iloc[0] if bad.any() else values.dropna().iloc[0]


def check_columns(frame: pd.DataFrame, columns, source: str, not_values=()) -> None:
    """`MissingColumns` naming what `frame` lacks of `columns`, with its numeric columns (those in
    `not_values`, such as a long file's series column, aside) for a caller that can pick one."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        numeric = [c for c, t in frame.dtypes.items() if c not in not_values
                   and pd.api.types.is_numeric_dtype(t) and not pd.api.types.is_bool_dtype(t)]
        raise MissingColumns(f"{source}: column(s) {', '.join(map(repr, missing))} not found"
                             f"{meant(missing, frame.columns)}; available: {listed(frame.columns)} "
                             "(choose with --target and --features; in Python, DataConfig(targets=...))",
                             missing, list(frame.columns), numeric)


def validate_frame(frame: pd.DataFrame | pd.Series, columns=None, max_gap: int = 5,
                   source: str = "DataFrame", fill_dates: bool = False) -> tuple[pd.DataFrame, DataReport]:
    """Check and clean a frame; every problem raises one `ForecastError` that names the fix.

    Parameters
    ----------
    frame : DataFrame or Series indexed by timestamps.
    columns : the columns to keep (targets then features); all numeric columns when None.
    max_gap : missing values are forward-filled in runs of at most this many rows; rows before a
        column's first value are dropped; a longer interior gap is an error naming its first row.
    fill_dates : timestamps missing from a series on a fixed step (see `forecast.dates.full_grid`)
        become rows of missing values first; without it the report warns of them.
    """
    if isinstance(frame, pd.Series):
        frame = frame.to_frame(frame.name if frame.name is not None else "value")
    if not isinstance(frame, pd.DataFrame):
        raise ForecastError(f"expected a pandas DataFrame or Series, got {type(frame).__name__}" + (
            "; values alone have no time axis: pd.Series(values, index=pd.date_range(start, periods=len(values), "
            "freq=...), name=...)" if isinstance(frame, (np.ndarray, list, tuple)) else ""))
    numbers = [] if frame.to_numpy().dtype != object else [  # (a cheap look first: 10,000 series pass here)
        c for c, t in frame.dtypes.items() if pd.api.types.is_object_dtype(t) and frame[c].notna().any()
        and frame[c].dropna().map(lambda v: isinstance(v, Number) and not isinstance(v, bool)).all()]
    frame = frame.astype(dict.fromkeys(numbers, "float64")) if numbers else frame  # Decimal("12.5") from a database
    rows = frame.index  # row numbers beside a column of dates (a frame read from a file): the dates are its axis
    dates = date_column(frame) if isinstance(rows, pd.RangeIndex) and (rows.start, rows.step, rows.name) == (0, 1, None) else None
    if dates is not None and pd.api.types.is_numeric_dtype(frame[dates]) and (frame[dates].diff() <= 0).any():
        dates = None  # numbers named like dates that do not move forward ("day": 1 to 7): not an axis
    if dates is not None:
        frame = frame.drop(columns=dates).set_axis(parse_dates(frame[dates], str(dates)), axis=0)
    if len(frame) == 0:
        raise ForecastError(f"{source}: no rows (columns: {listed(frame.columns) or 'none'})")
    if not isinstance(frame.index, pd.DatetimeIndex):
        if steps_like(frame.index):  # an integer time axis (see forecast.dates)
            frame = frame.set_axis(from_steps(frame.index.to_numpy(), str(frame.index.name or "index")), axis=0)
        elif pd.api.types.is_numeric_dtype(frame.index):  # to_datetime reads 0.5 as nanoseconds of 1970
            raise ForecastError(f"{source}: the index holds numbers ({frame.index[0]}, ...), not dates or "
                                "whole steps; set a date index, e.g. frame.set_index(pd.to_datetime(frame['date'])), "
                                "or an integer one")
        else:
            try:  # a PeriodIndex at the start of each period, as a file's "2024-01" is read
                periods = isinstance(frame.index, pd.PeriodIndex)
                frame = frame.set_axis(frame.index.to_timestamp() if periods else pd.to_datetime(frame.index), axis=0)
            except (ValueError, TypeError) as e:
                raise ForecastError(f"{source}: the index must hold dates; set it with "
                                    f"frame.set_index(pd.to_datetime(frame['date'])) ({e})") from None
    if frame.index.tz is not None:  # as a file's: instants in UTC (no DST repeats), local days kept
        frame = frame.set_axis(naive(frame.index), axis=0)
    if frame.index.hasnans:
        raise ForecastError(f"{source}: some dates are missing or unreadable; remove those rows")
    newest_first = not frame.index.is_monotonic_increasing and len(frame) > 2 and frame.index.is_monotonic_decreasing \
        and frame.index.is_unique
    if newest_first:  # as many exports of prices (Nasdaq's, investing.com's) write them: read oldest first
        frame = frame.iloc[::-1]
    if not frame.index.is_monotonic_increasing:
        pos = int(np.argmax(np.diff(frame.index.asi8) < 0)) + 1
        raise ForecastError(_series_hint(frame, source) or
                            f"{source}: dates are not in order ({stamp(frame.index[pos])} comes after "
                            f"{stamp(frame.index[pos - 1])}); sort the rows by date first")
    if frame.index.has_duplicates:
        dup = frame.index[frame.index.duplicated()][0]
        clock = "; if the clocks went back that night, give the times in UTC or with their offset" \
            if dup.month in (10, 11, 3, 4) and 0 < dup.hour < 4 and dup.minute == 0 else ""
        repeats = int(frame.index.duplicated().sum())
        raise ForecastError(_series_hint(frame, source) or f"{source}: timestamp {stamp(dup)} appears more than once "
                            f"({repeats} of {len(frame)} rows repeat a timestamp); keep one row per timestamp: rows of "
                            "events (orders, sales) are totalled per step first (frame.groupby(level=0).sum()), copies "
                            f"dropped (frame[~frame.index.duplicated()]){clock}")
    text = ""  # the columns left out for not holding numbers, when every numeric one is kept
    if columns is None:
        columns = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])]
        text = ", ".join(f"{c} (e.g. {_not_a_number(frame[c])!r})" if frame[c].notna().any() else str(c)
                         for c in [c for c in frame.columns if c not in columns][:5])
        if not columns:
            raise ForecastError(f"{source}: no numeric columns (columns: {text or 'none'}); write numbers "
                                "like 12.5, 12,5 (decimal comma) or 1,234.5")
    columns = list(dict.fromkeys(columns))
    check_columns(frame, columns, source)
    if list(frame.columns) != columns:  # selecting costs: thousands of series rarely need it
        frame = frame[columns]
    for c, dtype in frame.dtypes.items():
        if not pd.api.types.is_numeric_dtype(dtype):  # (True and False are 1 and 0: a flag such as a promotion)
            example = _not_a_number(frame[c]) if frame[c].notna().any() else frame[c].dtype
            raise ForecastError(f"{source}: column {c!r} is not numeric (e.g. {example!r}); "
                                "pick numeric columns or clean that one")
    values = frame.to_numpy(dtype=np.float64, copy=True, na_value=np.nan)  # pandas' NA of Int64 or boolean too
    values[~np.isfinite(values)] = np.nan  # inf is treated as a missing value
    check_magnitudes(values, columns, source)
    frame = pd.DataFrame(values, index=frame.index, columns=columns)
    notes = [f"{source}: the time axis is column {dates!r} (the index holds row numbers)"] if dates is not None else []
    notes += [f"{source}: the rows run newest first; read oldest first"] if newest_first else []
    report = DataReport(source=source, columns=columns, notes=notes + (
        [f"{source}: left out, not numbers: {text}"] if text else []))
    grid = full_grid(frame.index) if fill_dates else None
    if grid is not None:
        frame = frame.reindex(grid)
        report.missing_dates, report.dates_filled = len(grid) - len(values), True
    frame, report = _repair_gaps(frame, max_gap, report)
    if found := None if fill_dates else holes(frame.index):
        (report.missing_dates, count, after, longest), s = found, lambda n: "s" if n > 1 else ""
        report.warnings.append(
            f"{source}: {found[0]} timestamp{s(found[0])} missing at the data's step ({count} hole{s(count)}; the "
            f"longest, {longest} step{s(longest)}, after {stamp(after)}): windows and the seasonal naive run across "
            "a hole as if no time had passed; if these are gaps, not closures, --set source.fill_missing_dates=true "
            "inserts them as missing values (forward-filled up to source.max_gap)")
    return frame, report


def _repair_gaps(frame: pd.DataFrame, max_gap: int, report: DataReport):
    missing = frame.isna()
    if (gaps := missing.to_numpy()).any():
        # Rows before every column has started (e.g. a ticker listed later) cannot be filled, and rows
        # after a column's last value (today's not yet published) would be made-up actuals: a filled
        # tail scores the naive forecast as perfect and forecasts from values nobody saw.
        present = ~missing
        started = present.cummax().all(axis=1).to_numpy()
        going = present[::-1].cummax()[::-1].all(axis=1).to_numpy()
        lead = int(started.argmax()) if started.any() else len(frame)
        end = len(frame) - int(going[::-1].argmax()) if going.any() else lead
        end = max(end, lead)
        report.after = frame.iloc[end:] if end < len(frame) else None
        frame, missing = frame.iloc[lead:end], missing.iloc[lead:end]
        report.dropped_leading, report.dropped_trailing = lead, len(present) - end
        too_long = pd.DataFrame(False, index=frame.index, columns=frame.columns)
        for c in frame.columns:
            m = missing[c]
            if m.any():  # length of the run of missing values each cell belongs to
                lengths = m.groupby((~m).cumsum()).transform("sum")
                too_long[c] = m & (lengths > max_gap)
        if too_long.to_numpy().any():
            row = too_long.any(axis=1).to_numpy().argmax()
            col = too_long.columns[too_long.iloc[row].to_numpy().argmax()]
            n = int(missing[col].iloc[row:].cummin().sum())
            raise ForecastError(
                f"{report.source}: column {col!r} has {n} missing values in a row from "
                f"{stamp(frame.index[row])}, more than max_gap={max_gap} forward-fills; "
                "fill or drop those rows, or raise source.max_gap (--set source.max_gap=N)")
        report.filled, share = int(missing.to_numpy().sum()), missing.mean()
        if share.max() > 0.1:  # a series recorded every other row: its test would score copies as actuals
            report.warnings.append(f"{report.source}: {share.max():.0%} of the values of column {share.idxmax()!r} are "
                                   "missing and forward-filled, as actuals too; if the data come less often than their "
                                   "rows, drop the empty rows (or resample) first")
        frame = frame.ffill()
    if frame.empty:
        hollow = "".join(f"; column {c!r} holds no value: leave it out" for c, e in zip(frame.columns, gaps.all(axis=0)) if e)
        raise ForecastError(f"{report.source}: no complete rows{hollow}")
    report.rows = len(frame)
    report.start, report.end = stamp(frame.index[0]), stamp(frame.index[-1])
    report.steps = is_steps(frame.index)
    return frame, report


def _series_hint(frame: pd.DataFrame, source: str) -> str | None:
    """A frame whose dates repeat once per value of a text column (or per pair of values of two, as a
    store and an item) is a long file of several series: say which columns name them, rather than
    asking to sort or de-duplicate the dates."""
    repeats = frame.index.value_counts().median()
    ids = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])
           or pd.api.types.is_integer_dtype(frame[c])]
    dated = frame.assign(_date=frame.index)
    for named in [[c] for c in ids] + [list(pair) for pair in itertools.combinations(ids[:8], 2)]:
        kinds = len(dated[named].drop_duplicates())
        if 1 < kinds <= len(frame) // 2 and abs(kinds - repeats) <= max(1, 0.2 * kinds) and \
                not dated.duplicated(["_date", *named]).any():
            example = "/".join(str(frame[c].dropna().iloc[0]) for c in named)
            what = f"column {named[0]!r}" if len(named) == 1 else f"columns {named[0]!r} and {named[1]!r}"
            return (f"{source}: its dates repeat once per value of {what} ({kinds} values, e.g. {example!r}): a "
                    f"long file of several series; name {'it' if len(named) == 1 else 'them'} with --series-col "
                    f"{','.join(named)} (in Python, forecast.panel.from_long(frame, {','.join(named)!r}))")
    return None


def sample_path() -> Path:
    """The bundled CSV: inside the installed package, or in the source tree's `datasets/`."""
    packaged = resources.files("forecast") / "_datasets" / "stocks_daily.csv"
    return Path(str(packaged)) if packaged.is_file() else Path(__file__).resolve().parent.parent / "datasets" / packaged.name


def load_sample(ticker: str = "AAPL") -> pd.DataFrame:
    """Daily adjusted Open/High/Low/Close/Volume of one bundled ticker (AAPL, MSFT, IBM, GOOG)."""
    ticker = ticker.upper()
    if ticker not in SAMPLE_TICKERS:
        raise ForecastError(f"the bundled sample has {', '.join(SAMPLE_TICKERS)}, not {ticker}{meant([ticker], SAMPLE_TICKERS)}")
    path = sample_path()
    if not path.is_file():
        raise ForecastError(f"bundled sample missing at {path}; reinstall forecast")
    frame = pd.read_csv(path, parse_dates=["Date"])
    return frame[frame.Ticker == ticker].drop(columns="Ticker").set_index("Date").astype("float64")
