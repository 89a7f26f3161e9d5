"""Load a series from a file, a DataFrame or the bundled sample, and validate it.

Every source ends in `validate_frame`: a float frame with a sorted, unique, timezone-naive
DatetimeIndex and no missing values, plus a `DataReport` saying what was loaded and repaired.
"""
from __future__ import annotations

import csv
import gzip
from collections import Counter
from numbers import Number
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from forecast.dates import (from_steps, full_grid, holes, is_steps, looks_like_dates, naive, parse_dates, stamp,
                            steps_like)
from forecast.errors import ForecastError, MissingColumns

SAMPLE_TICKERS = ("AAPL", "MSFT", "IBM", "GOOG")
DATE_NAMES = ("date", "datetime", "timestamp", "time", "ds", "day", "step")  # step: the integer axis as written
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


def check_columns(frame: pd.DataFrame, columns, source: str, not_values=()) -> None:
    """`MissingColumns` naming what `frame` lacks of `columns`, with its numeric columns (those in
    `not_values`, such as a long file's series column, aside) for a caller that can pick one."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        numeric = [c for c, t in frame.dtypes.items() if c not in not_values
                   and pd.api.types.is_numeric_dtype(t) and not pd.api.types.is_bool_dtype(t)]
        raise MissingColumns(f"{source}: column(s) {', '.join(map(repr, missing))} not found; "
                             f"available: {', '.join(map(str, frame.columns))} "
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
        raise ForecastError(f"expected a pandas DataFrame or Series, got {type(frame).__name__}")
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
        raise ForecastError(f"{source}: no rows (columns: {', '.join(map(str, frame.columns)) or 'none'})")
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
    if not frame.index.is_monotonic_increasing:
        pos = int(np.argmax(np.diff(frame.index.asi8) < 0)) + 1
        raise ForecastError(_series_hint(frame, source) or
                            f"{source}: dates are not in order ({stamp(frame.index[pos])} comes after "
                            f"{stamp(frame.index[pos - 1])}); sort the rows by date first")
    if frame.index.has_duplicates:
        dup = frame.index[frame.index.duplicated()][0]
        clock = "; if the clocks went back that night, give the times in UTC or with their offset" \
            if dup.month in (10, 11, 3, 4) and 0 < dup.hour < 4 and dup.minute == 0 else ""
        raise ForecastError(_series_hint(frame, source) or f"{source}: timestamp {stamp(dup)} appears more than once; "
                            f"keep one row per timestamp (e.g. frame[~frame.index.duplicated()]){clock}")
    if columns is None:
        columns = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])]
        if not columns:
            shown = ", ".join(f"{c} (e.g. {frame[c].dropna().iloc[0]!r})" if frame[c].notna().any() else str(c)
                              for c in frame.columns[:5])
            raise ForecastError(f"{source}: no numeric columns (columns: {shown or 'none'}); write numbers "
                                "like 12.5, 12,5 (decimal comma) or 1,234.5")
    columns = list(dict.fromkeys(columns))
    check_columns(frame, columns, source)
    if list(frame.columns) != columns:  # selecting costs: thousands of series rarely need it
        frame = frame[columns]
    for c, dtype in frame.dtypes.items():
        if not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
            bad = pd.to_numeric(frame[c], errors="coerce").isna() & frame[c].notna()
            example = frame[c][bad].iloc[0] if bad.any() else frame[c].dtype
            raise ForecastError(f"{source}: column {c!r} is not numeric (e.g. {example!r}); "
                                "pick numeric columns or clean that one")
    values = frame.to_numpy(dtype=np.float64, copy=True)
    values[~np.isfinite(values)] = np.nan  # inf is treated as a missing value
    check_magnitudes(values, columns, source)
    frame = pd.DataFrame(values, index=frame.index, columns=columns)
    report = DataReport(source=source, columns=columns, notes=[] if dates is None else [
        f"{source}: the time axis is column {dates!r} (the index holds row numbers)"])
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


LARGEST, SMALLEST = 1e30, 1e-30  # the network computes in float32 (3.4e38 to 1.2e-38)


def check_magnitudes(values: np.ndarray, columns, source: str) -> None:
    """(rows, columns) values the network can compute with: none beyond 1e30 (float32 tops out at 3.4e38;
    sums overflow long before), and not all of a column's non-zero values below 1e-30 (float32's 0)."""
    with np.errstate(invalid="ignore"):
        size = np.abs(values)
    for j, c in enumerate(columns):
        column = size[:, j][np.isfinite(size[:, j])]
        if column.size and column.max() > LARGEST:
            raise ForecastError(f"{source}: column {c!r} holds {column.max():.3g}, beyond what the network "
                                f"computes with (about {LARGEST:g}); rescale it (in thousands, millions, ...)")
        nonzero = column[column > 0]
        if nonzero.size and nonzero.max() < SMALLEST:
            raise ForecastError(f"{source}: column {c!r} holds values no larger than {nonzero.max():.3g}, too "
                                f"small for the network to tell from 0 (below {SMALLEST:g}); rescale it "
                                "(multiply by a power of 10)")


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


def _find_date_column(frame: pd.DataFrame, date_col: str | None, name: str) -> str:
    if date_col is not None and date_col not in frame.columns:
        raise ForecastError(f"{name}: date column {date_col!r} not found; columns: {', '.join(map(str, frame.columns))}")
    found = date_col if date_col is not None else date_column(frame)
    if found is None:
        raise ForecastError(f"{name}: no date column found; name it with --set source.date_col=NAME "
                            f"(columns: {', '.join(map(str, frame.columns))})")
    return found


def date_column(frame: pd.DataFrame):
    """The column holding the dates: one named like them (`DATE_NAMES`) or of datetimes, else the first
    text column whose values all read as dates; None when there is none."""
    named = [c for c in frame.columns if str(c).strip().lower() in DATE_NAMES or
             pd.api.types.is_datetime64_any_dtype(frame[c])]
    return next(iter(named), None) or next((c for c in frame.columns if pd.api.types.is_string_dtype(frame[c])
                                            and looks_like_dates(frame[c])), None)


def _separator(path: Path) -> str:
    """The CSV's field separator, from its header line: comma, semicolon, tab or pipe."""
    with open(path, encoding="utf-8-sig", errors="replace") as f:
        header = f.readline()
    return max((",", ";", "\t", "|"), key=header.count) if any(sep in header for sep in ",;\t|") else ","


MISSING = ["?", "-", "--"]  # missing values as some exports write them, beside pandas' own (NA, NaN, ...)
# Numbers as text: 12,5 (a decimal comma, in files separated by ; or tab), 1,234.5 (quoted with ","), 1.234,5
NUMBER_STYLES = (({"decimal": ","}, r"[-+]?\d+,\d+|[-+]?\d+"),
                 ({"thousands": ","}, r"[-+]?\d{1,3}(,\d{3})+(\.\d+)?|[-+]?\d+(\.\d+)?"),
                 ({"decimal": ",", "thousands": "."}, r"[-+]?\d{1,3}(\.\d{3})+(,\d+)?|[-+]?\d+(,\d+)?"))


def _number_style(frame: pd.DataFrame, sep: str) -> tuple[dict, list]:
    """Options for `read_csv` that read text columns of numbers as numbers (a decimal comma, not in
    comma-separated files; thousands commas or points), and those columns; ({}, []) when none is."""
    text = {c: frame[c].dropna().astype(str).head(200).str.strip() for c in frame.columns
            if pd.api.types.is_string_dtype(frame[c])}
    for options, pattern in NUMBER_STYLES:
        found = [c for c, v in text.items() if len(v) and options.get("decimal") != sep and v.str.contains(",").any()
                 and v.str.fullmatch(pattern).all()]
        if found:
            return options, found
    return {}, []


def _series_hint(frame: pd.DataFrame, source: str) -> str | None:
    """A frame whose dates repeat once per value of a text column is a long file of several series:
    say which column names them, rather than asking to sort or de-duplicate the dates."""
    repeats = frame.index.value_counts().median()
    for c in frame.columns:
        values = frame[c]
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_integer_dtype(values):
            continue
        kinds = values.nunique(dropna=True)
        if 1 < kinds <= len(frame) // 2 and abs(kinds - repeats) <= max(1, 0.2 * kinds) and \
                not frame.assign(_date=frame.index).duplicated(["_date", c]).any():
            return (f"{source}: its dates repeat once per value of column {c!r} ({kinds} values, e.g. "
                    f"{values.dropna().iloc[0]!r}): a long file of several series; name that column with "
                    f"--series-col {c} (in Python, forecast.panel.from_long(frame, {c!r}))")
    return None


def load_file(path: str | Path, date_col: str | None = None, date_format: str | None = None,
              dayfirst: bool | None = None, text_cols: tuple[str, ...] = ()) -> pd.DataFrame:
    """Read a CSV or Parquet file into a frame indexed by its date column (not yet validated).

    CSV files may start with a byte-order mark and separate fields by `,`, `;`, tab or `|`; an unnamed
    column of row numbers (a pandas index written with the data) or of nothing is dropped; `MISSING` marks are
    missing values; numbers may have a decimal comma (12,5: not with `,` separators) or thousands
    commas (1,234.5); a date column beside a `Time` column of clock times makes one timestamp. Dates are
    read by `forecast.dates.parse_dates` (`date_format`, `dayfirst` settle ambiguous ones).
    `text_cols` are read as written (series ids: `01` and `1` are two series, not one number). A
    header that names a column twice is refused: which of the two was meant cannot be known.
    """
    path = Path(path)
    if path.is_dir():
        raise ForecastError(f"{path} is a folder; give a CSV or Parquet file")
    if not path.is_file():
        raise ForecastError(f"file not found: {path}")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
            if not isinstance(frame.index, pd.RangeIndex):  # to_parquet kept an index: dates are data, row labels not
                frame = frame.reset_index(drop=frame.index.name is None and not isinstance(frame.index, pd.DatetimeIndex))
        elif suffix in (".csv", ".txt", ".gz", ".tsv"):
            sep = _separator(path) if suffix != ".gz" else ","
            text = {c: str for c in text_cols}
            frame = pd.read_csv(path, sep=sep, encoding="utf-8-sig", na_values=MISSING, dtype=text)
            _check_header(path, sep, frame)
            style, numbers = _number_style(frame, sep)
            if numbers:  # read again in that style; the other columns (dates: 01.02.2024) as they were
                styled = pd.read_csv(path, sep=sep, encoding="utf-8-sig", na_values=MISSING, dtype=text, **style)
                frame = frame.assign(**{str(c): styled[c] for c in numbers})
            frame = frame.rename(columns=lambda c: c.strip() if isinstance(c, str) else c)  # "date , load " headers
            unnamed = [c for c in frame.columns if str(c).startswith("Unnamed: ")]  # a pandas index, a line's last ","
            frame = frame.drop(columns=[c for c in unnamed if (frame[c].to_numpy() == np.arange(len(frame))).all()
                                        or frame[c].isna().all()])
        else:
            raise ForecastError(f"{path}: unknown file type {suffix!r}; use .csv or .parquet")
    except ForecastError:
        raise
    except Exception as e:  # parser errors come in many types; all mean the same to a user
        raise ForecastError(f"{path}: cannot read it as {suffix.lstrip('.')} ({str(e).splitlines()[0]})") from None
    if frame.empty:
        raise ForecastError(f"{path}: no data rows (columns: {', '.join(map(str, frame.columns)) or 'none'})")
    col = _find_date_column(frame, date_col, str(path))
    dates, used = frame[col], [col]
    clock = _clock_column(frame, col) if not dates.astype(str).head(50).str.contains(":").any() else None
    if clock is not None:  # a date column and a time-of-day column, as many meter exports write them
        dates, used = dates.astype(str) + " " + frame[clock].astype(str), [col, clock]
    index = parse_dates(dates, str(col), date_format, dayfirst)
    return frame.drop(columns=used).set_index(index)


def file_columns(path: str | Path) -> list[str]:
    """The column names a CSV's header or a Parquet file's schema gives; [] when it cannot be read
    (reading it properly says why)."""
    path = Path(path)
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            import pyarrow.parquet as pq
            return list(pq.read_schema(path).names)
        if path.suffix.lower() in (".csv", ".txt", ".tsv"):
            with open(path, encoding="utf-8-sig", newline="") as f:
                return [name.strip() for name in next(csv.reader(f, delimiter=_separator(path)), [])]
    except (OSError, UnicodeDecodeError, ValueError, ImportError):
        pass
    return []


def _check_header(path: Path, sep: str, frame: pd.DataFrame) -> None:
    """pandas renames a repeated column name (`A`, `A.1`); the header as written says which repeat."""
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    with opener(path, "rt", encoding="utf-8-sig", newline="") as f:
        header = next(csv.reader(f, delimiter=sep), [])
    if len(header) != len(frame.columns):
        return
    seen = Counter(name.strip() for name in header)
    twice = [f"{name!r} ({n} times)" for name, n in seen.items() if n > 1 and name]
    if twice:
        raise ForecastError(f"{path}: the header names {', '.join(twice)}; rename the columns so that each "
                            "name is used once (which one was meant cannot be known)")


def _clock_column(frame: pd.DataFrame, date_col) -> str | None:
    """The column named `time` (any case) beside the date column when it holds times of day."""
    clock = r"\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?"
    return next((c for c in frame.columns if c != date_col and str(c).strip().lower() == "time" and
                 pd.api.types.is_string_dtype(frame[c]) and frame[c].dropna().astype(str).head(50).str.fullmatch(clock).all()), None)


def sample_path() -> Path:
    """The bundled CSV: inside the installed package, or in the source tree's `datasets/`."""
    packaged = resources.files("forecast") / "_datasets" / "stocks_daily.csv"
    return Path(str(packaged)) if packaged.is_file() else Path(__file__).resolve().parent.parent / "datasets" / packaged.name


def load_sample(ticker: str = "AAPL") -> pd.DataFrame:
    """Daily adjusted Open/High/Low/Close/Volume of one bundled ticker (AAPL, MSFT, IBM, GOOG)."""
    ticker = ticker.upper()
    if ticker not in SAMPLE_TICKERS:
        raise ForecastError(f"the bundled sample has {', '.join(SAMPLE_TICKERS)}, not {ticker}")
    path = sample_path()
    if not path.is_file():
        raise ForecastError(f"bundled sample missing at {path}; reinstall forecast")
    frame = pd.read_csv(path, parse_dates=["Date"])
    return frame[frame.Ticker == ticker].drop(columns="Ticker").set_index("Date").astype("float64")
