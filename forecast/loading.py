"""One entry point from any source to validated data: `load` takes a ticker or tickers, a bundled
sample, a CSV/Parquet file (long, wide or one series), a DataFrame, a dict of frames by series, or a
long frame in Nixtla's shape (`unique_id`, `ds`, values). Whatever the source, the data comes back
as a panel, a dict of validated frames by series name (one series is a panel of one), with a
`DataReport` of what was read and repaired.

Yahoo Finance, through `yfinance`, is cached on disk as Parquet: one cache file per ticker and
interval holds the whole history fetched so far, and a later call downloads only the tail.
`yf.download` does not raise when the network fails (it logs and returns an empty frame), so
emptiness is the failure signal here. When a download fails the cache is used, and for the bundled
tickers the bundled sample, each with a warning in the report."""
from __future__ import annotations

import logging
import os
import re
import warnings
from pathlib import Path

import pandas as pd

from forecast.config import DataConfig, SourceConfig
from forecast.dates import check_calendar, moment, stamp
from forecast.errors import ForecastError, MissingColumns
from forecast.files import date_column, file_columns, load_file, write_atomically
from forecast.sources import (NIXTLA, SAMPLE_TICKERS, WIDE_VALUE, DataReport, as_pandas, check_columns, load_sample,
                              validate_frame)

ONE = "series"  # the name of a single frame given without a source that names it


def load(source: SourceConfig | str | Path | pd.DataFrame | pd.Series | dict | None = None, columns=None,
         static=(), *, max_gap: int = 5, drop_bad: bool = False, fill_missing_dates: bool = False):
    """Any source -> (panel, `DataReport`): the validated frames by series name, one entry for one
    series (named by its ticker, sample or file stem; `series` for a frame), as `fit`,
    `backtest`, `tune` and `TrainedModel.predict` take them.

    `source` is a `SourceConfig` (ticker or tickers, sample or samples, a file; `series_col` for a
    long file), a file path, a DataFrame or Series indexed by dates (one series), a dict of such
    frames (many), a DataFrame with Nixtla's `unique_id` and `ds` columns or indexed by (series, time)
    (many); None: the bundled AAPL sample. `columns` are kept, targets first (all numeric columns
    when None); `static` columns of a long source hold one value per series (see `forecast.preprocess`).

    Examples
    --------
    >>> import pandas as pd
    >>> from forecast import load
    >>> long = pd.DataFrame({"unique_id": ["a"] * 3 + ["b"] * 3, "y": [1.0, 2, 3, 5, 6, 7],
    ...                      "ds": list(pd.date_range("2024-01-01", periods=3)) * 2})
    >>> frames, report = load(long, ["y"])
    >>> sorted(frames), report.rows
    (['a', 'b'], 6)
    >>> one, _ = load(long[long.unique_id == "a"].set_index("ds")[["y"]])
    >>> list(one), len(one["series"])
    (['series'], 3)
    """
    columns = [columns] if isinstance(columns, str) else columns  # one name, not its letters
    static, source = (static,) if isinstance(static, str) else static, as_pandas(source)  # polars, Arrow: pandas
    if source is None or isinstance(source, (str, Path)):
        source = SourceConfig(path=str(source)) if source is not None else SourceConfig()
    if isinstance(source, SourceConfig):
        source = nixtla_file(source)
        if source.is_panel:
            return load_panel(source, columns, static)
        if static:
            raise ForecastError("--static describes each series of a panel: give a long file with --series-col "
                                "(SourceConfig.series_col)")
        frame, report = load_source(source, columns)
        return {source.label: frame}, report
    if isinstance(source, (pd.DataFrame, pd.Series, dict)):
        return as_panel(source, columns, SourceConfig(max_gap=max_gap, drop_bad=drop_bad,
                                                     fill_missing_dates=fill_missing_dates), static)
    raise ForecastError(f"cannot load a {type(source).__name__}: give a SourceConfig, a file path, a "
                        "DataFrame, a dict of DataFrames or a long frame with unique_id and ds")


def as_panel(frame, columns, source: SourceConfig = SourceConfig(), static=(),
             label: str = "DataFrame") -> tuple[dict[str, pd.DataFrame], DataReport]:
    """The input adapter of `load`, `fit`, `backtest` and `tune`: validated series by name, whatever
    was given. One series (a DataFrame or Series indexed by time) is a panel of one, named
    `source.label` (`series` when the source names no ticker, sample or file); a dict of frames, or
    Nixtla's long frame (`unique_id`, `ds`, values), is one series per name. `columns` are kept
    (every numeric column when None); `label` names a single frame in its errors."""
    from forecast.panel import split_long, validate_panel  # with torch, which loading needs not

    if isinstance(frame, (str, Path, SourceConfig)):  # where the data are, not the data
        what = frame.label if isinstance(frame, SourceConfig) else str(frame)
        raise ForecastError(f"got the {type(frame).__name__} {what!r}, not data: read it with forecast.load(...) "
                            "and pass what it returns, with source= to record it")
    frame = split_long(frame)
    columns = None if columns is None else list(columns)
    if isinstance(frame, dict):
        return validate_panel(frame, columns, source.max_gap, source.drop_bad, static=static,
                              fill_dates=source.fill_missing_dates)
    one, report = validate_frame(frame, columns, source.max_gap, label, source.fill_missing_dates)
    return {source.label if source.ticker or source.sample or source.path else ONE: one}, report


def load_inputs(source: SourceConfig | str | Path, data: DataConfig, target_given: bool = False):
    """`load` of the columns `data` reads -> (panel, `DataReport`, `data`), the rule every command
    loads by. A file (a `SourceConfig` or its path) that lacks the default target (Close), read
    without naming one (`target_given`), forecasts its one numeric column besides the features (said
    in the report's notes); a wide file's columns are its series, each forecasting its own values
    (`WIDE_VALUE`)."""
    source = SourceConfig(path=str(source)) if isinstance(source, (str, Path)) else source
    if source.wide:
        if data.features or data.known or data.static:
            raise ForecastError("source.wide makes each --target column a series; it takes no --features, "
                                "--known or --static (a long file with --series-col does)")
        # without --target every numeric column is a series, as `forecast data --set source.wide=true` reads it
        return (*load(source, list(data.targets) if target_given else None), data.override(targets=(WIDE_VALUE,)))
    try:
        return (*load(source, list(data.inputs), data.static), data)
    except MissingColumns as e:
        if target_given or source.path is None or data.targets != DataConfig().targets \
                or data.targets[0] not in e.missing:
            raise
        numeric = [c for c in e.numeric if c not in data.features + data.known]
        others = [c for c in e.available if c not in data.features + data.known]
        kind = "numeric column" if numeric else "column"
        if not numeric and len(others) == 1:  # one column, unreadable: say which value is not a number
            numeric = others
        if len(numeric) != 1:
            raise ForecastError(f"{source.path}: which column to forecast? Name it with --target (numeric "
                                f"columns: {', '.join(map(str, numeric)) or 'none'})") from None
    data = data.override(targets=(numeric[0],))
    frames, report = load(source, list(data.inputs), data.static)
    report.notes.append(f"target: {numeric[0]}, the file's only {kind}"
                        f"{' besides the features' if data.features else ''} (--target picks another)")
    return frames, report, data


def frame_target(frame, data: DataConfig) -> tuple[DataConfig, str | None]:
    """`load_inputs`' rule for data given to `fit`, `backtest` or `tune` as they are: lacking the default
    target (Close), a frame (a dict's first; a long frame's values) forecasts its one numeric column
    besides the features -> (`data` with that target, the note saying so)."""
    frame = as_pandas(frame)
    first = next(iter(frame.values()), None) if isinstance(frame, dict) else frame
    first = first.to_frame(first.name if first.name is not None else "value") if isinstance(first, pd.Series) else first
    if data.targets != DataConfig().targets or not isinstance(first, pd.DataFrame) or "Close" in first.columns:
        return data, None
    axis = date_column(first) if isinstance(first.index, pd.RangeIndex) else None
    numeric = [c for c in first.select_dtypes("number").columns
               if c not in {*data.features, *data.known, *data.static, *NIXTLA, axis}]
    return (data, None) if len(numeric) != 1 else (data.override(targets=(numeric[0],)), f"target: {numeric[0]}, "
        f"the data's only numeric column{' besides the features' if data.features else ''} (DataConfig(targets=...))")


def nixtla_file(source: SourceConfig) -> SourceConfig:
    """`source` reading a file whose header names Nixtla's `unique_id` and `ds` (and not told how to
    split it) as the long file it is: its series by `unique_id`."""
    if source.path is None or source.series_col is not None or source.wide:
        return source
    return source.with_flags(series_col="unique_id") if set(NIXTLA) <= set(file_columns(source.path)) else source


def load_source(source: SourceConfig = SourceConfig(), columns=None) -> tuple[pd.DataFrame, DataReport]:
    """Load and validate one series -> (the frame: sorted unique dates, float columns, short gaps
    filled; a `DataReport` of what was read and repaired); with no source, the bundled AAPL sample.

    Parameters
    ----------
    source : a Yahoo ticker (cached on disk, see `load_yahoo` below), a bundled sample
        (AAPL, MSFT, IBM, GOOG), or a CSV/Parquet path; plus dates, interval, cache and `max_gap`.
    columns : columns to keep, targets first; all numeric columns when None.

    Examples
    --------
    >>> from forecast import SourceConfig
    >>> from forecast.loading import load_source
    >>> frame, report = load_source(SourceConfig(sample="IBM"), ["Close"])
    >>> report.rows, list(frame.columns)
    (3270, ['Close'])
    """
    check_calendar(source.calendar)
    calendar = None
    warnings: list[str] = []
    if source.ticker is not None:
        raw, report = load_yahoo(source.ticker, source.start, source.end, source.interval,
                                 source.cache_dir, source.offline)
        label, warnings, calendar = report.source, report.warnings, report.calendar
    else:
        if source.path is not None:
            raw, label = load_file(source.path, source.date_col, source.date_format,
                                   source.dayfirst), source.path
        else:
            sample = (source.sample or "AAPL").upper()
            raw, label, calendar = load_sample(sample), f"bundled sample {sample} daily", "XNYS"
        raw = _between(raw, source.start, source.end, label)
    clean, report = validate_frame(raw, columns, source.max_gap, label, source.fill_missing_dates)
    report.calendar = calendar if source.calendar == "auto" else source.calendar
    report.warnings = warnings + report.warnings
    return clean, report


def _between(frame, start, end, source):
    if start is None and end is None:
        return frame
    index = frame.index if isinstance(frame.index, pd.DatetimeIndex) else pd.to_datetime(frame.index)
    keep = (index >= moment(start, index) if start is not None else True) & \
           (index < moment(end, index) if end is not None else True)
    if not keep.any():
        raise ForecastError(f"{source}: no rows between {start or 'the start'} and {end or 'the end'}")
    return frame[keep]


def load_panel(source: SourceConfig, columns=None, static=()) -> tuple[dict[str, pd.DataFrame], DataReport]:
    """Load and validate every series of a panel source: several tickers or samples ("all" for
    every bundled one), or a long file split by `source.series_col`, whose `static` columns hold
    one value per series (see `forecast.preprocess`). A series that cannot be loaded or used is named in
    the error, or left out with `source.drop_bad` (listed in the warnings)."""
    from forecast.panel import from_long, from_wide, id_columns, validate_panel  # with torch, which loading needs not
    ids = tuple(id_columns(source.series_col))
    if source.series_col is not None or source.wide:
        if source.path is None or (source.series_col is not None and source.wide):
            raise ForecastError("--series-col (a long file) or source.wide (a column per series) needs a "
                                "file, --csv or --parquet, and only one of the two")
        raw = load_file(source.path, source.date_col, source.date_format, source.dayfirst,
                        text_cols=ids)
        raw = _between(raw, source.start, source.end, source.path)
        if source.series_col is not None and columns:  # once for the file, not once per series
            check_columns(raw, [*columns, *static], source.path, not_values=ids)
        if source.wide:  # the columns asked for are the series (all, when a model asks for WIDE_VALUE)
            named = [c for c in columns or () if c != WIDE_VALUE] or list(raw.select_dtypes("number").columns)
            frames, columns = from_wide(raw, named), [WIDE_VALUE]
        else:
            frames = from_long(raw, ids)
        label = source.path
    else:
        names = list(SAMPLE_TICKERS) if (source.sample or "").lower() == "all" else source.names
        kind = "ticker" if source.ticker else "sample"
        frames, label, failed, warnings, calendars = {}, f"{kind}s", {}, [], []
        for name in names:
            try:
                frames[name], report = load_source(source.with_flags(**{kind: name}), columns)
                warnings += report.warnings
                calendars.append(report.calendar)
            except ForecastError as e:
                failed[name] = str(e)
        if failed and not (source.drop_bad and frames):
            raise ForecastError(f"{len(failed)} of {len(names)} series could not be loaded: "
                                + "; ".join(f"{n}: {why}" for n, why in list(failed.items())[:3]))
    if static and source.series_col is None:
        raise ForecastError("static columns are read from a long file (--series-col), one value per series; "
                            "this panel has none")
    if clash := [c for c in ids if c in static]:
        raise ForecastError(f"{clash[0]!r} names the series, so it cannot be a static column; "
                            "model.series_embedding gives each series a learned vector")
    clean, report = validate_panel(frames, columns, source.max_gap, source.drop_bad, label, static,
                                   source.fill_missing_dates)
    if source.series_col is None and not source.wide:
        report.warnings = warnings + [f"left out series {n}: {why}" for n, why in failed.items()] + report.warnings
        report.calendar = calendars[0] if calendars else None  # the first series' (auto or as given)
    else:
        report.calendar = None if source.calendar == "auto" else source.calendar
    return clean, report

INTERVALS = {"1d": "daily", "1wk": "weekly", "1mo": "monthly", "1h": "hourly"}
PRICE_COLUMNS = ["Open", "High", "Low", "Close", "Volume"]
_TICKER = re.compile(r"^[A-Z0-9^][A-Z0-9.\-=^]{0,19}$")


class YahooUnavailable(Exception):
    """The download gave nothing: network down, rate limit, or unknown ticker."""


def validate_ticker(ticker: str) -> str:
    """Upper-case a ticker and make sure it is safe to use as a file name."""
    t = (ticker or "").strip().upper()
    if not _TICKER.match(t):
        raise ForecastError(f"invalid ticker {ticker!r}: use letters, digits and . - = ^ "
                            "(e.g. AAPL, BRK-B, ^GSPC, EURUSD=X)")
    return t


def cache_dir(override: str | Path | None = None) -> Path:
    """`override`, else $FORECAST_CACHE_DIR, else the user cache directory."""
    if override:
        return Path(override).expanduser()
    if os.environ.get("FORECAST_CACHE_DIR"):
        return Path(os.environ["FORECAST_CACHE_DIR"]).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("forecast"))


def cache_path(ticker: str, interval: str, directory: str | Path | None = None) -> Path:
    return cache_dir(directory) / "yahoo" / f"{validate_ticker(ticker)}_{interval}.parquet"


def _download(ticker: str, interval: str, start=None, end=None) -> pd.DataFrame:
    """One `yf.download` call, flattened to Open/High/Low/Close/Volume with a naive DatetimeIndex."""
    import yfinance as yf

    # Without a start, ask for all history (Yahoo keeps only 730 days of hourly bars).
    span = {"start": start} if start is not None else {"period": "730d" if interval == "1h" else "max"}
    log = logging.getLogger("yfinance")
    level = log.level
    log.setLevel(logging.CRITICAL)  # we report failures ourselves; restored below
    try:
        with warnings.catch_warnings():  # yfinance's own deprecation noise is not the user's business
            warnings.simplefilter("ignore")
            raw = yf.download(ticker, end=end, interval=interval, auto_adjust=True, progress=False,
                              threads=False, **span)
    except Exception as e:  # yfinance raises for a few failures and logs the rest
        raise YahooUnavailable(str(e)) from None
    finally:
        log.setLevel(level)
    if raw is None or raw.empty:
        raise YahooUnavailable("no data returned (offline, rate-limited or unknown ticker)")
    if isinstance(raw.columns, pd.MultiIndex):  # (Price, Ticker) columns
        name: str | int = "Ticker" if "Ticker" in raw.columns.names else 1
        raw = raw.xs(raw.columns.get_level_values(name)[0], axis=1, level=name)
    raw = raw[[c for c in PRICE_COLUMNS if c in raw.columns]].dropna(subset=["Close"])
    if raw.empty:
        raise YahooUnavailable("only empty rows returned")
    index = pd.DatetimeIndex(raw.index)
    if index.tz is not None:
        index = index.tz_localize(None)
    raw = raw.set_axis(index.rename("Date"), axis=0).astype("float64")
    return raw[~raw.index.duplicated(keep="last")].sort_index()


def _write_cache(frame: pd.DataFrame, path: Path) -> None:
    # Atomic, with a unique temporary file: a crash never leaves half a cache file, and two
    # processes refreshing the same ticker never write into each other's file.
    write_atomically(path, lambda tmp: frame.to_parquet(tmp))


def _update(cached: pd.DataFrame | None, ticker: str, interval: str, end) -> pd.DataFrame:
    if cached is None:
        return _download(ticker, interval, end=end)
    last = cached.index[-1]
    if end is not None and pd.Timestamp(end) <= last:
        return cached  # the cache already covers the request
    tail = _download(ticker, interval, start=last, end=end)
    if last in tail.index:
        # Adjusted prices are rescaled after every split or dividend: if the overlapping row moved,
        # the whole cached history is stale.
        old, new = cached.loc[last, "Close"], tail.loc[last, "Close"]
        if abs(old - new) > 1e-6 * max(abs(old), 1.0):
            return _download(ticker, interval, end=end)
    merged = pd.concat([cached, tail])
    return merged[~merged.index.duplicated(keep="last")].sort_index()


def load_yahoo(ticker: str, start=None, end=None, interval: str = "1d",
               cache: str | Path | None = None, offline: bool = False
               ) -> tuple[pd.DataFrame, DataReport]:
    """Adjusted prices of one ticker: cache, then Yahoo for what is missing, then fallbacks.

    Returns the raw (not yet validated) frame and a report naming the data actually used.
    """
    ticker = validate_ticker(ticker)
    if interval not in INTERVALS:
        raise ForecastError(f"unknown interval {interval!r}; choose one of: {', '.join(INTERVALS)}")
    path = cache_path(ticker, interval, cache)
    cached = None
    if path.is_file():
        try:
            cached = pd.read_parquet(path)
        except Exception:  # a corrupt cache is only a cache: download again
            cached = None
    report = DataReport(source=f"Yahoo Finance {ticker} {INTERVALS[interval]}",
                        calendar="XNYS" if interval == "1d" else None)
    if offline:
        frame, why = cached, "offline"
    else:
        try:
            frame = _update(cached, ticker, interval, end)
            _write_cache(frame, path)
            report.source += f" (cached at {path})"
            why = None
        except YahooUnavailable as e:
            frame, why = cached, f"download failed: {e}"
    if why is not None:
        if frame is not None:
            report.source = f"cache {path} (up to {stamp(frame.index[-1])})"
            report.warnings.append(f"{why}; using cached {ticker} data up to {stamp(frame.index[-1])}")
        elif ticker in SAMPLE_TICKERS and interval == "1d":
            frame = load_sample(ticker)
            report.source = f"bundled sample {ticker} daily (2000-2013)"
            report.warnings.append(f"{why} and no cache for {ticker}; USING THE BUNDLED SAMPLE "
                                   f"(ends {stamp(frame.index[-1])}), not current prices")
        else:
            hint = "run it once online to fill the cache" if offline else "check the ticker and network"
            raise ForecastError(f"no data for {ticker} ({why}) and nothing cached; {hint}")
    assert frame is not None  # downloaded, cached or the sample: each branch above gave one
    if start is not None:
        frame = frame[frame.index >= pd.Timestamp(start)]
    if end is not None:
        frame = frame[frame.index < pd.Timestamp(end)]
    if frame.empty:
        used = f"; {why}, and the {report.source} has nothing in that range" if why else ""
        raise ForecastError(f"no {ticker} data between {start or 'the start'} and {end or 'now'}{used}")
    return frame, report
