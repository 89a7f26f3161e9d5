"""One entry point from any source to validated data: `load` takes a ticker or tickers, a bundled
sample, a CSV/Parquet file (long, wide or one series), a DataFrame, a dict of frames by series, or a
long frame in Nixtla's shape (`unique_id`, `ds`, values). Whatever the source, the data comes back
as a panel, a dict of validated frames by series name (one series is a panel of one), with a
`DataReport` of what was read and repaired."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from forecast.dates import check_calendar, moment
from forecast.config import SourceConfig
from forecast.errors import ForecastError
from forecast.sources import DataReport, check_columns, file_columns, load_file, load_sample, validate_frame


NIXTLA = ("unique_id", "ds")  # the long frame of statsforecast, neuralforecast and mlforecast
ONE = "series"  # the name of a single frame given without a source that names it


def load(source: SourceConfig | str | Path | pd.DataFrame | pd.Series | dict | None = None, columns=None,
         static=(), *, max_gap: int = 5, drop_bad: bool = False):
    """Any source -> (panel, `DataReport`): the validated frames by series name, one entry for one
    series (named by its ticker, sample or file stem; `series` for a frame), as `fit`,
    `backtest`, `tune` and `TrainedModel.predict` take them.

    `source` is a `SourceConfig` (ticker or tickers, sample or samples, a file; `series_col` for a
    long file), a file path, a DataFrame or Series indexed by dates (one series), a dict of such
    frames (many), or a DataFrame with Nixtla's `unique_id` and `ds` columns (many); None: the
    bundled AAPL sample. `columns` are kept, targets first (all numeric columns when None);
    `static` columns of a long source hold one value per series (see `forecast.preprocess`).

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
        return as_panel(source, columns, SourceConfig(max_gap=max_gap, drop_bad=drop_bad), static)
    raise ForecastError(f"cannot load a {type(source).__name__}: give a SourceConfig, a file path, a "
                        "DataFrame, a dict of DataFrames or a long frame with unique_id and ds")


def as_panel(frame, columns, source: SourceConfig = SourceConfig(), static=(),
             label: str = "DataFrame") -> tuple[dict[str, pd.DataFrame], DataReport]:
    """The input adapter of `load`, `fit`, `backtest` and `tune`: validated series by name, whatever
    was given. One series (a DataFrame or Series indexed by time) is a panel of one, named
    `source.label` (`series` when the source names no ticker, sample or file); a dict of frames, or
    Nixtla's long frame (`unique_id`, `ds`, values), is one series per name. `columns` are kept
    (every numeric column when None); `label` names a single frame in its errors."""
    from forecast.panel import from_long, validate_panel

    if isinstance(frame, pd.DataFrame) and set(NIXTLA) <= set(frame.columns):
        frame = from_long(frame.set_index("ds"), "unique_id")
    columns = None if columns is None else list(columns)
    if isinstance(frame, dict):
        return validate_panel(frame, columns, source.max_gap, source.drop_bad, static=static)
    one, report = validate_frame(frame, columns, max_gap=source.max_gap, source=label)
    return {source.label if source.ticker or source.sample or source.path else ONE: one}, report


def nixtla_file(source: SourceConfig) -> SourceConfig:
    """`source` reading a file whose header names Nixtla's `unique_id` and `ds` (and not told how to
    split it) as the long file it is: its series by `unique_id`."""
    if source.path is None or source.series_col is not None or source.wide:
        return source
    return source.with_flags(series_col="unique_id") if set(NIXTLA) <= set(file_columns(source.path)) else source


def load_source(source: SourceConfig = SourceConfig(), columns=None) -> tuple[pd.DataFrame, DataReport]:
    """Load and validate one series; with no source, the bundled AAPL sample.

    Parameters
    ----------
    source : a Yahoo ticker (cached on disk, see `forecast.yahoo.load_yahoo`), a bundled sample
        (AAPL, MSFT, IBM, GOOG), or a CSV/Parquet path; plus dates, interval, cache and `max_gap`.
    columns : columns to keep, targets first; all numeric columns when None.

    Returns
    -------
    The validated frame (sorted unique dates, float columns, short gaps filled) and a `DataReport`
    of what was read and repaired.

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
        from forecast.yahoo import load_yahoo

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
    clean, report = validate_frame(raw, columns, max_gap=source.max_gap, source=label)
    report.calendar = calendar if source.calendar == "auto" else source.calendar
    report.warnings = warnings
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
    from forecast.panel import WIDE_VALUE, from_long, from_wide, validate_panel
    from forecast.sources import SAMPLE_TICKERS

    if source.series_col is not None or source.wide:
        if source.path is None or (source.series_col is not None and source.wide):
            raise ForecastError("--series-col (a long file) or source.wide (a column per series) needs a "
                                "file, --csv or --parquet, and only one of the two")
        raw = load_file(source.path, source.date_col, source.date_format, source.dayfirst,
                        text_cols=(source.series_col,) if source.series_col else ())
        raw = _between(raw, source.start, source.end, source.path)
        if source.series_col is not None and columns:  # once for the file, not once per series
            check_columns(raw, [*columns, *static], source.path, not_values=(source.series_col,))
        if source.wide:  # the columns asked for are the series; their values become WIDE_VALUE
            frames, columns = from_wide(raw, list(columns or raw.select_dtypes("number").columns)), [WIDE_VALUE]
        else:
            frames = from_long(raw, str(source.series_col))
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
    if source.series_col in static:
        raise ForecastError(f"{source.series_col!r} names the series, so it cannot be a static column; "
                            "model.series_embedding gives each series a learned vector")
    clean, report = validate_panel(frames, columns, source.max_gap, source.drop_bad, label, static)
    if source.series_col is None and not source.wide:
        report.warnings = warnings + [f"left out series {n}: {why}" for n, why in failed.items()] + report.warnings
        report.calendar = calendars[0] if calendars else None  # the first series' (auto or as given)
    else:
        report.calendar = None if source.calendar == "auto" else source.calendar
    return clean, report
